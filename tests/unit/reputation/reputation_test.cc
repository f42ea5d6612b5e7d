// The reputation tracker, fed the events a worker sends (kTrace, then its kTraceRecipient
// events): each judgement only over its minimum volume, strict thresholds, one finding per
// episode, the window forgetting, organisations, eviction and describe().
#include "control/reputation/reputation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace smtpgw::reputation {
namespace {

constexpr uint64_t kT0 = 1'699'999'200;  // an hour boundary (divisible by 3600)

events::KeyBytes key(events::KeyKind kind, const std::string& text) {
  events::KeyBytes k;
  k.kind = kind;
  k.len = static_cast<uint8_t>(text.size());
  std::memcpy(k.data, text.data(), text.size());
  return k;
}

// One message and, when given, its traced recipients' replies ("250", "550 5.1.1", ...).
struct Message {
  std::string sender = "a@example.org";
  std::string user;  // empty: not authenticated
  uint8_t host[4] = {10, 9, 0, 5};
  bool spam = false;
  uint8_t outcome = 0;  // 0 delivered, 2 aborted
  uint32_t recipients = 1;
  uint32_t rejected = 0;
  std::vector<std::pair<uint16_t, std::string>> replies;
};

class Feed {
 public:
  explicit Feed(Tracker& t) : t_(t) {}
  void send(const Message& m, uint64_t unix_s, uint8_t worker = 0) {
    events::Event e;
    e.kind = events::EventKind::kTrace;
    e.worker = worker;
    e.unix_ns = unix_s * 1'000'000'000ull;
    if (!m.sender.empty()) {
      e.key = key(events::KeyKind::kSender, m.sender);
    }
    if (!m.user.empty()) {
      e.user = key(events::KeyKind::kUser, m.user);
    }
    events::Trace& t = e.u.trace;
    t.host_family = 4;
    std::memcpy(t.host_addr, m.host, 4);
    t.outcome = m.outcome;
    t.verdict = m.spam ? 1 : 0;
    t.recipients = m.recipients;
    t.recipients_rejected = m.rejected;
    t.recipients_kept = static_cast<uint16_t>(m.replies.size());
    t.flow_id = ++flow_;
    t.index = 0;
    t_.observe(e);
    for (const auto& [code, enhanced] : m.replies) {
      events::Event r;
      r.kind = events::EventKind::kTraceRecipient;
      r.worker = worker;
      r.unix_ns = e.unix_ns;
      r.u.recipient.flow_id = flow_;
      r.u.recipient.index = 0;
      r.u.recipient.reply = code;
      std::memcpy(r.u.recipient.enhanced, enhanced.data(),
                  std::min(enhanced.size(), sizeof r.u.recipient.enhanced));
      t_.observe(r);
    }
  }
  void send(const Message& m, int times, uint64_t unix_s) {
    for (int i = 0; i < times; ++i) {
      send(m, unix_s);
    }
  }
  uint64_t last_flow() const { return flow_; }

