// The inspection pipeline on hand-made TCP flows: holds answered by Decisions (allow, refuse,
// defer), what the client may release at each point, records with their verdicts, the pools
// lent per message and given back, and the fail-closed outcome of every pool bound.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "control/rules/compiler.h"
#include "dataplane/inspect/inspector.h"
#include "tests/unit/inspect/conn.h"

namespace smtpgw::inspect {
namespace {

using tcp::Direction;

struct Seen {
  smtp::HoldKind kind;
  uint64_t offset;
  bool has_message;
  bool spam;  // at the end of data: the verdict said spam
};

struct RecordSeen {
  smtp::MessageOutcome outcome;
  uint16_t final_code;
  std::string final_text;
  Action action;
  bool has_summary;
  bool has_verdict;
  bool spam;
  std::string subject;
};

// Decisions that answer from a script: the Nth hold gets script[N] (allow once it runs out).
class Scripted final : public Decisions {
 public:
  bool inspect_starttls(const smtp::Endpoint&) override { return inspect_tls; }
  Decision on_hold(Flow&, const Hold& h) override {
    const scan::Verdict* v = h.message != nullptr ? h.message->verdict() : nullptr;
    holds.push_back({h.point.kind, h.point.offset, h.message != nullptr, v != nullptr && v->spam});
    if (holds.size() <= script.size()) {
      return script[holds.size() - 1];
    }
    return {};
  }
  void on_record(Flow&, const smtp::MessageRecord& r, Message* m) override {
    RecordSeen s{r.outcome, r.final_reply.code, std::string(r.final_reply.text.view()),
                 m != nullptr ? m->action : Action::kAllow, m != nullptr && m->has_summary,
                 m != nullptr && m->verdict() != nullptr,
                 m != nullptr && m->verdict() != nullptr && m->verdict()->spam, {}};
    if (s.has_summary) {
      s.subject = std::string(m->summary.value(mime::SummaryHeader::kSubject));
    }
    records.push_back(s);
  }
  bool inspect_tls = false;
  std::vector<Decision> script;
  std::vector<Seen> holds;
  std::vector<RecordSeen> records;
};

constexpr uint32_t kAllHolds = smtp::kHoldAll;

std::unique_ptr<scan::Ruleset> gtube_rules() {
  rules::CompileOptions o;
  auto r = rules::compile_sources(
      {rules::Source{"t.cf", "body GTUBE /XJS\\*C4JDBQADN1\\.NSBN3\\*2IDNEN\\*GTUBE-STANDARD/\n"
                             "score GTUBE 1000\n"}},
      o);
  EXPECT_TRUE(r.ruleset) << (r.errors.empty() ? "" : r.errors[0].to_string());
  return std::move(r.ruleset);
}

Config config_with(uint32_t holds) {
  Config c;
  c.session.hold_mask = holds;
  c.tcp.pool_slots = 1024;
  return c;
}

void greet(Conn& c) {
  c.server("220 mx.example ESMTP\r\n");
  c.client("EHLO client.example\r\n");
  c.server("250-mx.example\r\n250 PIPELINING\r\n");
}

// Greeting, EHLO, one transaction's envelope, and the server's 354: the next client bytes are
// the message's content.
void to_data(Conn& c) {
  greet(c);
  c.client("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
  c.server("250 ok\r\n250 ok\r\n354 go\r\n");
}

const std::string kGtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

TEST(InspectorTest, CleanMessageHeldAtEachPointAndReleasedByAllow) {
  Scripted d;
  Inspector in(config_with(kAllHolds), d, {});
  {
    Conn c(in, 1);
    greet(c);
    const uint64_t mail_at = c.client_sent();
    c.client("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    c.server("250 ok\r\n250 ok\r\n354 go\r\n");
    c.client("Subject: hello\r\n\r\nhi\r\n.\r\n");
    EXPECT_EQ(in.release_limit(c.flow()), c.client_sent());
    c.server("250 queued\r\n");
    ASSERT_EQ(d.holds.size(), 3u);
    EXPECT_EQ(d.holds[0].kind, smtp::HoldKind::kMailFrom);
    EXPECT_EQ(d.holds[0].offset, mail_at);
    EXPECT_EQ(d.holds[1].kind, smtp::HoldKind::kRcptTo);
    EXPECT_EQ(d.holds[2].kind, smtp::HoldKind::kEndOfData);
    EXPECT_TRUE(d.holds[2].has_message);
    ASSERT_EQ(d.records.size(), 1u);
    EXPECT_EQ(d.records[0].outcome, smtp::MessageOutcome::kDelivered);
    EXPECT_TRUE(d.records[0].has_summary);
    EXPECT_EQ(d.records[0].subject, "hello");
    EXPECT_FALSE(d.records[0].has_verdict);  // no rule set
    EXPECT_EQ(in.messages().stats().lent, 0u);
    EXPECT_EQ(in.decoders().stats().lent, 0u);
  }
  EXPECT_EQ(in.counter(Counter::kHoldsAllowed), 3u);
  EXPECT_EQ(in.counter(Counter::kMessages), 1u);
  EXPECT_EQ(in.counter(Counter::kFlowsClosed), 1u);
  EXPECT_EQ(in.reassembler().free_slots(), 1024u);  // the destructor closed the flow
}

TEST(InspectorTest, RefusedMailFromIsNeverReleased) {
  Scripted d;
  d.script = {Decision{Action::kRefuse, "550 5.1.8 Access denied, bad outbound sender"}};
  Inspector in(config_with(kAllHolds), d, {});
  Conn c(in, 1);
  greet(c);
  const uint64_t mail_at = c.client_sent();
  c.client("MAIL FROM:<spammer@example.org>\r\nRCPT TO:<b@example.net>\r\n");
  EXPECT_EQ(in.release_limit(c.flow()), mail_at);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].outcome, smtp::MessageOutcome::kRefused);
  EXPECT_EQ(d.records[0].final_code, 550);
  EXPECT_EQ(d.records[0].action, Action::kRefuse);
  EXPECT_EQ(in.counter(Counter::kHoldsEnded), 1u);
  EXPECT_EQ(d.holds.size(), 1u);  // nothing after the refusal is parsed or held
  EXPECT_EQ(in.messages().stats().lent, 0u);
}

TEST(InspectorTest, SpamVerdictIsKnownAtTheEndOfDataHoldAndDeferredThere) {
  auto rules = gtube_rules();
  ASSERT_TRUE(rules);
  Scripted d;
  // MAIL, RCPT allowed; the end of data deferred (what a normal-pool flow does with spam).
  d.script = {{}, {}, Decision{Action::kDefer, "451 4.7.1 Try again later"}};
  Config cfg = config_with(kAllHolds);
  cfg.ruleset = rules.get();
  Inspector in(cfg, d, {});
  Conn c(in, 1);
  to_data(c);
  const uint64_t content_at = c.client_sent();
  c.client("Subject: test\r\n\r\n" + kGtube + "\r\n.\r\n");
  ASSERT_EQ(d.holds.size(), 3u);
  EXPECT_TRUE(d.holds[2].spam);
  // Content streams; only the final "." line is held back from the server.
  EXPECT_GT(in.release_limit(c.flow()), content_at);
  EXPECT_EQ(in.release_limit(c.flow()), c.client_sent() - 3);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].action, Action::kDefer);
  EXPECT_EQ(d.records[0].outcome, smtp::MessageOutcome::kRefused);
  EXPECT_EQ(d.records[0].final_code, 451);
  EXPECT_TRUE(d.records[0].has_verdict);
  EXPECT_TRUE(d.records[0].spam);
  EXPECT_EQ(in.scans().stats().lent, 0u);
}

