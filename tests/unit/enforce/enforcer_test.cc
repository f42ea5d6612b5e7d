// The gateway's enforcement at the hold points, on hand-made sessions through the inspection
// pipeline with a real sender table on a test clock: each refusal's reply and counter, steering
// at SYN (host after spam, pair after a bounce), spam on each pool, dry_run, remote rejections.
#include <gtest/gtest.h>

#include <algorithm>

#include <memory>
#include <string>
#include <vector>

#include "control/rules/compiler.h"
#include "dataplane/count/key.h"
#include "dataplane/enforce/enforcer.h"
#include "tests/unit/inspect/conn.h"

namespace smtpgw::enforce {
namespace {

using inspect::Action;
using inspect::Conn;
using inspect::EgressPool;

constexpr std::string_view kGtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

smtp::Endpoint ep(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  smtp::Endpoint e;
  e.addr[0] = a;
  e.addr[1] = b;
  e.addr[2] = c;
  e.addr[3] = d;
  e.port = port;
  return e;
}

const smtp::Endpoint kHost = ep(10, 1, 0, 5, 40000);
const smtp::Endpoint kServer = ep(192, 0, 2, 7, 25);
const smtp::Endpoint kOtherServer = ep(192, 0, 2, 8, 25);

struct Records final : RecordSink {
  void on_record(inspect::Flow&, const smtp::MessageRecord& r, inspect::Message* m) override {
    outcomes.push_back(r.outcome);
    actions.push_back(m != nullptr ? m->action : Action::kAllow);
    replies.emplace_back(m != nullptr ? m->reply : std::string_view{});
  }
  std::vector<smtp::MessageOutcome> outcomes;
  std::vector<Action> actions;
  std::vector<std::string> replies;
};

// One gateway worker's enforcement: a sender table on a clock the test sets, an Enforcer, and
// the pipeline it decides for (all hold points on, GTUBE as the rule set).
class Gate {
 public:
  explicit Gate(policy::Policy p = {}, bool high_risk_pool = true)
      : policy_(qsbr_, std::make_shared<const CompiledPolicy>(std::move(p))),
        table_(table_options()),
        accountant_(table_),
        events_(1024),
        marks_(qsbr_),
        enforcer_(accountant_, policy_, events_, Options{high_risk_pool, &marks_}, &records),
        rules_(gtube()),
        inspector_(config(), enforcer_, {}) {}

