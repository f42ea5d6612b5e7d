// Outside → inside: packets to a pool address are replies of a binding; they are handed to the
// worker that owns the NAT port if RSS delivered them elsewhere, then translated back.
// Packets to the gateway's own addresses: ICMP echo is answered, the rest dropped and counted.
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/packet/checksum.h"
#include "dataplane/worker/worker.h"

namespace smtpgw::worker {

using packet::kProtoIcmp;
using packet::kProtoTcp;
using packet::kProtoUdp;

namespace {

void rewrite_destination(uint8_t* frame, const packet::ParsedPacket& p, uint32_t new_ip,
                         uint16_t new_port) {
  using namespace packet;
  uint8_t* ip = frame + p.l3_offset;
  uint8_t* l4 = frame + p.l4_offset;
  store_be16(ip + 10, checksum_update32(load_be16(ip + 10), p.dst4, new_ip));
  store_be32(ip + 16, new_ip);
  switch (p.l4_proto) {
    case kProtoTcp: {
      uint16_t c = checksum_update32(load_be16(l4 + 16), p.dst4, new_ip);
      store_be16(l4 + 16, checksum_update16(c, p.dport, new_port));
      store_be16(l4 + 2, new_port);
      break;
    }
    case kProtoUdp: {
      if (load_be16(l4 + 6) != 0) {
        uint16_t c = checksum_update32(load_be16(l4 + 6), p.dst4, new_ip);
        c = checksum_update16(c, p.dport, new_port);
        store_be16(l4 + 6, c == 0 ? 0xffff : c);
      }
      store_be16(l4 + 2, new_port);
      break;
    }
    case kProtoIcmp:  // echo reply: the identifier carries the NAT port
      store_be16(l4 + 2, checksum_update16(load_be16(l4 + 2), p.sport, new_port));
      store_be16(l4 + 4, new_port);
      break;
  }
}

}  // namespace

void Worker::from_outside(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now) {
  if (!t_.is_pool_address(p.dst4)) {
    stats_->add(Counter::forwarded);
    return forward(m, p, now);  // routed traffic toward inside hosts (other_traffic: forward)
  }
  const bool echo_reply = p.l4_proto == kProtoIcmp && p.icmp_type == 0;
  if (!p.has_l4 || (p.l4_proto == kProtoIcmp && !echo_reply)) {
    return drop(m, Counter::nat_no_binding_in);
  }
  // For TCP/UDP the NAT port is the destination port; for an echo reply, the identifier.
  const uint16_t nat_port = echo_reply ? p.sport : p.dport;
  const uint16_t owner = nat_.owner_of_port(nat_port);
  if (owner != cfg_.index && owner < t_.worker_count && !t_.handoff.empty()) {
    // The owner handles it as received on this port; not every PMD fills mbuf->port.
    m->port = port;
    if (rte_ring_mp_enqueue(t_.handoff[owner], m) != 0) {
      return drop(m, Counter::handoff_ring_full);
    }
    stats_->add(Counter::handoff_sent);
    return;
  }
  flow::Binding* b = nat_.lookup_outside(p.src4, echo_reply ? uint16_t{0} : p.sport, p.dst4,
                                         nat_port, p.l4_proto);
  if (b == nullptr) {
    return drop(m, Counter::nat_no_binding_in);
  }
  if (p.l4_proto == kProtoTcp) {
    if (!b->inspected) {
      flow::NatTable::track_tcp(b, p.tcp_flags, false, now);
    } else if (b->last_seen = now; !inspect_segment(m, b, p, tcp::Direction::kServerToClient, now)) {
      return;
    }
  } else {
    b->last_seen = now;
  }
  rewrite_destination(rte_pktmbuf_mtod(m, uint8_t*), p, b->inside.src_ip, b->inside.src_port);
  stats_->add(Counter::nat_translated_in);
  packet::ParsedPacket q = p;
  q.dst4 = b->inside.src_ip;
  forward(m, q, now);
}

void Worker::to_local(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now) {
  (void)now;
  if (p.l4_proto != kProtoIcmp || p.icmp_type != 8 || p.is_fragment) {
    return drop(m, Counter::local_dropped);
  }
  using namespace packet;
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip = frame + p.l3_offset;
  uint8_t* icmp = frame + p.l4_offset;
  // Echo reply in place: swap addresses (the IP checksum is unchanged by a swap), type 8 → 0.
  store_be32(ip + 12, p.dst4);
  store_be32(ip + 16, p.src4);
  icmp[0] = 0;
  store_be16(icmp + 2, checksum_update16(load_be16(icmp + 2), 0x0800, 0x0000));
  MacAddr peer = load_mac(frame + 6);
  store_mac(frame, peer);
  store_mac(frame + 6, t_.ports[port].mac);
  stats_->add(Counter::local_echo_replied);
  transmit(m, port);
}

}  // namespace smtpgw::worker
