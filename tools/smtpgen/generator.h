// smtpgen's generator (issue 13, step 4): many SMTP sessions at once through the gateway, with
// no port of its own — frames in from the gateway's two sides, frames out to them — so the same
// code runs on DPDK ports (the test bed) and in tests that drive a worker directly.
//
// The clients live on the inside (hosts client_ip .. client_ip + hosts - 1, each session its own
// source port), the server on the outside (every connection the gateway opens toward it gets a
// server peer, made at its SYN). The generator answers ARP for its addresses and learns the
// gateway's MAC on each side from ARP (it asks) or from any frame the gateway sends. Each message
// carries an `X-Smtpgen-Id` header, so the server side knows which message arrived and the
// report compares it byte for byte with what was sent.
//
// What the gateway must decide, checked (the oracle, growing with issue 13): a clean message is
// delivered, never from the high-risk address; a spam message (GTUBE) is delivered only from the
// high-risk address — on a normal flow it is deferred (451), the host steered, and sent again in
// a later session from the same host as an MTA would; a session that starts once the host is
// steered is on a high-risk flow and accepted at once. Spam comes from a host of its own
// (client_ip + client_hosts), so the steering does not move the clean hosts.
//
// Not thread-safe: one thread owns a generator (a multi-core run gives each core its own
// generator with its own hosts and ports).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tools/smtpgen/smtp_script.h"
#include "tools/smtpgen/tcp_peer.h"

namespace smtpgw::smtpgen {

struct GeneratorConfig {
  packet::MacAddr inside_mac;       // the generator's MAC on the gateway's inside link
  uint32_t client_ip = 0;           // the first client host (IPv4, host order)
  uint32_t client_hosts = 1;       // clean mail; spam comes from client_ip + client_hosts
  uint32_t inside_gateway_ip = 0;   // the gateway's inside address (asked for by ARP)
  packet::MacAddr outside_mac;      // the generator's MAC on the outside link
  uint32_t server_ip = 0;           // the server the clients send to
  uint16_t server_port = 25;
  uint32_t outside_gateway_ip = 0;  // the gateway's outside address (asked for by ARP)
  uint32_t sessions = 1;            // in all
  uint32_t concurrency = 1;         // sessions open at once
  uint32_t messages_per_session = 1;
  uint32_t message_bytes = 2'000;   // body size of each message (about)
  bool bdat = true;                 // BDAT when the server offers CHUNKING
  uint32_t spam_per_mille = 0;      // sessions that carry one GTUBE message instead
  uint32_t high_risk_ip = 0;        // the gateway's high-risk egress address (0: not checked)
  TcpPeer::Options tcp;
  uint64_t seed = 1;
};

struct GeneratorReport {
  uint64_t sessions_done = 0;      // QUIT answered, or ended by the gateway after its refusal
  uint64_t sessions_ended_by_gateway = 0;  // ... the latter: a 421 after a 4xx/5xx decision
  uint64_t sessions_failed = 0;    // reset, or ended otherwise without QUIT answered
  uint64_t messages_sent = 0;      // end of content sent (DATA's "." or BDAT LAST)
  uint64_t messages_accepted = 0;  // the client got 250 after the content
  uint64_t messages_expected = 0;  // distinct messages generated: each must arrive once
  uint64_t messages_delivered = 0; // the server kept it
  uint64_t content_mismatches = 0; // kept, but not byte for byte what was sent (or unknown id)
  uint64_t spam_sent = 0;          // spam messages (first attempts)
  uint64_t spam_deferred = 0;      // ... answered 451 (their flow was a normal one)
  uint64_t spam_delivered_high_risk = 0;  // ... delivered, from the high-risk address
  uint64_t wrong_decisions = 0;    // anything else the policy did not allow (see above)
  uint64_t retransmissions = 0;
  uint64_t frames_in = 0, frames_out = 0, frames_not_ours = 0;
};

class Generator {
 public:
  explicit Generator(const GeneratorConfig& c);
  ~Generator();

  // A frame the gateway sent toward the inside (the clients) or the outside (the server).
  void from_inside(const uint8_t* frame, uint32_t len);
  void from_outside(const uint8_t* frame, uint32_t len);
  // Appends the frames due at `now_ns` for the gateway's inside and outside ports.
  void poll(uint64_t now_ns, std::vector<std::string>& to_inside,
            std::vector<std::string>& to_outside);

  bool done() const;  // every session (retries included) ended and its connection closed
  // Every session ended with QUIT answered, every message arrived once byte for byte, and the
  // gateway decided each as the policy says.
  bool passed() const;
  GeneratorReport report() const;

 private:
  struct Client;
  struct Server;
  void start_session();
  bool parse(const uint8_t* frame, uint32_t len, packet::ParsedPacket* p);
  void start_retry(const MessageSpec& m);
  void open_client(uint32_t host, uint32_t n, std::vector<MessageSpec> messages, uint32_t isn);
  void account(Client& cl);
  void check_delivery(const std::string& content, uint32_t from_ip);
  void arp(const packet::ParsedPacket& p, const packet::MacAddr& our_mac, bool inside);

  GeneratorConfig c_;
  packet::MacAddr inside_gw_{}, outside_gw_{};
  bool inside_known_ = false, outside_known_ = false;
  uint64_t next_arp_ns_ = 0;
  std::vector<std::string> arp_out_inside_, arp_out_outside_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::map<uint64_t, std::unique_ptr<Server>> servers_;  // by (source address, port)
  struct Sent {
    std::string content;
    bool spam = false;
    bool deferred = false;  // answered 451 on a first attempt
  };
  std::map<std::string, Sent> sent_;                     // by X-Smtpgen-Id
  std::vector<MessageSpec> retries_;                     // deferred spam, to send again
  uint32_t retry_sessions_ = 0;
  uint32_t started_ = 0;
  GeneratorReport r_;
};

}  // namespace smtpgw::smtpgen
