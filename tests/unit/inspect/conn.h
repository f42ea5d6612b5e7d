// A hand-made TCP connection for the inspection pipeline's tests (inspect, enforce): SYN and
// SYN-ACK at construction, then payload segments in order, each direction's sequence numbers
// kept.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "dataplane/inspect/inspector.h"

namespace smtpgw::inspect {

// One TCP connection driven segment by segment, both directions in order.
class Conn {
 public:
  Conn(Inspector& in, uint64_t id, const smtp::Endpoint& client = {},
       const smtp::Endpoint& server = {}, EgressPool pool = EgressPool::kNormal)
      : in_(in), flow_(in, id, client, server) {
    flow_.set_pool(pool);
    tcp::Segment syn;
    syn.seq = c_++;
    syn.flags = tcp::kSyn;
    syn.window = 65535;
    in_.on_segment(flow_, tcp::Direction::kClientToServer, syn);
    tcp::Segment sa;
    sa.seq = s_++;
    sa.ack = c_;
    sa.flags = tcp::kSyn | tcp::kAck;
    sa.window = 65535;
    in_.on_segment(flow_, tcp::Direction::kServerToClient, sa);
  }
  void client(const std::string& text) { send(tcp::Direction::kClientToServer, c_, s_, text); }
  void server(const std::string& text) { send(tcp::Direction::kServerToClient, s_, c_, text); }
  // Client bytes sent so far (stream offset of the next one).
  uint64_t client_sent() const { return c_ - 1001; }
  Flow& flow() { return flow_; }

 private:
  void send(tcp::Direction d, uint32_t& seq, uint32_t ack, const std::string& text) {
    texts_.push_back(text);  // the reassembler may keep a view of it until acknowledged
    tcp::Segment s;
    s.seq = seq;
    s.ack = ack;
    s.flags = tcp::kAck;
    s.window = 65535;
    s.data = reinterpret_cast<const uint8_t*>(texts_.back().data());
    s.len = static_cast<uint32_t>(text.size());
    in_.on_segment(flow_, d, s);
    seq += s.len;
  }
  Inspector& in_;
  Flow flow_;
  uint32_t c_ = 1000;
  uint32_t s_ = 9000;
  std::deque<std::string> texts_;  // never moved: the reassembler keeps views until acked
};

}  // namespace smtpgw::inspect
