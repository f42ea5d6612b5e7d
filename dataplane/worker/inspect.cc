// Both directions of an SMTP binding into its inspection flow: the binding's slot holds an
// inspect::Flow from the client's SYN until the binding expires. Segments are handed over with
// their mbuf as owner (one reference each), so the reassembler keeps the bytes it holds or
// retains without a copy and frees the mbuf when it no longer needs them.
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <span>

#include "dataplane/worker/worker.h"

namespace smtpgw::worker {

namespace {

void mbuf_retain(void*, void* owner) { rte_mbuf_refcnt_update(static_cast<rte_mbuf*>(owner), 1); }
void mbuf_release(void*, void* owner) { rte_pktmbuf_free(static_cast<rte_mbuf*>(owner)); }

// One TCP state machine per connection: an inspected binding's state (which only picks its idle
// timeout) is read from the reassembler's, which accepts a RST or SYN only where it fits the
// window, so a blind RST from outside cannot shorten a live connection's binding to 10 s.
flow::State binding_state(const tcp::FlowState& t) {
  const uint8_t c = t.of(tcp::Direction::kClientToServer).flags;
  const uint8_t s = t.of(tcp::Direction::kServerToClient).flags;
  if (t.closed != 0 || ((c & tcp::kDirFinSeen) != 0 && (s & tcp::kDirFinSeen) != 0)) {
    return flow::State::kClosed;
  }
  if (((c | s) & tcp::kDirFinSeen) != 0) {
    return flow::State::kClosing;
  }
  return (s & tcp::kDirIsnKnown) != 0 ? flow::State::kEstablished : flow::State::kSynSent;
}

}  // namespace

smtp::Endpoint endpoint_v4(uint32_t ip, uint16_t port) {
  smtp::Endpoint e;
  e.addr[0] = static_cast<uint8_t>(ip >> 24);
  e.addr[1] = static_cast<uint8_t>(ip >> 16);
  e.addr[2] = static_cast<uint8_t>(ip >> 8);
  e.addr[3] = static_cast<uint8_t>(ip);
  e.port = port;
  return e;
}

void Worker::make_inspection() {
  inspector_ = std::make_unique<inspect::Inspector>(
      cfg_.inspect_config, decisions(), tcp::OwnerOps{mbuf_retain, mbuf_release, nullptr});
  // Not zeroed: a slot is constructed when its binding's SYN arrives (start-up touches none).
  flows_ = std::make_unique_for_overwrite<FlowSlot[]>(nat_.capacity());
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

bool Worker::inspect_segment(rte_mbuf*& m, flow::Binding* b, const packet::ParsedPacket& p,
                             tcp::Direction d, uint64_t now) {
  const bool client = d == tcp::Direction::kClientToServer;
  const bool client_syn =
      client && (p.tcp_flags & (packet::kTcpSyn | packet::kTcpAck)) == packet::kTcpSyn;
  if (client_syn && (!b->inspected || inspect::Inspector::starts_new_flow(flow_of(b)))) [[unlikely]] {
    // A new connection on this binding (or the reuse of a finished one's ports).
    end_flow(b);
    new (flows_[nat_.index_of(b)].bytes)
        inspect::Flow(*inspector_, nat_.index_of(b), endpoint_v4(p.src4, p.sport),
                      endpoint_v4(p.dst4, p.dport));
    flow_of(b)->set_pool(b->pool == flow::kHighRiskPool ? inspect::EgressPool::kHighRisk
                                                        : inspect::EgressPool::kNormal,
                         b->pool);
    flow_of(b)->set_egress(b->egress_ip, b->nat_port);
    b->inspected = 1;
    b->answered = 0;
  }
  if (!b->inspected) {
    return true;  // the binding's SYN was never seen by this worker's inspection
  }
  if (b->answered) [[unlikely]] {
    // The inspection no longer follows this connection: the binding's own tracking does, for
    // its last FIN and ACK.
    flow::NatTable::track_tcp(b, p.tcp_flags, client, now);
    // The gateway answered this connection itself: the server was reset, and the sequence
    // space toward the client now holds the gateway's reply, so nothing more passes. The
    // gateway closes the client's side as the server would have: its FIN is acknowledged,
    // data it still sends (a QUIT) is answered with an RST at the sequence number it expects
    // (RFC 9293 3.10.7.4), its pure ACKs need no answer.
    const bool fin = (p.tcp_flags & packet::kTcpFin) != 0 && p.payload_len == 0;
    if (client && (p.tcp_flags & packet::kTcpRst) == 0 && (p.tcp_flags & packet::kTcpAck) != 0 &&
        (fin || p.payload_len > 0)) {
      inject(b->inside.dst_ip, b->inside.dst_port, b->inside.src_ip, b->inside.src_port,
             p.tcp_ack, fin ? p.tcp_seq + 1 : 0, fin ? packet::kTcpAck : packet::kTcpRst, {},
             now);
    }
    drop(m, Counter::inspect_after_refusal);
    return false;
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
  const uint32_t evasions = f.tcp.evasions;
  const tcp::SegmentOutcome outcome = inspector_->on_segment(f, d, s);
  b->state = binding_state(f.tcp);
  bool pass = true;
  if (outcome == tcp::SegmentOutcome::kDropPoolExhausted ||
      outcome == tcp::SegmentOutcome::kDropFlowLimit) [[unlikely]] {
    // Reassembly could not keep it (out of order past a bound): it must not pass uninspected
    // either way. The receiver never acknowledges it, so its sender sends it again, by then
    // (the gap filled) in order.
    drop(m, Counter::inspect_reassembly_full);
    pass = false;
  } else if (client) {
    pass = release_client(m, f, p, f.tcp.evasions != evasions);
  } else if (f.session().mask_starttls()) {
    pass = release_server(m, f, p);
  }
  if (!f.refusal().empty()) [[unlikely]] {
    answer_refusal(b, f, now);
    if (pass) {
      // Sent before the gateway's reply: forwarding it after the server's reset is useless,
      // and toward the client it would overlap the reply's sequence numbers.
      drop(m, Counter::inspect_after_refusal);
      pass = false;
    }
  }
  if (f.done()) {
    inspector_->close(f);  // FIN both ways or RST: its slots go back now, the object with the binding
  }
  return pass;
}

// The gateway's promise (DESIGN.md step 4): the server receives only client bytes that were
// parsed and scanned, in order. After the segment went through the pipeline, the release limit R
// says how far that holds. The segment covers stream offsets [begin, end):
//   end <= R            forwarded as it came (in order, or a retransmission of released bytes)
//   begin < R < end     forwarded cut at R (its FIN cleared: bytes before it stay behind)
//   R <= begin          not forwarded (held in the reassembler: a command awaiting its
//                       decision, bytes after a DATA line before the 354, a refused session)
//   evasion             not forwarded: its bytes differ from the copy already inspected
// Held bytes reach the server when the client retransmits them after R has moved past them
// (the server never acknowledged them), so the gateway never builds segments of its own here
// and every forwarded segment keeps the client's own TCP options. Pure ACKs, RSTs and FINs
// without data pass unless a FIN would overtake held bytes.
bool Worker::release_client(rte_mbuf* m, const inspect::Flow& f, const packet::ParsedPacket& p,
                            bool evasion) {
  const tcp::DirectionState& c = f.tcp.of(tcp::Direction::kClientToServer);
  if (evasion) [[unlikely]] {
    drop(m, Counter::inspect_evasion_dropped);
    return false;
  }
  if ((c.flags & tcp::kDirIsnKnown) == 0 || (p.tcp_flags & packet::kTcpRst) != 0) {
    return true;
  }
  const uint32_t data_seq = p.tcp_seq + ((p.tcp_flags & packet::kTcpSyn) != 0 ? 1 : 0);
  const int64_t begin = tcp::Reassembler::offset_of(c, data_seq);
  const int64_t end = begin + p.payload_len;
  const auto limit = static_cast<int64_t>(c.release);
  if (end <= limit) {
    return true;  // a FIN here follows only released bytes
  }
  if (p.payload_len == 0 && (p.tcp_flags & packet::kTcpFin) == 0) {
    return true;  // a pure ACK ahead of held bytes: its acknowledgement is for the server's data
  }
  if (begin < limit) [[unlikely]] {
    cut_segment(m, p, static_cast<uint32_t>(limit - begin));
    stats_->add(Counter::inspect_cut);
    return true;
  }
  drop(m, Counter::inspect_held);
  return false;
}

// STARTTLS masking (inspect::Decisions::inspect_starttls): the client must never see the
// server offer STARTTLS, or it would start TLS the gateway cannot read. The session finds the
// keyword in each EHLO reply; server bytes reach the client only up to what it has parsed,
// except an EHLO reply line not yet complete that may still turn out to be STARTTLS
// (server_release_limit): the segment is cut before that line, or not forwarded, and the
// server retransmits the rest once the client's acknowledgement shows the gap. The segments
// that carry the keyword are forwarded as a copy with it overwritten, same length, so no
// sequence number changes; the original stays what the reassembler holds (it compares the
// server's retransmissions with it). Out-of-order server segments wait for the server's
// retransmission the same way: the client only ever gets bytes the session has seen.
bool Worker::release_server(rte_mbuf*& m, const inspect::Flow& f, const packet::ParsedPacket& p) {
  const tcp::DirectionState& sd = f.tcp.of(tcp::Direction::kServerToClient);
  if (p.payload_len == 0 || (sd.flags & tcp::kDirIsnKnown) == 0 ||
      (p.tcp_flags & packet::kTcpRst) != 0) {
    return true;
  }
  const uint32_t data_seq = p.tcp_seq + ((p.tcp_flags & packet::kTcpSyn) != 0 ? 1 : 0);
  const int64_t begin = tcp::Reassembler::offset_of(sd, data_seq);
  int64_t end = begin + p.payload_len;
  const auto limit = static_cast<int64_t>(f.session().server_release_limit());
  if (begin >= limit) [[unlikely]] {
    drop(m, Counter::inspect_server_held);
    return false;
  }
  if (end > limit) [[unlikely]] {
    cut_segment(m, p, static_cast<uint32_t>(limit - begin));
    stats_->add(Counter::inspect_server_cut);
    end = limit;
  }
  if (!f.session().starttls_in(static_cast<uint64_t>(begin), static_cast<uint64_t>(end - begin))) {
    return true;
  }
  rte_mbuf* copy = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
  if (copy == nullptr || rte_pktmbuf_is_contiguous(copy) == 0) [[unlikely]] {
    rte_pktmbuf_free(copy);
    drop(m, Counter::inspect_mask_no_mbuf);
    return false;
  }
  rte_pktmbuf_free(m);
  m = copy;
  char* payload = rte_pktmbuf_mtod(m, char*) + p.payload_offset;
  f.session().mask_server_bytes(static_cast<uint64_t>(begin),
                                std::span<char>(payload, static_cast<size_t>(end - begin)));
  packet::finish_ipv4_tcp_checksums(rte_pktmbuf_mtod(m, uint8_t*) + p.l3_offset);
  stats_->add(Counter::inspect_starttls_masked);
  return true;
}

// Cuts the payload of a TCP segment to its first `keep` bytes, clears FIN, and recomputes the
// IPv4 and TCP checksums in software. A rare path (a segment straddling a hold point), so the
// full checksum is fine.
void Worker::cut_segment(rte_mbuf* m, const packet::ParsedPacket& p, uint32_t keep) {
  using namespace packet;
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip = frame + p.l3_offset;
  uint8_t* l4 = frame + p.l4_offset;
  const uint32_t ihl = p.l4_offset - p.l3_offset;
  const uint32_t l4_len = p.payload_offset - p.l4_offset + keep;
  const uint32_t total = ihl + l4_len;
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - (p.l3_offset + total)));
  store_be16(ip + 2, static_cast<uint16_t>(total));
  l4[13] = static_cast<uint8_t>(l4[13] & ~kTcpFin);
  finish_ipv4_tcp_checksums(ip);
}

// The gateway ends a refused session itself (DESIGN.md step 9): the client gets the refusal's
// reply and a 421, with FIN, as from the server, right after the server bytes it has been sent;
// the server gets an RST at the first client byte it was not sent. The client's MTA then
// reports the reply to its user (a 5xx) or retries later (a 4xx).
void Worker::answer_refusal(flow::Binding* b, const inspect::Flow& f, uint64_t now) {
  b->answered = 1;
  const tcp::DirectionState& c = f.tcp.of(tcp::Direction::kClientToServer);
  const tcp::DirectionState& s = f.tcp.of(tcp::Direction::kServerToClient);
  char text[256];
  const std::string_view reply = f.refusal();
  static constexpr std::string_view kClosing = "\r\n421 4.7.0 Closing connection\r\n";
  const size_t n = std::min(reply.size(), sizeof text - kClosing.size());
  std::memcpy(text, reply.data(), n);
  std::memcpy(text + n, kClosing.data(), kClosing.size());
  inject(b->inside.dst_ip, b->inside.dst_port, b->inside.src_ip, b->inside.src_port,
         tcp::Reassembler::seq_of(s, s.next), tcp::Reassembler::seq_of(c, c.next),
         packet::kTcpAck | packet::kTcpPsh | packet::kTcpFin,
         std::string_view(text, n + kClosing.size()), now);
  inject(b->egress_ip, b->nat_port, b->inside.dst_ip, b->inside.dst_port,
         tcp::Reassembler::seq_of(c, c.release), 0, packet::kTcpRst, {}, now);
  stats_->add(Counter::inspect_refusals_answered);
}

// Every segment the gateway writes itself goes through here: built whole (Ethernet, IPv4 with
// DF, a 20-byte TCP header, the payload), routed like any packet, counted. An empty pool is
// counted too; the peer's retransmission or timeout then ends the connection.
void Worker::inject(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint32_t seq,
                    uint32_t ack, uint8_t flags, std::string_view payload, uint64_t now) {
  using namespace packet;
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  const auto len = static_cast<uint16_t>(kEthHeaderLen + 40 + payload.size());
  uint8_t* f = m != nullptr ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, len)) : nullptr;
  if (f == nullptr) [[unlikely]] {
    rte_pktmbuf_free(m);
    stats_->add(Counter::inject_no_mbuf);
    return;
  }
  std::memset(f, 0, kEthHeaderLen + 40);
  store_be16(f + 12, kEtherTypeIpv4);
  uint8_t* ip = f + kEthHeaderLen;
  ip[0] = 0x45;
  store_be16(ip + 2, static_cast<uint16_t>(40 + payload.size()));
  store_be16(ip + 6, 0x4000);  // DF
  ip[8] = 65;                   // forward() takes one
  ip[9] = kProtoTcp;
  store_be32(ip + 12, src);
  store_be32(ip + 16, dst);
  uint8_t* tcp = ip + 20;
  store_be16(tcp, sport);
  store_be16(tcp + 2, dport);
  store_be32(tcp + 4, seq);
  store_be32(tcp + 8, ack);
  tcp[12] = 0x50;
  tcp[13] = flags;
  store_be16(tcp + 14, (flags & kTcpRst) != 0 ? 0 : 65535);
  if (!payload.empty()) {  // an empty view may hold a null pointer, which memcpy must not get
    std::memcpy(tcp + 20, payload.data(), payload.size());
  }
  finish_ipv4_tcp_checksums(ip);
  ParsedPacket p;
  p.l3 = L3::kIpv4;
  p.l3_offset = kEthHeaderLen;
  p.dst4 = dst;
  stats_->add(Counter::injected);
  forward(m, p, now);
}

}  // namespace smtpgw::worker