// The pipeline's counters as telemetry, the exit report and analyze's summary read them: one
// registry of named groups, every counter of each stage in it, values as the stages count.
TEST(InspectorTest, RegistryNamesEveryCounterOfThePipeline) {
  Scripted d;
  Inspector in(config_with(kAllHolds), d, {});
  stats::Registry reg;
  in.register_counters(reg);
  ASSERT_EQ(reg.groups().size(), 3u);
  EXPECT_EQ(reg.groups()[0].stage, "inspect");
  EXPECT_EQ(reg.groups()[0].size, kCounterCount);
  EXPECT_EQ(reg.groups()[1].stage, "smtp");
  EXPECT_EQ(reg.groups()[1].size, smtp::kCounterCount);
  EXPECT_EQ(reg.groups()[2].stage, "tcp");
  EXPECT_EQ(reg.groups()[2].size, tcp::kCounterCount);
  Conn c(in, 1);
  to_data(c);
  c.client("Subject: x\r\n\r\nhello\r\n.\r\n");
  c.server("250 queued\r\n");
  EXPECT_EQ(reg.value("inspect", "messages"), 1u);
  EXPECT_EQ(reg.value("inspect", "messages"), in.counter(Counter::kMessages));
  EXPECT_EQ(reg.value("smtp", "messages_delivered"), 1u);
  EXPECT_EQ(reg.value("smtp", "commands"), in.sessions().counters()[smtp::Counter::kCommands]);
  EXPECT_EQ(reg.value("tcp", "syn"), 1u);
  size_t named = 0;
  reg.for_each([&](std::string_view stage, std::string_view name, uint64_t) {
    EXPECT_FALSE(name.empty()) << stage;
    ++named;
  });
  EXPECT_EQ(named, kCounterCount + smtp::kCounterCount + tcp::kCounterCount);
}

