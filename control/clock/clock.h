// The control plane's clocks, in one place: wall-clock time for what is recorded and shown
// (alerts, the store, the API), the monotonic clock for intervals (the DNS checks' schedules).
// Never on a worker: the workers have their own TSC-based clock (control/app/gateway.h).
//
// Threads: any. Cost: one clock_gettime (vDSO), tens of nanoseconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace smtpgw::clock {

inline uint64_t unix_now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

inline uint64_t unix_now_s() { return unix_now_ns() / 1'000'000'000ull; }

inline uint64_t monotonic_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace smtpgw::clock