  // A connection as the worker opens it: its pool from the enforcement (SYN).
  std::unique_ptr<Conn> connect(const smtp::Endpoint& client = kHost,
                                const smtp::Endpoint& server = kServer) {
    const EgressPool pool = enforcer_.pool_for(client, server);
    auto c = std::make_unique<Conn>(inspector_, next_++, client, server, pool);
    c->server("220 mx ESMTP\r\n");
    c->client("EHLO client\r\n");
    c->server("250-mx\r\n250-AUTH PLAIN\r\n250 PIPELINING\r\n");
    return c;
  }
  // Sends one whole message on `c`, each command after the previous reply, as long as the
  // session is not refused. Returns the reply the gateway ended the session with ("" if none).
  std::string send(Conn& c, const std::string& from, const std::vector<std::string>& rcpts,
                   const std::string& body = "hello") {
    auto refused = [&] { return std::string(c.flow().refusal()); };
    c.client("MAIL FROM:<" + from + ">\r\n");
    if (!refused().empty()) {
      return refused();
    }
    c.server("250 ok\r\n");
    for (const std::string& r : rcpts) {
      c.client("RCPT TO:<" + r + ">\r\n");
      if (!refused().empty()) {
        return refused();
      }
      c.server(r.starts_with("unknown") ? "550 5.1.1 no such user\r\n" : "250 ok\r\n");
    }
    c.client("DATA\r\n");
    c.server("354 go\r\n");
    c.client("Subject: t\r\n\r\n" + body + "\r\n.\r\n");
    if (!refused().empty()) {
      return refused();
    }
    c.server("250 queued\r\n");
    return {};
  }
  void set_time(uint64_t s) { now_ns_ = s * 1'000'000'000ull; }

  const count::Entry* entry(const count::KeyBytes& k) {
    count::Handle h;
    return table_.find(k, h) ? table_.get(h) : nullptr;
  }
  uint64_t counter(Counter c) const { return enforcer_.counter(c); }
  // As the control plane replaces the policy while the workers run.
  void publish(policy::Policy p) {
    ASSERT_EQ(policy_.publish(std::make_shared<const CompiledPolicy>(std::move(p))),
              publish::PublishOutcome::kPublished);
  }
  // As the control plane's domain checker marks sender domains without A/MX.
  void mark_domains(const std::vector<std::string>& domains) {
    ASSERT_EQ(marks_.publish(std::make_shared<const DomainMarks>(domains)),
              publish::PublishOutcome::kPublished);
  }
  // The trace events queued so far (others are dropped), each Trace with its recipients and
  // its rules.
  std::vector<events::Event> traces() {
    std::vector<events::Event> out;
    events::Event e;
    while (events_.pop(e)) {
      if (e.kind == events::EventKind::kTrace || e.kind == events::EventKind::kTraceRecipient ||
          e.kind == events::EventKind::kTraceRule || e.kind == events::EventKind::kTraceSubject) {
        out.push_back(e);
      }
    }
    return out;
  }
  count::SenderTable& table() { return table_; }
  Enforcer& enforcer() { return enforcer_; }
  const inspect::Inspector& inspector() const { return inspector_; }
  uint32_t now_s() const { return static_cast<uint32_t>(now_ns_ / 1'000'000'000ull); }
  Records records;

 private:
  count::SenderTable::Options table_options() {
    count::SenderTable::Options o;
    o.capacity = 1024;
    o.clock = count::Clock{[](const void* c) { return *static_cast<const uint64_t*>(c); }, &now_ns_};
    return o;
  }
  static std::unique_ptr<scan::Ruleset> gtube() {
    auto r = rules::compile_sources(
        {rules::Source{"t.cf", "body GTUBE /XJS\\*C4JDBQADN1\\.NSBN3\\*2IDNEN\\*GTUBE-STANDARD/\n"
                               "score GTUBE 1000\n"}},
        rules::CompileOptions{});
    EXPECT_TRUE(r.ruleset);
    return std::move(r.ruleset);
  }
  inspect::Config config() const {
    inspect::Config c;
    c.session.hold_mask = smtp::kHoldAll;
    c.tcp.pool_slots = 1024;
    c.ruleset = rules_.get();
    return c;
  }

  uint64_t now_ns_ = 1'700'000'000ull * 1'000'000'000ull;
  publish::Qsbr qsbr_;  // no reader: the test's only thread publishes and reads
  PolicySource policy_;
  count::SenderTable table_;
  count::Accountant accountant_;
  count::EventQueue events_;
  DomainMarksSource marks_;
  Enforcer enforcer_;
  std::unique_ptr<scan::Ruleset> rules_;
  inspect::Inspector inspector_;
  uint64_t next_ = 1;
};

count::KeyBytes sender(std::string_view s) {
  count::KeyBytes k;
  EXPECT_EQ(count::sender_key(s, k), count::KeyStatus::kOk);
  return k;
}

TEST(Enforcer, CleanMailIsReleasedAndCounted) {
  Gate g;
  auto c = g.connect();
  EXPECT_EQ(c->flow().pool(), EgressPool::kNormal);
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}), "");
  ASSERT_EQ(g.records.outcomes.size(), 1u);
  EXPECT_EQ(g.records.outcomes[0], smtp::MessageOutcome::kDelivered);
  const count::Entry* e = g.entry(sender("a@example.org"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->count(count::Counter::kMessages, count::Window::kMinute, g.now_s()), 1u);
  EXPECT_EQ(e->count(count::Counter::kRecipientsExternal, count::Window::kMinute, g.now_s()), 1u);
  EXPECT_EQ(g.counter(Counter::kRecords), 1u);
}

TEST(Enforcer, RestrictedSenderIsRefusedAtMailFrom) {
  Gate g;
  ASSERT_EQ(g.table().restrict(sender("a@example.org"), events::LimitId::kNone,
                               events::ActionTaken::kBlocked, 0),
            count::FindOutcome::kInserted);
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}), count::kReplyRestricted);
  EXPECT_EQ(g.counter(Counter::kRefusedRestricted), 1u);
  // Another sender on the same host is not affected.
  auto d = g.connect();
  EXPECT_EQ(g.send(*d, "c@example.org", {"b@example.net"}), "");
}

