#include <gtest/gtest.h>

#include "accountant_fixture.h"
#include "dataplane/count/reconcile.h"

namespace smtpgw::count {
namespace {

using events::ActionTaken;
using events::EventKind;
using policy::LimitAction;
using testing::AccountantTest;
using testing::kT0;
using testing::message;

using CountAccountant = AccountantTest;

TEST_F(CountAccountant, MessagesPerMinuteThrottles) {
  MessageState m = message("10.0.0.1", "alice@example.com");
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(send(m, 1), Verdict::kAllow) << i;
  }
  Decision d = acc_.begin_message(policy_, m, q_);
  EXPECT_EQ(d.verdict, Verdict::kThrottle);
  EXPECT_EQ(d.code, 451);
  EXPECT_EQ(d.reply, kReplyThrottle);
  EXPECT_EQ(d.limit, LimitId::kSenderMessagesPerMinute);
  EXPECT_EQ(d.subject, KeyKind::kSender);
  EXPECT_EQ(acc_.begin_message(policy_, m, q_).verdict, Verdict::kThrottle);
  auto evs = drain();
  ASSERT_EQ(count_kind(evs, EventKind::kThresholdCrossed), 1u) << "one event per crossing";
  for (const auto& e : evs) {
    if (e.kind == EventKind::kThresholdCrossed) {
      EXPECT_EQ(e.u.crossed.limit, LimitId::kSenderMessagesPerMinute);
      EXPECT_EQ(e.u.crossed.action, ActionTaken::kThrottled);
      EXPECT_EQ(e.u.crossed.limit_max, 30u);
      EXPECT_EQ(e.u.crossed.observed, 31u);
      EXPECT_EQ(e.key.kind, KeyKind::kSender);
    }
  }
  EXPECT_EQ(count_kind(evs, EventKind::kMessageRecord), 30u);
  EXPECT_EQ(entry_of(m, kSlotSender).count(Counter::kMessages, Window::kMinute, clock_.now_s()), 30u)
      << "throttled attempts are taken back";
  EXPECT_EQ(SenderTable::state(entry_of(m, kSlotSender), clock_.now_s()), SenderState::kNormal)
      << "throttle never restricts";
  clock_.advance_s(60);
  EXPECT_EQ(send(m, 1), Verdict::kAllow);
}

TEST_F(CountAccountant, RecipientsPerMessageBlocksForTodayUntilDayBoundary) {
  policy_.sender.recipients_per_message = {5, LimitAction::kBlockUserForToday};
  clock_.set_s(kT0 + 20 * 3600);
  MessageState m = message("10.0.0.1", "bob@example.com");
  ASSERT_EQ(acc_.begin_message(policy_, m, q_).verdict, Verdict::kAllow);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(acc_.add_recipient(policy_, m, "x" + std::to_string(i) + "@ext.example", q_).verdict,
              Verdict::kAllow);
  }
  Decision d = acc_.add_recipient(policy_, m, "x6@ext.example", q_);
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, 550);
  EXPECT_EQ(d.reply, kReplyRestricted);
  EXPECT_EQ(d.limit, LimitId::kSenderRecipientsPerMessage);
  EXPECT_EQ(m.rcpt_external, 5u) << "the refused recipient is not counted";
  auto evs = drain();
  ASSERT_EQ(count_kind(evs, EventKind::kRestrictionApplied), 1u);
  for (const auto& e : evs) {
    if (e.kind == EventKind::kRestrictionApplied) {
      EXPECT_EQ(e.u.restriction.until_unix_s, kT0 + 86'400);
      EXPECT_EQ(e.u.restriction.action, ActionTaken::kBlockedForToday);
    }
  }
  // Restricted for the rest of the day, at MAIL FROM, for every message.
  clock_.set_s(kT0 + 86'399);
  MessageState m2 = message("10.0.0.2", "bob@example.com");
  d = acc_.begin_message(policy_, m2, q_);
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.subject, KeyKind::kSender);
  // Day rollover: free again.
  clock_.set_s(kT0 + 86'400);
  EXPECT_EQ(send(m2, 3), Verdict::kAllow);
}

TEST_F(CountAccountant, RecipientsPerDayBlockForTodayAndSlidingWindow) {
  policy_.sender.recipients_per_day = {10, LimitAction::kBlockUserForToday};
  clock_.set_s(kT0 + 23 * 3600);  // 23:00 UTC
  MessageState m = message("10.0.0.1", "carol@example.com");
  ASSERT_EQ(send(m, 10), Verdict::kAllow);
  EXPECT_EQ(send(m, 1), Verdict::kRefuse);
  EXPECT_EQ(SenderTable::state(entry_of(m, kSlotSender), clock_.now_s()), SenderState::kRestricted);
  // After the day boundary the restriction has ended; the crossing's episode (one window) has
  // not, so the sender may send again without a second restriction the same episode...
  clock_.set_s(kT0 + 86'400 + 60);
  EXPECT_EQ(send(m, 1), Verdict::kAllow);
  drain();
  // ...and once the window has passed since the crossing, going over again is a new crossing.
  // (The day window still holds the one recipient sent after midnight: 9 more reach 10.)
  clock_.set_s(kT0 + 23 * 3600 + 86'400 + 10);
  ASSERT_EQ(send(m, 9), Verdict::kAllow);
  EXPECT_EQ(send(m, 1), Verdict::kRefuse);
  auto evs = drain();
  EXPECT_EQ(count_kind(evs, EventKind::kThresholdCrossed), 1u);
  EXPECT_EQ(count_kind(evs, EventKind::kRestrictionApplied), 1u);
}

TEST_F(CountAccountant, BlockUserUntilReleasedThenNotAgainToday) {
  policy_.sender.external_recipients_per_hour = {3, LimitAction::kBlockUser};
  clock_.set_s(kT0 + 3600);
  MessageState m = message("10.0.0.1", "dave@example.com");
  ASSERT_EQ(send(m, 3), Verdict::kAllow);
  EXPECT_EQ(send(m, 1), Verdict::kRefuse);
  clock_.advance_s(3 * 86'400);
  EXPECT_EQ(acc_.begin_message(policy_, m, q_).verdict, Verdict::kRefuse) << "until released";
  const uint32_t release_day = day_number(clock_.now_s(), 0);
  ASSERT_TRUE(table_.release(m.keys[kSlotSender], 0));
  drain();
  ASSERT_EQ(send(m, 3), Verdict::kAllow);
  clock_.advance_s(3600);  // a new episode, the same day
  ASSERT_EQ(day_number(clock_.now_s(), 0), release_day);
  ASSERT_EQ(send(m, 3), Verdict::kAllow);
  EXPECT_EQ(send(m, 1), Verdict::kAllow) << "released today: this limit only alerts";
  auto evs = drain();
  ASSERT_EQ(count_kind(evs, EventKind::kThresholdCrossed), 1u);
  EXPECT_EQ(count_kind(evs, EventKind::kRestrictionApplied), 0u);
  for (const auto& e : evs) {
    if (e.kind == EventKind::kThresholdCrossed) {
      EXPECT_EQ(e.u.crossed.action, ActionTaken::kNotReapplied);
    }
  }
  // The next day the limit blocks again.
  clock_.set_s((day_number(clock_.now_s(), 0) + 1) * 86'400 + 7200);
  ASSERT_EQ(send(m, 3), Verdict::kAllow);
  EXPECT_EQ(send(m, 1), Verdict::kRefuse);
}

TEST_F(CountAccountant, DryRunEvaluatesAndNeverEnforces) {
  policy_.dry_run = true;
  policy_.sender.external_recipients_per_hour = {3, LimitAction::kBlockUser};
  MessageState m = message("10.0.0.1", "erin@example.com");
  ASSERT_EQ(send(m, 3), Verdict::kAllow);
  ASSERT_EQ(acc_.begin_message(policy_, m, q_).verdict, Verdict::kAllow);
  Decision d = acc_.add_recipient(policy_, m, "z@ext.example", q_);
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.would, Verdict::kRefuse);
  EXPECT_EQ(d.limit, LimitId::kSenderExternalRecipientsPerHour);
  EXPECT_EQ(d.code, 0);
  MessageEnd end;
  end.spam = true;
  d = acc_.end_message(policy_, m, end, q_);
  EXPECT_FALSE(d.steer_high_risk);
  EXPECT_TRUE(d.would_steer);
  EXPECT_EQ(SenderTable::state(entry_of(m, kSlotSender), clock_.now_s()), SenderState::kNormal);
  EXPECT_EQ(SenderTable::state(entry_of(m, kSlotHost), clock_.now_s()), SenderState::kNormal);
  auto evs = drain();
  EXPECT_EQ(count_kind(evs, EventKind::kRestrictionApplied), 0u);
  ASSERT_EQ(count_kind(evs, EventKind::kThresholdCrossed), 1u);
  for (const auto& e : evs) {
    if (e.kind == EventKind::kThresholdCrossed) {
      EXPECT_EQ(e.u.crossed.dry_run, 1);
      EXPECT_EQ(e.u.crossed.action, ActionTaken::kBlocked) << "what would have happened";
    }
  }
  // An operator restriction is reported but not enforced either.
  table_.restrict(m.keys[kSlotSender], LimitId::kNone, ActionTaken::kBlocked, 0);
  d = acc_.begin_message(policy_, m, q_);
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.would, Verdict::kRefuse);
}

TEST_F(CountAccountant, BouncesAndAutoRepliesAreExempt) {
  policy_.host.messages_per_minute = {5, LimitAction::kThrottle};
  MessageState bounce = message("10.0.0.9", "");
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(send(bounce, 1), Verdict::kAllow) << i;
  }
  const Entry& host = entry_of(bounce, kSlotHost);
  const uint32_t now = clock_.now_s();
  EXPECT_EQ(host.count(Counter::kBounces, Window::kMinute, now), 20u);
  EXPECT_EQ(host.count(Counter::kMessages, Window::kMinute, now), 0u);
  EXPECT_EQ(host.count(Counter::kRecipientsExternal, Window::kMinute, now), 0u);

  MessageState m = message("10.0.0.8", "frank@example.com");
  ASSERT_EQ(acc_.begin_message(policy_, m, q_).verdict, Verdict::kAllow);
  ASSERT_EQ(acc_.add_recipient(policy_, m, "a@ext.example", q_).verdict, Verdict::kAllow);
  ASSERT_EQ(acc_.add_recipient(policy_, m, "b@corp.example", q_).verdict, Verdict::kAllow);
  MessageEnd end;
  end.auto_reply = true;
  end.bytes = 5000;
  acc_.end_message(policy_, m, end, q_);
  const Entry& s = entry_of(m, kSlotSender);
  EXPECT_EQ(s.count(Counter::kAutoReplies, Window::kHour, now), 1u);
  EXPECT_EQ(s.count(Counter::kMessages, Window::kHour, now), 0u);
  EXPECT_EQ(s.count(Counter::kRecipientsExternal, Window::kHour, now), 0u);
  EXPECT_EQ(s.count(Counter::kRecipientsInternal, Window::kHour, now), 0u);
  EXPECT_EQ(s.count(Counter::kKibibytes, Window::kHour, now), 5u);
  // Five auto replies do not use up the host's five messages per minute.
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(acc_.begin_message(policy_, m, q_).verdict, Verdict::kAllow);
    acc_.end_message(policy_, m, end, q_);
  }
  EXPECT_EQ(send(m, 1), Verdict::kAllow);
}

TEST_F(CountAccountant, SpamSteersAndNVerdictsRestrict) {
  MessageState m = message("10.0.0.7", "gina@example.com", "gina");
  MessageEnd end;
  end.spam = true;
  ASSERT_EQ(acc_.begin_message(policy_, m, q_).verdict, Verdict::kAllow);
  Decision d = acc_.end_message(policy_, m, end, q_);
  EXPECT_TRUE(d.steer_high_risk);
  for (int s : {kSlotHost, kSlotSender, kSlotUser}) {
    EXPECT_EQ(SenderTable::state(entry_of(m, s), clock_.now_s()), SenderState::kSteeredHighRisk);
    EXPECT_EQ(SenderTable::state(entry_of(m, s), clock_.now_s() + 3600), SenderState::kNormal);
  }
  // The next MAIL FROM is steered.
  d = acc_.begin_message(policy_, m, q_);
  EXPECT_TRUE(d.steer_high_risk);
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  for (int i = 0; i < 3; ++i) {
    clock_.advance_s(60);
    acc_.end_message(policy_, m, end, q_);
  }
  EXPECT_EQ(SenderTable::state(entry_of(m, kSlotSender), clock_.now_s()),
            SenderState::kSteeredHighRisk)
      << "four verdicts: not yet";
  clock_.advance_s(60);
  d = acc_.end_message(policy_, m, end, q_);  // the fifth within the hour
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.limit, LimitId::kSpamVerdicts);
  EXPECT_EQ(SenderTable::state(entry_of(m, kSlotSender), clock_.now_s()), SenderState::kRestricted);
  EXPECT_EQ(SenderTable::state(entry_of(m, kSlotUser), clock_.now_s()), SenderState::kRestricted);
  EXPECT_NE(SenderTable::state(entry_of(m, kSlotHost), clock_.now_s()), SenderState::kRestricted);
  auto evs = drain();
  EXPECT_EQ(count_kind(evs, EventKind::kSpamVerdict), 5u);
  EXPECT_EQ(count_kind(evs, EventKind::kRestrictionApplied), 2u) << "sender and user";
}