 private:
  Tracker& t_;
  uint64_t flow_ = 0;
};

// The findings of `kind` about `subject`.
std::vector<Finding> of(const std::vector<Finding>& fs, FindingKind kind,
                        const std::string& subject) {
  std::vector<Finding> out;
  for (const Finding& f : fs) {
    if (f.kind == kind && f.subject == subject) {
      out.push_back(f);
    }
  }
  return out;
}

// "s3@example.org" (appended piece by piece: GCC 12 warns wrongly on `"s" + std::to_string(i)`,
// its bug 105329).
std::string numbered(const char* head, int i, const char* tail) {
  std::string s = head;
  s += std::to_string(i);
  s += tail;
  return s;
}

Message spam_msg() {
  Message m;
  m.spam = true;
  return m;
}

TEST(Reputation, SpamRatioJudgedOnlyFromMinMessages) {
  Tracker t(Options{});
  Feed f(t);
  f.send(spam_msg(), 10, kT0);  // all spam, but 10 messages
  EXPECT_TRUE(t.poll(kT0).empty());
  f.send(Message{}, 39, kT0);  // 49 messages, 10 spam
  EXPECT_TRUE(t.poll(kT0).empty());
  f.send(Message{}, 1, kT0);  // 50: 0.2 > 0.1
  const auto fs = t.poll(kT0);
  const auto s = of(fs, FindingKind::kSuspicious, "a@example.org");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].subject_kind, events::KeyKind::kSender);
  EXPECT_EQ(s[0].reasons, kReasonSpam);
  EXPECT_EQ(s[0].counts.messages, 50u);
  EXPECT_EQ(s[0].counts.spam, 10u);
  EXPECT_DOUBLE_EQ(s[0].ratios.spam, 0.2);
  EXPECT_EQ(s[0].org, "org:example.org");
  EXPECT_EQ(s[0].window_s, 86'400u);
  // The host and the organisation (the sender's domain) carry the same messages.
  EXPECT_EQ(of(fs, FindingKind::kSuspicious, "10.9.0.5").size(), 1u);
  EXPECT_EQ(of(fs, FindingKind::kSuspicious, "org:example.org").size(), 1u);
  EXPECT_EQ(fs.size(), 3u);
  EXPECT_EQ(t.metrics().findings[static_cast<int>(FindingKind::kSuspicious)], 3u);
}

TEST(Reputation, RatioEqualToThresholdDoesNotPass) {
  Tracker t(Options{});
  Feed f(t);
  f.send(spam_msg(), 5, kT0);
  f.send(Message{}, 45, kT0);  // 5 / 50 = 0.10, not above 0.10
  EXPECT_TRUE(t.poll(kT0).empty());
  f.send(spam_msg(), 1, kT0);  // 6 / 51
  EXPECT_EQ(of(t.poll(kT0), FindingKind::kSuspicious, "a@example.org").size(), 1u);
}

TEST(Reputation, UnknownUserRatioFromTracedRecipients) {
  Tracker t(Options{});
  Feed f(t);
  Message ok;
  ok.recipients = 2;
  ok.replies = {{250, "2.1.5"}, {250, "2.1.5"}};
  Message bad = ok;
  bad.rejected = 1;
  bad.replies = {{250, "2.1.5"}, {550, "5.1.1"}};
  Message policy = ok;  // rejected, but not for an unknown user
  policy.rejected = 2;
  policy.replies = {{550, "5.7.1"}, {554, "5.7.1"}};
  f.send(bad, 5, kT0);  // 5 unknown users
  f.send(policy, 20, kT0);
  f.send(ok, 25, kT0);  // 50 messages, 100 recipients answered, 5 unknown: 0.05
  EXPECT_TRUE(t.poll(kT0).empty());
  auto d = t.describe("a@example.org");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->counts.answered, 100u);
  EXPECT_EQ(d->counts.unknown_user, 5u);
  EXPECT_EQ(d->counts.rejected, 45u);  // every 5xx, from the trace
  EXPECT_EQ(d->counts.recipients, 100u);
  f.send(bad, 1, kT0);  // 6 / 102 > 0.05
  const auto s = of(t.poll(kT0), FindingKind::kSuspicious, "a@example.org");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].reasons, kReasonUnknownUsers);
  EXPECT_EQ(s[0].counts.unknown_user, 6u);
  EXPECT_NEAR(s[0].ratios.unknown_user, 6.0 / 102, 1e-12);
  EXPECT_EQ(t.metrics().unattributed_recipients, 0u);
}