TEST(Enforcer, RestrictedUserIsRefusedAtAuth) {
  Gate g;
  count::KeyBytes user;
  ASSERT_EQ(count::user_key("alice", user), count::KeyStatus::kOk);
  ASSERT_EQ(g.table().restrict(user, events::LimitId::kNone, events::ActionTaken::kBlocked, 0),
            count::FindOutcome::kInserted);
  auto c = g.connect();
  c->client("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");  // "\0alice\0secret"
  EXPECT_EQ(c->flow().refusal(), count::kReplyRestricted);
  EXPECT_EQ(g.counter(Counter::kRefusedRestricted), 1u);
}

TEST(Enforcer, MessagesPerMinuteThrottleWith451) {
  policy::Policy p;
  p.sender.messages_per_minute = {2, policy::LimitAction::kThrottle};
  Gate g(p);
  for (int i = 0; i < 2; ++i) {
    auto c = g.connect();
    EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}), "") << i;
  }
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}), count::kReplyThrottle);
  EXPECT_EQ(g.counter(Counter::kThrottled), 1u);
  // A minute later the window has room again.
  g.set_time(g.now_s() + 61);
  auto d = g.connect();
  EXPECT_EQ(g.send(*d, "a@example.org", {"b@example.net"}), "");
}

TEST(Enforcer, RecipientLimitsAnswerWithTheirOwnReplies) {
  {  // recipients per message, throttling: 452 4.5.3
    policy::Policy p;
    p.sender.recipients_per_message = {2, policy::LimitAction::kThrottle};
    Gate g(p);
    auto c = g.connect();
    EXPECT_EQ(g.send(*c, "a@example.org", {"b1@example.net", "b2@example.net", "b3@example.net"}),
              kReplyTooManyRecipients);
    EXPECT_EQ(g.counter(Counter::kTooManyRecipients), 1u);
  }
  {  // recipients per message, restricting: 550 5.1.8, and the sender stays restricted
    policy::Policy p;
    p.sender.recipients_per_message = {2, policy::LimitAction::kBlockUserForToday};
    Gate g(p);
    auto c = g.connect();
    EXPECT_EQ(g.send(*c, "a@example.org", {"b1@example.net", "b2@example.net", "b3@example.net"}),
              count::kReplyRestricted);
    EXPECT_EQ(g.counter(Counter::kRefusedLimit), 1u);
    auto d = g.connect();
    EXPECT_EQ(g.send(*d, "a@example.org", {"b@example.net"}), count::kReplyRestricted);
    EXPECT_EQ(g.counter(Counter::kRefusedRestricted), 1u);
  }
  {  // a quota (recipients per day) that restricts: 554 5.2.2 at the crossing
    policy::Policy p;
    p.sender.recipients_per_day = {3, policy::LimitAction::kBlockUserForToday};
    Gate g(p);
    auto c = g.connect();
    EXPECT_EQ(g.send(*c, "a@example.org", {"b1@example.net", "b2@example.net"}), "");
    auto d = g.connect();
    EXPECT_EQ(g.send(*d, "a@example.org", {"b3@example.net", "b4@example.net"}), kReplyQuota);
  }
}