// A rule set published while messages are in flight: the message that began before it keeps
// its version to its verdict, every later one uses the new one; refresh_rules moves the idle
// scan contexts over (streams opened outside the packet path) and the old version is freed
// once no message uses it.
TEST(InspectorTest, PublishedRuleSetReplacesTheOldOneBetweenMessages) {
  publish::Qsbr qsbr;  // no registered reader: nothing holds a version but the pins
  auto compile = [](const std::string& text) {
    rules::CompileResult r = rules::compile_sources({rules::Source{"t.cf", text}}, {});
    EXPECT_TRUE(r.ruleset) << (r.errors.empty() ? "" : r.errors[0].to_string());
    return std::shared_ptr<const scan::Ruleset>(std::move(r.ruleset));
  };
  std::shared_ptr<const scan::Ruleset> v1 = compile("body OLD /XYZZY-OLD/\nscore OLD 1000\n");
  std::weak_ptr<const scan::Ruleset> v1_alive = v1;
  scan::ScanContext::Source source(qsbr, std::move(v1));
  Scripted d;
  Config cfg = config_with(kAllHolds);
  cfg.rules_source = &source;
  cfg.reserve_scans = cfg.max_scans = 4;
  cfg.prefault = true;  // the contexts open their streams for v1 at start
  Inspector in(cfg, d, {});
  Conn a(in, 1), b(in, 2);
  to_data(a);  // a's message began with v1
  ASSERT_EQ(source.publish(compile("body NEW /XYZZY-NEW/\nscore NEW 1000\n")),
            publish::PublishOutcome::kPublished);
  in.refresh_rules();
  EXPECT_FALSE(in.rules_current()) << "a's context keeps v1 to its verdict";
  a.client("Subject: a\r\n\r\nXYZZY-OLD\r\n.\r\n");
  a.server("250 queued\r\n");
  to_data(b);
  b.client("Subject: b\r\n\r\nXYZZY-NEW\r\n.\r\n");
  b.server("250 queued\r\n");
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_TRUE(d.records[0].spam) << "a was scanned with v1 (OLD)";
  EXPECT_TRUE(d.records[1].spam) << "b was scanned with v2 (NEW)";
  in.refresh_rules();
  EXPECT_TRUE(in.rules_current());
  source.reclaim();
  EXPECT_EQ(source.retired_count(), 0u);
  EXPECT_TRUE(v1_alive.expired()) << "v1 freed once no context holds it";
  // A message with only OLD's pattern is ham under v2.
  Conn c(in, 3);
  to_data(c);
  c.client("Subject: c\r\n\r\nXYZZY-OLD\r\n.\r\n");
  c.server("250 queued\r\n");
  ASSERT_EQ(d.records.size(), 3u);
  EXPECT_TRUE(d.records[2].has_verdict);
  EXPECT_FALSE(d.records[2].spam);
}

