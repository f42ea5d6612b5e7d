#include "tools/smtpgen/tcp_peer.h"

#include <algorithm>


namespace smtpgw::smtpgen {

namespace {

using namespace packet;

constexpr uint64_t kMaxRtoNs = 8'000'000'000ull;

bool seq_lt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
bool seq_le(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) <= 0; }

}  // namespace

TcpPeer::TcpPeer(const Endpoint& local, const Endpoint& remote, uint32_t isn, Options o, State s)
    : local_(local),
      remote_(remote),
      o_(o),
      state_(s),
      isn_(isn),
      snd_una_(isn),
      snd_nxt_(isn),
      snd_nxt_max_(isn),
      buf_seq_(isn + 1),
      rto_ns_(o.rto_ns) {}

TcpPeer TcpPeer::client(const Endpoint& local, const Endpoint& remote, uint32_t isn, Options o) {
  return TcpPeer(local, remote, isn, o, State::kSynSent);
}

TcpPeer TcpPeer::server(const Endpoint& local, const Endpoint& remote, uint32_t isn, Options o) {
  return TcpPeer(local, remote, isn, o, State::kListen);
}

void TcpPeer::send(std::string_view bytes) {
  if (!closing_ && state_ != State::kClosed) {
    buf_.append(bytes);
  }
}

void TcpPeer::close() { closing_ = true; }

void TcpPeer::abort() {
  if (state_ != State::kClosed) {
    send_rst_ = true;
  }
}

uint32_t TcpPeer::unsent() const {
  const uint32_t end = buf_seq_ + static_cast<uint32_t>(buf_.size());
  return seq_lt(snd_nxt_, end) ? end - snd_nxt_ : 0;
}

bool TcpPeer::receive(const ParsedPacket& p, const uint8_t* frame) {
  if (p.l3 != L3::kIpv4 || p.l4_proto != kProtoTcp || !p.has_l4 || p.sport != remote_.port ||
      p.dport != local_.port || p.src4 != remote_.ip || p.dst4 != local_.ip) {
    return false;
  }
  if (state_ == State::kClosed) {
    return true;
  }
  const uint8_t flags = p.tcp_flags;
  if (flags & kTcpRst) {
    reset_ = true;
    state_ = State::kClosed;
    return true;
  }
  peer_window_ = p.tcp_window;
  switch (state_) {
    case State::kListen:
      if ((flags & kTcpSyn) && !(flags & kTcpAck)) {
        rcv_nxt_ = p.tcp_seq + 1;
        state_ = State::kSynReceived;
      }
      return true;
    case State::kSynSent:
      if ((flags & kTcpSyn) && (flags & kTcpAck) && p.tcp_ack == isn_ + 1) {
        rcv_nxt_ = p.tcp_seq + 1;
        snd_una_ = snd_nxt_ = isn_ + 1;
        state_ = State::kEstablished;
        ack_owed_ = true;
        retries_ = 0;
        rto_ns_ = o_.rto_ns;
        deadline_ns_ = 0;
      }
      return true;
    case State::kSynReceived:
      if (flags & kTcpSyn) {
        snd_nxt_ = isn_;  // our SYN-ACK was lost: the client sent its SYN again
        return true;
      }
      if (!(flags & kTcpAck) || p.tcp_ack != isn_ + 1) {
        return true;
      }
      state_ = State::kEstablished;
      snd_una_ = isn_ + 1;
      if (seq_lt(snd_nxt_, snd_una_)) {
        snd_nxt_ = snd_una_;
      }
      break;  // the ACK may carry data
    case State::kEstablished:
    case State::kClosed:
      break;
  }
  if ((flags & kTcpAck) && seq_lt(snd_una_, p.tcp_ack) && seq_le(p.tcp_ack, snd_nxt_max_)) {
    const uint32_t data_end = buf_seq_ + static_cast<uint32_t>(buf_.size());
    const uint32_t acked_data = (seq_lt(p.tcp_ack, data_end) ? p.tcp_ack : data_end) - buf_seq_;
    if (static_cast<int32_t>(acked_data) > 0) {
      buf_.erase(0, acked_data);
      buf_seq_ += acked_data;
    }
    snd_una_ = p.tcp_ack;
    if (seq_lt(snd_nxt_, snd_una_)) {
      snd_nxt_ = snd_una_;
    }
    retries_ = 0;
    rto_ns_ = o_.rto_ns;
    deadline_ns_ = 0;  // poll() arms it again while something is in flight
  }
  const bool fin = (flags & kTcpFin) != 0;
  if (p.payload_len == 0 && !fin) {
    return true;
  }
  ack_owed_ = true;  // in order or not: an ACK says where we are
  if (p.tcp_seq != rcv_nxt_ || peer_fin_) {
    return true;  // out of order or a duplicate: dropped, the peer sends it again
  }
  received_.append(reinterpret_cast<const char*>(frame + p.payload_offset), p.payload_len);
  rcv_nxt_ += p.payload_len;
  if (fin) {
    rcv_nxt_ += 1;
    peer_fin_ = true;
  }
  return true;
}