TEST(Enforcer, SpamOnANormalFlowIsDeferredAndTheRetrySteered) {
  Gate g;
  const std::string spam = "spam " + std::string(kGtube);
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}, spam), kReplySpamDeferred);
  EXPECT_EQ(g.records.actions.back(), Action::kDefer);
  EXPECT_EQ(g.counter(Counter::kSpamDeferred), 1u);
  // The client's retry: the host is steered, its connection leaves from high risk and the same
  // message is released there.
  auto r = g.connect();
  EXPECT_EQ(r->flow().pool(), EgressPool::kHighRisk);
  EXPECT_EQ(g.send(*r, "a@example.org", {"b@example.net"}, spam), "");
  EXPECT_EQ(g.records.outcomes.back(), smtp::MessageOutcome::kDelivered);
  EXPECT_EQ(g.counter(Counter::kSpamReleased), 1u);
  EXPECT_EQ(g.counter(Counter::kSteeredFlows), 1u);
  // Steering lasts limits.spam.steer_ttl (default an hour).
  g.set_time(g.now_s() + 3601);
  EXPECT_EQ(g.connect()->flow().pool(), EgressPool::kNormal);
}

// Spam never leaves from the normal pool: with no high-risk pool it is refused, so the client's
// MTA returns it instead of retrying it for days; a bounce is released.
TEST(Enforcer, WithoutAHighRiskPoolSpamIsRefusedAndBouncesReleased) {
  Gate g({}, false);
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}, std::string(kGtube)), kReplySpamRefused);
  EXPECT_EQ(g.records.actions.back(), Action::kRefuse);
  EXPECT_EQ(g.counter(Counter::kSpamRefused), 1u);
  auto b = g.connect();
  EXPECT_EQ(b->flow().pool(), EgressPool::kNormal);
  EXPECT_EQ(g.send(*b, "", {"b@example.net"}), "");
  EXPECT_EQ(g.counter(Counter::kBounceDeferred), 0u);
}

TEST(Enforcer, DryRunDecidesNothing) {
  policy::Policy p;
  p.dry_run = true;
  p.sender.messages_per_minute = {1, policy::LimitAction::kThrottle};
  Gate g(p);
  for (int i = 0; i < 3; ++i) {
    auto c = g.connect();
    EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}, std::string(kGtube)), "") << i;
    EXPECT_EQ(c->flow().pool(), EgressPool::kNormal);
  }
}

TEST(Enforcer, ABounceSteersOnlyItsPair) {
  Gate g;
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "", {"b@example.net"}), kReplyBounceDeferred);
  EXPECT_EQ(g.counter(Counter::kBounceDeferred), 1u);
  // The retry to that server leaves from high risk and the bounce is released there; the
  // host's mail to any other server stays on the normal pool.
  auto r = g.connect(kHost, kServer);
  EXPECT_EQ(r->flow().pool(), EgressPool::kHighRisk);
  EXPECT_EQ(g.send(*r, "", {"b@example.net"}), "");
  EXPECT_EQ(g.connect(kHost, kOtherServer)->flow().pool(), EgressPool::kNormal);
}

TEST(Enforcer, RemoteRejectionsCountAgainstTheSender) {
  Gate g;
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net", "unknown@example.net"}), "");
  EXPECT_EQ(g.counter(Counter::kRemoteRejections), 1u);
  const count::Entry* e = g.entry(sender("a@example.org"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->count(count::Counter::kRemoteRejectedUnknown, count::Window::kHour, g.now_s()), 1u);
}

TEST(Enforcer, AnOrganisationPrefixNamesTheOrg) {
  policy::Policy p;
  p.org_prefixes.push_back({"10.1.0.0/16", "Tenant-A"});
  p.org.recipients_per_day = {1, policy::LimitAction::kBlockUserForToday};
  Gate g(p);
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}), "");
  auto d = g.connect(ep(10, 1, 9, 9, 40001), kServer);  // another host of the same prefix
  EXPECT_EQ(g.send(*d, "x@other.example", {"b@example.net"}), kReplyQuota);
  count::KeyBytes org;
  ASSERT_EQ(count::org_key("tenant-a", org), count::KeyStatus::kOk);
  EXPECT_NE(g.entry(org), nullptr);
}

