// Port set-up: any DPDK ethdev (physical NIC, net_tap, net_pcap, net_ring, net_virtio_user);
// nothing here asks which PMD it is. Called once per port on the main lcore before the workers
// start; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/packet/wire.h"

struct rte_mempool;

namespace smtpgw::port {

struct PortSetup {
  uint16_t port_id = 0;
  uint16_t rx_queues = 1;  // one per worker that polls this port
  uint16_t tx_queues = 1;  // one per worker (every worker may transmit on every port)
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  rte_mempool* pool = nullptr;
  std::optional<packet::MacAddr> mac;  // override the port's own address
};

struct PortInfo {
  packet::MacAddr mac{};
  uint16_t rx_queues = 0;       // what the port accepted (may be fewer than asked)
  bool rx_ip_checksum = false;  // the port verifies IPv4 header checksums
  bool rx_l4_checksum = false;  // the port verifies TCP/UDP checksums
  bool software_mac = false;    // the PMD kept its own MAC; the configured one is used in software
  std::string driver;           // for logs only
};

// Configures queues, sets the MAC if asked, enables promiscuous mode off/allmulticast as
// needed, and starts the port. Returns the port's facts, or nullopt with *error set (the
// rte_* call that failed and its errno text).
std::optional<PortInfo> start_port(const PortSetup& setup, std::string* error);

// Stops and closes the port (flushes PMD state, e.g. net_pcap's output file).
void stop_port(uint16_t port_id);

// Resolves a configured device name ("net_tap0") or index to a port id.
std::optional<uint16_t> find_port(const std::string& device, std::optional<uint16_t> index);

}  // namespace smtpgw::port
