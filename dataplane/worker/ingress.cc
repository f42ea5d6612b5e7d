// Stage 1–2: RX burst, L2 checks, parse, dispatch by the port's role.
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include <cstring>

#include "dataplane/worker/worker.h"

namespace smtpgw::worker {

using packet::ParsedPacket;
using packet::ParseResult;

uint16_t Worker::m_port(const rte_mbuf* m) { return m->port; }

uint32_t Worker::poll_once(uint64_t now) {
  uint32_t received = 0;
  rte_mbuf* burst[kMaxBurst];
  for (uint16_t port : t_.port_ids) {
    if (cfg_.index >= t_.ports[port].rx_queues) {
      continue;  // fewer queues than workers on this port: another worker polls it
    }
    const uint16_t n = rte_eth_rx_burst(port, cfg_.index, burst, t_.burst);
    received += n;
    stats_->add(Counter::rx_packets, n);
    // Two passes over the burst: classify every packet and prefetch the flow-index slot it
    // will need, then act; the index cache misses of a burst overlap instead of queueing.
    packet::ParsedPacket parsed[kMaxBurst];
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) {
      if (i + 1 < n) {
        rte_prefetch0(rte_pktmbuf_mtod(burst[i + 1], void*));
      }
      bytes += burst[i]->pkt_len;  // before classify, which may free the mbuf
      if (!classify(burst[i], port, &parsed[i])) {
        burst[i] = nullptr;
      } else {
        prefetch_binding(port, parsed[i]);
      }
    }
    stats_->add(Counter::rx_bytes, bytes);
    for (uint16_t i = 0; i < n; ++i) {
      if (burst[i] != nullptr) {
        act(burst[i], port, parsed[i], now);
      }
    }
  }
  if (!t_.handoff.empty()) {
    rte_mbuf* handed[kMaxBurst];
    const unsigned n = rte_ring_sc_dequeue_burst(t_.handoff[cfg_.index],
                                                 reinterpret_cast<void**>(handed), t_.burst, nullptr);
    stats_->add(Counter::handoff_received, n);
    received += n;
    for (unsigned i = 0; i < n; ++i) {
      handle(handed[i], handed[i]->port, now);
    }
  }
  if (pending_count_ != 0) {
    service_pending(now);
  }
  if (now >= next_expire_) {
    // One sweep of the pool per expire_sweep, in 1,000 slices.
    const uint32_t slice = nat_.capacity() / 1000 + 1;
    stats_->add(Counter::nat_expired,
                nat_.expire(now, slice, {inspector_ != nullptr ? &Worker::on_expire : nullptr, this}));
    stats_->set_bindings(nat_.size());
    next_expire_ = now + cfg_.expire_sweep / 1000;
  }
  if (inspector_ != nullptr) {
    inspector_->refresh_rules();  // a newly published rule set: idle scan contexts move to it
  }
  flush_tx();
  return received;
}

void Worker::run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    const uint64_t now = rte_rdtsc();
    if (poll_once(now) != 0) {
      // One more TSC read per poll that found packets, none in an idle one: the load is the
      // share of the worker's time spent on packets.
      stats_->add(Counter::busy_cycles, rte_rdtsc() - now);
    }
    // No pointer into a published snapshot outlives a loop: the old pool states may go.
    if (t_.qsbr != nullptr) {
      t_.qsbr->quiescent(cfg_.qsbr_reader);
    }
  }
  flush_tx();
  if (t_.qsbr != nullptr) {
    t_.qsbr->offline(cfg_.qsbr_reader);  // a stopped worker holds nothing back
  }
}

void Worker::handle(rte_mbuf* m, uint16_t port, uint64_t now) {
  packet::ParsedPacket p;
  if (classify(m, port, &p)) {
    act(m, port, p, now);
  }
}

void Worker::prefetch_binding(uint16_t port, const packet::ParsedPacket& p) const {
  if (p.l3 != packet::L3::kIpv4 || !p.has_l4) {
    return;
  }
  if (t_.ports[port].role == Role::kInside) {
    nat_.prefetch_inside({p.src4, p.dst4, p.sport, p.dport, p.l4_proto});
  } else {
    nat_.prefetch_outside(p.src4, p.sport, p.dst4, p.dport, p.l4_proto);
  }
}

// L2 checks and parse. Returns false when the packet was dropped (and counted).
bool Worker::classify(rte_mbuf* m, uint16_t port, packet::ParsedPacket* out) {
  if (!rte_pktmbuf_is_contiguous(m)) {
    drop(m, Counter::multi_segment);
    return false;
  }
  const PortRuntime& pr = t_.ports[port];
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint32_t len = rte_pktmbuf_data_len(m);
  if (len >= packet::kEthHeaderLen) {
    const packet::MacAddr dst = packet::load_mac(frame);
    if (!(dst == pr.mac) && !dst.is_broadcast()) {
      drop(m, dst.is_multicast() ? Counter::l2_multicast : Counter::not_for_us);
      return false;
    }
    // Strip the port's VLAN tag so every later stage sees an untagged frame; egress re-tags.
    if (packet::load_be16(frame + 12) == packet::kEtherTypeVlan && len >= 18) {
      if ((packet::load_be16(frame + 14) & 0x0fff) != pr.vlan) {
        drop(m, Counter::vlan_mismatch);
        return false;
      }
      std::memmove(frame + packet::kVlanTagLen, frame, 12);
      frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_adj(m, packet::kVlanTagLen));
      len -= packet::kVlanTagLen;
    } else if (pr.vlan != 0) {
      drop(m, Counter::vlan_mismatch);
      return false;
    }
  }
  packet::ParseOptions opts;
  opts.ip_checksum_verified =
      (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  opts.l4_checksum_verified =
      (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  const ParseResult r = packet::parse_frame(frame, len, opts, out);
  if (r != ParseResult::kOk) [[unlikely]] {
    stats_->add_parse(static_cast<int>(r));
    rte_pktmbuf_free(m);
    return false;
  }
  stats_->add_parse(0);
  return true;
}

void Worker::act(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now) {
  const PortRuntime& pr = t_.ports[port];
  switch (p.l3) {
    case packet::L3::kArp:
      return on_arp(m, port, p, now);
    case packet::L3::kIpv6:
      return drop(m, Counter::ipv6_not_routed);
    case packet::L3::kIpv4:
      break;
    case packet::L3::kNone:
      return drop(m, Counter::no_l3);
  }
  if (t_.port_owning(p.dst4) != kMaxPorts) {
    return to_local(m, port, p, now);
  }
  // Checked before any state is created: a packet that cannot be forwarded makes no binding.
  if (p.ttl <= 1) {
    return drop(m, Counter::ttl_exceeded);
  }
  if (pr.role == Role::kInside) {
    return from_inside(m, port, p, now);
  }
  return from_outside(m, port, p, now);
}

void Worker::drop(rte_mbuf* m, Counter why) {
  stats_->add(why);
  rte_pktmbuf_free(m);
}

}  // namespace smtpgw::worker