TEST(InspectorTest, NoDecoderFailsClosedAtTheEndOfData) {
  Scripted d;
  Config cfg = config_with(kAllHolds);
  cfg.reserve_decoders = 0;
  cfg.max_decoders = 0;
  Inspector in(cfg, d, {});
  Conn c(in, 1);
  to_data(c);
  c.client("Subject: x\r\n\r\nhello\r\n.\r\n");
  EXPECT_EQ(in.counter(Counter::kNoDecoder), 1u);
  EXPECT_EQ(in.counter(Counter::kUninspectedDeferred), 1u);
  EXPECT_EQ(d.holds.size(), 2u);  // the end of data was decided without asking
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].final_code, 451);
  EXPECT_EQ(d.records[0].final_text, "Message could not be inspected, try again later");
  EXPECT_EQ(in.release_limit(c.flow()), c.client_sent() - 3);
}

TEST(InspectorTest, NoDecoderWithFailOpenIsDecidedAsUsual) {
  Scripted d;
  Config cfg = config_with(kAllHolds);
  cfg.max_decoders = 0;
  cfg.reserve_decoders = 0;
  cfg.fail_open = true;
  Inspector in(cfg, d, {});
  Conn c(in, 1);
  to_data(c);
  c.client("Subject: x\r\n\r\nhello\r\n.\r\n");
  c.server("250 queued\r\n");
  EXPECT_EQ(in.counter(Counter::kUninspectedPassed), 1u);
  EXPECT_EQ(d.holds.size(), 3u);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].outcome, smtp::MessageOutcome::kDelivered);
  EXPECT_EQ(in.release_limit(c.flow()), c.client_sent());
}

// A worker makes its sessions' parser state at start (reserve == max): no session allocates
// one on the packet path, and past the bound the connection is answered 451 4.3.2.
TEST(InspectorTest, ActiveSessionsAreMadeAtStartAndTheBoundAnswersUninspected) {
  Scripted d;
  Config cfg = config_with(kAllHolds);
  cfg.reserve_active_sessions = cfg.max_active_sessions = 2;
  Inspector in(cfg, d, {});
  EXPECT_EQ(in.sessions().pool().parts, 2u);
  Conn a(in, 1), b(in, 2), c(in, 3);
  to_data(a);
  to_data(b);  // both hold their parser state while their content is in progress
  c.server("220 mx.example ESMTP\r\n");
  c.client("EHLO client.example\r\n");
  EXPECT_EQ(in.sessions().pool().exhausted, 1u);
  EXPECT_EQ(in.sessions().pool().parts, 2u);  // none made past the bound
  EXPECT_EQ(c.flow().refusal(), kReplyUninspected);
  EXPECT_TRUE(a.flow().refusal().empty());
  EXPECT_EQ(in.release_limit(c.flow()), 0u);  // nothing unparsed is forwarded
}

TEST(InspectorTest, NoMessageStateFailsClosedAtMailFrom) {
  Scripted d;
  Config cfg = config_with(kAllHolds);
  cfg.reserve_messages = 0;
  cfg.max_messages = 0;
  Inspector in(cfg, d, {});
  Conn c(in, 1);
  greet(c);
  const uint64_t mail_at = c.client_sent();
  c.client("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(in.counter(Counter::kNoMessageState), 1u);
  EXPECT_EQ(in.counter(Counter::kUninspectedDeferred), 1u);
  EXPECT_TRUE(d.holds.empty());
  EXPECT_EQ(in.release_limit(c.flow()), mail_at);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].final_code, 451);
}

