// The source-NAT binding table of one worker: inside 5-tuple ↔ (egress address, NAT port).
//
// One instance per worker, used only by that worker's thread (no atomics, no locks). Memory is
// allocated once at construction: the binding pool, two open-addressing indexes (inside key and
// outside key) and one port bitmap per egress address. Nothing allocates afterwards.
//
// Ports: the NAT port range [port_min, port_max] is split evenly between workers; a worker only
// hands out ports from its own slice, so owner_of_port() tells any worker which worker owns a
// reply (the dataplane hands such packets over through a ring). A port is unique per egress
// address (not per remote), so a worker holds at most slice-size bindings per egress address.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/flow/address_index.h"

namespace smtpgw::flow {

// A flow as the inside host sent it (host order). proto is the IP protocol.
struct FlowKey {
  uint32_t src_ip = 0;
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t proto = 0;
  bool operator==(const FlowKey&) const = default;
};

// TCP states as the NAT needs them (for timeouts, not for reassembly):
//   kSynSent     SYN seen from inside, no reply yet          → timeouts.syn
//   kEstablished SYN-ACK seen from outside (or data both ways)→ timeouts.established
//   kClosing     FIN seen in at least one direction          → timeouts.fin
//   kClosed      FIN both ways, or RST either way            → timeouts.closed
//   kOther       UDP / ICMP bindings                          → timeouts.udp / icmp
enum class State : uint8_t { kSynSent, kEstablished, kClosing, kClosed, kOther };

struct Binding {
  FlowKey inside;
  uint32_t egress_ip = 0;
  uint16_t nat_port = 0;
  State state = State::kSynSent;
  uint8_t fin_mask = 0;   // bit 0: FIN from inside, bit 1: FIN from outside
  uint8_t pool = 0;       // which pool the address came from (flow::PoolId: 0 normal, 1 high
                          // risk, 2.. named)
  uint8_t in_use = 0;
  uint8_t inspected = 0;  // the worker keeps an inspection flow in this binding's slot
  uint8_t answered = 0;   // the gateway answered the client and reset the server (refusal)
  uint16_t egress_index = 0;
  uint64_t last_seen = 0; // caller's clock units
  uint32_t next_free = 0;
};

struct Timeouts {  // in the caller's clock units
  uint64_t syn = 0, established = 0, fin = 0, closed = 0, udp = 0, icmp = 0;
};

struct NatTableConfig {
  uint32_t max_bindings = 65536;
  uint16_t port_min = 1024;
  uint16_t port_max = 65535;
  uint16_t worker_index = 0;
  uint16_t worker_count = 1;
  std::vector<uint32_t> egress_addresses;  // every pool address this table may hand out
  Timeouts timeouts;
};

// Outcome of create(); each non-ok value is counted by the worker under the same name.
enum class CreateResult : uint8_t { kOk, kTableFull, kPortsExhausted, kUnknownEgress };

// Called for a binding just before expiry frees it, so its owner can release what it keeps
// beside it (the worker's inspection flow). Must not call back into the table.
struct ExpireHook {
  void (*fn)(void* ctx, Binding& b) = nullptr;
  void* ctx = nullptr;
};

class NatTable {
 public:
  explicit NatTable(const NatTableConfig& cfg);

  // Prefetches the index slot lookup_inside(k) will read first. Call for the packets of a burst
  // before handling them, so their cache misses overlap (the rte_hash_lookup_bulk idea).
  void prefetch_inside(const FlowKey& k) const;
  void prefetch_outside(uint32_t remote_ip, uint16_t remote_port, uint32_t egress_ip,
                        uint16_t nat_port, uint8_t proto) const;

  // The binding for a packet from inside, or nullptr. O(1) expected.
  Binding* lookup_inside(const FlowKey& k);
  const Binding* lookup_inside(const FlowKey& k) const {
    return const_cast<NatTable*>(this)->lookup_inside(k);
  }
  // The binding a reply (from remote_ip:remote_port to egress_ip:nat_port) belongs to, or nullptr.
  Binding* lookup_outside(uint32_t remote_ip, uint16_t remote_port, uint32_t egress_ip,
                          uint16_t nat_port, uint8_t proto);

  // Creates a binding for `k` on `egress_ip` (which must be one of cfg.egress_addresses).
  CreateResult create(const FlowKey& k, uint32_t egress_ip, uint8_t pool, uint64_t now,
                      Binding** out);

  // Advances the TCP state for a segment with `flags` seen in one direction.
  // For a binding nobody inspects; an inspected one takes its state from the inspection's TCP
  // state (the worker's inspect.cc), which accepts an RST only inside the window.
  static void track_tcp(Binding* b, uint8_t tcp_flags, bool from_inside, uint64_t now);

  // Frees the binding and its port.
  void remove(Binding* b);

  // Examines up to `budget` pool slots (a clock hand) and frees expired bindings, calling
  // `hook` for each first. Returns how many were freed. Call it every loop iteration with a
  // small budget.
  uint32_t expire(uint64_t now, uint32_t budget, ExpireHook hook = {});

  // The binding's slot number, 0..capacity()-1: stable for the binding's life, so the owner can
  // keep per-binding state in an array beside the table. O(1).
  uint32_t index_of(const Binding* b) const { return static_cast<uint32_t>(b - pool_.data()); }

  // Visits every binding in use (teardown: its owner releases what it keeps beside it).
  // O(capacity).
  template <class Fn>
  void for_each(Fn&& fn) {
    for (Binding& b : pool_) {
      if (b.in_use) {
        fn(b);
      }
    }
  }

  // Which worker owns `nat_port` (the slice it falls in), or worker_count if outside the range.
  uint16_t owner_of_port(uint16_t nat_port) const;

  uint32_t size() const { return used_; }
  uint32_t capacity() const { return cfg_.max_bindings; }
  // Bytes the table holds, all made at construction: bindings, both indexes, the port bitmaps.
  // O(egress addresses).
  size_t memory_bytes() const;
  uint16_t slice_min() const { return slice_min_; }
  uint16_t slice_max() const { return slice_max_; }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;

  uint32_t find_inside_slot(const FlowKey& k) const;
  uint32_t find_outside_slot(uint32_t remote_ip, uint16_t remote_port, uint32_t egress_ip,
                             uint16_t nat_port, uint8_t proto) const;
  void index_erase(std::vector<uint32_t>& index, uint32_t slot, bool outside);
  uint64_t timeout_of(const Binding& b) const;
  int egress_index_of(uint32_t ip) const;
  bool alloc_port(int egress, uint16_t* port);
  void free_port(int egress, uint16_t port);

  NatTableConfig cfg_;
  uint16_t slice_min_ = 0, slice_max_ = 0, span_ = 0;
  std::vector<Binding> pool_;
  uint32_t free_head_ = kEmpty;
  uint32_t used_ = 0;
  uint32_t hand_ = 0;
  uint32_t index_mask_ = 0;
  std::vector<uint32_t> by_inside_;   // open addressing, linear probing, backward-shift delete
  std::vector<uint32_t> by_outside_;
  std::vector<std::vector<uint64_t>> port_bits_;  // per egress address: 1 = in use
  std::vector<uint32_t> port_cursor_;
  AddressIndex egress_index_;  // cfg_.egress_addresses → their position
};

// Rendezvous (highest random weight) choice of an egress address for an inside host: the host
// keeps its address while the set is stable, and only hosts on a removed address move.
// Returns 0 when `active` is empty. Cost O(active.size()).
uint32_t rendezvous_pick(uint32_t host_ip, std::span<const uint32_t> active);

}  // namespace smtpgw::flow
