// smtpgen's SMTP client and server, over its TCP peers through a lossy in-memory link and fed
// byte by byte: PIPELINING with BDAT (the server offers CHUNKING) and without it DATA with
// dot-stuffing; an unknown recipient; a transaction whose recipients are all refused, then
// RSET and the next one; QUIT. What the server keeps is what the client meant, byte for byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/smtpgen/link.h"
#include "tools/smtpgen/smtp_script.h"

namespace smtpgw::smtpgen {
namespace {

std::vector<MessageSpec> three_messages() {
  return {
      {"a@inside.test", {"b@outside.test"}, "Subject: one\r\n\r\nHello.\r\n"},
      {"a@inside.test", {"c@outside.test", "unknown@outside.test"},
       "Subject: two\r\n\r\n.a line that starts with a dot\r\n..and two\r\n.\r\nend\r\n"},
      {"", {"d@outside.test"}, "Subject: a bounce\r\n\r\n" + pattern(20'000, 'x') + "\r\n"},
  };
}

// The session through TCP: each side's script reads what its peer received.
struct Session {
  Link link;
  SmtpClient client;
  SmtpServer server;
  explicit Session(std::vector<MessageSpec> m, bool bdat, double loss = 0)
      : client("inside-host.test", std::move(m), bdat) {
    link.loss = loss;
    std::string greeting;
    server.open(greeting);
    link.server.send(greeting);
  }
  bool run() {
    return link.run([&] {
      std::string out;
      server.on_bytes(link.server.received(), out);
      link.server.received().clear();
      link.server.send(out);
      if (server.quit()) {
        link.server.close();
      }
      out.clear();
      client.on_bytes(link.client.received(), out);
      link.client.received().clear();
      link.client.send(out);
      if (client.done()) {
        link.client.close();
      }
      return client.done() && link.client.fin_acked() && link.server.fin_acked();
    });
  }
};

void expect_results(const SmtpClient& c) {
  ASSERT_EQ(c.results().size(), 3u);
  EXPECT_EQ(c.results()[0].mail, 250);
  EXPECT_EQ(c.results()[0].rcpts, std::vector<int>({250}));
  EXPECT_EQ(c.results()[0].end, 250);
  EXPECT_EQ(c.results()[1].rcpts, std::vector<int>({250, 550}));
  EXPECT_EQ(c.results()[1].end, 250);
  EXPECT_EQ(c.results()[2].end, 250);
  EXPECT_NE(c.results()[2].end_text.find("queued as Q3"), std::string::npos);
  EXPECT_TRUE(c.quit_answered());
}

void expect_kept(const SmtpServer& s) {
  const auto m = three_messages();
  ASSERT_EQ(s.messages().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(s.messages()[i].from, m[i].from);
    EXPECT_EQ(s.messages()[i].content, m[i].content) << "message " << i;
  }
  EXPECT_EQ(s.messages()[1].rcpts, std::vector<std::string>({"c@outside.test"}));
}

TEST(SmtpScript, PipeliningWithBdat) {
  Session s(three_messages(), true, 0.05);
  ASSERT_TRUE(s.run());
  expect_results(s.client);
  EXPECT_EQ(s.client.results()[0].data, 250) << "BDAT LAST's reply";
  expect_kept(s.server);
}

TEST(SmtpScript, PipeliningWithDataAndDotStuffing) {
  Session s(three_messages(), false);
  ASSERT_TRUE(s.run());
  expect_results(s.client);
  EXPECT_EQ(s.client.results()[0].data, 354);
  expect_kept(s.server);
}

// Fed one byte at a time, in both directions, without TCP: the same conversation.
TEST(SmtpScript, RepliesAndCommandsSplitAnywhere) {
  SmtpClient client("inside-host.test", three_messages(), false);
  SmtpServer server;
  std::string to_client, to_server;
  server.open(to_client);
  for (int round = 0; round < 100 && !client.done(); ++round) {
    std::string out;
    for (char c : to_client) {
      client.on_bytes(std::string_view(&c, 1), out);
    }
    to_client.clear();
    for (char c : out) {
      server.on_bytes(std::string_view(&c, 1), to_client);
    }
  }
  expect_results(client);
  expect_kept(server);
}

// Every recipient refused: DATA (pipelined) gets 554, the client resets and goes on.
TEST(SmtpScript, ATransactionWithNoRecipientLeftIsResetAndTheNextGoesOn) {
  std::vector<MessageSpec> m = {{"a@inside.test", {"unknown1@outside.test"}, "Subject: x\r\n\r\nx\r\n"},
                                {"a@inside.test", {"b@outside.test"}, "Subject: y\r\n\r\ny\r\n"}};
  Session s(m, false);
  ASSERT_TRUE(s.run());
  ASSERT_EQ(s.client.results().size(), 2u);
  EXPECT_EQ(s.client.results()[0].rcpts, std::vector<int>({550}));
  EXPECT_EQ(s.client.results()[0].data, 554);
  EXPECT_EQ(s.client.results()[0].end, 0);
  EXPECT_EQ(s.client.results()[1].end, 250);
  ASSERT_EQ(s.server.messages().size(), 1u);
  EXPECT_EQ(s.server.messages()[0].content, "Subject: y\r\n\r\ny\r\n");
}

// A 421 (the gateway ending a session it refused) ends the client where it stood.
TEST(SmtpScript, A421EndsTheSession) {
  SmtpClient client("inside-host.test", three_messages());
  std::string out;
  client.on_bytes("220 mx ESMTP\r\n", out);
  EXPECT_EQ(out, "EHLO inside-host.test\r\n");
  out.clear();
  client.on_bytes("250-mx\r\n250 PIPELINING\r\n", out);
  EXPECT_EQ(out, "MAIL FROM:<a@inside.test>\r\nRCPT TO:<b@outside.test>\r\nDATA\r\n");
  out.clear();
  client.on_bytes("550 5.1.8 Access denied, bad outbound sender\r\n421 4.7.0 closing\r\n", out);
  EXPECT_TRUE(client.done());
  EXPECT_EQ(client.results()[0].mail, 550);
  EXPECT_EQ(client.last_reply(), "421 4.7.0 closing");
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace smtpgw::smtpgen