TEST(Reputation, RecipientWithoutItsTraceIsUnattributed) {
  Tracker t(Options{});
  Feed f(t);
  Message m;
  m.replies = {{550, "5.1.1"}};
  f.send(m, kT0);
  events::Event r;
  r.kind = events::EventKind::kTraceRecipient;
  r.unix_ns = kT0 * 1'000'000'000ull;
  r.u.recipient.flow_id = f.last_flow() + 7;  // not the last trace's flow
  std::memcpy(r.u.recipient.enhanced, "5.1.1", 5);
  t.observe(r);
  r.worker = 3;  // a worker that sent no trace
  r.u.recipient.flow_id = f.last_flow();
  t.observe(r);
  EXPECT_EQ(t.metrics().unattributed_recipients, 2u);
  EXPECT_EQ(t.describe("a@example.org")->counts.unknown_user, 1u);
}

TEST(Reputation, ComplaintsWarnThenRestrictOverMinimumVolume) {
  Tracker t(Options{});
  Feed f(t);
  f.send(Message{}, 999, kT0);
  EXPECT_TRUE(t.complaint("a@example.org", kT0));
  EXPECT_TRUE(t.complaint("a@example.org", kT0));
  EXPECT_TRUE(t.poll(kT0).empty()) << "999 messages: below complaint_min_messages";
  f.send(Message{}, 1, kT0);  // 2 / 1000 > 0.001
  auto fs = t.poll(kT0);
  auto w = of(fs, FindingKind::kComplaintWarn, "a@example.org");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].counts.complaints, 2u);
  EXPECT_DOUBLE_EQ(w[0].ratios.complaints, 0.002);
  // The complaint counts for the sender's organisation too, not for the host.
  EXPECT_EQ(of(fs, FindingKind::kComplaintWarn, "org:example.org").size(), 1u);
  EXPECT_EQ(fs.size(), 2u);
  EXPECT_EQ(t.describe("10.9.0.5")->counts.complaints, 0u);
  t.complaint("a@example.org", kT0);  // 3 / 1000: not above 0.003
  EXPECT_TRUE(t.poll(kT0).empty()) << "warn is not repeated";
  t.complaint("a@example.org", kT0);  // 4 / 1000
  fs = t.poll(kT0);
  auto r = of(fs, FindingKind::kComplaintRestrict, "a@example.org");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].counts.complaints, 4u);
  EXPECT_TRUE(of(fs, FindingKind::kComplaintWarn, "a@example.org").empty());
  EXPECT_EQ(t.metrics().complaints, 4u);
  EXPECT_EQ(t.describe("a@example.org")->complaint_level, 2);
}