TEST(InspectorTest, NoScanContextFailsClosedAtMailFrom) {
  auto rules = gtube_rules();
  ASSERT_TRUE(rules);
  Scripted d;
  Config cfg = config_with(kAllHolds);
  cfg.ruleset = rules.get();
  cfg.reserve_scans = 0;
  cfg.max_scans = 0;
  Inspector in(cfg, d, {});
  Conn c(in, 1);
  greet(c);
  c.client("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(in.counter(Counter::kNoScanContext), 1u);
  EXPECT_EQ(in.counter(Counter::kUninspectedDeferred), 1u);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].final_code, 451);
}

TEST(InspectorTest, PipelinedMessagesEachBorrowAndGiveBack) {
  auto rules = gtube_rules();
  ASSERT_TRUE(rules);
  Scripted d;
  Config cfg = config_with(kAllHolds);
  cfg.ruleset = rules.get();
  Inspector in(cfg, d, {});
  Conn c(in, 1);
  greet(c);
  // Two transactions in one burst: the second begins before the first's final reply.
  c.client("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
  c.server("250 ok\r\n250 ok\r\n354 go\r\n");
  c.client("Subject: one\r\n\r\n" + kGtube + "\r\n.\r\nMAIL FROM:<a@example.org>\r\n"
           "RCPT TO:<c@example.net>\r\nDATA\r\n");
  EXPECT_EQ(in.messages().stats().lent, 2u);
  c.server("250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n");
  c.client("Subject: two\r\n\r\nclean\r\n.\r\nQUIT\r\n");
  c.server("250 queued\r\n221 bye\r\n");
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[0].subject, "one");
  EXPECT_TRUE(d.records[0].spam);
  EXPECT_EQ(d.records[1].subject, "two");
  EXPECT_TRUE(d.records[1].has_verdict);
  EXPECT_FALSE(d.records[1].spam);
  EXPECT_EQ(in.messages().stats().lent, 0u);
  EXPECT_EQ(in.scans().stats().lent, 0u);
  EXPECT_EQ(in.decoders().stats().lent, 0u);
}

TEST(InspectorTest, CloseMidMessageReportsItAbortedAndReturnsEverything) {
  auto rules = gtube_rules();
  ASSERT_TRUE(rules);
  Scripted d;
  Config cfg = config_with(kAllHolds);
  cfg.ruleset = rules.get();
  Inspector in(cfg, d, {});
  Conn c(in, 1);
  to_data(c);
  c.client("Subject: cut\r\n\r\nhalf a mess");
  EXPECT_EQ(in.decoders().stats().lent, 1u);
  in.close(c.flow());
  in.close(c.flow());  // idempotent
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].outcome, smtp::MessageOutcome::kAborted);
  EXPECT_FALSE(d.records[0].has_verdict);
  EXPECT_EQ(d.records[0].subject, "cut");  // the summary of what was seen
  EXPECT_EQ(in.decoders().stats().lent, 0u);
  EXPECT_EQ(in.scans().stats().lent, 0u);
  EXPECT_EQ(in.messages().stats().lent, 0u);
  EXPECT_TRUE(c.flow().done());
}

TEST(InspectorTest, SynStartsANewFlowOnlyWhenTheOldOneCannotContinue) {
  Scripted d;
  Inspector in(config_with(0), d, {});
  EXPECT_TRUE(Inspector::starts_new_flow(nullptr));
  Conn c(in, 1);
  EXPECT_FALSE(Inspector::starts_new_flow(&c.flow()));  // handshake seen, no data yet
  greet(c);
  EXPECT_TRUE(Inspector::starts_new_flow(&c.flow()));  // data flowed: the ports were reused
}

