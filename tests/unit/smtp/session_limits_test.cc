// Malformed input, RFC 5321 limits, pipelining mismatches, hold points and AUTH secrets.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "tests/unit/smtp/harness.h"

namespace smtpgw::smtp::testing {
namespace {

const std::string kGreet = "220 mx ESMTP\r\n";
const std::string kEhlo = "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n";

// {description, steps, limits, expected anomalies (exactly), desync expected, records}
struct Bad {
  const char* description;
  std::vector<Step> steps;
  SessionLimits limits;
  std::map<std::string, uint64_t> anomalies;
  bool desync;
  std::vector<std::string> records;  // empty: not checked
};

SessionLimits with(void (*f)(SessionLimits&)) {
  SessionLimits l;
  f(l);
  return l;
}

std::vector<Bad> bad_cases() {
  return {
      {"unknown command gets its reply, nothing shifts",
       {S(kGreet), C("XYZZY now\r\nNOOP\r\n"), S("500 5.5.1 what\r\n250 ok\r\n")},
       {},
       {{"unknown_command", 1}},
       false},
      {"empty line is an unknown command",
       {S(kGreet), C("\r\n"), S("500 5.5.2 empty\r\n")},
       {},
       {{"unknown_command", 1}},
       false},
      {"NUL byte in a command",
       {S(kGreet), C(std::string("NO\0OP\r\n", 7)), S("500 bad\r\n")},
       {},
       {{"nul_byte", 1}, {"unknown_command", 1}},
       false},
      {"bare LF ends a command line and is counted",
       {S(kGreet), C("NOOP\n"), S("250 ok\n")},
       {},
       {{"bare_lf", 2}},
       false},
      {"reply without a command",
       {S(kGreet), S("250 surprise\r\n")},
       {},
       {{"reply_without_command", 1}},
       false},
      {"unsolicited 421 before close is allowed",
       {S(kGreet), S("421 4.3.2 shutting down\r\n")},
       {},
       {},
       false},
      {"garbage from the server is ignored, the next reply still matches",
       {S(kGreet), C("NOOP\r\n"), S("hello there\r\n25\r\n2x0 no\r\n250 ok\r\n")},
       {},
       {{"malformed_reply", 3}},
       false},
      {"multi-line reply whose codes disagree",
       {S(kGreet), C("EHLO c\r\n"), S("250-mx\r\n251-PIPELINING\r\n250 SIZE\r\n")},
       {},
       {{"multiline_code_mismatch", 1}},
       false},
      {"MAIL without FROM: and RCPT without TO: are malformed",
       {S(kGreet), C("MAIL <a@b.c>\r\nRCPT <a@b.c>\r\n"), S("501 bad\r\n501 bad\r\n")},
       {},
       {{"malformed_command", 2}},
       false},
      {"RCPT and DATA before MAIL are out of sequence",
       {S(kGreet), C("RCPT TO:<a@b.c>\r\n"), S("503 need MAIL\r\n"), C("DATA\r\n"),
        S("503 need RCPT\r\n"), C("NOOP\r\n"), S("250 ok\r\n")},
       {},
       {{"out_of_sequence", 2}},
       false},
      {"DATA with an argument is malformed and does not start content",
       {S(kGreet), C("DATA now\r\nNOOP\r\n"), S("501 bad\r\n250 ok\r\n")},
       {},
       {{"malformed_command", 1}},
       false},
      {"command line over the limit: cut, rest skipped, still answered",
       {S(kGreet), C("MAIL FROM:<" + std::string(1200, 'a') + "@b.c>\r\nNOOP\r\n"),
        S("500 5.5.2 line too long\r\n250 ok\r\n")},
       {},
       {{"command_too_long", 1},
        {"command_over_limit", 1},
        {"address_over_limit", 1},
        {"bad_address", 1}},
       false,
       {"#0 from=!local_part_too_long:<" + std::string(255, 'a') +
        " mail=500/5.5.2 rcpt=[] acc=0 rej=0 size=0 rejected@mail"}},
      {"firewall limits: a 513-octet line and a 321-octet path are counted (no observer stops "
       "them here), a 512-octet line, a 320-octet path and a long AUTH line are not",
       {S(kGreet),
        C("NOOP " + std::string(505, 'n') + "\r\nNOOP " + std::string(506, 'n') + "\r\n"),
        S("250 ok\r\n250 ok\r\n"),
        C("MAIL FROM:<" + std::string(320, 'a') + ">\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<" + std::string(321, 'a') + ">\r\n"), S("250 ok\r\n"),
        C("RSET\r\nAUTH XOAUTH2 " + std::string(900, 'x') + "\r\n"), S("250 ok\r\n235 ok\r\n")},
       {},
       // Both paths are bad_address too (over RFC 5321's 256); the AUTH blob is no XOAUTH2.
       {{"command_over_limit", 1},
        {"address_over_limit", 1},
        {"bad_address", 2},
        {"auth_decode_failed", 1}},
       false},
      {"reply line over the limit: cut and counted",
       {S(kGreet), C("NOOP\r\n"), S("250 " + std::string(700, 'x') + "\r\n"), C("NOOP\r\n"),
        S("250 ok\r\n")},
       {},
       {{"reply_too_long", 1}},
       false},
      {"recipients over the per-transaction limit are forwarded but not emitted",
       {S(kGreet), C("MAIL FROM:<a@b.c>\r\nRCPT TO:<1@d.e>\r\nRCPT TO:<2@d.e>\r\nRCPT TO:<3@d.e>\r\n"),
        S("250 ok\r\n250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n")},
       with([](SessionLimits& l) { l.max_recipients = 2; }),
       {{"too_many_recipients", 1}},
       false,
       {"#0 from=a@b.c mail=250 rcpt=[1@d.e:250,2@d.e:250] acc=2 rej=1 over=1 size=0 aborted"}},
      {"record capacity: recipients past it are counted, not kept",
       {S(kGreet), C("MAIL FROM:<a@b.c>\r\nRCPT TO:<1@d.e>\r\nRCPT TO:<2@d.e>\r\n"),
        S("250 ok\r\n250 ok\r\n550 no\r\n")},
       with([](SessionLimits& l) { l.record.max_recipients = 1; }),
       {{"recipients_dropped", 1}},
       false,
       {"#0 from=a@b.c mail=250 rcpt=[1@d.e:250] acc=1 rej=1 dropped=1 size=0 aborted"}},
      {"too many commands without a reply: desynchronised, outcomes unknown",
       {S(kGreet), C("MAIL FROM:<a@b.c>\r\nNOOP\r\nNOOP\r\nNOOP\r\n"),
        S("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n")},
       with([](SessionLimits& l) { l.max_pending = 2; }),
       {{"pending_overflow", 2}, {"desync", 1}, {"reply_without_command", 2}},
       true,
       {"#0 from=a@b.c mail=250 rcpt=[] acc=0 rej=0 size=0 unknown"}},
      {"commands still awaiting a reply at close are counted",
       {S(kGreet), C("NOOP\r\nNOOP\r\nNOOP\r\n"), S("250 ok\r\n")},
       {},
       {{"command_without_reply", 1}},
       false},
      {"content sent before the 354, server then refuses DATA: desync, never released",
       {S(kGreet), C("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nDATA\r\nRSET\r\nMAIL FROM:<evil@x.y>\r\n"),
        S("250 ok\r\n250 ok\r\n554 no\r\n")},
       {},
       {{"client_ahead_of_reply", 1}, {"desync", 1}},
       true},
      {"bare LF and a smuggling-style end inside DATA are counted; data goes on",
       {S(kGreet), C("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nDATA\r\n"),
        S("250 ok\r\n250 ok\r\n354 go\r\n"),
        C("line\n.\r\nMAIL FROM:<smuggled@x.y>\r\n.\nx\r\n.\rY\r\n.\r\n"), S("250 queued\r\n")},
       {},
       {{"data_bare_lf", 2}, {"smuggling_suspect", 2}, {"data_bare_cr", 1}},
       false,
       {"#0 from=a@b.c mail=250 rcpt=[x@d.e:250] acc=1 rej=0 size=42 final=250 'queued' "
        "delivered"}},
      {"BDAT with a bad size: desync (the chunk length is unknown)",
       {S(kGreet), C("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nBDAT ten\r\n"),
        S("250 ok\r\n250 ok\r\n501 bad\r\n")},
       {},
       {{"bad_bdat_size", 1}, {"desync", 1}},
       true},
      {"commands sent after STARTTLS before its 220 are counted (injection)",
       {S(kGreet), C("STARTTLS\r\nMAIL FROM:<inj@x.y>\r\n"), S("220 go\r\n")},
       {},
       {{"client_ahead_of_reply", 1}},
       false},
      {"a second MAIL while the first is still open",
       {S(kGreet), C("MAIL FROM:<a@b.c>\r\nMAIL FROM:<d@e.f>\r\n"), S("250 ok\r\n503 nested\r\n")},
       {},
       {{"out_of_sequence", 1}},
       false,
       {"#0 from=a@b.c mail=250 rcpt=[] acc=0 rej=0 size=0 aborted",
        "#1 from=d@e.f mail=503 rcpt=[] acc=0 rej=0 size=0 rejected@mail"}},
      {"transactions pipelined past the record slots: the oldest is reported early",
       {S(kGreet),
        C("MAIL FROM:<a@b.c>\r\nRSET\r\nMAIL FROM:<d@e.f>\r\nRSET\r\nMAIL FROM:<g@h.i>\r\nRSET\r\n"
          "MAIL FROM:<j@k.l>\r\nRSET\r\n"),
        S("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n")},
       {},
       {{"record_overflow", 1}},
       false,
       {"#0 from=a@b.c rcpt=[] acc=0 rej=0 size=0 aborted",
        "#1 from=d@e.f mail=250 rcpt=[] acc=0 rej=0 size=0 aborted",
        "#2 from=g@h.i mail=250 rcpt=[] acc=0 rej=0 size=0 aborted",
        "#3 from=j@k.l mail=250 rcpt=[] acc=0 rej=0 size=0 aborted"}},
      {"record slots overflow behind an end of data: a reset transaction is reported early, the "
       "message keeps its final reply",
       {S(kGreet), C("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nDATA\r\n"),
        S("250 ok\r\n250 ok\r\n354 go\r\n"),
        C("m\r\n.\r\nMAIL FROM:<d@e.f>\r\nRSET\r\nMAIL FROM:<g@h.i>\r\nRSET\r\n"
          "MAIL FROM:<j@k.l>\r\nRCPT TO:<y@d.e>\r\nDATA\r\n"),
        S("250 queued\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
          "354 go\r\n"),
        C(".\r\n"), S("250 queued 2\r\n")},
       {},
       {{"record_overflow", 1}},
       false,
       {"#1 from=d@e.f rcpt=[] acc=0 rej=0 size=0 aborted",
        "#0 from=a@b.c mail=250 rcpt=[x@d.e:250] acc=1 rej=0 size=3 final=250 'queued' "
        "delivered",
        "#2 from=g@h.i mail=250 rcpt=[] acc=0 rej=0 size=0 aborted",
        "#3 from=j@k.l mail=250 rcpt=[y@d.e:250] acc=1 rej=0 size=0 final=250 'queued 2' "
        "delivered"}},
      {"record slots overflow with whole messages only (BDAT LAST): the oldest is reported early",
       {S(kGreet),
        C("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nBDAT 1 LAST\r\na"
          "MAIL FROM:<d@e.f>\r\nRCPT TO:<x@d.e>\r\nBDAT 1 LAST\r\nb"
          "MAIL FROM:<g@h.i>\r\nRCPT TO:<x@d.e>\r\nBDAT 1 LAST\r\nc"
          "MAIL FROM:<j@k.l>\r\nRCPT TO:<x@d.e>\r\nBDAT 1 LAST\r\nd"),
        S("250 ok\r\n250 ok\r\n250 queued\r\n250 ok\r\n250 ok\r\n250 queued\r\n"
          "250 ok\r\n250 ok\r\n250 queued\r\n250 ok\r\n250 ok\r\n250 queued\r\n")},
       {},
       {{"record_overflow", 1}},
       false,
       {"#0 from=a@b.c rcpt=[x@d.e:0] acc=0 rej=0 size=1 bdat=1 aborted",
        "#1 from=d@e.f mail=250 rcpt=[x@d.e:250] acc=1 rej=0 size=1 bdat=1 final=250 'queued' "
        "delivered",
        "#2 from=g@h.i mail=250 rcpt=[x@d.e:250] acc=1 rej=0 size=1 bdat=1 final=250 'queued' "
        "delivered",
        "#3 from=j@k.l mail=250 rcpt=[x@d.e:250] acc=1 rej=0 size=1 bdat=1 final=250 'queued' "
        "delivered"}},
      {"AUTH PLAIN whose base64 is broken",
       {S(kGreet), C("AUTH PLAIN !!!notbase64\r\n"), S("501 bad\r\n")},
       {},
       {{"auth_decode_failed", 1}},
       false},
  };
}

class BadInputTest : public ::testing::TestWithParam<size_t> {};

TEST_P(BadInputTest, DefinedOutcomeInAnySegmentation) {
  const Bad b = bad_cases()[GetParam()];
  SCOPED_TRACE(b.description);
  RunResult whole = run(b.steps, Cut::kWhole, b.limits);
  EXPECT_EQ(whole.anomalies, b.anomalies);
  EXPECT_EQ(whole.desync, b.desync);
  EXPECT_FALSE(whole.order_error);
  EXPECT_TRUE(whole.monotonic);
  if (!b.records.empty()) {
    EXPECT_EQ(whole.records, b.records);
  }
  RunResult bytes = run(b.steps, Cut::kBytes, b.limits);
  EXPECT_TRUE(bytes == whole);
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    EXPECT_TRUE(run(b.steps, Cut::kRandom, b.limits, seed) == whole) << "seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Malformed, BadInputTest, ::testing::Range<size_t>(0, bad_cases().size()));

TEST(SessionLimitsTest, ContentBeforeRefusedDataIsNeverReleased) {
  Recorder rec;
  Session s({}, &rec, &rec, &rec);
  s.on_server_data(kGreet);
  const std::string head = "MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nDATA\r\n";
  s.on_client_data(head);
  EXPECT_EQ(s.release_limit(), head.size());  // DATA itself goes, what follows waits for 354
  s.on_client_data("RSET\r\nMAIL FROM:<evil@x.y>\r\n");
  EXPECT_EQ(s.release_limit(), head.size());
  s.on_server_data("250 ok\r\n250 ok\r\n554 no\r\n");
  EXPECT_EQ(s.release_limit(), head.size());
  EXPECT_TRUE(s.desynchronised());
}

TEST(SessionLimitsTest, PartialLineIsNotReleased) {
  Session s({}, nullptr, nullptr, nullptr);
  s.on_client_data("NOOP\r\nMAIL FR");
  EXPECT_EQ(s.release_limit(), 6u);
  s.on_client_data("OM:<a@b.c>\r\n");
  EXPECT_EQ(s.release_limit(), s.client_offset());
}

// Holds: the caller decides later; release stops at the hold until then.
struct HoldFixture : ::testing::Test {
  Recorder rec;
  SessionLimits limits;
  std::unique_ptr<Session> s;
  void SetUp() override {
    limits.hold_mask = hold_bit(HoldKind::kAuth) | hold_bit(HoldKind::kMailFrom) |
                       hold_bit(HoldKind::kRcptTo) | hold_bit(HoldKind::kEndOfData);
    s = std::make_unique<Session>(limits, &rec, &rec, &rec);
    s->on_server_data(kGreet);
    s->on_client_data("EHLO c\r\n");
    s->on_server_data(kEhlo);
  }
};

TEST_F(HoldFixture, MailFromHeldUntilAllowed) {
  s->on_client_data("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\n");
  ASSERT_NE(s->pending_hold(), nullptr);
  EXPECT_EQ(s->pending_hold()->kind, HoldKind::kMailFrom);
  EXPECT_EQ(s->pending_hold()->offset, 8u);
  EXPECT_EQ(s->release_limit(), 8u);
  s->allow();
  ASSERT_NE(s->pending_hold(), nullptr);
  EXPECT_EQ(s->pending_hold()->kind, HoldKind::kRcptTo);
  EXPECT_EQ(s->release_limit(), 8u + 19u);
  s->allow();
  EXPECT_EQ(s->pending_hold(), nullptr);
  EXPECT_EQ(s->release_limit(), s->client_offset());
  EXPECT_EQ(rec.holds.size(), 2u);
}

TEST_F(HoldFixture, RefusedMailFromIsNeverReleased) {
  s->on_client_data("MAIL FROM:<blocked@b.c>\r\n");
  s->refuse("550 5.1.8 Sender blocked");
  EXPECT_EQ(s->client_state(), ClientState::kRefused);
  EXPECT_EQ(s->release_limit(), 8u);
  s->on_client_data("RCPT TO:<x@d.e>\r\n");
  EXPECT_EQ(s->release_limit(), 8u);
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0],
            "#0 helo=c from=blocked@b.c rcpt=[] acc=0 rej=0 size=0 final=550/5.1.8 'Sender "
            "blocked' refused");
  EXPECT_EQ(s->counters()[Counter::kMessagesRefused], 1u);
  EXPECT_EQ(s->counters()[Counter::kDataAfterEnd], 1u);
  EXPECT_EQ(rec.log.back(), "record");
  EXPECT_FALSE(rec.order_error);
  EXPECT_EQ(rec.message_depth, 0);
}

TEST_F(HoldFixture, EndOfDataHeldAtTheDot) {
  s->on_client_data("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nDATA\r\n");
  s->allow();
  s->allow();
  s->on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
  uint64_t body_start = s->client_offset();
  s->on_client_data("hello\r\n");
  EXPECT_EQ(s->release_limit(), body_start + 7);
  s->on_client_data(".");  // might be the end: not released
  EXPECT_EQ(s->release_limit(), body_start + 7);
  s->on_client_data("\r");
  EXPECT_EQ(s->release_limit(), body_start + 7);
  s->on_client_data("\n");
  ASSERT_NE(s->pending_hold(), nullptr);
  EXPECT_EQ(s->pending_hold()->kind, HoldKind::kEndOfData);
  EXPECT_EQ(s->pending_hold()->offset, body_start + 7);
  EXPECT_EQ(s->release_limit(), body_start + 7);
  s->refuse("451 4.7.1 Deferred");
  EXPECT_EQ(s->release_limit(), body_start + 7);
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_NE(rec.records[0].find("final=451/4.7.1 'Deferred' refused"), std::string::npos);
  // The verdict came from the sinks: end_message happened before the hold was raised.
  EXPECT_EQ(rec.log[rec.log.size() - 2], "end");
}

TEST_F(HoldFixture, BdatLastHeldAtItsLastByte) {
  s->on_client_data("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\n");
  s->allow();
  s->allow();
  uint64_t cmd = s->client_offset();
  s->on_client_data("BDAT 4 LAST\r\nab");
  EXPECT_EQ(s->release_limit(), cmd + 13 + 2);
  s->on_client_data("cd");
  ASSERT_NE(s->pending_hold(), nullptr);
  EXPECT_EQ(s->pending_hold()->offset, cmd + 13 + 3);
  EXPECT_EQ(s->release_limit(), cmd + 13 + 3);
  s->allow();
  EXPECT_EQ(s->release_limit(), cmd + 17);
}

TEST_F(HoldFixture, AuthHeldAtTheLineCarryingTheUser) {
  uint64_t start = s->client_offset();
  s->on_client_data("AUTH LOGIN\r\n");
  EXPECT_EQ(s->pending_hold(), nullptr);
  s->on_server_data("334 VXNlcm5hbWU6\r\n");
  s->on_client_data("Ym9i\r\n");
  ASSERT_NE(s->pending_hold(), nullptr);
  EXPECT_EQ(s->pending_hold()->kind, HoldKind::kAuth);
  EXPECT_EQ(s->pending_hold()->offset, start + 12);
}

TEST_F(HoldFixture, HoldOverflowFreezesRelease) {
  SessionLimits l = limits;
  l.max_holds = 1;
  Recorder r2;
  Session s2(l, &r2, &r2, &r2);
  s2.on_client_data("MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\n");
  EXPECT_EQ(s2.counters()[Counter::kHoldOverflow], 1u);
  s2.allow();
  EXPECT_EQ(s2.release_limit(), 19u);  // the RCPT's hold was not kept: never released
}

TEST(SessionAuthTest, SecretsNeverStoredInAnyRecordOrBuffer) {
  const std::string plain_ir = "AGFsaWNlQEV4YW1wbGUuT1JHAHMzY3JldFBhc3Mh";  // s3cretPass!
  const std::vector<Step> steps = {
      S(kGreet), C("EHLO c\r\n"), S(kEhlo), C("AUTH PLAIN " + plain_ir + "\r\n"),
      S("535 5.7.8 no\r\n"), C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"), C("Ym9i\r\n"),
      S("334 UGFzc3dvcmQ6\r\n"), C("aHVudGVyMnh5eg==\r\n"), S("235 2.7.0 ok\r\n"),
      C("MAIL FROM:<b@x.org>\r\n"), S("250 ok\r\n"), C("AUTH PLAIN\r\n")};
  for (const std::string& secret : {std::string("s3cretPass!"), std::string("hunter2xyz"),
                                   std::string("aHVudGVyMnh5eg=="), plain_ir,
                                   std::string("HMzY3JldFBhc3Mh")}) {
    for (Cut cut : {Cut::kWhole, Cut::kBytes, Cut::kRandom}) {
      std::string needle = secret;
      bool found = true;
      RunResult r = run(steps, cut, {}, 3, true, &needle, &found);
      EXPECT_FALSE(found) << secret << " cut " << static_cast<int>(cut);
      for (const auto& line : r.log) {
        EXPECT_EQ(line.find(secret), std::string::npos);
      }
      for (const auto& rec : r.records) {
        EXPECT_EQ(rec.find(secret), std::string::npos);
      }
      EXPECT_EQ(r.auth_user, "bob");
    }
  }
  // An unfinished AUTH response split across segments is wiped too.
  Session s({}, nullptr, nullptr, nullptr);
  s.on_server_data(kGreet);
  s.on_client_data("AUTH PLAIN\r\n");
  s.on_server_data("334 \r\n");
  s.on_client_data("AGFsaWNlQEV4YW1wbGUuT1JH");
  EXPECT_TRUE(s.buffers_contain("AGFsaWNlQEV4YW1wbGUuT1JH"));  // the check can see it...
  s.on_close();
  EXPECT_FALSE(s.buffers_contain("AGFsaWNlQEV4YW1wbGUuT1JH"));  // ...and close wipes it
}

TEST(SessionCountersTest, NamesAreUniqueAndAnomaliesMarked) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kCounterCount; ++i) {
    names.insert(counter_name(static_cast<Counter>(i)));
  }
  EXPECT_EQ(names.size(), kCounterCount);
  EXPECT_TRUE(counter_is_anomaly(Counter::kDesync));
  EXPECT_FALSE(counter_is_anomaly(Counter::kCommands));
}

TEST(SessionCloseTest, DataAfterCloseIsCounted) {
  Session s({}, nullptr, nullptr, nullptr);
  s.on_close();
  s.on_client_data("NOOP\r\n");
  s.on_close();
  EXPECT_EQ(s.counters()[Counter::kDataAfterEnd], 1u);
  EXPECT_EQ(s.counters()[Counter::kCommandWithoutReply], 1u);  // the greeting never came
}

}  // namespace
}  // namespace smtpgw::smtp::testing
