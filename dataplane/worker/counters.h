// Every outcome a worker counts: one X-macro list gives the enum, the names used in telemetry
// and on exit, and the descriptions. Per-worker slots are plain writes on the worker's own cache
// lines; readers (telemetry, exit report) sum across workers and tolerate torn-free 64-bit reads.
#pragma once

#include <cstdint>

#include "dataplane/packet/parse.h"
#include "dataplane/stats/registry.h"

namespace smtpgw::worker {

#define SMTPGW_WORKER_COUNTERS(X)                                                           \
  X(rx_packets, "packets received")                                                        \
  X(rx_bytes, "bytes received (frames as the port gave them)")                             \
  X(tx_packets, "packets handed to a port for transmission")                               \
  X(tx_bytes, "bytes of the packets the ports took for transmission")                      \
  X(busy_cycles, "TSC cycles spent in polls that found work (the worker's load)")          \
  X(tx_refused, "packets the port refused (TX ring full); freed")                          \
  X(tx_no_headroom, "dropped: no mbuf headroom to insert the port's VLAN tag")              \
  X(multi_segment, "dropped: frame in chained mbufs (the gateway needs contiguous headers)") \
  X(not_for_us, "dropped: destination MAC is neither ours nor broadcast")                   \
  X(l2_multicast, "dropped: multicast frame (IPv6 neighbour discovery, mDNS, ...)")        \
  X(vlan_mismatch, "dropped: VLAN tag differs from the port's")                             \
  X(ipv6_not_routed, "dropped: IPv6 (parsed and valid, but not routed in this version)")   \
  X(no_l3, "dropped: parsed frame with neither IP nor ARP (the parser refuses these first)") \
  X(arp_request_answered, "ARP requests for our or pool addresses answered")               \
  X(arp_learned, "neighbour entries learned or refreshed from ARP")                        \
  X(arp_ignored, "ARP packets not for us (dropped)")                                       \
  X(arp_request_sent, "ARP requests sent to resolve a next hop")                           \
  X(arp_pending_full, "dropped: next hop unresolved and the pending queue is full")        \
  X(arp_unresolved, "dropped: next hop never answered ARP")                                \
  X(arp_table_full, "neighbour table full: entry not learned")                             \
  X(local_echo_replied, "ICMP echo requests to our addresses answered")                    \
  X(local_dropped, "dropped: addressed to the gateway, not an echo request")               \
  X(ttl_exceeded, "dropped: TTL would reach zero")                                         \
  X(no_route, "dropped: no route to the destination")                                      \
  X(forwarded, "packets routed without translation")                                       \
  X(other_traffic_dropped, "dropped: non-SMTP traffic with other_traffic: drop")           \
  X(smtp_fragment, "dropped: IPv4 fragment of TCP (SMTP cannot be translated in fragments)") \
  X(nat_created, "SNAT bindings created")                                                  \
  X(nat_high_risk, "SNAT bindings on a high-risk address (a steered host or pair)")        \
  X(nat_named_pool, "SNAT bindings on a named pool's address (a host bound to it)")        \
  X(nat_expired, "SNAT bindings expired")                                                  \
  X(nat_table_full, "SYN answered with RST (UDP/ICMP dropped): the binding table is full")   \
  X(nat_ports_exhausted, "dropped: SYN with no free port on the chosen address")           \
  X(nat_no_pool_address, "dropped: UDP/ICMP while the pool has no address to give")        \
  X(nat_no_active_address, "SYN answered with RST: its pool has no active address and the fallback gives none") \
  X(nat_fallback_listed, "new flows given a listed address: their pool had no active one")    \
  X(nat_no_binding_out, "dropped: non-SYN from inside without a binding")                  \
  X(nat_no_binding_in, "dropped: packet to a pool address without a binding")              \
  X(nat_translated_out, "packets translated inside → outside")                             \
  X(nat_translated_in, "packets translated outside → inside")                              \
  X(handoff_sent, "replies handed to the worker owning their NAT port")                    \
  X(handoff_received, "replies received from another worker")                              \
  X(handoff_ring_full, "dropped: the owning worker's handoff ring was full")                \
  X(inspect_held, "client segments not forwarded: past the release limit (held, retransmitted)") \
  X(inspect_cut, "client segments forwarded cut at the release limit")                     \
  X(inspect_server_held, "server segments not forwarded: a possible STARTTLS line not yet complete") \
  X(inspect_server_cut, "server segments forwarded cut before a possible STARTTLS line")    \
  X(inspect_starttls_masked, "server segments forwarded with STARTTLS masked (a copy)")     \
  X(inspect_mask_no_mbuf, "dropped: no mbuf for the masked copy (the server retransmits)")  \
  X(inspect_evasion_dropped, "dropped: client bytes that differ from the inspected copy")   \
  X(inspect_reassembly_full, "dropped: out-of-order segment past the reassembly bound (inspection.segments, or 64 per flow direction); resent by its sender") \
  X(inspect_refusals_answered, "refused sessions answered: reply + 421 to the client, RST to the server") \
  X(inspect_after_refusal, "dropped: segments of a connection the gateway answered itself") \
  X(injected, "segments the gateway wrote itself (replies, resets)")                     \
  X(inject_no_mbuf, "segments the gateway could not write: the mbuf pool was empty")

enum class Counter : uint16_t {
#define SMTPGW_X(name, text) name,
  SMTPGW_WORKER_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};

inline constexpr int kCounterCount = static_cast<int>(Counter::kCount);

// One worker's statistics: its own counters plus one slot per parse outcome (the reasons a
// frame was malformed). Aligned so no two workers share a cache line. Written by the worker's
// thread only, read by any (telemetry, the exit report): every access is a relaxed atomic load
// or store, so readers never see a torn or stale-forever value and the writer pays no RMW (a
// plain load, add and store).
struct alignas(64) WorkerStats {
  uint64_t counters[kCounterCount] = {};
  uint64_t parse[packet::kParseResultCount] = {};
  uint64_t bindings = 0;  // current SNAT bindings (gauge)

  // Writer (the worker's thread).
  void add(Counter c, uint64_t n = 1) { stats::add(counters[static_cast<int>(c)], n); }
  void add_parse(int result) { stats::add(parse[result]); }
  void set_bindings(uint64_t n) { __atomic_store_n(&bindings, n, __ATOMIC_RELAXED); }
  // Any thread.
  uint64_t get(Counter c) const { return stats::load(counters[static_cast<int>(c)]); }
  uint64_t get_parse(int result) const { return stats::load(parse[result]); }
  uint64_t get_bindings() const { return stats::load(bindings); }
};

const char* counter_name(Counter c);
const char* counter_text(Counter c);

}  // namespace smtpgw::worker
