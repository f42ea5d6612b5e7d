// One end of one TCP connection, for smtpgen (issue 13): the traffic generator plays both the
// SMTP clients and the servers through the gateway, so each side needs a TCP that behaves like a
// real stack's as the gateway sees it — a handshake with an MSS option, sequence and
// acknowledgement numbers, the peer's window respected, retransmission after a timeout (go back
// to the oldest unacknowledged byte, the timeout doubling), FIN both ways, RST.
//
// Kept simple where the gateway does not care: segments out of order are not buffered (the
// peer's retransmission brings them again, as after a loss), no SACK, no window scaling, no
// congestion control beyond the peer's window.
//
// No DPDK and no system call: frames in and out are byte strings (Ethernet, IPv4, TCP, checksums
// filled in), so the same code runs in unit tests and on DPDK ports. Not thread-safe: one
// generator thread owns a peer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/packet/parse.h"
#include "dataplane/packet/wire.h"

namespace smtpgw::smtpgen {

struct Endpoint {
  packet::MacAddr mac;
  uint32_t ip = 0;  // IPv4, host order
  uint16_t port = 0;
};

class TcpPeer {
 public:
  enum class State : uint8_t { kSynSent, kListen, kSynReceived, kEstablished, kClosed };
  struct Options {
    uint16_t mss = 1460;            // the most payload a segment carries (and announced)
    uint16_t window = 65535;        // the receive window announced
    uint64_t rto_ns = 200'000'000;  // the first retransmission timeout; doubles, up to 8 s
    uint32_t max_retries = 8;       // then the connection is reset
  };

  // The client side: its SYN goes out at the first poll().
  static TcpPeer client(const Endpoint& local, const Endpoint& remote, uint32_t isn, Options o);
  // The server side: waits for the client's SYN.
  static TcpPeer server(const Endpoint& local, const Endpoint& remote, uint32_t isn, Options o);

  // Application data to send after what is already queued (ignored once close() was called).
  void send(std::string_view bytes);
  // A FIN once everything queued is sent.
  void close();
  // An RST now (at the next poll), and the connection is closed.
  void abort();

  // One parsed frame: false when it is not this connection's (not TCP, or other addresses or
  // ports), else taken.
  bool receive(const packet::ParsedPacket& p, const uint8_t* frame);

  // Appends to `out` the frames due at `now_ns`: new data within the peer's window, a FIN, a
  // pure ACK when one is owed, retransmissions whose time came, an RST.
  void poll(uint64_t now_ns, std::vector<std::string>& out);

  State state() const { return state_; }
  // The bytes received in order so far; the caller may erase what it consumed.
  std::string& received() { return received_; }
  bool peer_closed() const { return peer_fin_; }  // the peer's FIN arrived (in order)
  bool fin_acked() const { return fin_sent_ && snd_una_ == snd_nxt_max_; }
  bool was_reset() const { return reset_; }       // an RST arrived, or retries ran out
  uint64_t retransmissions() const { return retransmissions_; }
  // Everything queued was sent and acknowledged.
  bool idle() const { return snd_una_ == snd_nxt_max_ && unsent() == 0; }

 private:
  TcpPeer(const Endpoint& local, const Endpoint& remote, uint32_t isn, Options o, State s);
  uint32_t unsent() const;
  void segment(uint8_t flags, uint32_t seq, std::string_view payload, std::vector<std::string>& out,
               bool mss_option = false) const;

  Endpoint local_, remote_;
  Options o_;
  State state_;
  uint32_t isn_;
  uint32_t snd_una_, snd_nxt_, snd_nxt_max_;  // snd_nxt_max_: the highest sequence sent + 1
  uint32_t rcv_nxt_ = 0;
  uint32_t peer_window_ = 0;
  uint32_t buf_seq_;  // the sequence number of buf_[0]
  std::string buf_;   // the bytes not acknowledged yet (the SYN and FIN take no room here)
  bool closing_ = false, fin_sent_ = false, peer_fin_ = false, reset_ = false, send_rst_ = false;
  bool ack_owed_ = false;
  uint64_t rto_ns_, deadline_ns_ = 0;  // deadline 0: no timer
  uint32_t retries_ = 0;
  uint64_t retransmissions_ = 0;
  std::string received_;
};

}  // namespace smtpgw::smtpgen
