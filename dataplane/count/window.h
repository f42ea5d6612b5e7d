// Bucketed sliding windows and approximate distinct counts, lock-free (atomics only).
//
// A Ring is B buckets of D seconds; each bucket is one 64-bit word packing a 16-bit epoch tag
// and three 16-bit lanes (three counters that are updated together, e.g. messages, internal and
// external recipients), so one compare-and-swap updates a bucket without a separate reset step:
//
//   bits 63..48 tag  = bucket epoch (unix_s / D) mod 2^16
//   bits 47..32 lane 2, 31..16 lane 1, 15..0 lane 0 (saturating at 65,535; saturation counted)
//
// The window at time t is the sum of the buckets whose tag matches an epoch in
// [e - B + 1, e] (e = t / D): it covers between (B-1)*D and B*D seconds. So a burst sent just
// before the oldest bucket expires and again right after can exceed a limit by at most one
// bucket's worth of traffic (see docs/accounting.md, "Windows").
//
// Memory order: every access is relaxed. Each word is self-contained (its tag says which epoch
// its lanes belong to) and publishes nothing else; exact totals come from the atomicity of the
// CAS, not from ordering. A concurrent reader may miss an add that is in flight (it sees the
// window a few nanoseconds earlier), never a torn word.
#pragma once

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>

namespace smtpgw::count {

struct Lanes {
  uint32_t v[3] = {0, 0, 0};
};

inline constexpr uint32_t kLaneMax = 0xffff;

template <uint32_t B, uint32_t D>
class Ring {
 public:
  static constexpr uint32_t kBuckets = B;
  static constexpr uint32_t kBucketSeconds = D;
  static constexpr uint32_t kWindowSeconds = B * D;

  // Adds d0..d2 to the bucket of time now_s. Positive deltas saturate at kLaneMax (returns true
  // if a lane saturated). Negative deltas (a rollback) apply only to the bucket of exactly that
  // epoch and stop at 0: if the bucket has moved on, there is nothing left to take back.
  // Lock-free: a CAS loop that retries only when another thread changed the same word.
  bool add(uint32_t now_s, int32_t d0, int32_t d1, int32_t d2) {
    const uint32_t e = now_s / D;
    const uint16_t tag = static_cast<uint16_t>(e);
    std::atomic<uint64_t>& w = w_[e % B];
    uint64_t old = w.load(std::memory_order_relaxed);
    bool saturated = false;
    for (;;) {
      // Same epoch: add. Any other tag is an older lap of this slot (a newer one would need a
      // clock a whole window ahead): start the bucket afresh.
      const bool current = static_cast<uint16_t>(old >> 48) == tag;
      if (!current && (d0 < 0 || d1 < 0 || d2 < 0)) {
        return false;
      }
      const uint64_t base = current ? old : (static_cast<uint64_t>(tag) << 48);
      uint64_t nw = base & 0xffff000000000000ull;
      const int32_t d[3] = {d0, d1, d2};
      saturated = false;
      for (int i = 0; i < 3; ++i) {
        int64_t v = static_cast<int64_t>((base >> (16 * i)) & 0xffff) + d[i];
        if (v < 0) {
          v = 0;
        } else if (v > kLaneMax) {
          v = kLaneMax;
          saturated = true;
        }
        nw |= static_cast<uint64_t>(v) << (16 * i);
      }
      if (w.compare_exchange_weak(old, nw, std::memory_order_relaxed)) {
        return saturated;
      }
    }
  }

  // The window's sums at now_s. Cost: B relaxed loads. Any thread.
  Lanes sum(uint32_t now_s) const {
    Lanes out;
    const uint32_t cur = now_s / D;
    const uint32_t n = cur + 1 < B ? cur + 1 : B;  // (only tests start near the epoch)
    uint32_t slot = cur % B;
    uint16_t tag = static_cast<uint16_t>(cur);
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t v = w_[slot].load(std::memory_order_relaxed);
      if (static_cast<uint16_t>(v >> 48) == tag) {
        out.v[0] += static_cast<uint32_t>(v & 0xffff);
        out.v[1] += static_cast<uint32_t>((v >> 16) & 0xffff);
        out.v[2] += static_cast<uint32_t>((v >> 32) & 0xffff);
      }
      --tag;
      slot = slot == 0 ? B - 1 : slot - 1;
    }
    return out;
  }

  // Only while no other thread can reach the ring (the slot is being re-keyed).
  void clear() {
    for (auto& w : w_) {
      w.store(0, std::memory_order_relaxed);
    }
  }

 private:
  std::atomic<uint64_t> w_[B] = {};
};

// Approximate distinct count (HyperLogLog) over a fixed period (the current clock hour or day):
// W words, each a 16-bit period tag and twelve 4-bit registers, so m = 12*W registers and the
// standard error is about 1.04/sqrt(m) (W = 4: m = 48, ~15%). Small counts use linear counting
// (exact-ish below ~m). Each word is reset independently when its tag is stale. Relaxed CAS:
// registers only grow within a period.
template <uint32_t W>
class Distinct {
 public:
  static constexpr uint32_t kRegisters = 12 * W;

  void add(uint32_t period, uint64_t hash) {
    const uint16_t tag = static_cast<uint16_t>(period);
    std::atomic<uint64_t>& w = w_[hash % W];
    const uint32_t reg = static_cast<uint32_t>((hash / W) % 12);
    const uint64_t rest = hash >> 12;
    uint32_t rho = static_cast<uint32_t>(std::countr_zero(rest | (1ull << 50))) + 1;
    if (rho > 15) {
      rho = 15;
    }
    uint64_t old = w.load(std::memory_order_relaxed);
    for (;;) {
      uint64_t base = (static_cast<uint16_t>(old >> 48) == tag) ? old
                                                                : static_cast<uint64_t>(tag) << 48;
      const uint32_t cur = static_cast<uint32_t>((base >> (4 * reg)) & 0xf);
      if (cur >= rho && base == old) {
        return;
      }
      uint64_t nw = base;
      if (cur < rho) {
        nw = (base & ~(0xfull << (4 * reg))) | (static_cast<uint64_t>(rho) << (4 * reg));
      }
      if (w.compare_exchange_weak(old, nw, std::memory_order_relaxed)) {
        return;
      }
    }
  }

  uint32_t estimate(uint32_t period) const {
    const uint16_t tag = static_cast<uint16_t>(period);
    double sum = 0;
    uint32_t zeros = 0;
    for (uint32_t i = 0; i < W; ++i) {
      const uint64_t v = w_[i].load(std::memory_order_relaxed);
      const bool live = static_cast<uint16_t>(v >> 48) == tag;
      for (uint32_t r = 0; r < 12; ++r) {
        const uint32_t x = live ? static_cast<uint32_t>((v >> (4 * r)) & 0xf) : 0;
        sum += std::ldexp(1.0, -static_cast<int>(x));
        zeros += x == 0;
      }
    }
    const double m = kRegisters;
    const double alpha = 0.7213 / (1.0 + 1.079 / m);
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros > 0) {
      e = m * std::log(m / zeros);
    }
    return static_cast<uint32_t>(e + 0.5);
  }

  void clear() {
    for (auto& w : w_) {
      w.store(0, std::memory_order_relaxed);
    }
  }

 private:
  std::atomic<uint64_t> w_[W] = {};
};

}  // namespace smtpgw::count
