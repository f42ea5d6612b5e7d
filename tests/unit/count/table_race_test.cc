// Concurrency: exact totals and unique entries with many threads (suite tsan too).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/count/sender_table.h"
#include "fake_clock.h"

namespace smtpgw::count {
namespace {

using testing::FakeClock;

constexpr int kThreads = 4;
constexpr int kOps = 15'000;  // x4 threads: below a bucket lane's 65,535

KeyBytes user(int i) {
  KeyBytes k;
  EXPECT_EQ(user_key("user" + std::to_string(i), k), KeyStatus::kOk);
  return k;
}

// The worker's loop: resolve (retrying a kContended, which a real worker would count and skip),
// then add.
Entry* resolve(SenderTable& t, const KeyBytes& k, std::atomic<uint64_t>& contended) {
  for (;;) {
    Handle h;
    const FindOutcome o = t.find_or_insert(k, h);
    if (o == FindOutcome::kContended) {
      contended.fetch_add(1);
      std::this_thread::yield();
      continue;
    }
    EXPECT_TRUE(o == FindOutcome::kFound || o == FindOutcome::kInserted) << find_outcome_name(o);
    return t.get(h);
  }
}

TEST(CountTableRace, ExactCountsSameKey) {
  FakeClock clk;
  SenderTable::Options o;
  o.capacity = 1024;
  o.clock = clk.clock();
  o.busy_wait_spins = 1u << 28;  // threads here can be preempted mid-insert
  SenderTable t(o);
  std::atomic<uint64_t> contended{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&] {
      const KeyBytes k = user(0);
      for (int n = 0; n < kOps; ++n) {
        Entry* e = resolve(t, k, contended);
        ASSERT_NE(e, nullptr);
        e->add(0, clk.now_s(), 1, n % 2, 1 - n % 2);
        e->add(2, clk.now_s(), 0, 0, 1);
      }
    });
  }
  for (auto& th : ts) {
    th.join();
  }
  EXPECT_EQ(t.live_entries(), 1u) << "no twin entries for one key";
  Handle h;
  ASSERT_TRUE(t.find(user(0), h));
  const Entry& e = *t.get(h);
  const uint32_t now = clk.now_s();
  const uint32_t total = kThreads * kOps;
  EXPECT_EQ(e.count(Counter::kMessages, Window::kMinute, now), total);
  EXPECT_EQ(e.count(Counter::kRecipientsInternal, Window::kHour, now), total / 2);
  EXPECT_EQ(e.count(Counter::kRecipientsExternal, Window::kDay, now), total / 2);
  EXPECT_EQ(e.count(Counter::kKibibytes, Window::kDay, now), total);
  std::printf("contended lookups retried: %llu\n",
              static_cast<unsigned long long>(contended.load()));
}

TEST(CountTableRace, ExactCountsManyKeysAndRacingInserts) {
  constexpr int kKeys = 500;
  FakeClock clk;
  SenderTable::Options o;
  o.capacity = 1024;
  o.clock = clk.clock();
  o.busy_wait_spins = 1u << 28;  // threads here can be preempted mid-insert
  SenderTable t(o);
  std::atomic<uint64_t> contended{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      // Every thread walks all keys from a different start: each key's insert is raced.
      for (int n = 0; n < kOps; ++n) {
        const int key = (n * 7 + i * 131) % kKeys;
        Entry* e = resolve(t, user(key), contended);
        ASSERT_NE(e, nullptr);
        e->add(0, clk.now_s(), 1, 0, 0);
      }
    });
  }
  for (auto& th : ts) {
    th.join();
  }
  EXPECT_EQ(t.live_entries(), static_cast<uint64_t>(kKeys)) << "every key exactly once";
  uint64_t sum = 0;
  for (int k = 0; k < kKeys; ++k) {
    Handle h;
    ASSERT_TRUE(t.find(user(k), h)) << k;
    sum += t.get(h)->count(Counter::kMessages, Window::kDay, clk.now_s());
  }
  EXPECT_EQ(sum, static_cast<uint64_t>(kThreads) * kOps);
  EXPECT_EQ(t.outcome_count(FindOutcome::kInserted), static_cast<uint64_t>(kKeys));
}

// Eviction racing with lookups of the evicted key and inserts of new ones: the table never
// holds a key twice and never loses a restricted entry.
TEST(CountTableRace, EvictionUnderRace) {
  FakeClock clk;
  SenderTable::Options o;
  o.capacity = 64;
  o.max_probe = 64;
  o.clock = clk.clock();
  o.busy_wait_spins = 1u << 28;  // threads here can be preempted mid-insert
  SenderTable t(o);
  Handle h;
  for (int k = 0; k < 64; ++k) {
    ASSERT_EQ(t.find_or_insert(user(k), h), FindOutcome::kInserted);
  }
  ASSERT_EQ(t.restrict(user(0), LimitId::kNone, events::ActionTaken::kBlocked, 0),
            FindOutcome::kFound);
  clk.advance_s(t.idle_evict_s());
  std::vector<std::thread> ts;
  std::atomic<uint64_t> full{0};
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&] {
      for (int n = 0; n < 2000; ++n) {
        Handle x;
        const FindOutcome r = t.find_or_insert(user(1000 + n % 40), x);
        if (r == FindOutcome::kFull) {
          full.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : ts) {
    th.join();
  }
  for (int k = 0; k < 40; ++k) {
    Handle x;
    EXPECT_TRUE(t.find(user(1000 + k), x)) << k;
  }
  int copies[40] = {};
  t.for_each([&](const KeyBytes& k, const Entry&) {
    for (int i = 0; i < 40; ++i) {
      if (key_equal(k, user(1000 + i))) {
        ++copies[i];
      }
    }
  });
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(copies[i], 1) << i;
  }
  Handle r0;
  EXPECT_TRUE(t.find(user(0), r0)) << "the restricted entry survives";
  EXPECT_EQ(full.load(), 0u) << "63 evictable slots for 40 new keys";
}

}  // namespace
}  // namespace smtpgw::count