TEST(Reputation, ComplaintStraightToRestrictReportsRestrictOnly) {
  Options o;
  o.complaint_min_messages = 100;
  Tracker t(o);
  Feed f(t);
  f.send(Message{}, 100, kT0);
  for (int i = 0; i < 5; ++i) {
    t.complaint("a@example.org", kT0);
  }
  const auto fs = t.poll(kT0);
  EXPECT_EQ(of(fs, FindingKind::kComplaintRestrict, "a@example.org").size(), 1u);
  EXPECT_TRUE(of(fs, FindingKind::kComplaintWarn, "a@example.org").empty());
  // Volume dilutes the rate to 5 / 2500 = 0.002: under 0.8 x restrict, back to warn silently.
  f.send(Message{}, 2'400, kT0);
  EXPECT_TRUE(t.poll(kT0).empty());
  EXPECT_EQ(t.describe("a@example.org")->complaint_level, 1);
  for (int i = 0; i < 3; ++i) {
    t.complaint("a@example.org", kT0);  // 8 / 2500 = 0.0032: restrict again, a new episode
  }
  EXPECT_EQ(of(t.poll(kT0), FindingKind::kComplaintRestrict, "a@example.org").size(), 1u);
  // A complaint about a subject never seen is kept (and counted as such).
  EXPECT_TRUE(t.complaint("b@example.net", kT0));
  EXPECT_EQ(t.metrics().complaints_new_subject, 1u);
  EXPECT_FALSE(t.complaint("", kT0));
}

TEST(Reputation, HysteresisReportsOncePerEpisode) {
  Options o;                   // spam_ratio 0.1, clear below 0.08
  o.org_min_messages = 1'000;  // the sender is its organisation's only member: keep it out
  Tracker t(o);
  Feed f(t);
  f.send(spam_msg(), 10, kT0);
  f.send(Message{}, 40, kT0);  // 10 / 50 = 0.2
  ASSERT_EQ(of(t.poll(kT0), FindingKind::kSuspicious, "a@example.org").size(), 1u);
  f.send(spam_msg(), 20, kT0);
  EXPECT_TRUE(t.poll(kT0).empty()) << "still suspicious: nothing new";
  f.send(Message{}, 260, kT0);  // 30 / 330 = 0.0909: under 0.1, not under 0.08
  EXPECT_TRUE(t.poll(kT0).empty());
  EXPECT_EQ(t.describe("a@example.org")->reasons, kReasonSpam);
  f.send(Message{}, 45, kT0);  // 30 / 375 = 0.08: not under 0.08
  EXPECT_TRUE(t.poll(kT0).empty());
  f.send(Message{}, 1, kT0);  // 30 / 376 < 0.08
  auto fs = t.poll(kT0);
  auto c = of(fs, FindingKind::kSuspiciousCleared, "a@example.org");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].reasons, 0);
  EXPECT_EQ(t.describe("a@example.org")->reasons, 0);
  f.send(spam_msg(), 20, kT0);  // 50 / 396 > 0.1: a new episode
  EXPECT_EQ(of(t.poll(kT0), FindingKind::kSuspicious, "a@example.org").size(), 1u);
}

