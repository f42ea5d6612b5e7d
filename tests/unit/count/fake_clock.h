// An injected clock the tests move by hand.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/count/clock.h"

namespace smtpgw::count::testing {

// 2026-11-25 00:00:00 UTC: a realistic epoch so window tags and day numbers are ordinary.
inline constexpr uint32_t kT0 = 1'795'564'800;

class FakeClock {
 public:
  explicit FakeClock(uint32_t s = kT0) : ns_(static_cast<uint64_t>(s) * 1'000'000'000ull) {}
  Clock clock() const {
    Clock c;
    c.ctx = this;
    c.now_ns = [](const void* p) {
      return static_cast<const FakeClock*>(p)->ns_.load(std::memory_order_relaxed);
    };
    return c;
  }
  void set_s(uint32_t s) { ns_.store(static_cast<uint64_t>(s) * 1'000'000'000ull); }
  void advance_s(uint32_t d) { ns_.fetch_add(static_cast<uint64_t>(d) * 1'000'000'000ull); }
  uint32_t now_s() const { return static_cast<uint32_t>(ns_.load() / 1'000'000'000ull); }

 private:
  std::atomic<uint64_t> ns_;
};

}  // namespace smtpgw::count::testing
