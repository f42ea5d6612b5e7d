// The QSBR publisher: reclamation waits for readers and pins; and the hot-swap test — rulesets
// swapped continuously on one thread while other threads scan messages (ASan + TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "control/rules/compiler.h"
#include "dataplane/publish/publisher.h"
#include "dataplane/scan/scan_context.h"

namespace smtpgw::publish {
namespace {

struct Tracked {
  explicit Tracked(int v, std::atomic<int>* live) : value(v), live_(live) { live_->fetch_add(1); }
  ~Tracked() { live_->fetch_sub(1); }
  int value;
  std::atomic<int>* live_;
};

TEST(PublisherTest, OldVersionFreedOnlyAfterEveryReaderQuiesced) {
  std::atomic<int> live{0};
  Qsbr qsbr;
  Publisher<Tracked> pub(qsbr, std::make_unique<Tracked>(1, &live));
  const auto r1 = qsbr.register_reader();
  const auto r2 = qsbr.register_reader();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(pub.read()->value, 1);
  EXPECT_EQ(pub.publish(std::make_unique<Tracked>(2, &live)), PublishOutcome::kPublished);
  EXPECT_EQ(pub.read()->value, 2);
  EXPECT_EQ(live.load(), 2);  // v1 retired, not freed: readers may still hold it
  qsbr.quiescent(*r1);
  EXPECT_EQ(pub.reclaim(), 0u);
  EXPECT_EQ(live.load(), 2);
  qsbr.offline(*r2);  // an offline reader does not hold reclamation back
  EXPECT_EQ(pub.reclaim(), 1u);
  EXPECT_EQ(live.load(), 1);
  EXPECT_EQ(pub.publish(nullptr), PublishOutcome::kNull);
  EXPECT_EQ(pub.read()->value, 2);
}

TEST(PublisherTest, PinKeepsAVersionAcrossQuiescentPoints) {
  std::atomic<int> live{0};
  Qsbr qsbr;
  Publisher<Tracked> pub(qsbr, std::make_unique<Tracked>(1, &live));
  const auto r = qsbr.register_reader();
  ASSERT_TRUE(r);
  auto pin = pub.pin();
  ASSERT_TRUE(pin);
  pub.publish(std::make_unique<Tracked>(2, &live));
  qsbr.quiescent(*r);
  EXPECT_EQ(pub.reclaim(), 0u);  // pinned
  EXPECT_EQ(pin->value, 1);
  pin.reset();
  EXPECT_EQ(pub.reclaim(), 1u);
  EXPECT_EQ(live.load(), 1);
}

TEST(PublisherTest, BacklogIsBoundedAndRefused) {
  std::atomic<int> live{0};
  Qsbr qsbr;
  Publisher<Tracked> pub(qsbr, std::make_unique<Tracked>(0, &live), 2);
  const auto r = qsbr.register_reader();  // never quiesces
  ASSERT_TRUE(r);
  EXPECT_EQ(pub.publish(std::make_unique<Tracked>(1, &live)), PublishOutcome::kPublished);
  EXPECT_EQ(pub.publish(std::make_unique<Tracked>(2, &live)), PublishOutcome::kPublished);
  EXPECT_EQ(pub.publish(std::make_unique<Tracked>(3, &live)), PublishOutcome::kRetireBacklog);
  EXPECT_EQ(pub.read()->value, 2);  // the active version stays
  qsbr.quiescent(*r);
  EXPECT_EQ(pub.publish(std::make_unique<Tracked>(3, &live)), PublishOutcome::kPublished);
  EXPECT_EQ(live.load(), 2);  // 3 active + 2 retired after the reader's last quiescent point
  qsbr.unregister_reader(*r);
  pub.synchronize();
  EXPECT_EQ(live.load(), 1);
}

std::unique_ptr<scan::Ruleset> ruleset_for(int version, unsigned workers) {
  rules::CompileOptions o;
  o.worker_count = workers;
  // Every version hits on "marker"; its score names the version, so a verdict tells which
  // database scanned it.
  const std::string text = "body MARK /marker/\nscore MARK " + std::to_string(version) +
                           "\nheader SUBJ Subject =~ /v" + std::to_string(version % 7) + "/\n";
  auto r = rules::compile_sources({rules::Source{"v.cf", text}}, o);
  return std::move(r.ruleset);
}

// Swaps rulesets continuously while scanner threads scan messages with publisher-fed contexts.
// No message may be lost (every one gets a verdict), every verdict must come from a live
// version (ASan/TSan catch a freed database), and the score must match the version pinned.
// release_each: the context drops its pin (and streams) after every message; otherwise it keeps
// them, and its reused streams must be dropped when begin_message pins a newer version.
void swap_while_scanning(bool release_each) {
  constexpr unsigned kWorkers = 3;
  constexpr int kMessagesPerWorker = 3000;
  // Scanners keep going until this many versions were swapped under them: in a release build
  // 3,000 messages take less time than one compile, so a count of messages alone proves nothing.
  constexpr int kMinVersions = 4;
  Qsbr qsbr;
  Publisher<scan::Ruleset> pub(qsbr, ruleset_for(1, kWorkers), 1024);
  std::atomic<int> done_workers{0};
  std::atomic<long> verdicts{0};
  std::atomic<long> wrong{0};
  std::atomic<long> scanned{0};
  std::atomic<int> published{0};
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      const auto id = qsbr.register_reader();
      ASSERT_TRUE(id);
      scan::ScanContext ctx(pub, w);
      for (int m = 0;
           m < kMessagesPerWorker || published.load(std::memory_order_relaxed) < kMinVersions;
           ++m) {
        scanned.fetch_add(1, std::memory_order_relaxed);
        ctx.begin_message();
        ctx.field(Field{FieldKind::kHeader, "Subject", "v3", {}});
        // A quiescent point mid-message: the pin must keep the message's version alive.
        qsbr.quiescent(*id);
        ctx.field(Field{FieldKind::kBodyText, {}, "some text with a mar", {}});
        ctx.field(Field{FieldKind::kBodyText, {}, "ker inside", {}});
        ctx.end_message();
        const scan::Verdict& v = ctx.verdict();
        if (v.valid) {
          verdicts.fetch_add(1, std::memory_order_relaxed);
          const int version = static_cast<int>(ctx.ruleset()->rules()[ctx.ruleset()->find_rule("MARK")].score);
          double expected = version + (version % 7 == 3 ? 1.0 : 0.0);
          if (v.score != expected) {
            wrong.fetch_add(1, std::memory_order_relaxed);
          }
        }
        if (release_each) {
          ctx.release();
        }
        qsbr.quiescent(*id);
      }
      ctx.release();
      qsbr.unregister_reader(*id);
      done_workers.fetch_add(1, std::memory_order_release);
    });
  }
  int version = 1;
  while (done_workers.load(std::memory_order_acquire) < static_cast<int>(kWorkers)) {
    ++version;
    if (pub.publish(ruleset_for(version, kWorkers)) == PublishOutcome::kPublished) {
      // relaxed: a counter the scanners only compare; the versions themselves are published
      // through the Publisher's own ordering.
      published.fetch_add(1, std::memory_order_relaxed);
    }
  }
  for (auto& t : workers) {
    t.join();
  }
  pub.synchronize();
  EXPECT_EQ(verdicts.load(), scanned.load());
  EXPECT_GE(scanned.load(), static_cast<long>(kWorkers) * kMessagesPerWorker);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(published.load(), kMinVersions);
  EXPECT_EQ(pub.retired_count(), 0u);
  std::printf("hot swap (%s): %d versions published while %ld messages were scanned\n",
              release_each ? "release after each message" : "streams kept between messages",
              published.load(), verdicts.load());
}

TEST(HotSwapTest, SwapWhileScanning) { swap_while_scanning(true); }
TEST(HotSwapTest, SwapWhileScanningWithStreamsKept) { swap_while_scanning(false); }

}  // namespace
}  // namespace smtpgw::publish
