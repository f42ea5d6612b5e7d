#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "dataplane/count/window.h"
#include "fake_clock.h"

namespace smtpgw::count {
namespace {

using testing::kT0;

TEST(CountWindow, SlidesBucketByBucket) {
  Ring<6, 10> r;  // one minute, 10 s buckets
  r.add(kT0 + 0, 1, 0, 0);
  r.add(kT0 + 15, 2, 0, 0);
  r.add(kT0 + 59, 4, 0, 0);
  EXPECT_EQ(r.sum(kT0 + 59).v[0], 7u);
  EXPECT_EQ(r.sum(kT0 + 60).v[0], 6u) << "the first bucket left the window";
  EXPECT_EQ(r.sum(kT0 + 69).v[0], 6u);
  EXPECT_EQ(r.sum(kT0 + 70).v[0], 4u);
  EXPECT_EQ(r.sum(kT0 + 119).v[0], 0u);
  // A bucket is reused after a full lap: the stale value is replaced, not added to.
  r.add(kT0 + 60, 8, 0, 0);
  EXPECT_EQ(r.sum(kT0 + 60).v[0], 14u);
  EXPECT_EQ(r.sum(kT0 + 109).v[0], 12u);
  EXPECT_EQ(r.sum(kT0 + 110).v[0], 8u);
}

TEST(CountWindow, LanesAndRollback) {
  Ring<12, 300> r;
  r.add(kT0, 1, 2, 3);
  r.add(kT0 + 1, 1, 0, 3);
  Lanes l = r.sum(kT0 + 2);
  EXPECT_EQ(l.v[0], 2u);
  EXPECT_EQ(l.v[1], 2u);
  EXPECT_EQ(l.v[2], 6u);
  r.add(kT0 + 2, -1, -5, 0);  // stops at zero
  l = r.sum(kT0 + 2);
  EXPECT_EQ(l.v[0], 1u);
  EXPECT_EQ(l.v[1], 0u);
  // A rollback into a bucket that has moved on is dropped, never applied to the new epoch.
  r.add(kT0 + 3600, 5, 0, 0);
  r.add(kT0, -5, 0, 0);  // epoch kT0's slot now holds kT0+3600's epoch
  EXPECT_EQ(r.sum(kT0 + 3600).v[0], 5u);
}

TEST(CountWindow, SaturatesAndReports) {
  Ring<6, 10> r;
  EXPECT_FALSE(r.add(kT0, 65'000, 0, 0));
  EXPECT_TRUE(r.add(kT0, 1'000, 0, 0));
  EXPECT_EQ(r.sum(kT0).v[0], kLaneMax);
}

TEST(CountWindow, SlightlySkewedClocksLoseNothing) {
  Ring<6, 10> r;
  r.add(kT0 + 10, 3, 0, 0);  // a worker whose clock is a bucket ahead
  r.add(kT0 + 9, 1, 0, 0);   // and one a second behind it
  EXPECT_EQ(r.sum(kT0 + 10).v[0], 4u);
  EXPECT_EQ(r.sum(kT0 + 9).v[0], 1u) << "the future bucket is not in the past window";
}

// The documented bound: with B buckets of D seconds, the count over ANY real interval of one
// window length is at most the limit plus what fits in one bucket. A client that sends as much
// as the window allows, as early as possible, is the worst case.
TEST(CountWindow, BurstAtEdgeExceedsByAtMostOneBucket) {
  constexpr uint32_t kLimit = 30;
  Ring<6, 10> r;
  uint64_t sent_at[2000] = {};
  size_t sent = 0;
  // Ten attempts a second, starting late in a bucket (the adversarial phase): the first burst
  // sits at the end of its bucket and the next one is let through as soon as that bucket
  // leaves the window.
  for (uint32_t t = kT0 + 9; t < kT0 + 600; ++t) {
    for (int k = 0; k < 10; ++k) {
      if (r.sum(t).v[0] + 1 <= kLimit) {
        r.add(t, 1, 0, 0);
        sent_at[sent++] = t;
      }
    }
  }
  ASSERT_GT(sent, 0u);
  // Max over every real 60 s interval [s, s+60).
  uint32_t worst = 0;
  uint32_t worst_bucket = 0;
  for (uint32_t s = kT0; s < kT0 + 600; ++s) {
    uint32_t n = 0;
    uint32_t per_bucket[70] = {};
    for (size_t i = 0; i < sent; ++i) {
      if (sent_at[i] >= s && sent_at[i] < s + 60) {
        ++n;
        ++per_bucket[(sent_at[i] / 10) % 70];
      }
    }
    if (n > worst) {
      worst = n;
      worst_bucket = 0;
      for (uint32_t b : per_bucket) {
        worst_bucket = std::max(worst_bucket, b);
      }
    }
  }
  EXPECT_GT(worst, kLimit) << "the sliding approximation does let a little through";
  EXPECT_LE(worst, kLimit + worst_bucket) << "but never more than one bucket's worth";
  EXPECT_LE(worst, 2 * kLimit);
}

TEST(CountWindow, DistinctEstimateWithinError) {
  for (uint32_t n : {1u, 10u, 100u, 1000u, 10000u}) {
    Distinct<4> d;
    for (uint32_t i = 0; i < n; ++i) {
      uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull;
      h ^= h >> 31;
      h *= 0xbf58476d1ce4e5b9ull;
      h ^= h >> 29;
      d.add(7, h);
      d.add(7, h);  // duplicates do not count
    }
    const double est = d.estimate(7);
    SCOPED_TRACE(n);
    // 48 registers: standard error ~15%; allow 3 sigma (documented as ~15%, worst ~45%).
    EXPECT_NEAR(est, n, std::max(1.0, 0.45 * n));
    EXPECT_EQ(d.estimate(8), 0u) << "another period starts empty";
  }
}

}  // namespace
}  // namespace smtpgw::count
