// Counters, one way for every stage: each stage keeps its counters in a contiguous array of
// uint64_t written by one thread (its worker's, or analyze's) and names them from its X-macro
// list; a pipeline registers those arrays as named groups in a Registry, and every reader —
// DPDK telemetry on its own thread while the workers run, `smtpgw run`'s exit report, `smtpgw
// analyze`'s summary — walks the registry instead of knowing each stage's counters.
//
// Threads: the owner adds with add() (a relaxed load and store: no read-modify-write, no fence,
// the same instructions as a plain `+=`); any thread reads with load() (relaxed), so a reader
// never tears a value and sees each one at most a burst late.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace smtpgw::stats {

// Owner thread only.
inline void add(uint64_t& counter, uint64_t n = 1) {
  __atomic_store_n(&counter, __atomic_load_n(&counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
// Any thread.
inline uint64_t load(const uint64_t& counter) { return __atomic_load_n(&counter, __ATOMIC_RELAXED); }

// One stage's counters: `size` values at `values`, the i-th named name(i).
struct Group {
  std::string_view stage;  // "inspect", "smtp", "tcp", "enforce", ...
  const uint64_t* values = nullptr;
  size_t size = 0;
  std::string_view (*name)(size_t i) = nullptr;
};

// The counter groups of one pipeline. Built once (before readers start), then read-only: any
// thread may walk it while the owners write the values.
class Registry {
 public:
  void add(const Group& g) { groups_.push_back(g); }
  std::span<const Group> groups() const { return groups_; }
  // fn(stage, counter name, value) for every counter of every group, in registration order.
  // Cost: one relaxed load per counter.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Group& g : groups_) {
      for (size_t i = 0; i < g.size; ++i) {
        fn(g.stage, g.name(i), load(g.values[i]));
      }
    }
  }
  // The value of `stage`'s counter `name`, or 0 (tests, reports). Cost: O(counters).
  uint64_t value(std::string_view stage, std::string_view name) const {
    uint64_t v = 0;
    for_each([&](std::string_view s, std::string_view n, uint64_t x) {
      if (s == stage && n == name) {
        v = x;
      }
    });
    return v;
  }

 private:
  std::vector<Group> groups_;
};

}  // namespace smtpgw::stats
