// Inside → outside. TCP to an SMTP port gets a SNAT binding on SYN (the egress address chosen
// by rendezvous hash of the inside host over the pool's active addresses) and is translated;
// other traffic is forwarded, NATed or dropped by configuration.
#include <rte_mbuf.h>

#include "dataplane/packet/checksum.h"
#include "dataplane/worker/worker.h"

namespace smtpgw::worker {

using packet::kProtoIcmp;
using packet::kProtoTcp;
using packet::kProtoUdp;

namespace {

// Rewrites the source address and port of an IPv4 TCP/UDP packet (or the ICMP echo id) with
// incremental checksum updates (RFC 1624): O(1) whatever the packet size.
void rewrite_source(uint8_t* frame, const packet::ParsedPacket& p, uint32_t new_ip,
                    uint16_t new_port) {
  using namespace packet;
  uint8_t* ip = frame + p.l3_offset;
  uint8_t* l4 = frame + p.l4_offset;
  store_be16(ip + 10, checksum_update32(load_be16(ip + 10), p.src4, new_ip));
  store_be32(ip + 12, new_ip);
  switch (p.l4_proto) {
    case kProtoTcp: {
      uint16_t c = checksum_update32(load_be16(l4 + 16), p.src4, new_ip);
      store_be16(l4 + 16, checksum_update16(c, p.sport, new_port));
      store_be16(l4, new_port);
      break;
    }
    case kProtoUdp: {
      if (load_be16(l4 + 6) != 0) {
        uint16_t c = checksum_update32(load_be16(l4 + 6), p.src4, new_ip);
        c = checksum_update16(c, p.sport, new_port);
        store_be16(l4 + 6, c == 0 ? 0xffff : c);  // 0 means "no checksum" in UDP
      }
      store_be16(l4, new_port);
      break;
    }
    case kProtoIcmp:
      store_be16(l4 + 2, checksum_update16(load_be16(l4 + 2), p.sport, new_port));
      store_be16(l4 + 4, new_port);
      break;
  }
}

}  // namespace

// Answers a SYN with RST|ACK in its own mbuf (RFC 9293 3.10.7.1: the ACK acknowledges the SYN,
// the RST's sequence number is 0), back out of the port it came in. A full binding table, or a
// pool with no address to give, is then visible to the client at once, as a refused connection,
// rather than as SYN timeouts. The caller counts why.
void Worker::refuse_syn(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p) {
  using namespace packet;
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip = frame + p.l3_offset;
  uint8_t* tcp = frame + p.l4_offset;
  const uint32_t ihl = p.l4_offset - p.l3_offset;
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - (p.l4_offset + 20)));
  store_be16(ip + 2, static_cast<uint16_t>(ihl + 20));
  store_be32(ip + 12, p.dst4);
  store_be32(ip + 16, p.src4);
  ip[8] = 64;
  store_be16(tcp, p.dport);
  store_be16(tcp + 2, p.sport);
  store_be32(tcp + 4, 0);
  store_be32(tcp + 8, p.tcp_seq + 1 + p.payload_len);
  tcp[12] = 0x50;
  tcp[13] = kTcpRst | kTcpAck;
  store_be16(tcp + 14, 0);
  store_be16(tcp + 18, 0);
  finish_ipv4_tcp_checksums(ip);
  const MacAddr peer = load_mac(frame + 6);
  store_mac(frame, peer);
  store_mac(frame + 6, t_.ports[port].mac);
  transmit(m, port);
}