// The firewall-style limits: each ends the session with its reply and counter, and the
// offending line is never released (the release limit stays at its first byte).
TEST(Enforcer, ACommandLineOver512OctetsEndsTheSession) {
  Gate g;
  auto c = g.connect();
  const uint64_t before = c->client_sent();
  // 512 octets with its CRLF is allowed...
  c->client("NOOP " + std::string(505, 'a') + "\r\n");
  EXPECT_EQ(c->flow().refusal(), "");
  c->server("250 ok\r\n");
  EXPECT_EQ(g.inspector().release_limit(c->flow()), before + 512);
  // ...513 is not; an AUTH line may be longer (RFC 4954), so it is not checked.
  const uint64_t line = c->client_sent();
  c->client("NOOP " + std::string(506, 'a') + "\r\nQUIT\r\n");
  EXPECT_EQ(c->flow().refusal(), kReplyCommandTooLong);
  EXPECT_EQ(g.inspector().release_limit(c->flow()), line);
  EXPECT_EQ(g.counter(Counter::kRefusedCommandLine), 1u);
  EXPECT_EQ(g.inspector().counter(inspect::Counter::kViolationsEnded), 1u);

  auto d = g.connect();
  d->client("AUTH XOAUTH2 " + std::string(2000, 'b') + "\r\n");
  EXPECT_EQ(d->flow().refusal(), "");
}

TEST(Enforcer, AnAddressOver320OctetsEndsTheSessionAndItsMessage) {
  Gate g;
  auto c = g.connect();
  const std::string long_local = std::string(64, 'x') + "@" + std::string(250, 'd') + ".example";
  ASSERT_GT(long_local.size(), 320u);
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net", long_local}), kReplyAddressTooLong);
  ASSERT_EQ(g.records.outcomes.size(), 1u);
  EXPECT_EQ(g.records.outcomes[0], smtp::MessageOutcome::kRefused);
  EXPECT_EQ(g.records.replies[0], kReplyAddressTooLong);
  EXPECT_EQ(g.counter(Counter::kRefusedAddress), 1u);
  // At MAIL FROM too, before any transaction is open.
  auto d = g.connect();
  EXPECT_EQ(g.send(*d, long_local, {"b@example.net"}), kReplyAddressTooLong);
  EXPECT_EQ(g.counter(Counter::kRefusedAddress), 2u);
}

TEST(Enforcer, AHeaderLineOver998OctetsIsRefusedAtTheEndOfData) {
  Gate g;
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}), "");
  c->client("MAIL FROM:<a@example.org>\r\n");
  c->server("250 ok\r\n");
  c->client("RCPT TO:<b@example.net>\r\n");
  c->server("250 ok\r\n");
  c->client("DATA\r\n");
  c->server("354 go\r\n");
  // A folded header whose lines are each within the limit passes; one physical line over it
  // does not, wherever it is in the header section.
  c->client("Subject: " + std::string(900, 's') + "\r\n " + std::string(900, 't') + "\r\n");
  c->client("X-Long: " + std::string(991, 'u') + "\r\n\r\nbody\r\n");
  const uint64_t dot = c->client_sent();
  c->client(".\r\n");
  EXPECT_EQ(c->flow().refusal(), kReplyHeaderLineTooLong);
  EXPECT_EQ(g.inspector().release_limit(c->flow()), dot);
  EXPECT_EQ(g.counter(Counter::kRefusedHeaderLine), 1u);
  // A header line of exactly 998 octets is allowed.
  auto d = g.connect();
  d->client("MAIL FROM:<a@example.org>\r\n");
  d->server("250 ok\r\n");
  d->client("RCPT TO:<b@example.net>\r\n");
  d->server("250 ok\r\n");
  d->client("DATA\r\n");
  d->server("354 go\r\n");
  d->client("X-Long: " + std::string(990, 'u') + "\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(d->flow().refusal(), "");
}

