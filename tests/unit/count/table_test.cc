#include <gtest/gtest.h>

#include <string>

#include "dataplane/count/sender_table.h"
#include "fake_clock.h"

namespace smtpgw::count {
namespace {

using testing::FakeClock;
using testing::kT0;

KeyBytes user(const std::string& name) {
  KeyBytes k;
  EXPECT_EQ(user_key(name, k), KeyStatus::kOk);
  return k;
}

SenderTable::Options opts(const FakeClock& c, uint32_t cap, uint32_t probe = 64) {
  SenderTable::Options o;
  o.capacity = cap;
  o.max_probe = probe;
  o.clock = c.clock();
  return o;
}

TEST(CountTable, FindInsertAndHandles) {
  FakeClock clk;
  SenderTable t(opts(clk, 100));
  EXPECT_EQ(t.slots(), 128u);
  Handle h1, h2, h3;
  EXPECT_EQ(t.find_or_insert(user("alice"), h1), FindOutcome::kInserted);
  EXPECT_EQ(t.find_or_insert(user("alice"), h2), FindOutcome::kFound);
  EXPECT_EQ(h1.slot, h2.slot);
  EXPECT_EQ(h1.meta, h2.meta);
  EXPECT_TRUE(t.find(user("alice"), h3));
  EXPECT_FALSE(t.find(user("bob"), h3));
  KeyBytes k;
  ASSERT_TRUE(t.key_of(h1, k));
  EXPECT_TRUE(key_equal(k, user("alice")));
  EXPECT_EQ(t.live_entries(), 1u);
  EXPECT_EQ(t.outcome_count(FindOutcome::kInserted), 1u);
  EXPECT_EQ(t.outcome_count(FindOutcome::kFound), 0u) << "the hot path is not counted";
  KeyBytes bad;  // kind kNone
  EXPECT_EQ(t.find_or_insert(bad, h3), FindOutcome::kBadKey);
  EXPECT_FALSE(h3.valid());
  EXPECT_EQ(t.outcome_count(FindOutcome::kBadKey), 1u);
}

TEST(CountTable, CountersPerEntry) {
  FakeClock clk;
  SenderTable t(opts(clk, 16));
  Handle h;
  ASSERT_EQ(t.find_or_insert(user("alice"), h), FindOutcome::kInserted);
  Entry* e = t.get(h);
  ASSERT_NE(e, nullptr);
  e->add(0, kT0, 1, 2, 3);
  e->add(1, kT0, 4, 5, 6);
  e->add(2, kT0, 7, 8, 9);
  const uint32_t expect[kCounterCount] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (int c = 0; c < kCounterCount; ++c) {
    for (Window w : {Window::kMinute, Window::kHour, Window::kDay}) {
      EXPECT_EQ(e->count(static_cast<Counter>(c), w, kT0), expect[c])
          << counter_name(static_cast<Counter>(c));
    }
  }
  EXPECT_EQ(e->count(Counter::kMessages, Window::kMinute, kT0 + 60), 0u);
  EXPECT_EQ(e->count(Counter::kMessages, Window::kHour, kT0 + 3599), 1u);
  EXPECT_EQ(e->count(Counter::kMessages, Window::kHour, kT0 + 3600), 0u);
  EXPECT_EQ(e->count(Counter::kMessages, Window::kDay, kT0 + 86'399), 1u);
  EXPECT_EQ(e->count(Counter::kMessages, Window::kDay, kT0 + 86'400), 0u);
}

// At its cap the table keeps working: it re-keys only entries idle for idle_evict_s that are
// neither restricted nor steered, and counts every outcome.
TEST(CountTable, CapacityEvictsOnlyIdleUnrestricted) {
  FakeClock clk;
  SenderTable t(opts(clk, 8, 8));  // 8 slots, every probe sees the whole table
  Handle h;
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(t.find_or_insert(user("u" + std::to_string(i)), h), FindOutcome::kInserted);
  }
  // Full of live entries: a new key is untracked, counted.
  EXPECT_EQ(t.find_or_insert(user("new"), h), FindOutcome::kFull);
  EXPECT_FALSE(h.valid());
  EXPECT_EQ(t.outcome_count(FindOutcome::kFull), 1u);

  // Restrict u0, steer u1, keep u2 active; the rest go idle.
  ASSERT_EQ(t.restrict(user("u0"), LimitId::kNone, events::ActionTaken::kBlocked, 0),
            FindOutcome::kFound);
  Handle h1;
  ASSERT_TRUE(t.find(user("u1"), h1));
  SenderTable::steer(*t.get(h1), kT0 + 200'000);
  clk.advance_s(t.idle_evict_s());
  Handle h2;
  ASSERT_EQ(t.find_or_insert(user("u2"), h2), FindOutcome::kFound);  // refreshes last_seen

  // Five evictable entries (u3..u7): five new keys fit, the sixth does not.
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(t.find_or_insert(user("n" + std::to_string(i)), h), FindOutcome::kInsertedEvicting)
        << i;
  }
  EXPECT_EQ(t.find_or_insert(user("n5"), h), FindOutcome::kFull);
  EXPECT_EQ(t.outcome_count(FindOutcome::kInsertedEvicting), 5u);
  EXPECT_EQ(t.outcome_count(FindOutcome::kFull), 2u);
  EXPECT_EQ(t.live_entries(), 8u);
  Handle x;
  EXPECT_TRUE(t.find(user("u0"), x)) << "restricted: never evicted";
  EXPECT_TRUE(t.find(user("u1"), x)) << "steered: never evicted";
  EXPECT_TRUE(t.find(user("u2"), x)) << "active: never evicted";
  for (int i = 3; i < 8; ++i) {
    EXPECT_FALSE(t.find(user("u" + std::to_string(i)), x)) << i;
  }
  // A stale handle to an evicted entry is refused, not silently reused.
  // (h for n4 is valid; an old handle of u3 is not.)
  EXPECT_TRUE(t.get(h2) != nullptr);
}

TEST(CountTable, StaleHandleAfterEviction) {
  FakeClock clk;
  SenderTable t(opts(clk, 1, 1));
  Handle old, fresh;
  ASSERT_EQ(t.find_or_insert(user("a"), old), FindOutcome::kInserted);
  t.get(old)->add(0, kT0, 5, 0, 0);
  clk.advance_s(t.idle_evict_s());
  ASSERT_EQ(t.find_or_insert(user("b"), fresh), FindOutcome::kInsertedEvicting);
  EXPECT_EQ(old.slot, fresh.slot);
  EXPECT_EQ(t.get(old), nullptr) << "the generation changed";
  KeyBytes k;
  EXPECT_FALSE(t.key_of(old, k));
  EXPECT_EQ(t.get(fresh)->count(Counter::kMessages, Window::kDay, clk.now_s()), 0u)
      << "a re-keyed entry starts from zero";
}

TEST(CountTable, RestrictReleaseAndState) {
  FakeClock clk;
  SenderTable t(opts(clk, 16));
  const KeyBytes a = user("alice");
  Handle h;
  ASSERT_EQ(t.restrict(a, LimitId::kSenderRecipientsPerDay, events::ActionTaken::kBlocked, 0),
            FindOutcome::kInserted);
  ASSERT_TRUE(t.find(a, h));
  Entry& e = *t.get(h);
  EXPECT_EQ(SenderTable::state(e, clk.now_s()), SenderState::kRestricted);
  EXPECT_TRUE(t.release(a, 0));
  EXPECT_FALSE(t.release(a, 0)) << "nothing left to release";
  EXPECT_FALSE(t.release(user("nobody"), 0));
  EXPECT_EQ(SenderTable::state(e, clk.now_s()), SenderState::kNormal);
  const uint64_t rel = e.release.load();
  EXPECT_EQ(rel >> 32, day_number(clk.now_s(), 0));
  EXPECT_NE(rel & (1ull << static_cast<int>(LimitId::kSenderRecipientsPerDay)), 0u);
  SenderTable::steer(e, clk.now_s() + 10);
  SenderTable::steer(e, clk.now_s() + 5);  // never shortens
  EXPECT_EQ(SenderTable::state(e, clk.now_s() + 9), SenderState::kSteeredHighRisk);
  EXPECT_EQ(SenderTable::state(e, clk.now_s() + 10), SenderState::kNormal);
  // A for-today restriction ends by itself.
  ASSERT_EQ(t.restrict(a, LimitId::kNone, events::ActionTaken::kBlockedForToday, kT0 + 100),
            FindOutcome::kFound);
  EXPECT_EQ(SenderTable::state(e, kT0 + 99), SenderState::kRestricted);
  EXPECT_EQ(SenderTable::state(e, kT0 + 100), SenderState::kNormal);
}

TEST(CountTable, DayBoundaries) {
  EXPECT_EQ(next_day_start(kT0, 0), kT0 + 86'400);
  EXPECT_EQ(next_day_start(kT0 + 86'399, 0), kT0 + 86'400);
  EXPECT_EQ(next_day_start(kT0 + 86'400, 0), kT0 + 2 * 86'400);
  // UTC+2: the local day starts at 22:00 UTC.
  EXPECT_EQ(next_day_start(kT0, 120), kT0 + 22 * 3600);
  EXPECT_EQ(next_day_start(kT0 + 22 * 3600, 120), kT0 + 46 * 3600);
  // UTC-5: 05:00 UTC.
  EXPECT_EQ(next_day_start(kT0, -300), kT0 + 5 * 3600);
  EXPECT_EQ(day_number(kT0 + 5 * 3600 - 1, -300) + 1, day_number(kT0 + 5 * 3600, -300));
}

TEST(CountTable, BytesPerEntry) {
  // Reported by the benchmark; asserted here so a layout change is a conscious one.
  EXPECT_EQ(sizeof(Entry) % 64, 0u);
  EXPECT_LE(SenderTable::kBytesPerEntry, 1024u);
  std::printf("bytes per entry: %zu (Entry %zu + meta 8)\n", SenderTable::kBytesPerEntry,
              sizeof(Entry));
}

}  // namespace
}  // namespace smtpgw::count
