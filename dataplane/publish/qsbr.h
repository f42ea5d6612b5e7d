// Quiescent-state-based reclamation (QSBR), modelled on DPDK's rte_rcu_qsbr but written on
// std::atomic so it builds without DPDK (the ThreadSanitizer build).
//
// Readers (workers) register once, read published snapshots without locks, and report a
// quiescent point whenever they hold no pointer obtained from a read() (between bursts, or
// between messages). The writer (control plane) retires an old snapshot with a token; the
// snapshot may be freed once every registered, online reader has reported a quiescent point
// after the token was taken.
//
// Tokens: a 64-bit counter that only grows. A reader slot holds the last token the reader
// saw at a quiescent point, or kOffline. The writer's check for token T passes when every
// slot is kOffline or >= T.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

namespace smtpgw::publish {

class Qsbr {
 public:
  // Fixed capacity: a worker count above this is a start-up configuration error.
  static constexpr unsigned kMaxReaders = 128;

  Qsbr();
  Qsbr(const Qsbr&) = delete;
  Qsbr& operator=(const Qsbr&) = delete;

  // Claims a reader slot and puts it online. Returns nullopt when all kMaxReaders slots are
  // taken. Any thread; call on the reader thread before its first read(). Cost: O(kMaxReaders).
  std::optional<unsigned> register_reader();
  // Frees the slot (the reader must hold no snapshot pointer any more). Any thread.
  void unregister_reader(unsigned id);

  // An offline reader does not hold back reclamation (a worker that idles or blocks). While
  // offline it must not read. Reader thread only. online() costs one seq_cst store + fence.
  void offline(unsigned id);
  void online(unsigned id);

  // Hot path, reader thread only: "I hold no pointer from read() any more". One relaxed-ish
  // load and one release store, no RMW, no fence.
  void quiescent(unsigned id) {
    // acquire: once we see the writer's token, we also see the pointer it swapped before
    // taking that token, so our next read() returns the new snapshot.
    const uint64_t t = token_.load(std::memory_order_acquire);
    // release: every access we made to the old snapshot happens-before the writer's acquire
    // load of this slot that lets it free the snapshot.
    slots_[id].seen.store(t, std::memory_order_release);
  }

  // Writer: starts a grace period after the pointer swap and returns its token. seq_cst
  // orders it after the swap (also seq_cst) against readers coming online.
  uint64_t start_grace();
  // Writer: true when every online reader reported a quiescent point at or after `token`.
  // Cost: O(kMaxReaders) loads. Any thread (typically the control thread that retires).
  bool passed(uint64_t token) const;

  unsigned reader_count() const;

 private:
  static constexpr uint64_t kOffline = 0;
  struct alignas(64) Slot {
    std::atomic<uint64_t> seen{kOffline};
    std::atomic<bool> used{false};
  };
  alignas(64) std::atomic<uint64_t> token_{1};
  std::array<Slot, kMaxReaders> slots_;
};

}  // namespace smtpgw::publish
