// The per-worker event queue to the control plane: a Boost.Lockfree spsc_queue of fixed
// capacity (allocated at construction), pushed by exactly one worker and popped by exactly one
// control-plane thread. A push never blocks: when the queue is full the event is dropped and
// counted per kind; the control plane then reconciles from the sender table (reconcile.h),
// where every threshold crossing and restriction is also recorded.
#pragma once

#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>

#include "contract/events.h"

namespace smtpgw::count {

class EventQueue {
 public:
  // capacity: events (each sizeof(events::Event) = 256 bytes). Start-up only (allocates).
  explicit EventQueue(size_t capacity, uint8_t worker = 0)
      : q_(capacity), capacity_(capacity), worker_(worker) {}

  // Worker thread only. Stamps the worker index. Cost: one copy of 256 bytes + two atomics.
  // Returns false (and counts overflow for e.kind) when the queue is full.
  bool push(events::Event e) {
    e.worker = worker_;
    if (q_.push(e)) {
      return true;
    }
    // Single writer: load+store instead of fetch_add (no locked instruction on the worker);
    // atomic so the control plane may read it at any time.
    auto& c = overflow_[static_cast<int>(e.kind)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }

  // Control-plane thread only. Returns false when empty.
  bool pop(events::Event& out) { return q_.pop(out); }
  // Events waiting now (a lower bound while the worker pushes). Control-plane thread only (the
  // consumer's view of the ring).
  size_t depth() const { return q_.read_available(); }
  size_t capacity() const { return capacity_; }

  // Any thread.
  uint64_t overflow(events::EventKind k) const {
    return overflow_[static_cast<int>(k)].load(std::memory_order_relaxed);
  }
  uint64_t overflow_total() const {
    uint64_t n = 0;
    for (const auto& c : overflow_) {
      n += c.load(std::memory_order_relaxed);
    }
    return n;
  }
  uint8_t worker() const { return worker_; }

 private:
  boost::lockfree::spsc_queue<events::Event> q_;
  size_t capacity_;
  uint8_t worker_;
  std::atomic<uint64_t> overflow_[events::kEventKindCount] = {};
};

}  // namespace smtpgw::count
