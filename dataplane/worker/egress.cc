// Last stage: TTL, route, next-hop MAC, VLAN tag, per-port TX buffer, burst transmit.
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstring>

#include "dataplane/packet/checksum.h"
#include "dataplane/worker/worker.h"

namespace smtpgw::worker {

void Worker::forward(rte_mbuf* m, const packet::ParsedPacket& p, uint64_t now) {
  using namespace packet;
  uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*) + p.l3_offset;
  route::NextHop nh;
  if (!t_.routes.lookup(load_be32(ip + 16), &nh)) {
    return drop(m, Counter::no_route);
  }
  // TTL is the high byte of the TTL/protocol word.
  const uint16_t old_word = load_be16(ip + 8);
  --ip[8];
  store_be16(ip + 10, checksum_update16(load_be16(ip + 10), old_word, load_be16(ip + 8)));
  send_to(m, nh.port, nh.ip, now);
}

void Worker::send_to(rte_mbuf* m, uint16_t port, uint32_t next_hop, uint64_t now) {
  packet::MacAddr mac;
  if (t_.neighbors->lookup(next_hop, port, now, t_.arp_ttl, &mac) !=
      arp::NeighborTable::Lookup::kResolved) {
    return hold_for_arp(m, port, next_hop, now);
  }
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  packet::store_mac(frame, mac);
  packet::store_mac(frame + 6, t_.ports[port].mac);
  transmit(m, port);
}

void Worker::transmit(rte_mbuf* m, uint16_t port) {
  const uint16_t vlan = t_.ports[port].vlan;
  if (vlan != 0) [[unlikely]] {
    uint8_t* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, packet::kVlanTagLen));
    if (frame == nullptr) {
      return drop(m, Counter::tx_no_headroom);
    }
    std::memmove(frame, frame + packet::kVlanTagLen, 12);
    packet::store_be16(frame + 12, packet::kEtherTypeVlan);
    packet::store_be16(frame + 14, vlan);
  }
  TxBuffer& b = tx_[port];
  b.pkts[b.n++] = m;
  b.bytes += m->pkt_len;
  if (b.n == t_.burst || b.n == kMaxBurst) {
    transmit(port);
  }
}

void Worker::flush_tx() {
  for (uint16_t port : t_.port_ids) {
    if (tx_[port].n != 0) {
      transmit(port);
    }
  }
}

// The bytes sent are the queued bytes less the refused packets': the sent mbufs belong to the
// driver once tx_burst returns and may already be reused, so they are never read again.
void Worker::transmit(uint16_t port) {
  TxBuffer& b = tx_[port];
  const uint16_t sent = rte_eth_tx_burst(port, cfg_.index, b.pkts, b.n);
  uint32_t bytes = b.bytes;
  if (sent < b.n) [[unlikely]] {
    for (uint16_t i = sent; i < b.n; ++i) {
      bytes -= b.pkts[i]->pkt_len;
    }
    stats_->add(Counter::tx_refused, b.n - sent);
    rte_pktmbuf_free_bulk(b.pkts + sent, b.n - sent);
  }
  stats_->add(Counter::tx_packets, sent);
  stats_->add(Counter::tx_bytes, bytes);
  b.n = 0;
  b.bytes = 0;
}

}  // namespace smtpgw::worker
