// CPU features the stream engine's vector loops choose by, decided once per process. x86-64
// always has SSE2; AVX2 loops live in functions built for it ([[gnu::target("avx2")]]) and run
// only where this says the CPU has it. SMTPGW_NO_AVX2=1 in the environment says no, so the
// tests run the SSE2 loops too and an operator can compare. Any thread; after the first call
// the cost is one load.
#pragma once

#include <cstdlib>

namespace smtpgw {

inline bool cpu_has_avx2() {
#if defined(__x86_64__)
  static const bool has = [] {
    __builtin_cpu_init();  // required before __builtin_cpu_supports outside main's callees
    return __builtin_cpu_supports("avx2") != 0 && std::getenv("SMTPGW_NO_AVX2") == nullptr;
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace smtpgw
