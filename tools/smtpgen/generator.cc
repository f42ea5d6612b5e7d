#include "tools/smtpgen/generator.h"

#include <algorithm>
#include <random>

#include "dataplane/arp/arp_frame.h"

namespace smtpgw::smtpgen {

using namespace packet;

namespace {

constexpr uint64_t kArpRetryNs = 100'000'000;
constexpr uint16_t kFirstPort = 20'000;
constexpr std::string_view kGtube =
    "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

// The X-Smtpgen-Id of a message's content ("" without one).
std::string id_of(const std::string& content) {
  const size_t at = content.find("X-Smtpgen-Id: ");
  const size_t end = at == std::string::npos ? at : content.find("\r\n", at);
  return at == std::string::npos || end == std::string::npos ? "" : content.substr(at + 14, end - at - 14);
}

std::string arp_reply(const MacAddr& our_mac, uint32_t asked_ip, const MacAddr& peer_mac,
                      uint32_t peer_ip) {
  std::string frame(arp::kArpFrameLen, '\0');
  arp::build_reply(reinterpret_cast<uint8_t*>(frame.data()), our_mac, asked_ip, peer_mac, peer_ip, 0);
  return frame;
}

}  // namespace

struct Generator::Client {
  Client(TcpPeer t, SmtpClient s, std::vector<MessageSpec> m)
      : tcp(std::move(t)), smtp(std::move(s)), messages(std::move(m)) {}
  TcpPeer tcp;
  SmtpClient smtp;
  std::vector<MessageSpec> messages;  // as given to smtp
  bool counted = false;
};

struct Generator::Server {
  explicit Server(TcpPeer t) : tcp(std::move(t)) {}
  TcpPeer tcp;
  SmtpServer smtp;
  size_t checked = 0;  // messages compared so far
};

Generator::Generator(const GeneratorConfig& c) : c_(c) {}
Generator::~Generator() = default;

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
  const bool ours = inside ? p.arp_tpa >= c_.client_ip && p.arp_tpa <= c_.client_ip + c_.client_hosts
                           : p.arp_tpa == c_.server_ip;
  if (ours) {
    (inside ? arp_out_inside_ : arp_out_outside_)
        .push_back(arp_reply(our_mac, p.arp_tpa, p.arp_sha, p.arp_spa));
  }
}

// Every frame in is counted; one that does not parse is not ours.
bool Generator::parse(const uint8_t* frame, uint32_t len, ParsedPacket* p) {
  ++r_.frames_in;
  if (parse_frame(frame, len, {}, p) != ParseResult::kOk) {
    ++r_.frames_not_ours;
    return false;
  }
  return true;
}