// Translates the packet; returns its binding, or nullptr when it was dropped or answered (and
// counted). `port` is where it came in.
flow::Binding* Worker::snat(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p,
                            uint64_t now) {
  const bool echo = p.l4_proto == kProtoIcmp && p.icmp_type == 8;
  if (!p.has_l4 || (p.l4_proto == kProtoIcmp && !echo)) {
    drop(m, Counter::other_traffic_dropped);
    return nullptr;
  }
  const flow::FlowKey key{p.src4, p.dst4, p.sport, echo ? uint16_t{0} : p.dport, p.l4_proto};
  flow::Binding* b = nat_.lookup_inside(key);
  if (b == nullptr) {
    const bool tcp = p.l4_proto == kProtoTcp;
    if (tcp && (p.tcp_flags & (packet::kTcpSyn | packet::kTcpAck)) != packet::kTcpSyn) {
      drop(m, Counter::nat_no_binding_out);
      return nullptr;
    }
    // The policy picks the pool of an inspected connection (a steered host or pair leaves
    // from high risk); else the host's own: the named pool bound to it, or normal. Without a
    // high-risk pool everything leaves from its own. The address comes from the pool's
    // published states: an active one, or the fallback's.
    const flow::PoolState* pools = t_.pools != nullptr ? t_.pools->read() : nullptr;
    if (pools == nullptr) {
      drop(m, Counter::nat_no_pool_address);
      return nullptr;
    }
    const bool high_risk = tcp && inspector_ != nullptr && pools->has_high_risk() &&
                           decisions().pool_for(endpoint_v4(p.src4, p.sport),
                                                endpoint_v4(p.dst4, p.dport)) ==
                               inspect::EgressPool::kHighRisk;
    const flow::PoolId pool = high_risk ? flow::kHighRiskPool : pools->pool_of_host(p.src4);
    bool fell_back = false;
    const uint32_t egress = flow::rendezvous_pick(p.src4, pools->candidates(pool, &fell_back));
    if (egress == 0) {
      if (tcp) {
        stats_->add(Counter::nat_no_active_address);
        refuse_syn(m, port, p);
      } else {
        drop(m, Counter::nat_no_pool_address);
      }
      return nullptr;
    }
    if (fell_back) {
      stats_->add(Counter::nat_fallback_listed);
    }
    switch (nat_.create(key, egress, pool, now, &b)) {
      case flow::CreateResult::kOk:
        stats_->add(Counter::nat_created);
        if (high_risk) {
          stats_->add(Counter::nat_high_risk);
        } else if (pool != flow::kNormalPool) {
          stats_->add(Counter::nat_named_pool);
        }
        break;
      case flow::CreateResult::kTableFull:
        if (tcp) {
          stats_->add(Counter::nat_table_full);
          refuse_syn(m, port, p);  // the client learns at once, instead of retrying its SYN
        } else {
          drop(m, Counter::nat_table_full);
        }
        return nullptr;
      case flow::CreateResult::kPortsExhausted:
        drop(m, Counter::nat_ports_exhausted);
        return nullptr;
      case flow::CreateResult::kUnknownEgress:
        drop(m, Counter::nat_no_pool_address);
        return nullptr;
    }
  }
  if (p.l4_proto == kProtoTcp && !b->inspected) {
    flow::NatTable::track_tcp(b, p.tcp_flags, true, now);
  } else {
    b->last_seen = now;  // an inspected binding's state follows its inspection (inspect.cc)
  }
  rewrite_source(rte_pktmbuf_mtod(m, uint8_t*), p, b->egress_ip, b->nat_port);
  stats_->add(Counter::nat_translated_out);
  return b;
}

void Worker::from_inside(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now) {
  const bool smtp = p.l4_proto == kProtoTcp && (p.has_l4 || p.is_fragment) &&
                    (!p.has_l4 || t_.smtp_ports.test(p.dport));
  if (p.is_fragment && p.l4_proto == kProtoTcp) {
    // Without reassembly a fragment cannot be matched to its binding; TCP stacks set DF and use
    // path MTU discovery, so SMTP never needs fragments.
    return drop(m, Counter::smtp_fragment);
  }
  if (smtp) {
    if (flow::Binding* b = snat(m, port, p, now)) {
      if (inspector_ == nullptr || inspect_segment(m, b, p, tcp::Direction::kClientToServer, now)) {
        forward(m, p, now);
      }
    }
    return;
  }
  switch (t_.other_traffic) {
    case OtherTraffic::kForward:
      stats_->add(Counter::forwarded);
      return forward(m, p, now);
    case OtherTraffic::kNat:
      if (!p.is_fragment && snat(m, port, p, now) != nullptr) {
        forward(m, p, now);
      } else if (p.is_fragment) {
        drop(m, Counter::other_traffic_dropped);
      }
      return;
    case OtherTraffic::kDrop:
      return drop(m, Counter::other_traffic_dropped);
  }
}

}  // namespace smtpgw::worker
