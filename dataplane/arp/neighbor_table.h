// The neighbour (ARP) table: IPv4 next hop → MAC address, shared by all workers.
//
// Entries are written when any worker sees an ARP packet from a neighbour (or from static
// config at start) and read by every worker on each forwarded packet, so reads are a couple of
// relaxed-then-acquire atomic loads and writes are lock-free CAS on a fixed array. Capacity is
// fixed at construction (no allocation afterwards); when full, new neighbours are refused and
// counted (`full`), and packets for them wait in the caller's pending queue until an entry ages
// out. Any thread may call any method.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/packet/wire.h"

namespace smtpgw::arp {

class NeighborTable {
 public:
  // capacity is rounded up to a power of two, at least 16.
  explicit NeighborTable(uint32_t capacity);

  enum class Lookup : uint8_t { kResolved, kUnresolved };

  // Finds the MAC of `ip` (host order) on `port`. On kResolved, *mac is set. O(1) expected.
  // `now` and `ttl` (same clock units) age out learned entries; static entries never age.
  Lookup lookup(uint32_t ip, uint16_t port, uint64_t now, uint64_t ttl, packet::MacAddr* mac) const;

  // Records that `ip` is at `mac` on `port`. Returns false (and counts it) when the table is full.
  bool learn(uint32_t ip, uint16_t port, const packet::MacAddr& mac, uint64_t now,
             bool is_static = false);

  // Returns true if the caller should send an ARP request for `ip` now: at most one request per
  // `retry` interval per address across all workers (a CAS on the entry's request time).
  bool should_request(uint32_t ip, uint16_t port, uint64_t now, uint64_t retry);

  uint64_t full_count() const { return full_.load(std::memory_order_relaxed); }
  uint32_t size() const;

 private:
  struct Slot {
    // 0 = empty. Written once by CAS (acq_rel), never cleared: an address keeps its slot.
    std::atomic<uint32_t> ip{0};
    // mac (48 bits) | port (15 bits) << 48 | valid bit 63. Release on store so a reader that
    // sees valid also sees the MAC; readers load with acquire.
    std::atomic<uint64_t> mac_port{0};
    std::atomic<uint64_t> updated{0};    // last confirmation (relaxed: advisory for ageing)
    std::atomic<uint64_t> requested{0};  // last ARP request sent (CAS, relaxed: rate limit only)
    std::atomic<bool> is_static{false};
  };

  Slot* find_or_insert(uint32_t ip, bool insert);
  const Slot* find(uint32_t ip) const;

  uint32_t mask_;
  std::unique_ptr<Slot[]> slots_;
  std::atomic<uint64_t> full_{0};  // relaxed: a statistic
};

}  // namespace smtpgw::arp
