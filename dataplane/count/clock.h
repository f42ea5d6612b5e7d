// The clock sender accounting reads. Injected (never read from the system directly) so tests
// drive windows and day boundaries, and workers pass a TSC-based clock without a syscall.
#pragma once

#include <cstdint>

namespace smtpgw::count {

// Returns Unix time in nanoseconds (UTC). Must be cheap (called once per accounting call) and
// callable from every worker concurrently. Workers' clocks may disagree by a little (TSC
// drift): a write lands in its own clock's bucket; only a clock a whole window behind would
// overwrite a newer bucket of the same slot.
struct Clock {
  uint64_t (*now_ns)(const void* ctx) = nullptr;
  const void* ctx = nullptr;

  uint64_t now() const { return now_ns(ctx); }
  uint32_t now_s() const { return static_cast<uint32_t>(now_ns(ctx) / 1'000'000'000ull); }
};

// The system's CLOCK_REALTIME (for tools and the control plane; workers pass their own).
Clock system_clock();

}  // namespace smtpgw::count