// STARTTLS is inspected by default; a prefix may allow it (the longest matching prefix wins);
// dry_run masks nothing.
TEST(Enforcer, StarttlsPolicyPerInsidePrefix) {
  policy::Policy p;
  p.starttls_prefixes.push_back({"10.1.0.0/16", policy::Starttls::kAllow});
  p.starttls_prefixes.push_back({"10.1.0.0/24", policy::Starttls::kInspect});
  Gate g(p);
  EXPECT_TRUE(g.enforcer().inspect_starttls(ep(10, 2, 0, 5, 1)));    // the default
  EXPECT_FALSE(g.enforcer().inspect_starttls(ep(10, 1, 9, 5, 1)));   // the /16
  EXPECT_TRUE(g.enforcer().inspect_starttls(ep(10, 1, 0, 5, 1)));    // the /24 inside it
  auto c = g.connect(ep(10, 1, 0, 5, 40000), kServer);
  EXPECT_TRUE(c->flow().session().mask_starttls());
  c->client("STARTTLS\r\n");
  EXPECT_EQ(c->flow().refusal(), inspect::kReplyStarttlsNotOffered);

  policy::Policy allow;
  allow.starttls = policy::Starttls::kAllow;
  Gate a(allow);
  EXPECT_FALSE(a.enforcer().inspect_starttls(kHost));
  policy::Policy dry;
  dry.dry_run = true;
  Gate d(dry);
  EXPECT_FALSE(d.enforcer().inspect_starttls(kHost));
}

TEST(Enforcer, DryRunLetsOverLongLinesThrough) {
  policy::Policy p;
  p.dry_run = true;
  Gate g(p);
  auto c = g.connect();
  c->client("NOOP " + std::string(600, 'a') + "\r\n");
  EXPECT_EQ(c->flow().refusal(), "");
}

// A sender domain marked as having no A/MX: on a normal flow its mail is deferred and only the
// pair (host, server) is steered, as for a bounce; its retry leaves from the high-risk pool and
// is released; other senders of the host, and the same sender before the mark, are not touched.
TEST(Enforcer, ASenderDomainWithoutMxIsDeferredAndOnlyItsPairSteered) {
  Gate g;
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@nomx.example", {"b@example.net"}), "");  // not marked yet
  g.mark_domains({"NoMX.example"});
  auto d = g.connect();
  EXPECT_EQ(g.send(*d, "a@NOMX.example", {"b@example.net"}), kReplyNoMxDeferred);
  EXPECT_EQ(g.counter(Counter::kNoMxDeferred), 1u);
  auto other = g.connect(kHost, kOtherServer);  // the host's other destinations stay normal
  EXPECT_EQ(other->flow().pool(), EgressPool::kNormal);
  EXPECT_EQ(g.send(*other, "c@example.org", {"b@example.net"}), "");
  auto retry = g.connect();
  EXPECT_EQ(retry->flow().pool(), EgressPool::kHighRisk);
  EXPECT_EQ(g.send(*retry, "a@nomx.example", {"b@example.net"}), "");
  EXPECT_EQ(g.counter(Counter::kNoMxDeferred), 1u);
}

TEST(DomainMarks, MatchesWholeNamesCaseInsensitively) {
  const DomainMarks m({"nomx.example", "Dead.TEST", "dead.test"});
  EXPECT_EQ(m.size(), 2u);
  EXPECT_TRUE(m.marked("NOMX.example"));
  EXPECT_TRUE(m.marked("dead.test"));
  EXPECT_FALSE(m.marked("sub.nomx.example"));
  EXPECT_FALSE(m.marked("nomx.exampl"));
  EXPECT_FALSE(m.marked(""));
  EXPECT_FALSE(DomainMarks().marked("nomx.example"));
}

