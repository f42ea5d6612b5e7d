// ARP: answer for our addresses and every pool address, learn neighbours, and hold packets
// whose next hop is not resolved yet (bounded ring; counted when full or never answered).
#include <rte_mbuf.h>

#include "dataplane/arp/arp_frame.h"
#include "dataplane/worker/worker.h"

namespace smtpgw::worker {

void Worker::on_arp(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now) {
  const PortRuntime& pr = t_.ports[port];
  const bool in_subnet = (p.arp_spa & route::prefix_mask(pr.prefix_len)) == pr.prefix;
  // Learn from any ARP whose sender sits on this port's subnet: replies to our requests, and
  // requests, whose sender will talk to us next.
  if (in_subnet && p.arp_spa != 0 && !p.arp_sha.is_multicast()) {
    if (t_.neighbors->learn(p.arp_spa, port, p.arp_sha, now)) {
      stats_->add(Counter::arp_learned);
    } else {
      stats_->add(Counter::arp_table_full);
    }
  }
  const bool ours = p.arp_tpa == pr.address || (pr.role == Role::kOutside && t_.is_pool_address(p.arp_tpa));
  if (p.arp_op == 1 && ours) {
    // Answer in place: the request's buffer becomes the reply.
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t len = arp::build_reply(frame, pr.mac, p.arp_tpa, p.arp_sha, p.arp_spa, 0);
    rte_pktmbuf_data_len(m) = static_cast<uint16_t>(len);
    rte_pktmbuf_pkt_len(m) = len;
    stats_->add(Counter::arp_request_answered);
    return transmit(m, port);
  }
  if (p.arp_op != 2 || !in_subnet) {
    stats_->add(Counter::arp_ignored);
  }
  rte_pktmbuf_free(m);
}

void Worker::send_arp_request(uint16_t port, uint32_t target, uint64_t now) {
  if (!t_.neighbors->should_request(target, port, now, t_.arp_retry)) {
    return;
  }
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    return;  // pool exhausted: the retry timer asks again
  }
  const PortRuntime& pr = t_.ports[port];
  const uint32_t len =
      arp::build_request(rte_pktmbuf_mtod(m, uint8_t*), pr.mac, pr.address, target, 0);
  rte_pktmbuf_data_len(m) = static_cast<uint16_t>(len);
  rte_pktmbuf_pkt_len(m) = len;
  m->port = port;
  stats_->add(Counter::arp_request_sent);
  transmit(m, port);
}

void Worker::hold_for_arp(rte_mbuf* m, uint16_t port, uint32_t next_hop, uint64_t now) {
  if (pending_count_ == t_.arp_pending_max) {
    return drop(m, Counter::arp_pending_full);
  }
  const uint32_t slot = (pending_head_ + pending_count_) % t_.arp_pending_max;
  pending_[slot] = Pending{m, now, next_hop, port};
  ++pending_count_;
  send_arp_request(port, next_hop, now);
}

void Worker::service_pending(uint64_t now) {
  // Each held packet is looked at once per call: sent when resolved, dropped after arp_give_up,
  // otherwise re-queued (ARP requests are rate-limited per address by the neighbour table).
  const uint32_t n = pending_count_;
  for (uint32_t i = 0; i < n; ++i) {
    Pending e = pending_[pending_head_];
    pending_head_ = (pending_head_ + 1) % t_.arp_pending_max;
    --pending_count_;
    packet::MacAddr mac;
    if (t_.neighbors->lookup(e.next_hop, e.port, now, t_.arp_ttl, &mac) ==
        arp::NeighborTable::Lookup::kResolved) {
      uint8_t* frame = rte_pktmbuf_mtod(e.m, uint8_t*);
      packet::store_mac(frame, mac);
      packet::store_mac(frame + 6, t_.ports[e.port].mac);
      transmit(e.m, e.port);
    } else if (now - e.since > t_.arp_give_up) {
      drop(e.m, Counter::arp_unresolved);
    } else {
      const uint32_t slot = (pending_head_ + pending_count_) % t_.arp_pending_max;
      pending_[slot] = e;
      ++pending_count_;
      send_arp_request(e.port, e.next_hop, now);
    }
  }
}

}  // namespace smtpgw::worker