void Generator::from_inside(const uint8_t* frame, uint32_t len) {
  ParsedPacket p;
  if (!parse(frame, len, &p)) {
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
  ParsedPacket p;
  if (!parse(frame, len, &p)) {
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

void Generator::start_session() {
  const uint32_t n = started_++;
  std::mt19937_64 rng(c_.seed * 1'000'003 + n);
  const bool spam = rng() % 1000 < c_.spam_per_mille;
  std::string sender = std::to_string(n);  // "user<n>@inside.test" (built in steps: GCC 12's
  sender.insert(0, "user");                // -Wrestrict misfires on "literal" + std::string)
  sender += "@inside.test";
  std::vector<MessageSpec> messages;
  for (uint32_t m = 0; m < (spam ? 1 : c_.messages_per_session); ++m) {
    std::string id = std::to_string(n);  // "s<session>m<message>"
    id.insert(0, 1, 's');
    id += 'm';
    id += std::to_string(m);
    std::string body = spam ? std::string(kGtube) + "\r\n" : std::string();
    while (body.size() < c_.message_bytes) {
      body += "Line " + std::to_string(rng() % 100'000) + " of message " + id + ".\r\n";
      if (rng() % 7 == 0) {
        body += ".a line that starts with a dot\r\n";
      }
    }
    std::string content = "From: <" + sender + ">\r\nTo: <rcpt@outside.test>\r\nSubject: message " +
                          id + "\r\nMessage-ID: <" + id + "@inside.test>\r\nX-Smtpgen-Id: " + id +
                          "\r\n\r\n" + body;
    sent_[id] = Sent{content, spam, false};
    r_.spam_sent += spam ? 1 : 0;
    messages.push_back({sender, {"rcpt@outside.test"}, std::move(content)});
  }
  // Spam from a host of its own: the steering after its verdict moves no clean host.
  open_client(spam ? c_.client_ip + c_.client_hosts : c_.client_ip + n % c_.client_hosts, n,
              std::move(messages), static_cast<uint32_t>(rng()));
}

// A deferred message sent again in a session of its own from the same host, as an MTA's queue
// would.
void Generator::start_retry(const MessageSpec& m) {
  const uint32_t n = c_.sessions + retry_sessions_++;
  open_client(c_.client_ip + c_.client_hosts, n, {m}, n * 2654435761u);
}

void Generator::open_client(uint32_t host, uint32_t n, std::vector<MessageSpec> messages,
                            uint32_t isn) {
  const auto port = static_cast<uint16_t>(kFirstPort + n % 40'000);
  std::string helo = std::to_string(host & 255);
  helo.insert(0, "host");
  helo += ".inside.test";
  std::vector<MessageSpec> copy = messages;
  clients_.push_back(std::make_unique<Client>(
      TcpPeer::client({c_.inside_mac, host, port}, {inside_gw_, c_.server_ip, c_.server_port}, isn,
                      c_.tcp),
      SmtpClient(std::move(helo), std::move(messages), c_.bdat), std::move(copy)));
}

// What the client saw: a spam message's first attempt must be deferred (then it is sent again);
// anything else must be accepted.
void Generator::account(Client& cl) {
  r_.retransmissions += cl.tcp.retransmissions();
  const auto& results = cl.smtp.results();
  for (size_t i = 0; i < results.size(); ++i) {
    const MessageResult& m = results[i];
    r_.messages_sent += m.data != 0 ? 1 : 0;
    r_.messages_accepted += m.end == 250 ? 1 : 0;
    auto it = sent_.find(id_of(cl.messages[i].content));
    if (it == sent_.end()) {
      continue;
    }
    Sent& s = it->second;
    if (s.spam && !s.deferred && m.end == 451) {
      // On a normal flow: deferred, the host steered; sent again, it must leave from high risk.
      // (A session that began after the steering is on a high-risk flow and accepted at once:
      // where it arrives from is checked at the server.)
      s.deferred = true;
      ++r_.spam_deferred;
      retries_.push_back(cl.messages[i]);
    } else if (m.end != 250) {
      ++r_.wrong_decisions;
    }
  }
  // The gateway ends a session it deferred or refused with a 421 (docs/gateway.md): that is a
  // session done as the policy says, not a failure.
  const bool ended_by_gateway = cl.smtp.last_reply().starts_with("421") && !results.empty() &&
                                results.back().end >= 400;
  (cl.smtp.quit_answered() || ended_by_gateway ? r_.sessions_done : r_.sessions_failed) += 1;
  r_.sessions_ended_by_gateway += ended_by_gateway ? 1 : 0;
}

// What the server kept: byte for byte what was sent, from the pool the policy gives it.
void Generator::check_delivery(const std::string& content, uint32_t from_ip) {
  ++r_.messages_delivered;
  auto it = sent_.find(id_of(content));
  if (it == sent_.end() || it->second.content != content) {
    ++r_.content_mismatches;
    return;
  }
  if (c_.high_risk_ip == 0) {
    return;
  }
  const bool high_risk = from_ip == c_.high_risk_ip;
  if (it->second.spam) {
    if (high_risk) {
      ++r_.spam_delivered_high_risk;
    } else {
      ++r_.wrong_decisions;  // spam never leaves from the normal pool
    }
  } else if (high_risk) {
    ++r_.wrong_decisions;  // clean mail never leaves from the high-risk pool
  }
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
      std::string request(arp::kArpFrameLen, '\0');
      arp::build_request(reinterpret_cast<uint8_t*>(request.data()), c_.inside_mac, c_.client_ip,
                         c_.inside_gateway_ip, 0);
      to_inside.push_back(std::move(request));
      next_arp_ns_ = now_ns + kArpRetryNs;
    }
    r_.frames_out += to_inside.size() - in_before + to_outside.size() - out_before;
    return;
  }
  size_t open = 0;
  for (const auto& cl : clients_) {
    open += cl->counted ? 0 : 1;
  }
  while (open < c_.concurrency && !retries_.empty()) {  // deferred mail first, as a queue does
    start_retry(retries_.back());
    retries_.pop_back();
    ++open;
  }
  while (open < c_.concurrency && started_ < c_.sessions) {
    start_session();
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
      account(*cl);
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
      check_delivery(s->smtp.messages()[s->checked].content, static_cast<uint32_t>(key >> 16));
    }
  }
  r_.frames_out += to_inside.size() - in_before + to_outside.size() - out_before;
}

bool Generator::done() const {
  if (started_ < c_.sessions || !retries_.empty()) {
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
  r.messages_expected = sent_.size();
  for (const auto& [key, s] : servers_) {
    r.retransmissions += s->tcp.retransmissions();
  }
  return r;
}

bool Generator::passed() const {
  const GeneratorReport r = report();
  return done() && r.sessions_failed == 0 && r.messages_delivered == r.messages_expected &&
         r.content_mismatches == 0 && r.wrong_decisions == 0;
}

}  // namespace smtpgw::smtpgen
