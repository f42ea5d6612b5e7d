// Both directions of an SMTP binding into its inspection flow: the binding's slot holds an
// inspect::Flow from the client's SYN until the binding expires. Segments are handed over with
// their mbuf as owner (one reference each), so the reassembler keeps the bytes it holds or
// retains without a copy and frees the mbuf when it no longer needs them.
#include <rte_mbuf.h>

#include <new>

#include "dataplane/worker/worker.h"

namespace smtpgw::worker {

namespace {

void mbuf_retain(void*, void* owner) { rte_mbuf_refcnt_update(static_cast<rte_mbuf*>(owner), 1); }
void mbuf_release(void*, void* owner) { rte_pktmbuf_free(static_cast<rte_mbuf*>(owner)); }

smtp::Endpoint endpoint_v4(uint32_t ip, uint16_t port) {
  smtp::Endpoint e;
  e.addr[0] = static_cast<uint8_t>(ip >> 24);
  e.addr[1] = static_cast<uint8_t>(ip >> 16);
  e.addr[2] = static_cast<uint8_t>(ip >> 8);
  e.addr[3] = static_cast<uint8_t>(ip);
  e.port = port;
  return e;
}

}  // namespace

void Worker::make_inspection() {
  inspect::Decisions& d = cfg_.decisions != nullptr ? *cfg_.decisions : own_decisions_;
  inspector_ = std::make_unique<inspect::Inspector>(
      cfg_.inspect_config, d, tcp::OwnerOps{mbuf_retain, mbuf_release, nullptr});
  flows_ = std::make_unique<FlowSlot[]>(nat_.capacity());
}

inspect::Flow* Worker::flow_of(const flow::Binding* b) {
  return std::launder(reinterpret_cast<inspect::Flow*>(flows_[nat_.index_of(b)].bytes));
}

void Worker::end_flow(flow::Binding* b) {
  if (b->inspected) {
    inspect::Flow* f = flow_of(b);
    inspector_->close(*f);
    f->~Flow();
    b->inspected = 0;
  }
}

void Worker::on_expire(void* worker, flow::Binding& b) { static_cast<Worker*>(worker)->end_flow(&b); }

void Worker::close_inspection() {
  if (inspector_ == nullptr) {
    return;
  }
  nat_.for_each([this](flow::Binding& b) { end_flow(&b); });
}

void Worker::inspect_segment(rte_mbuf* m, flow::Binding* b, const packet::ParsedPacket& p,
                             tcp::Direction d) {
  const bool client_syn = d == tcp::Direction::kClientToServer &&
                          (p.tcp_flags & (packet::kTcpSyn | packet::kTcpAck)) == packet::kTcpSyn;
  if (client_syn && (!b->inspected || inspect::Inspector::starts_new_flow(flow_of(b)))) [[unlikely]] {
    // A new connection on this binding (or the reuse of a finished one's ports).
    end_flow(b);
    new (flows_[nat_.index_of(b)].bytes)
        inspect::Flow(*inspector_, nat_.index_of(b), endpoint_v4(p.src4, p.sport),
                      endpoint_v4(p.dst4, p.dport));
    b->inspected = 1;
  }
  if (!b->inspected) {
    return;  // the binding's SYN was never seen by this worker's inspection
  }
  tcp::Segment s;
  s.seq = p.tcp_seq;
  s.ack = p.tcp_ack;
  s.window = p.tcp_window;
  s.flags = p.tcp_flags & 0x3f;
  s.window_scale = p.tcp_window_scale;
  s.data = rte_pktmbuf_mtod(m, const uint8_t*) + p.payload_offset;
  s.len = p.payload_len;
  if (s.len > 0) {
    // The segment's reference; the mbuf's own goes with it to the TX queue.
    rte_mbuf_refcnt_update(m, 1);
    s.owner = m;
  }
  inspect::Flow& f = *flow_of(b);
  inspector_->on_segment(f, d, s);
  if (f.done()) {
    inspector_->close(f);  // FIN both ways or RST: its slots go back now, the object with the binding
  }
}

void Worker::OwnDecisions::on_record(inspect::Flow&, const smtp::MessageRecord&,
                                     const inspect::Message* m) {
  ++totals.records;
  const scan::Verdict* v = m != nullptr ? m->verdict() : nullptr;
  if (v != nullptr && v->spam) {
    ++totals.spam;
  }
}

}  // namespace smtpgw::worker
