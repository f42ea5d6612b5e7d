#include "dataplane/port/port.h"

#include <rte_errno.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cstring>

namespace smtpgw::port {

namespace {

std::string fail(const char* what, int rc) {
  return std::string(what) + " failed: " + rte_strerror(rc < 0 ? -rc : rc);
}

}  // namespace

std::optional<uint16_t> find_port(const std::string& device, std::optional<uint16_t> index) {
  if (index) {
    return rte_eth_dev_is_valid_port(*index) ? index : std::nullopt;
  }
  uint16_t id;
  if (rte_eth_dev_get_port_by_name(device.c_str(), &id) == 0) {
    return id;
  }
  return std::nullopt;
}

std::optional<PortInfo> start_port(const PortSetup& s, std::string* error) {
  rte_eth_dev_info info;
  int rc = rte_eth_dev_info_get(s.port_id, &info);
  if (rc != 0) {
    *error = fail("rte_eth_dev_info_get", rc);
    return std::nullopt;
  }
  PortInfo out;
  out.driver = info.driver_name ? info.driver_name : "?";
  const uint16_t rxq = std::min<uint16_t>(s.rx_queues, std::max<uint16_t>(info.max_rx_queues, 1));
  const uint16_t txq = s.tx_queues;
  if (txq > info.max_tx_queues) {
    *error = "port needs " + std::to_string(txq) + " TX queues (one per worker) but " + out.driver +
             " offers " + std::to_string(info.max_tx_queues);
    return std::nullopt;
  }
  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof conf);
  // Use the port's checksum verification when it has one; the parser checks in software otherwise.
  const uint64_t want_rx = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
                           RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  conf.rxmode.offloads = info.rx_offload_capa & want_rx;
  if (rxq > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  }
  rc = rte_eth_dev_configure(s.port_id, rxq, txq, &conf);
  if (rc != 0) {
    *error = fail("rte_eth_dev_configure", rc);
    return std::nullopt;
  }
  uint16_t nb_rxd = s.rx_descriptors, nb_txd = s.tx_descriptors;
  rte_eth_dev_adjust_nb_rx_tx_desc(s.port_id, &nb_rxd, &nb_txd);
  const int socket = rte_eth_dev_socket_id(s.port_id);
  const unsigned sock = socket < 0 ? 0 : static_cast<unsigned>(socket);
  for (uint16_t q = 0; q < rxq; ++q) {
    rte_eth_rxconf rxc = info.default_rxconf;
    rxc.offloads = conf.rxmode.offloads;
    rc = rte_eth_rx_queue_setup(s.port_id, q, nb_rxd, sock, &rxc, s.pool);
    if (rc != 0) {
      *error = fail("rte_eth_rx_queue_setup", rc);
      return std::nullopt;
    }
  }
  for (uint16_t q = 0; q < txq; ++q) {
    rte_eth_txconf txc = info.default_txconf;
    rc = rte_eth_tx_queue_setup(s.port_id, q, nb_txd, sock, &txc);
    if (rc != 0) {
      *error = fail("rte_eth_tx_queue_setup", rc);
      return std::nullopt;
    }
  }
  bool software_mac = false;
  if (s.mac) {
    rte_ether_addr a;
    std::memcpy(a.addr_bytes, s.mac->b, 6);
    rc = rte_eth_dev_default_mac_addr_set(s.port_id, &a);
    if (rc == -ENOTSUP) {
      // Some PMDs (net_pcap) cannot change their address. The gateway then answers ARP and
      // filters frames with the configured MAC itself, which needs promiscuous reception.
      software_mac = true;
    } else if (rc != 0) {
      *error = fail("rte_eth_dev_default_mac_addr_set", rc);
      return std::nullopt;
    }
  }
  rc = rte_eth_dev_start(s.port_id);
  if (rc != 0) {
    *error = fail("rte_eth_dev_start", rc);
    return std::nullopt;
  }
  // The gateway filters by destination MAC itself; promiscuous mode is not needed, and some
  // PMDs (pcap, ring) do not support turning it off: ignore the answer.
  rte_eth_allmulticast_enable(s.port_id);
  if (software_mac) {
    rte_eth_promiscuous_enable(s.port_id);
    out.mac = *s.mac;
    out.software_mac = true;
  } else {
    rte_ether_addr a;
    rte_eth_macaddr_get(s.port_id, &a);
    std::memcpy(out.mac.b, a.addr_bytes, 6);
  }
  out.rx_queues = rxq;
  out.rx_ip_checksum = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  out.rx_l4_checksum = (conf.rxmode.offloads & (RTE_ETH_RX_OFFLOAD_TCP_CKSUM)) != 0;
  return out;
}

void stop_port(uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace smtpgw::port