TEST_F(CountAccountant, NamedCountersInternalExternalDistinct) {
  MessageState m = message("10.0.0.6", "hank@example.com");
  ASSERT_EQ(send(m, 3, 2), Verdict::kAllow);
  ASSERT_EQ(send(m, 3, 2), Verdict::kAllow);  // the same five recipients again
  acc_.remote_rejection(policy_, m, 550, true, q_);
  acc_.remote_rejection(policy_, m, 554, false, q_);
  ASSERT_TRUE(acc_.record_complaint(m.keys[kSlotSender]));
  const Entry& e = entry_of(m, kSlotSender);
  const uint32_t now = clock_.now_s();
  EXPECT_EQ(e.count(Counter::kMessages, Window::kDay, now), 2u);
  EXPECT_EQ(e.count(Counter::kRecipientsExternal, Window::kDay, now), 6u);
  EXPECT_EQ(e.count(Counter::kRecipientsInternal, Window::kDay, now), 4u);
  EXPECT_EQ(e.count(Counter::kRemoteRejectedUnknown, Window::kDay, now), 1u);
  EXPECT_EQ(e.count(Counter::kComplaints, Window::kDay, now), 1u);
  EXPECT_EQ(e.count(Counter::kKibibytes, Window::kDay, now), 4u);
  EXPECT_EQ(e.distinct_day.estimate(now / 86'400), 5u);
  EXPECT_EQ(count_kind(drain(), EventKind::kRemoteRejection), 2u);
}

TEST_F(CountAccountant, OrganisationFormulaAcrossSenders) {
  policy_.sender.recipients_per_day = {10, LimitAction::kAlert};
  policy_.org.org_recipients_per_day_factor = 2;
  EXPECT_EQ(effective_max(policy_, LimitId::kOrgRecipientsPerDay), 20u);
  policy_.org.recipients_per_day = {0, LimitAction::kBlockUserForToday};
  for (int i = 0; i < 4; ++i) {
    MessageState m = message("10.0.1." + std::to_string(i), "s" + std::to_string(i) + "@Org.example");
    ASSERT_EQ(send(m, 5), Verdict::kAllow) << i;
  }
  MessageState m = message("10.0.1.9", "s9@org.example");
  EXPECT_EQ(send(m, 1), Verdict::kRefuse);
  EXPECT_EQ(SenderTable::state(entry_of(m, kSlotOrg), clock_.now_s()), SenderState::kRestricted);
  MessageState other = message("10.0.1.10", "x@other.example");
  EXPECT_EQ(send(other, 1), Verdict::kAllow);
}

TEST_F(CountAccountant, DefaultsAndCeiling) {
  EXPECT_EQ(effective_max(policy_, LimitId::kSenderMessagesPerMinute), 30u);
  EXPECT_EQ(effective_max(policy_, LimitId::kSenderRecipientsPerMessage), 500u);
  EXPECT_EQ(effective_max(policy_, LimitId::kSenderRecipientsPerDay), 10'000u);
  EXPECT_EQ(effective_max(policy_, LimitId::kOrgRecipientsPerDay), 100'000u);
  policy_.sender.messages_per_minute.max = 0;
  EXPECT_EQ(effective_max(policy_, LimitId::kSenderMessagesPerMinute), 30u) << "0 = default";
  policy_.sender.messages_per_minute.max = 50'000;
  EXPECT_EQ(effective_max(policy_, LimitId::kSenderMessagesPerMinute), policy::kLimitCeiling);
  EXPECT_TRUE(is_internal(policy_, "a@CORP.example"));
  EXPECT_FALSE(is_internal(policy_, "a@sub.corp.example"));
  EXPECT_FALSE(is_internal(policy_, "a@ext.example"));
}

TEST_F(CountAccountant, RestrictionSeenAtRecipientTime) {
  MessageState m = message("10.0.0.5", "ivy@example.com");
  ASSERT_EQ(acc_.begin_message(policy_, m, q_).verdict, Verdict::kAllow);
  ASSERT_EQ(acc_.add_recipient(policy_, m, "a@ext.example", q_).verdict, Verdict::kAllow);
  table_.restrict(m.keys[kSlotSender], LimitId::kNone, ActionTaken::kBlocked, 0);
  Decision d = acc_.add_recipient(policy_, m, "b@ext.example", q_);
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.limit, LimitId::kNone);
}

TEST_F(CountAccountant, UntrackedKeyWhenFullStillChecksTheOthers) {
  SenderTable::Options o;
  o.capacity = 2;
  o.max_probe = 2;
  o.clock = clock_.clock();
  SenderTable small(o);
  Accountant acc(small);
  policy_.host.messages_per_minute = {2, LimitAction::kThrottle};
  MessageState m = message("10.0.0.4", "jo@example.com");  // host, sender, org: 3 keys, 2 slots
  Decision d = acc.begin_message(policy_, m, q_);
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(m.find[kSlotOrg], FindOutcome::kFull);
  EXPECT_EQ(small.outcome_count(FindOutcome::kFull), 1u);
  acc.begin_message(policy_, m, q_);
  EXPECT_EQ(acc.begin_message(policy_, m, q_).verdict, Verdict::kThrottle) << "host still limited";
}

TEST(CountEvents, QueueOverflowCountedAndReconciled) {
  testing::FakeClock clk;
  SenderTable::Options o;
  o.capacity = 256;
  o.clock = clk.clock();
  SenderTable table(o);
  Accountant acc(table);
  EventQueue q(2, 3);
  policy::Policy p;
  p.sender.external_recipients_per_hour = {1, LimitAction::kAlert};
  p.host.recipients_per_hour = {100, LimitAction::kAlert};
  for (int i = 0; i < 6; ++i) {
    MessageState m = message("10.0.2.1", "u" + std::to_string(i) + "@example.com");
    acc.begin_message(p, m, q);
    acc.add_recipient(p, m, "a@ext.example", q);
    acc.add_recipient(p, m, "b@ext.example", q);  // crosses: one event per sender
  }
  std::vector<events::Event> seen;
  Handled handled;
  events::Event e;
  while (q.pop(e)) {
    seen.push_back(e);
    handled.add(e);
    EXPECT_EQ(e.worker, 3);
  }
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(q.overflow(events::EventKind::kThresholdCrossed), 4u);
  EXPECT_EQ(q.overflow_total(), 4u);
  Handled later = handled;
  EXPECT_TRUE(reconcile(table, testing::kT0 + 1, later).empty()) << "since filters";
  const auto missed = reconcile(table, testing::kT0, handled);
  ASSERT_EQ(missed.size(), 4u);
  for (const auto& r : missed) {
    EXPECT_EQ(r.limit, LimitId::kSenderExternalRecipientsPerHour);
    EXPECT_EQ(r.crossed_at_s, testing::kT0);
    EXPECT_TRUE(handled.has_crossing(r.key, r.limit, r.crossed_at_s));
    for (const auto& s : seen) {
      EXPECT_FALSE(key_equal(s.key, r.key)) << "already seen: not reported again";
    }
  }
  EXPECT_TRUE(reconcile(table, testing::kT0, handled).empty()) << "handled once, not twice";
  handled.forget(testing::kT0 + 1, testing::kT0 + 1);
  EXPECT_EQ(handled.crossings(), 0u) << "crossings before since are forgotten";

  // Restrictions in force are reconciled too, except the control plane's own (LimitId::kNone).
  KeyBytes k, ops;
  ASSERT_EQ(user_key("burst", k), KeyStatus::kOk);
  ASSERT_EQ(user_key("ops-blocked", ops), KeyStatus::kOk);
  table.restrict(ops, LimitId::kNone, events::ActionTaken::kBlocked, 0);
  table.restrict(k, LimitId::kSenderMessagesPerMinute, events::ActionTaken::kBlockedForToday,
                 testing::kT0 + 3600);
  const auto again = reconcile(table, testing::kT0 + 1, handled);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].restriction.active);
  EXPECT_EQ(again[0].restriction.limit, LimitId::kSenderMessagesPerMinute);
  EXPECT_EQ(again[0].restriction.until_s, testing::kT0 + 3600);
  EXPECT_TRUE(key_equal(again[0].key, k));
  EXPECT_EQ(handled.restrictions(), 1u);
  EXPECT_TRUE(reconcile(table, testing::kT0 + 1, handled).empty()) << "handled once, not twice";
  // A restriction ended or released is dropped from what is remembered.
  handled.forget(testing::kT0 + 1, testing::kT0 + 3600);
  EXPECT_EQ(handled.restrictions(), 0u);
}

}  // namespace
}  // namespace smtpgw::count