// STARTTLS inspected: the session finds the keyword in each EHLO reply for the driver to mask,
// holds back an EHLO reply line that may still become it, and the client's STARTTLS (it never
// saw one offered) ends the session with 502 5.5.1, never released.
TEST(InspectorTest, StarttlsIsFoundForMaskingAndRefusedWhenSent) {
  Scripted d;
  d.inspect_tls = true;
  Inspector in(config_with(kAllHolds), d, {});
  Conn c(in, 1);
  const smtp::Session& s = c.flow().session();
  EXPECT_TRUE(s.mask_starttls());
  const std::string greeting = "220 mx.example ESMTP\r\n";
  c.server(greeting);
  c.client("EHLO client.example\r\n");
  // Split inside "SIZE": held until the line shows it is not STARTTLS.
  const std::string a = "250-mx.example\r\n250-S";
  c.server(a);
  EXPECT_EQ(s.server_release_limit(), greeting.size() + a.size() - 5);
  const std::string b = "IZE 1000\r\n250-STAR";
  c.server(b);
  const uint64_t starttls_line = greeting.size() + a.size() + b.size() - 8;
  EXPECT_EQ(s.server_release_limit(), starttls_line);
  EXPECT_FALSE(s.starttls_in(0, starttls_line + 4));  // nothing to mask before the keyword
  const std::string rest = "TTLS\r\n250 PIPELINING\r\n";
  c.server(rest);
  EXPECT_EQ(s.server_release_limit(), s.server_offset());
  // The keyword straddles the two segments: each gets its own part masked.
  std::string first = b;
  std::string second = rest;
  EXPECT_TRUE(s.starttls_in(greeting.size() + a.size(), b.size()));
  s.mask_server_bytes(greeting.size() + a.size(), first);
  s.mask_server_bytes(greeting.size() + a.size() + b.size(), second);
  EXPECT_EQ(first, "IZE 1000\r\n250-XXXX");
  EXPECT_EQ(second, "XXXX\r\n250 PIPELINING\r\n");
  EXPECT_EQ(s.counters()[smtp::Counter::kStarttlsMasked], 1u);

  const uint64_t starttls_at = c.client_sent();
  c.client("STARTTLS\r\n");
  EXPECT_EQ(c.flow().refusal(), kReplyStarttlsNotOffered);
  EXPECT_EQ(in.release_limit(c.flow()), starttls_at);
  EXPECT_EQ(in.counter(Counter::kStarttlsRefused), 1u);
  EXPECT_TRUE(d.holds.empty());  // the Flow's own decision, not the policy's
}

// STARTTLS allowed (the default of the Decisions interface): nothing is masked, the STARTTLS
// is released, and the flow is opaque after the server's 220.
TEST(InspectorTest, StarttlsAllowedMakesTheFlowOpaque) {
  Scripted d;
  Inspector in(config_with(kAllHolds), d, {});
  {
    Conn c(in, 1);
    c.server("220 mx.example ESMTP\r\n");
    c.client("EHLO client.example\r\n");
    c.server("250-mx.example\r\n250-STAR");
    EXPECT_EQ(c.flow().session().server_release_limit(), c.flow().session().server_offset());
    c.server("TTLS\r\n250 PIPELINING\r\n");
    EXPECT_FALSE(c.flow().session().starttls_in(0, c.flow().session().server_offset()));
    c.client("STARTTLS\r\n");
    EXPECT_EQ(in.release_limit(c.flow()), c.client_sent());
    c.server("220 go ahead\r\n");
    c.client(std::string("\x16\x03\x01\x02\x00", 5));
    EXPECT_TRUE(c.flow().session().opaque());
    EXPECT_EQ(in.release_limit(c.flow()), c.client_sent());
  }
  EXPECT_EQ(in.counter(Counter::kFlowsOpaque), 1u);
  EXPECT_EQ(in.counter(Counter::kStarttlsRefused), 0u);
}

}  // namespace
}  // namespace smtpgw::inspect
