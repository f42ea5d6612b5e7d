// Exactly-once crossing under races (suite tsan too): threads race across a limit thousands of
// times; each crossing yields exactly one event, however the race goes.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "accountant_fixture.h"

namespace smtpgw::count {
namespace {

using events::EventKind;
using policy::LimitAction;
using testing::FakeClock;
using testing::message;

constexpr int kThreads = 4;

struct Race {
  FakeClock clock;
  std::unique_ptr<SenderTable> table;
  std::unique_ptr<Accountant> acc;
  std::vector<std::unique_ptr<EventQueue>> queues;
  policy::Policy policy;

  explicit Race(uint32_t capacity, size_t queue) {
    SenderTable::Options o;
    o.capacity = capacity;
    o.clock = clock.clock();
    // Four threads on two cores: an inserter can be preempted mid-insert, so wait for it (a
    // pinned lcore never is; there the default bounded wait applies).
    o.busy_wait_spins = 1u << 28;
    table = std::make_unique<SenderTable>(o);
    acc = std::make_unique<Accountant>(*table);
    for (int i = 0; i < kThreads; ++i) {
      queues.push_back(std::make_unique<EventQueue>(queue, static_cast<uint8_t>(i)));
    }
  }
  // Pops every queue (called only while the workers wait at the barrier).
  std::vector<events::Event> drain() {
    std::vector<events::Event> out;
    events::Event e;
    for (auto& q : queues) {
      while (q->pop(e)) {
        out.push_back(e);
      }
    }
    return out;
  }
};

// Messages per minute, throttle: 4 threads x 12 messages on one sender with limit 30.
TEST(CountAccountantRace, ExactlyOneCrossingPerEpisode) {
  constexpr int kIterations = 1500;
  constexpr int kPerThread = 12;
  Race r(8192, 4096);
  r.policy.host.messages_per_minute = {10'000, LimitAction::kAlert};
  std::atomic<int> allowed{0};
  std::atomic<int> throttled{0};
  int failures = 0;
  std::vector<int> allowed_per_iter(kIterations);
  int iter = 0;
  std::barrier sync(kThreads, [&]() noexcept {
    // Completion step: runs on one thread while the others wait; the queues' consumer.
    const auto evs = r.drain();
    int crossed = 0;
    for (const auto& e : evs) {
      crossed += e.kind == EventKind::kThresholdCrossed &&
                 e.u.crossed.limit == LimitId::kSenderMessagesPerMinute;
    }
    if (crossed != 1) {
      ++failures;
    }
    allowed_per_iter[iter] = allowed.exchange(0);
    ++iter;
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        MessageState m = message("10.9.0." + std::to_string(t), "race" + std::to_string(i) + "@x.example");
        for (int n = 0; n < kPerThread; ++n) {
          const Decision d = r.acc->begin_message(r.policy, m, *r.queues[t]);
          if (d.verdict == Verdict::kAllow) {
            allowed.fetch_add(1);
          } else {
            throttled.fetch_add(1);
          }
        }
        sync.arrive_and_wait();
      }
    });
  }
  for (auto& th : ts) {
    th.join();
  }
  EXPECT_EQ(failures, 0) << "iterations without exactly one crossing event";
  EXPECT_EQ(r.table->outcome_count(FindOutcome::kContended), 0u);
  int over = 0;
  for (int a : allowed_per_iter) {
    over += a > 30;
  }
  EXPECT_EQ(over, 0) << "never more than the limit allowed";
  EXPECT_EQ(allowed_per_iter.size(), static_cast<size_t>(kIterations));
  // Exact counts: the table holds exactly the allowed messages of each sender.
  uint64_t in_table = 0;
  uint64_t allowed_total = 0;
  for (int i = 0; i < kIterations; ++i) {
    KeyBytes k;
    ASSERT_EQ(sender_key("race" + std::to_string(i) + "@x.example", k), KeyStatus::kOk);
    Handle h;
    ASSERT_TRUE(r.table->find(k, h));
    in_table += r.table->get(h)->count(Counter::kMessages, Window::kMinute, r.clock.now_s());
    allowed_total += allowed_per_iter[i];
  }
  EXPECT_EQ(in_table, allowed_total);
  EXPECT_EQ(allowed_total + throttled.load(), static_cast<uint64_t>(kIterations) * kThreads * kPerThread);
}

// A block action under race: one ThresholdCrossed and one RestrictionApplied per crossing.
TEST(CountAccountantRace, ExactlyOneRestriction) {
  constexpr int kIterations = 1000;
  Race r(8192, 4096);
  r.policy.sender.external_recipients_per_hour = {20, LimitAction::kBlockUser};
  r.policy.host.messages_per_minute = {10'000, LimitAction::kAlert};
  r.policy.host.recipients_per_hour = {10'000, LimitAction::kAlert};
  int bad = 0;
  int iter = 0;
  std::barrier sync(kThreads, [&]() noexcept {
    const auto evs = r.drain();
    int crossed = 0;
    int restricted = 0;
    for (const auto& e : evs) {
      if (e.key.kind != KeyKind::kSender) {
        continue;  // the hosts and the organisation accumulate over iterations
      }
      crossed += e.kind == EventKind::kThresholdCrossed;
      restricted += e.kind == EventKind::kRestrictionApplied;
    }
    bad += crossed != 1 || restricted != 1;
    ++iter;
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        MessageState m = message("10.8.0." + std::to_string(t), "blk" + std::to_string(i) + "@y.example");
        if (r.acc->begin_message(r.policy, m, *r.queues[t]).verdict == Verdict::kAllow) {
          for (int n = 0; n < 8; ++n) {
            r.acc->add_recipient(r.policy, m, "p" + std::to_string(n) + "@ext.example", *r.queues[t]);
          }
        }
        sync.arrive_and_wait();
      }
    });
  }
  for (auto& th : ts) {
    th.join();
  }
  EXPECT_EQ(iter, kIterations);
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace smtpgw::count