void TcpPeer::poll(uint64_t now_ns, std::vector<std::string>& out) {
  if (send_rst_) {
    send_rst_ = false;
    segment(kTcpRst | kTcpAck, snd_nxt_, {}, out);
    state_ = State::kClosed;
    return;
  }
  if (state_ == State::kClosed || state_ == State::kListen) {
    return;
  }
  if (deadline_ns_ != 0 && now_ns >= deadline_ns_) {
    if (retries_ >= o_.max_retries) {
      reset_ = true;
      segment(kTcpRst | kTcpAck, snd_nxt_, {}, out);
      state_ = State::kClosed;
      return;
    }
    ++retries_;
    ++retransmissions_;
    snd_nxt_ = snd_una_;  // go back to the oldest byte not acknowledged
    rto_ns_ = std::min(rto_ns_ * 2, kMaxRtoNs);
    deadline_ns_ = 0;
  }
  if (snd_nxt_ == isn_ && state_ == State::kSynSent) {
    segment(kTcpSyn, isn_, {}, out, true);
    snd_nxt_ = isn_ + 1;
  } else if (snd_nxt_ == isn_ && state_ == State::kSynReceived) {
    segment(kTcpSyn | kTcpAck, isn_, {}, out, true);
    snd_nxt_ = isn_ + 1;
  }
  if (state_ == State::kEstablished) {
    const uint32_t fin_seq = buf_seq_ + static_cast<uint32_t>(buf_.size());
    for (;;) {
      const uint32_t in_flight = snd_nxt_ - snd_una_;
      const uint32_t room = peer_window_ > in_flight ? peer_window_ - in_flight : 0;
      const uint32_t n = std::min({unsent(), static_cast<uint32_t>(o_.mss), room});
      if (n == 0) {
        break;
      }
      segment(kTcpAck | kTcpPsh, snd_nxt_,
              std::string_view(buf_).substr(snd_nxt_ - buf_seq_, n), out);
      snd_nxt_ += n;
      ack_owed_ = false;
    }
    if (closing_ && snd_nxt_ == fin_seq) {
      segment(kTcpFin | kTcpAck, fin_seq, {}, out);
      snd_nxt_ = fin_seq + 1;
      fin_sent_ = true;
      ack_owed_ = false;
    }
    if (ack_owed_) {  // no segment above carried it
      segment(kTcpAck, snd_nxt_, {}, out);
      ack_owed_ = false;
    }
  }
  if (seq_lt(snd_nxt_max_, snd_nxt_)) {
    snd_nxt_max_ = snd_nxt_;
  }
  if (snd_una_ == snd_nxt_max_) {
    deadline_ns_ = 0;
  } else if (deadline_ns_ == 0) {
    deadline_ns_ = now_ns + rto_ns_;
  }
}

void TcpPeer::segment(uint8_t flags, uint32_t seq, std::string_view payload,
                      std::vector<std::string>& out, bool mss_option) const {
  const size_t tcp_len = 20 + (mss_option ? 4 : 0);
  std::string frame(14 + 20 + tcp_len + payload.size(), '\0');
  auto* f = reinterpret_cast<uint8_t*>(frame.data());
  store_mac(f, remote_.mac);
  store_mac(f + 6, local_.mac);
  store_be16(f + 12, kEtherTypeIpv4);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  store_be16(ip + 2, static_cast<uint16_t>(20 + tcp_len + payload.size()));
  store_be16(ip + 6, 0x4000);  // don't fragment, as real stacks send TCP
  ip[8] = 64;
  ip[9] = kProtoTcp;
  store_be32(ip + 12, local_.ip);
  store_be32(ip + 16, remote_.ip);
  uint8_t* tcp = ip + 20;
  store_be16(tcp, local_.port);
  store_be16(tcp + 2, remote_.port);
  store_be32(tcp + 4, seq);
  store_be32(tcp + 8, (flags & kTcpAck) ? rcv_nxt_ : 0);
  tcp[12] = static_cast<uint8_t>((tcp_len / 4) << 4);
  tcp[13] = flags;
  store_be16(tcp + 14, o_.window);
  if (mss_option) {
    tcp[20] = 2;  // MSS, length 4
    tcp[21] = 4;
    store_be16(tcp + 22, o_.mss);
  }
  std::copy(payload.begin(), payload.end(), tcp + tcp_len);
  finish_ipv4_tcp_checksums(ip);
  out.push_back(std::move(frame));
}

}  // namespace smtpgw::smtpgen