// Every record is traced with what the gateway did and what the server answered: a delivered
// message with one recipient the server refused, a spam deferral, a refusal at MAIL FROM.
TEST(Enforcer, EveryRecordIsTraced) {
  Gate g;
  auto c = g.connect();
  ASSERT_EQ(g.send(*c, "a@example.org", {"b@example.net", "unknown@example.net"}), "");
  auto t = g.traces();
  ASSERT_EQ(t.size(), 4u) << "the trace, two recipients, the Subject";
  ASSERT_EQ(t[0].kind, events::EventKind::kTrace);
  ASSERT_EQ(t[3].kind, events::EventKind::kTraceSubject);
  EXPECT_EQ(std::string_view(t[3].u.subject.text, t[3].u.subject.len), "t");
  EXPECT_EQ(t[3].u.subject.flow_id, t[0].u.trace.flow_id);
  const events::Trace& d = t[0].u.trace;
  EXPECT_EQ(std::string_view(t[0].key.data, t[0].key.len), "a@example.org");
  EXPECT_EQ(d.host_family, 4);
  EXPECT_EQ(d.host_addr[0], 10);
  EXPECT_EQ(d.server_addr[3], 7);
  EXPECT_EQ(d.server_port, 25);
  EXPECT_EQ(d.pool, 0);
  EXPECT_EQ(d.action, static_cast<uint8_t>(Action::kAllow));
  EXPECT_EQ(d.outcome, static_cast<uint8_t>(smtp::MessageOutcome::kDelivered));
  EXPECT_EQ(d.verdict, 0);  // scanned, clean
  EXPECT_EQ(d.gateway_reply, 0);
  EXPECT_EQ(d.remote_reply, 250);
  EXPECT_EQ(d.recipients, 2u);
  EXPECT_EQ(d.recipients_kept, 2u);
  EXPECT_EQ(d.recipients_rejected, 1u);
  EXPECT_GT(d.bytes, 0u);
  ASSERT_EQ(t[2].kind, events::EventKind::kTraceRecipient);
  const events::TraceRecipient& r = t[2].u.recipient;
  EXPECT_EQ(std::string_view(r.address, r.len), "unknown@example.net");
  EXPECT_EQ(r.reply, 550);
  EXPECT_STREQ(r.enhanced, "5.1.1");
  EXPECT_EQ(r.flow_id, d.flow_id);
  EXPECT_EQ(std::string_view(t[1].u.recipient.address, t[1].u.recipient.len), "b@example.net");
  EXPECT_EQ(t[1].u.recipient.reply, 250);

  auto spam = g.connect();
  ASSERT_EQ(g.send(*spam, "a@example.org", {"b@example.net"}, std::string(kGtube)),
            kReplySpamDeferred);
  t = g.traces();
  ASSERT_EQ(t.size(), 4u) << "the trace, its recipient, the rule it hit, the Subject";
  EXPECT_EQ(t[0].u.trace.rules_kept, 1u);
  EXPECT_EQ(t[0].u.trace.rules_hit, 1u);
  ASSERT_EQ(t[2].kind, events::EventKind::kTraceRule);
  EXPECT_EQ(std::string_view(t[2].u.rule.name, t[2].u.rule.len), "GTUBE");
  EXPECT_EQ(t[2].u.rule.score_milli, 1'000'000);
  EXPECT_EQ(t[2].u.rule.flow_id, t[0].u.trace.flow_id);
  EXPECT_EQ(t[0].u.trace.action, static_cast<uint8_t>(Action::kDefer));
  EXPECT_EQ(t[0].u.trace.gateway_reply, 451);
  EXPECT_EQ(t[0].u.trace.remote_reply, 0);  // the end of data never reached the server
  EXPECT_EQ(t[0].u.trace.verdict, 1);
  EXPECT_GE(t[0].u.trace.score_milli, 1'000'000);

  ASSERT_EQ(g.table().restrict(sender("x@example.org"), events::LimitId::kNone,
                               events::ActionTaken::kBlocked, 0),
            count::FindOutcome::kInserted);
  auto refused = g.connect();
  ASSERT_EQ(g.send(*refused, "x@example.org", {"b@example.net"}), count::kReplyRestricted);
  t = g.traces();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].u.trace.action, static_cast<uint8_t>(Action::kRefuse));
  EXPECT_EQ(t[0].u.trace.gateway_reply, 550);
  EXPECT_EQ(t[0].u.trace.outcome, static_cast<uint8_t>(smtp::MessageOutcome::kRefused));
  EXPECT_EQ(t[0].u.trace.recipients, 0u);
  EXPECT_EQ(t[0].u.trace.verdict, 2);  // never scanned
}

