#include "tools/smtpgen/generator.h"

#include <algorithm>
#include <random>

namespace smtpgw::smtpgen {

using namespace packet;

namespace {

constexpr uint64_t kArpRetryNs = 100'000'000;
constexpr uint16_t kFirstPort = 20'000;
const MacAddr kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

}  // namespace

struct Generator::Client {
  Client(TcpPeer t, SmtpClient s) : tcp(std::move(t)), smtp(std::move(s)) {}
  TcpPeer tcp;
  SmtpClient smtp;
  uint16_t port;
  bool counted = false;
};

struct Generator::Server {
  Server(TcpPeer t) : tcp(std::move(t)) {}
  TcpPeer tcp;
  SmtpServer smtp;
  size_t checked = 0;  // messages compared so far
};

Generator::Generator(const GeneratorConfig& c) : c_(c) {}
Generator::~Generator() = default;

std::string Generator::arp_frame(uint16_t op, const MacAddr& from_mac, uint32_t from_ip,
                                 const MacAddr& to_mac, uint32_t to_ip) const {
  std::string frame(42, '\0');
  auto* f = reinterpret_cast<uint8_t*>(frame.data());
  store_mac(f, op == 1 ? kBroadcast : to_mac);
  store_mac(f + 6, from_mac);
  store_be16(f + 12, kEtherTypeArp);
  store_be16(f + 14, 1);       // Ethernet
  store_be16(f + 16, kEtherTypeIpv4);
  f[18] = 6;
  f[19] = 4;
  store_be16(f + 20, op);
  store_mac(f + 22, from_mac);
  store_be32(f + 28, from_ip);
  store_mac(f + 32, op == 1 ? MacAddr{} : to_mac);
  store_be32(f + 38, to_ip);
  return frame;
}

// Answers requests for our addresses; learns the gateway's MAC from what it says.
void Generator::arp(const ParsedPacket& p, const MacAddr& our_mac, bool inside) {
  const uint32_t gw_ip = inside ? c_.inside_gateway_ip : c_.outside_gateway_ip;
  if (p.arp_spa == gw_ip) {
    (inside ? inside_gw_ : outside_gw_) = p.arp_sha;
    (inside ? inside_known_ : outside_known_) = true;
  }
  if (p.arp_op != 1) {
    return;
  }
  const bool ours = inside ? p.arp_tpa >= c_.client_ip && p.arp_tpa < c_.client_ip + c_.client_hosts
                           : p.arp_tpa == c_.server_ip;
  if (ours) {
    (inside ? arp_out_inside_ : arp_out_outside_)
        .push_back(arp_frame(2, our_mac, p.arp_tpa, p.arp_sha, p.arp_spa));
  }
}

void Generator::from_inside(const uint8_t* frame, uint32_t len) {
  ++r_.frames_in;
  ParsedPacket p;
  if (parse_frame(frame, len, {}, &p) != ParseResult::kOk) {
    ++r_.frames_not_ours;
    return;
  }
  if (p.l3 == L3::kArp) {
    arp(p, c_.inside_mac, true);
    return;
  }
  for (const auto& cl : clients_) {
    if (cl->tcp.receive(p, frame)) {
      return;
    }
  }
  ++r_.frames_not_ours;
}

void Generator::from_outside(const uint8_t* frame, uint32_t len) {
  ++r_.frames_in;
  ParsedPacket p;
  if (parse_frame(frame, len, {}, &p) != ParseResult::kOk) {
    ++r_.frames_not_ours;
    return;
  }
  if (p.l3 == L3::kArp) {
    arp(p, c_.outside_mac, false);
    return;
  }
  if (p.l3 != L3::kIpv4 || p.l4_proto != kProtoTcp || p.dst4 != c_.server_ip ||
      p.dport != c_.server_port) {
    ++r_.frames_not_ours;
    return;
  }
  if (!outside_known_) {  // the gateway's outside MAC, from its first frame
    outside_gw_ = load_mac(frame + 6);
    outside_known_ = true;
  }
  const uint64_t key = uint64_t{p.src4} << 16 | p.sport;
  auto it = servers_.find(key);
  if (it == servers_.end()) {
    if ((p.tcp_flags & (kTcpSyn | kTcpAck)) != kTcpSyn) {
      ++r_.frames_not_ours;
      return;
    }
    auto s = std::make_unique<Server>(TcpPeer::server({c_.outside_mac, c_.server_ip, c_.server_port},
                                                      {outside_gw_, p.src4, p.sport},
                                                      static_cast<uint32_t>(key * 2654435761u), c_.tcp));
    std::string greeting;
    s->smtp.open(greeting);
    s->tcp.send(greeting);
    it = servers_.emplace(key, std::move(s)).first;
  }
  it->second->tcp.receive(p, frame);
}

void Generator::start_session(uint64_t now_ns) {
  (void)now_ns;
  const uint32_t n = started_++;
  const uint32_t host = c_.client_ip + n % c_.client_hosts;
  const auto port = static_cast<uint16_t>(kFirstPort + n / c_.client_hosts % 40'000);
  std::mt19937_64 rng(c_.seed * 1'000'003 + n);
  std::vector<MessageSpec> messages;
  for (uint32_t m = 0; m < c_.messages_per_session; ++m) {
    std::string id = std::to_string(n);  // "s<session>m<message>" (built in steps: GCC 12's
    id.insert(0, 1, 's');                // -Wrestrict misfires on "literal" + std::string)
    id += 'm';
    id += std::to_string(m);
    std::string body;
    while (body.size() < c_.message_bytes) {
      body += "Line " + std::to_string(rng() % 100'000) + " of message " + id + ".\r\n";
      if (rng() % 7 == 0) {
        body += ".a line that starts with a dot\r\n";
      }
    }
    std::string content = "From: <user" + std::to_string(n) + "@inside.test>\r\nTo: <rcpt@outside.test>\r\n"
                          "Subject: message " + id + "\r\nMessage-ID: <" + id + "@inside.test>\r\n"
                          "X-Smtpgen-Id: " + id + "\r\n\r\n" + body;
    sent_[id] = content;
    messages.push_back({"user" + std::to_string(n) + "@inside.test", {"rcpt@outside.test"},
                        std::move(content)});
  }
  auto cl = std::make_unique<Client>(
      TcpPeer::client({c_.inside_mac, host, port}, {inside_gw_, c_.server_ip, c_.server_port},
                      static_cast<uint32_t>(rng()), c_.tcp),
      SmtpClient("host" + std::to_string(n % c_.client_hosts) + ".inside.test", std::move(messages),
                 c_.bdat));
  cl->port = port;
  clients_.push_back(std::move(cl));
}

void Generator::poll(uint64_t now_ns, std::vector<std::string>& to_inside,
                     std::vector<std::string>& to_outside) {
  const size_t in_before = to_inside.size(), out_before = to_outside.size();
  for (std::string& f : arp_out_inside_) {
    to_inside.push_back(std::move(f));
  }
  arp_out_inside_.clear();
  for (std::string& f : arp_out_outside_) {
    to_outside.push_back(std::move(f));
  }
  arp_out_outside_.clear();
  if (!inside_known_) {  // nothing can start before the clients know where to send
    if (now_ns >= next_arp_ns_) {
      to_inside.push_back(arp_frame(1, c_.inside_mac, c_.client_ip, {}, c_.inside_gateway_ip));
      next_arp_ns_ = now_ns + kArpRetryNs;
    }
    r_.frames_out += to_inside.size() - in_before + to_outside.size() - out_before;
    return;
  }
  size_t open = 0;
  for (const auto& cl : clients_) {
    open += cl->counted ? 0 : 1;
  }
  while (open < c_.concurrency && started_ < c_.sessions) {
    start_session(now_ns);
    ++open;
  }
  for (auto& cl : clients_) {
    std::string bytes;
    cl->smtp.on_bytes(cl->tcp.received(), bytes);
    cl->tcp.received().clear();
    cl->tcp.send(bytes);
    if (cl->smtp.done() || cl->tcp.was_reset() || cl->tcp.peer_closed()) {
      cl->smtp.on_closed();
      cl->tcp.close();
    }
    cl->tcp.poll(now_ns, to_inside);
    if (!cl->counted && (cl->tcp.state() == TcpPeer::State::kClosed || cl->tcp.fin_acked())) {
      cl->counted = true;
      r_.retransmissions += cl->tcp.retransmissions();
      for (const MessageResult& m : cl->smtp.results()) {
        r_.messages_sent += m.data != 0 ? 1 : 0;
        r_.messages_accepted += m.end == 250 ? 1 : 0;
      }
      (cl->smtp.quit_answered() ? r_.sessions_done : r_.sessions_failed) += 1;
    }
  }
  for (auto& [key, s] : servers_) {
    std::string bytes;
    s->smtp.on_bytes(s->tcp.received(), bytes);
    s->tcp.received().clear();
    s->tcp.send(bytes);
    if (s->smtp.quit() || s->tcp.peer_closed()) {
      s->tcp.close();
    }
    s->tcp.poll(now_ns, to_outside);
    for (; s->checked < s->smtp.messages().size(); ++s->checked) {
      const std::string& content = s->smtp.messages()[s->checked].content;
      const size_t at = content.find("X-Smtpgen-Id: ");
      const size_t end = at == std::string::npos ? at : content.find("\r\n", at);
      const auto it = at == std::string::npos ? sent_.end() : sent_.find(content.substr(at + 14, end - at - 14));
      ++r_.messages_delivered;
      if (it == sent_.end() || it->second != content) {
        ++r_.content_mismatches;
      }
    }
  }
  r_.frames_out += to_inside.size() - in_before + to_outside.size() - out_before;
}

bool Generator::done() const {
  if (started_ < c_.sessions) {
    return false;
  }
  for (const auto& cl : clients_) {
    if (!cl->counted) {
      return false;
    }
  }
  return true;
}

GeneratorReport Generator::report() const {
  GeneratorReport r = r_;
  for (const auto& [key, s] : servers_) {
    r.retransmissions += s->tcp.retransmissions();
  }
  return r;
}

}  // namespace smtpgw::smtpgen
