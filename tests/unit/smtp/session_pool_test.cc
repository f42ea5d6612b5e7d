// Sessions of one SessionContext: an idle session holds no active part, busy ones take parts
// from the pool and give them back, the pool's bound refuses a session instead of letting its
// bytes through unparsed, and a part carries nothing of one session into the next.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/unit/smtp/harness.h"

namespace smtpgw::smtp::testing {
namespace {

constexpr std::string_view kMessage =
    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n";

void greet(Session& s) {
  s.on_server_data("220 mx.example ESMTP\r\n");
  s.on_client_data("EHLO client.example\r\n");
  s.on_server_data("250-mx.example\r\n250 PIPELINING\r\n");
}

void deliver(Session& s) {
  s.on_client_data(kMessage);
  s.on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
  s.on_client_data("Subject: x\r\n\r\nhello\r\n.\r\n");
  s.on_server_data("250 queued\r\n");
}

TEST(SessionPoolTest, IdleSessionsHoldNoActivePart) {
  SessionContext ctx(SessionLimits{});
  Recorder rec;
  Session s(ctx, &rec, &rec, &rec);
  EXPECT_FALSE(s.active());  // a new session waits for its greeting without a part
  s.on_server_data("220 mx.example");
  EXPECT_TRUE(s.active());  // a partial reply line needs the reply buffer
  s.on_server_data(" ESMTP\r\n");
  EXPECT_FALSE(s.active());
  s.on_client_data("EHLO client.example\r\n");
  EXPECT_TRUE(s.active());  // a command awaits its reply
  s.on_server_data("250-mx.example\r\n250 PIPELINING\r\n");
  EXPECT_FALSE(s.active());
  EXPECT_TRUE(s.extensions().pipelining);  // kept by the idle session
  EXPECT_EQ(s.helo(), "client.example");
  s.on_client_data(kMessage);
  s.on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_TRUE(s.active());  // inside DATA
  s.on_client_data("Subject: x\r\n\r\nhello\r\n.\r\n");
  EXPECT_TRUE(s.active());  // the end of data awaits its reply
  s.on_server_data("250 queued\r\n");
  EXPECT_FALSE(s.active());
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_NE(rec.records[0].find("helo=client.example"), std::string::npos) << rec.records[0];
  EXPECT_EQ(ctx.pool().active, 0u);
  EXPECT_EQ(ctx.pool().parts, 1u);
  EXPECT_EQ(ctx.pool().taken, 3u);  // the greeting, EHLO, the transaction
  EXPECT_EQ(ctx.counters()[Counter::kMessagesDelivered], 1u);
  EXPECT_EQ(s.release_limit(), s.client_offset());
  s.on_close();
  EXPECT_FALSE(s.active());
  EXPECT_EQ(ctx.counters()[Counter::kCommandWithoutReply], 0u);
}

TEST(SessionPoolTest, ClosingBeforeTheGreetingStillCountsTheMissingReply) {
  SessionContext ctx(SessionLimits{});
  Session s(ctx, nullptr, nullptr, nullptr);
  s.on_close();
  EXPECT_EQ(ctx.counters()[Counter::kCommandWithoutReply], 1u);
  EXPECT_EQ(ctx.pool().active, 0u);
}

TEST(SessionPoolTest, BusySessionsTakeAndReuseParts) {
  SessionContext ctx(SessionLimits{});
  Session a(ctx, nullptr, nullptr, nullptr);
  Session b(ctx, nullptr, nullptr, nullptr);
  greet(a);
  greet(b);
  for (int i = 0; i < 10; ++i) {
    a.on_client_data(kMessage);  // a is busy while b delivers: two parts in use
    deliver(b);
    a.on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
    a.on_client_data("Subject: y\r\n\r\nbye\r\n.\r\n");
    a.on_server_data("250 queued\r\n");
  }
  EXPECT_EQ(ctx.counters()[Counter::kMessagesDelivered], 20u);
  EXPECT_EQ(ctx.pool().parts, 2u);
  EXPECT_EQ(ctx.pool().peak, 2u);
  EXPECT_EQ(ctx.pool().active, 0u);
  EXPECT_GT(ctx.pool().taken, 20u);
}

TEST(SessionPoolTest, AtItsBoundThePoolRefusesTheSessionThatNeedsAPart) {
  SessionContext ctx(SessionLimits{}, 1);
  Recorder ra;
  Recorder rb;
  Session a(ctx, &ra, &ra, &ra);
  Session b(ctx, &rb, &rb, &rb);
  greet(a);
  greet(b);
  const uint64_t b_parsed = b.client_offset();
  a.on_client_data(kMessage);  // a holds the only part
  b.on_client_data(kMessage);
  EXPECT_EQ(b.client_state(), ClientState::kRefused);
  EXPECT_EQ(b.release_limit(), b_parsed);  // nothing it could not parse is released
  EXPECT_EQ(rb.anomalies["no_active_state"], 1u);
  EXPECT_EQ(ctx.pool().exhausted, 1u);
  b.on_client_data("more\r\n");  // a refused session parses nothing more
  EXPECT_EQ(b.release_limit(), b_parsed);
  // a is unaffected and finishes its message; the part is then free for another session.
  a.on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
  a.on_client_data("Subject: y\r\n\r\nbye\r\n.\r\n");
  a.on_server_data("250 queued\r\n");
  EXPECT_EQ(ctx.counters()[Counter::kMessagesDelivered], 1u);
  Session c(ctx, nullptr, nullptr, nullptr);
  greet(c);
  deliver(c);
  EXPECT_EQ(ctx.counters()[Counter::kMessagesDelivered], 2u);
  EXPECT_EQ(ctx.pool().parts, 1u);
}

TEST(SessionPoolTest, APartCarriesNothingIntoTheNextSession) {
  SessionContext ctx(SessionLimits{});
  {
    // Gone mid-transaction (a worker dropping a flow), with a partial AUTH line buffered.
    Session a(ctx, nullptr, nullptr, nullptr);
    greet(a);
    a.on_client_data("MAIL FROM:<old@example.org>\r\nRCPT TO:<old@example.net>\r\n");
    a.on_server_data("250 ok\r\n250 ok\r\n");
    a.on_client_data("AUTH PLAIN AGFsaWNlAHNlY3JldA");
    EXPECT_TRUE(a.active());
  }
  EXPECT_EQ(ctx.pool().active, 0u);
  EXPECT_FALSE(ctx.parts_contain("AGFsaWNlAHNlY3JldA"));  // the partial AUTH line was wiped
  Recorder rec;
  Session b(ctx, &rec, &rec, &rec);
  greet(b);
  deliver(b);
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].find("old@"), std::string::npos) << rec.records[0];
  EXPECT_EQ(rec.anomalies.size(), 0u);
  EXPECT_EQ(ctx.pool().parts, 1u);
}

TEST(SessionPoolTest, ReservedPartsAreUsedBeforeAnyIsMade) {
  SessionContext ctx(SessionLimits{}, 4);
  ctx.reserve(10);  // cut to the bound
  EXPECT_EQ(ctx.pool().parts, 4u);
  Session s(ctx, nullptr, nullptr, nullptr);
  greet(s);
  deliver(s);
  EXPECT_EQ(ctx.pool().parts, 4u);
  EXPECT_EQ(ctx.pool().active, 0u);
}

// The idle budget of tools/bench stream (512 bytes with the TCP state) rests on this size.
TEST(SessionPoolTest, AnIdleSessionIsSmall) {
  SessionContext ctx(SessionLimits{});
  Session s(ctx, nullptr, nullptr, nullptr);
  greet(s);
  deliver(s);
  EXPECT_FALSE(s.active());
  EXPECT_LE(sizeof(Session) + s.idle_heap_bytes(), 256u);
}

}  // namespace
}  // namespace smtpgw::smtp::testing