// A Subject longer than the event's text is cut, never inside a UTF-8 sequence.
TEST(Enforcer, ALongSubjectIsCutAtACharacterBoundary) {
  Gate g;
  auto c = g.connect();
  c->client("MAIL FROM:<a@example.org>\r\n");
  c->server("250 ok\r\n");
  c->client("RCPT TO:<b@example.net>\r\n");
  c->server("250 ok\r\n");
  c->client("DATA\r\n");
  c->server("354 go\r\n");
  // 97 ASCII octets, then "é" (two octets) across the 98-octet cut.
  c->client("Subject: " + std::string(97, 's') + "\xc3\xa9 more\r\n\r\nbody\r\n.\r\n");
  c->server("250 queued\r\n");
  const auto t = g.traces();
  const auto s = std::find_if(t.begin(), t.end(), [](const events::Event& e) {
    return e.kind == events::EventKind::kTraceSubject;
  });
  ASSERT_NE(s, t.end());
  EXPECT_EQ(s->u.subject.len, 97u);
  EXPECT_EQ(s->u.subject.truncated, 1u);
  EXPECT_EQ(std::string_view(s->u.subject.text, s->u.subject.len), std::string(97, 's'));
}

// A policy published while sessions are open decides from the next hold point on: the message in
// flight meets the new limit at its next command, a new connection the new STARTTLS policy.
TEST(Enforcer, APublishedPolicyDecidesFromTheNextHoldPoint) {
  Gate g;
  auto c = g.connect();
  EXPECT_EQ(g.send(*c, "a@example.org", {"b@example.net"}), "");
  c->client("MAIL FROM:<a@example.org>\r\n");
  c->server("250 ok\r\n");
  c->client("RCPT TO:<b@example.net>\r\n");
  c->server("250 ok\r\n");
  policy::Policy p;
  p.sender.recipients_per_message = {1, policy::LimitAction::kThrottle};
  p.starttls = policy::Starttls::kAllow;
  g.publish(p);
  c->client("RCPT TO:<c@example.net>\r\n");
  EXPECT_EQ(c->flow().refusal(), kReplyTooManyRecipients);
  EXPECT_EQ(g.counter(Counter::kTooManyRecipients), 1u);
  EXPECT_FALSE(g.enforcer().inspect_starttls(kHost));
  // And back: the next session may send two recipients again.
  g.publish(policy::Policy{});
  auto d = g.connect();
  EXPECT_EQ(g.send(*d, "a@example.org", {"b@example.net", "c@example.net"}), "");
  EXPECT_TRUE(g.enforcer().inspect_starttls(kHost));
}

// The prefixes are parsed once, at publication; a prefix the loader would refuse is left out
// and counted, never half-matched.
TEST(CompiledPolicy, ParsesPrefixesOnceAndSkipsBadOnes) {
  policy::Policy p;
  p.org_prefixes.push_back({"10.1.0.0/16", "Tenant-A"});
  p.org_prefixes.push_back({"10.2.0.0/33", "Tenant-B"});
  p.org_prefixes.push_back({"10.3.0.0/x", "Tenant-C"});
  p.starttls_prefixes.push_back({"2001:db8::/32", policy::Starttls::kAllow});
  p.starttls_prefixes.push_back({"not an address", policy::Starttls::kAllow});
  const CompiledPolicy cp(p);
  EXPECT_EQ(cp.skipped(), 3u);
  EXPECT_NE(cp.org_of(ep(10, 1, 2, 3, 1)), nullptr);
  EXPECT_EQ(cp.org_of(ep(10, 2, 0, 0, 1)), nullptr);
  EXPECT_EQ(cp.org_of(ep(10, 3, 0, 0, 1)), nullptr);
  smtp::Endpoint v6;
  v6.v6 = true;
  v6.addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_FALSE(cp.inspect_starttls(v6));
  EXPECT_TRUE(cp.inspect_starttls(ep(10, 1, 2, 3, 1)));
}

}  // namespace
}  // namespace smtpgw::enforce