TEST(Reputation, WindowRollForgets) {
  Options o;
  o.window_s = 3'600;
  o.buckets = 4;  // 15-minute buckets
  Tracker t(o);
  Feed f(t);
  f.send(spam_msg(), 10, kT0);
  f.send(Message{}, 40, kT0 + 1'000);  // the second bucket
  ASSERT_EQ(of(t.poll(kT0 + 1'000), FindingKind::kSuspicious, "a@example.org").size(), 1u);
  auto d = t.describe("a@example.org");
  ASSERT_EQ(d->buckets.size(), 2u);
  EXPECT_EQ(d->buckets[0].start_s, kT0);
  EXPECT_EQ(d->buckets[0].counts.spam, 10u);
  EXPECT_EQ(d->buckets[1].start_s, kT0 + 900);
  // The first bucket leaves the window: 0 spam in 40 messages, the episode ends without any
  // new event (open episodes are judged again at each bucket boundary).
  auto fs = t.poll(kT0 + 3'600);
  EXPECT_EQ(of(fs, FindingKind::kSuspiciousCleared, "a@example.org").size(), 1u);
  d = t.describe("a@example.org");
  EXPECT_EQ(d->counts.messages, 40u);
  EXPECT_EQ(d->counts.spam, 0u);
  // Everything leaves: no counts, no buckets, and a new episode needs min_messages again.
  EXPECT_TRUE(t.poll(kT0 + 4'500).empty());
  d = t.describe("a@example.org");
  EXPECT_EQ(d->counts.messages, 0u);
  EXPECT_TRUE(d->buckets.empty());
  f.send(spam_msg(), 49, kT0 + 4'500);
  EXPECT_TRUE(t.poll(kT0 + 4'500).empty());
  f.send(spam_msg(), 1, kT0 + 4'500);
  EXPECT_EQ(of(t.poll(kT0 + 4'500), FindingKind::kSuspicious, "a@example.org").size(), 1u);
  // An event older than the window is not counted.
  f.send(spam_msg(), 1, kT0);
  EXPECT_EQ(t.metrics().late_events, 1u);
  EXPECT_EQ(t.describe("a@example.org")->counts.messages, 50u);
}

TEST(Reputation, WholeWindowRollEndsAnEpisodeAndAllowsANewOne) {
  Options o;
  o.window_s = 3'600;
  o.buckets = 4;
  Tracker t(o);
  Feed f(t);
  f.send(spam_msg(), 50, kT0);
  ASSERT_EQ(of(t.poll(kT0), FindingKind::kSuspicious, "a@example.org").size(), 1u);
  EXPECT_EQ(of(t.poll(kT0 + 3'600), FindingKind::kSuspiciousCleared, "a@example.org").size(), 1u);
  f.send(spam_msg(), 50, kT0 + 3'600);
  EXPECT_EQ(of(t.poll(kT0 + 3'600), FindingKind::kSuspicious, "a@example.org").size(), 1u);
}

TEST(Reputation, OrganisationShareOfSuspiciousSenders) {
  Options o;
  o.organisations = {{"10.1.0.0/16", "Tenant-A"}, {"10.2.0.0/40", "Broken"}};
  Tracker t(o);
  EXPECT_EQ(t.metrics().prefixes_skipped, 1u);
  Feed f(t);
  // Each sender: 50 messages, 6 spam (0.12: suspicious). The organisation as a whole:
  // 18 spam in 200 (0.09), under spam_ratio, but 150 of its 200 messages come from
  // suspicious senders (0.75 > 0.5).
  auto sender = [&](const std::string& who, int spam, uint8_t host) {
    Message m;
    m.sender = who;
    m.host[0] = 10;
    m.host[1] = 1;
    m.host[3] = host;
    f.send(m, 50 - spam, kT0);
    m.spam = true;
    f.send(m, spam, kT0);
  };
  sender("clean@a.example", 0, 1);
  sender("s1@a.example", 6, 2);
  auto fs = t.poll(kT0);
  EXPECT_EQ(of(fs, FindingKind::kSuspicious, "s1@a.example").size(), 1u);
  EXPECT_TRUE(of(fs, FindingKind::kOrgSuspicious, "org:tenant-a").empty()) << "100 < 200";
  sender("s2@b.example", 6, 3);
  fs = t.poll(kT0);
  EXPECT_TRUE(of(fs, FindingKind::kOrgSuspicious, "org:tenant-a").empty()) << "100 / 150";
  EXPECT_EQ(t.describe("org:tenant-a")->org_suspicious_messages, 100u);
  sender("s3@b.example", 6, 4);
  fs = t.poll(kT0);
  const auto org = of(fs, FindingKind::kOrgSuspicious, "org:tenant-a");
  ASSERT_EQ(org.size(), 1u);
  EXPECT_EQ(org[0].subject_kind, events::KeyKind::kOrg);
  EXPECT_EQ(org[0].counts.messages, 200u);
  EXPECT_EQ(org[0].org_suspicious_messages, 150u);
  EXPECT_DOUBLE_EQ(org[0].org_share, 0.75);
  EXPECT_TRUE(of(fs, FindingKind::kSuspicious, "org:tenant-a").empty()) << "0.09 spam";
  // The mapped prefix wins over the sender's domain; other domains are not organisations here.
  EXPECT_FALSE(t.describe("org:b.example"));
  EXPECT_EQ(t.describe("s2@b.example")->org, "org:tenant-a");
  // Not repeated; ends when the window empties.
  Message more;
  more.sender = "clean@a.example";
  more.host[1] = 1;
  f.send(more, 1, kT0);
  EXPECT_TRUE(of(t.poll(kT0), FindingKind::kOrgSuspicious, "org:tenant-a").empty());
  fs = t.poll(kT0 + 86'400 * 2);
  EXPECT_EQ(of(fs, FindingKind::kOrgSuspiciousCleared, "org:tenant-a").size(), 1u);
  EXPECT_EQ(of(fs, FindingKind::kSuspiciousCleared, "s1@a.example").size(), 1u);
  EXPECT_EQ(t.describe("org:tenant-a")->org_suspicious_messages, 0u);
}

TEST(Reputation, AuthenticatedUserIsThePrincipal) {
  Options o;
  o.organisations = {{"10.1.0.0/16", "hosting"}};
  o.org_min_messages = 50;
  Tracker t(o);
  Feed f(t);
  // One account spams under a different envelope sender per message: no sender reaches
  // min_messages, the user does, and so its organisation's share.
  for (int i = 0; i < 50; ++i) {
    Message m;
    m.user = "alice";
    m.sender = numbered("x", i, "@shop.example");
    m.host[0] = 10;
    m.host[1] = 1;
    m.spam = i % 5 == 0;
    f.send(m, kT0);
  }
  const auto fs = t.poll(kT0);
  const auto u = of(fs, FindingKind::kSuspicious, "user:alice");
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].subject_kind, events::KeyKind::kUser);
  EXPECT_EQ(of(fs, FindingKind::kOrgSuspicious, "org:hosting").size(), 1u);
  EXPECT_TRUE(of(fs, FindingKind::kSuspicious, "x0@shop.example").empty());
}

TEST(Reputation, EvictionAtMaxSubjectsIsCounted) {
  Options o;
  o.max_subjects = 8;
  Tracker t(o);
  Feed f(t);
  // Subjects: one host, one organisation (example.org), then one per sender.
  for (int i = 0; i < 6; ++i) {
    Message m;
    m.sender = numbered("s", i, "@example.org");
    f.send(m, kT0);
  }
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.metrics().evicted, 0u);
  Message m;
  m.sender = "s6@example.org";
  f.send(m, kT0);
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.metrics().evicted, 1u);
  EXPECT_EQ(t.metrics().subjects, 8u);
  EXPECT_FALSE(t.describe("s0@example.org")) << "the least recently seen goes first";
  EXPECT_TRUE(t.describe("s1@example.org"));
  EXPECT_TRUE(t.describe("10.9.0.5"));
  EXPECT_TRUE(t.describe("org:example.org"));
  // Seeing s1 again makes s2 the oldest.
  m.sender = "s1@example.org";
  f.send(m, kT0);
  m.sender = "s7@example.org";
  f.send(m, kT0);
  EXPECT_TRUE(t.describe("s1@example.org"));
  EXPECT_FALSE(t.describe("s2@example.org"));
  EXPECT_EQ(t.metrics().evicted, 2u);
  EXPECT_EQ(t.metrics().evicted_flagged, 0u);
  t.poll(kT0);  // the evicted subjects were dirty: poll must not touch them (ASan)
}

TEST(Reputation, EvictedSuspiciousMemberGivesBackItsCredit) {
  Options o;
  o.max_subjects = 4;
  o.org_min_messages = 50;
  Tracker t(o);
  Feed f(t);
  f.send(spam_msg(), 50, kT0);  // a@example.org, 10.9.0.5, org:example.org
  auto fs = t.poll(kT0);
  ASSERT_EQ(of(fs, FindingKind::kOrgSuspicious, "org:example.org").size(), 1u);
  EXPECT_EQ(t.describe("org:example.org")->org_suspicious_messages, 50u);
  // A complaint about two new subjects: the first fills the table, the second evicts the least
  // recently seen, the suspicious sender.
  t.complaint("user:x", kT0);
  t.complaint("user:y", kT0);
  EXPECT_FALSE(t.describe("a@example.org"));
  EXPECT_EQ(t.metrics().evicted_flagged, 1u);
  EXPECT_EQ(t.describe("org:example.org")->org_suspicious_messages, 0u);
  fs = t.poll(kT0);
  EXPECT_EQ(of(fs, FindingKind::kOrgSuspiciousCleared, "org:example.org").size(), 1u);
}

TEST(Reputation, DescribeAndIgnoredEvents) {
  Tracker t(Options{});
  Feed f(t);
  EXPECT_FALSE(t.describe("nobody@example.org"));
  Message m;
  m.user = "bob";
  m.recipients = 3;
  m.rejected = 1;
  f.send(m, kT0 + 10);
  f.send(spam_msg(), kT0 + 3'700);
  Message aborted;
  aborted.outcome = 2;
  aborted.replies = {{550, "5.1.1"}};
  f.send(aborted, kT0 + 3'700);  // no message: its recipients count for no one either
  events::Event other;
  other.kind = events::EventKind::kSpamVerdict;
  other.key = key(events::KeyKind::kSender, "a@example.org");
  t.observe(other);
  auto d = t.describe("a@example.org");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->subject_kind, events::KeyKind::kSender);
  EXPECT_EQ(d->counts.messages, 2u);
  EXPECT_EQ(d->counts.spam, 1u);
  EXPECT_EQ(d->counts.principal, 1u);  // the first message's principal was user:bob
  EXPECT_EQ(d->counts.recipients, 4u);
  EXPECT_EQ(d->counts.rejected, 1u);
  EXPECT_EQ(d->counts.unknown_user, 0u);
  EXPECT_DOUBLE_EQ(d->ratios.spam, 0.5);
  EXPECT_DOUBLE_EQ(d->ratios.rejected, 0.25);
  EXPECT_EQ(d->first_seen_s, kT0 + 10);
  EXPECT_EQ(d->last_seen_s, kT0 + 3'700);
  ASSERT_EQ(d->buckets.size(), 2u);
  EXPECT_EQ(d->buckets[0].start_s, kT0);
  EXPECT_EQ(d->buckets[1].start_s, kT0 + 3'600);
  EXPECT_EQ(d->window_s, 86'400u);
  auto u = t.describe("user:bob");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->subject_kind, events::KeyKind::kUser);
  EXPECT_EQ(u->counts.principal, 1u);
  EXPECT_EQ(u->org, "org:example.org");
  EXPECT_EQ(t.metrics().unattributed_recipients, 0u);
}

TEST(Reputation, HostKeysAndPrefixesOfBothFamilies) {
  Options o;
  o.organisations = {{"2001:db8::/32", "V6"}, {"192.0.2.0/24", "v4"}};
  Tracker t(o);
  events::Event e;
  e.kind = events::EventKind::kTrace;
  e.unix_ns = kT0 * 1'000'000'000ull;
  e.u.trace.host_family = 6;
  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
  std::memcpy(e.u.trace.host_addr, v6, 16);
  t.observe(e);  // the null sender: host and organisation only
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
  std::memcpy(e.u.trace.host_addr, mapped, 16);
  t.observe(e);
  EXPECT_TRUE(t.describe("2001:db8::5"));
  EXPECT_TRUE(t.describe("org:v6"));
  EXPECT_TRUE(t.describe("192.0.2.7")) << "an IPv4-mapped address is the IPv4 host";
  EXPECT_TRUE(t.describe("org:v4"));
  EXPECT_EQ(t.size(), 4u);
}

TEST(Reputation, OptionsAreChecked) {
  Options o;
  EXPECT_EQ(o.check(), "");
  o.buckets = 7;
  EXPECT_NE(o.check().find("whole number"), std::string::npos);
  EXPECT_THROW(Tracker{o}, std::invalid_argument);
  o = Options{};
  o.complaint_warn = 0.01;
  EXPECT_NE(o.check().find("complaint_warn"), std::string::npos);
  o = Options{};
  o.spam_ratio = 1.5;
  EXPECT_NE(o.check().find("0..1"), std::string::npos);
  o = Options{};
  o.clear_factor = 0;
  EXPECT_NE(o.check().find("clear_factor"), std::string::npos);
  o = Options{};
  o.max_subjects = 3;
  EXPECT_NE(o.check().find("max_subjects"), std::string::npos);
  EXPECT_STREQ(finding_name(FindingKind::kOrgSuspicious), "org_suspicious_share");
}

}  // namespace
}  // namespace smtpgw::reputation
