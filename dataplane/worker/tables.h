// What every worker reads and nobody writes after start: ports, routes, pool addresses, SMTP
// ports; the pools' states are the one published part (a snapshot swapped at run time).
// Built by the control plane (control/app) before the workers launch. The neighbour table is
// the one shared structure workers write (lock-free, see arp/neighbor_table.h).
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <vector>

#include "dataplane/arp/neighbor_table.h"
#include "dataplane/flow/address_index.h"
#include "dataplane/flow/pool_state.h"
#include "dataplane/packet/wire.h"
#include "dataplane/publish/publisher.h"
#include "dataplane/route/route_table.h"

struct rte_ring;

namespace smtpgw::worker {

inline constexpr uint16_t kMaxPorts = 32;  // RTE_MAX_ETHPORTS in Debian's build

enum class Role : uint8_t { kUnused, kInside, kOutside };
enum class OtherTraffic : uint8_t { kForward, kNat, kDrop };

struct PortRuntime {
  Role role = Role::kUnused;
  packet::MacAddr mac{};
  uint32_t address = 0;      // the gateway's own address on this port (host order)
  uint32_t prefix = 0;       // connected prefix (masked)
  uint8_t prefix_len = 0;
  uint16_t vlan = 0;
  uint16_t rx_queues = 0;
  bool rx_ip_checksum = false;
  bool rx_l4_checksum = false;
};

struct Tables {
  std::array<PortRuntime, kMaxPorts> ports{};
  std::vector<uint16_t> port_ids;          // the ports in use
  route::RouteTable routes;
  arp::NeighborTable* neighbors = nullptr;
  // The pools' addresses and their states, published by the control plane; read at each SYN
  // (a worker reports a quiescent point to `qsbr` after every poll loop, as reader
  // WorkerConfig::qsbr_reader). Set by the gateway's build; must outlive the workers.
  const publish::Publisher<flow::PoolState>* pools = nullptr;
  publish::Qsbr* qsbr = nullptr;
  std::vector<uint32_t> all_pool;          // every configured pool address, any state: the
                                           // NAT's egress addresses for the gateway's life
  flow::AddressIndex pool_index;           // all_pool, hashed: looked up per outside packet
  std::bitset<65536> smtp_ports;
  OtherTraffic other_traffic = OtherTraffic::kForward;
  uint16_t worker_count = 1;
  std::vector<rte_ring*> handoff;          // one per worker: replies owned by that worker
  // Clock: TSC ticks.
  uint64_t tsc_hz = 0;
  uint64_t arp_ttl = 0, arp_retry = 0, arp_give_up = 0;
  uint32_t arp_pending_max = 256;
  uint16_t burst = 32;

  bool is_pool_address(uint32_t ip) const { return pool_index.contains(ip); }
  // The port whose own address is `ip`, or kMaxPorts.
  uint16_t port_owning(uint32_t ip) const {
    for (uint16_t p : port_ids) {
      if (ports[p].address == ip) {
        return p;
      }
    }
    return kMaxPorts;
  }
};

}  // namespace smtpgw::worker
