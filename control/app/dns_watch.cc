#include "control/app/dns_watch.h"

#include <algorithm>
#include <cstdio>

#include "control/config/config.h"

namespace smtpgw::app {

namespace {

// The sender-domain check (docs/config.md, "sender_domains"), or null when it is off or c-ares
// cannot start (said on stderr; the gateway runs without it).
std::unique_ptr<dns::DomainChecker> start_domain_checker(const Gateway& g) {
  const config::SenderDomainsConfig& sd = g.cfg.sender_domains;
  if (!g.domain_marks || !sd.check) {
    return nullptr;
  }
  dns::DomainOptions o;
  o.servers = sd.servers;
  o.found_ttl_s = sd.found_ttl;
  o.missing_ttl_s = sd.missing_ttl;
  o.timeout_ms = sd.timeout_ms;
  o.max_domains = sd.max_domains;
  o.max_pending = sd.max_pending;
  std::string error;
  std::unique_ptr<dns::DomainChecker> c = dns::DomainChecker::create(o, &error);
  if (!c) {
    std::fprintf(stderr, "smtpgw: sender_domains: %s; sender domains are not checked\n",
                 error.c_str());
    return nullptr;
  }
  std::printf("smtpgw: sender_domains: checking each sender domain for a mail exchanger (%s)\n",
              sd.servers.empty() ? "the system's resolver" : sd.servers.c_str());
  return c;
}

// Every counter of `o` (an enum class C with kCount, named by counter_name) as
// "PREFIXname value" lines.
template <class C, class O>
std::string lines_of(const O& o, const std::string& prefix) {
  std::string out;
  for (size_t k = 0; k < static_cast<size_t>(C::kCount); ++k) {
    const auto c = static_cast<C>(k);
    out += prefix + dns::counter_name(c) + " " + std::to_string(o.counter(c)) + "\n";
  }
  return out;
}

// The pools watched on DNS blocklists (docs/config.md, "dnsbl"), or null without zones or when
// c-ares cannot start (said on stderr; the gateway runs without it).
std::unique_ptr<dns::DnsblMonitor> start_dnsbl(const Gateway& g) {
  const config::DnsblConfig& d = g.cfg.dnsbl;
  if (d.zones.empty() || g.tables.all_pool.empty()) {
    return nullptr;
  }
  dns::DnsblOptions o;
  o.zones = d.zones;
  o.servers = d.servers;
  o.interval_s = d.interval;
  o.recheck_min_s = d.recheck_min;
  o.timeout_ms = d.timeout_ms;
  o.max_pending = d.max_pending;
  o.zone_rate = d.zone_rate;
  std::string error;
  std::unique_ptr<dns::DnsblMonitor> m = dns::DnsblMonitor::create(o, g.tables.all_pool, &error);
  if (!m) {
    std::fprintf(stderr, "smtpgw: dnsbl: %s; the pools are not watched\n", error.c_str());
    return nullptr;
  }
  std::string zones;
  for (const std::string& z : d.zones) {
    zones += (zones.empty() ? "" : ", ") + z;
  }
  std::printf("smtpgw: dnsbl: watching %zu pool addresses on %s, each every %u s\n",
              g.tables.all_pool.size(), zones.c_str(), d.interval);
  return m;
}

// The state `a` has in the published pools (kActive if it is in none).
flow::AddressState state_of(const Gateway& g, uint32_t a) {
  const flow::PoolState* now = g.pool_states->read();  // the only writer: stable
  for (size_t p = 0; p < now->pool_count(); ++p) {
    for (const flow::PoolState::Address& x : now->addresses(static_cast<flow::PoolId>(p))) {
      if (x.ip == a) {
        return x.state;
      }
    }
  }
  return flow::AddressState::kActive;
}

}  // namespace

// A traced transaction's envelope sender domain (whatever became of it), to the checker.
void DnsWatch::seen(const events::Event& e, uint64_t now_s) {
  if (!checker_ || e.kind != events::EventKind::kTrace || e.key.kind != events::KeyKind::kSender) {
    return;
  }
  const std::string_view sender(e.key.data, e.key.len);
  const size_t at = sender.rfind('@');
  if (at != std::string_view::npos) {
    checker_->seen(sender.substr(at + 1), now_s);
  }
}

// What the checker's answers changed: logged (at most kLogged a round) and published.
void DnsWatch::poll_domains(uint64_t now_s) {
  dns::DomainChecker& c = *checker_;
  constexpr size_t kLogged = 20;
  const std::vector<dns::DomainChecker::Change> changes = c.poll(now_s);
  for (size_t i = 0; i < changes.size() && i < kLogged; ++i) {
    const dns::DomainChecker::Change& ch = changes[i];
    if (ch.marked) {
      std::printf("smtpgw: sender_domains: %s has no mail exchanger (%s): its mail on normal "
                  "flows is deferred\n",
                  ch.domain.c_str(), dns::finding_name(ch.finding));
    } else {
      std::printf("smtpgw: sender_domains: %s is no longer marked (%s)\n", ch.domain.c_str(),
                  dns::finding_name(ch.finding));
    }
  }
  if (changes.size() > kLogged) {
    std::printf("smtpgw: sender_domains: and %zu more changes\n", changes.size() - kLogged);
  }
  if (!changes.empty() || marks_owed_) {
    std::fflush(stdout);
    marks_owed_ = !publish_domain_marks(g_, c.marked());
  }
  g_.domain_marks->reclaim();
}

// Who used `ip` in the dnsbl.blame_window before now, from the trace: the ranking into
// details["used_by"], and the first three in words ("a@x (10.1.0.5): 40 messages, 38 spam;
// ..."); "" without the store or any use. One indexed query on the main lcore, at a listing only.
std::string DnsWatch::who_used(const std::string& ip, uint64_t now_ns, nlohmann::json* details) {
  if (db_ == nullptr) {
    return "";
  }
  const uint64_t window_ns = uint64_t{g_.cfg.dnsbl.blame_window} * 1'000'000'000ull;
  std::string error;
  nlohmann::json users =
      db_->egress_users(ip, now_ns > window_ns ? now_ns - window_ns : 0, 10, &error);
  if (!error.empty()) {
    std::fprintf(stderr, "smtpgw: dnsbl: who used %s: %s\n", ip.c_str(), error.c_str());
    return "";
  }
  std::string words;
  for (size_t i = 0; i < users.size() && i < 3; ++i) {
    const nlohmann::json& u = users[i];
    const std::string sender = u["sender"].get<std::string>();
    words += (i == 0 ? "" : "; ") + (sender.empty() ? std::string("<>") : sender) + " (" +
             u["host"].get<std::string>() + "): " + std::to_string(u["messages"].get<int64_t>()) +
             " messages, " + std::to_string(u["spam"].get<int64_t>()) + " spam";
  }
  (*details)["used_by"] = std::move(users);
  (*details)["blame_window_s"] = g_.cfg.dnsbl.blame_window;
  return words;
}

// What the blocklists said since the last round: logged, and the pool states published (a
// listed address leaves rotation for new flows; a delisted one returns; an address an operator
// drains stays draining). What could not be published yet (the workers had not
// released enough older versions) for the next round.
void DnsWatch::poll_dnsbl(alerts::Alerts& alerts, uint64_t now_ns, uint64_t now_ms) {
  Gateway& g = g_;
  std::vector<std::pair<uint32_t, bool>>& owed = dnsbl_owed_;
  const dns::DnsblMonitor::Changes c = dnsbl_->poll(now_ms);
  for (const auto& z : c.zones) {
    if (z.disabled) {
      std::printf("smtpgw: dnsbl: zone %s disabled (%s): its listings are not trusted\n",
                  z.zone.c_str(), z.why.c_str());
      alerts.raise(alerts::Kind::kZoneDisabled, z.zone,
                   "blocklist " + z.zone + " answers its test points wrongly (" + z.why +
                       "): its listings are not trusted",
                   nlohmann::json::object(), now_ns);
    } else {
      std::printf("smtpgw: dnsbl: zone %s trusted again (%s)\n", z.zone.c_str(), z.why.c_str());
    }
  }
  for (const auto& a : c.addresses) {
    const std::string ip = config::to_string(config::Ipv4{a.address});
    if (a.listed) {
      std::printf("smtpgw: dnsbl: %s listed on %s (127.0.0.%u): out of rotation for new flows\n",
                  ip.c_str(), a.zone.c_str(), a.code);
      nlohmann::json details{{"zone", a.zone}, {"code", a.code}};
      const std::string blame = who_used(ip, now_ns, &details);
      used_by_[a.address] = details.value("used_by", nlohmann::json::array());
      if (!blame.empty()) {
        std::printf("smtpgw: dnsbl: %s was used most by %s\n", ip.c_str(), blame.c_str());
      }
      alerts.raise(alerts::Kind::kEgressListed, ip,
                   ip + " is listed on " + a.zone + " (127.0.0." + std::to_string(a.code) +
                       "): no new flow leaves from it" +
                       (blame.empty() ? std::string() : "; used most by " + blame),
                   std::move(details), now_ns);
    } else {
      used_by_.erase(a.address);
      std::printf("smtpgw: dnsbl: %s no longer listed: back in rotation\n", ip.c_str());
      alerts.raise(alerts::Kind::kEgressDelisted, ip, ip + " is no longer listed: back in rotation",
                   nlohmann::json::object(), now_ns);
    }
    owed.emplace_back(a.address, a.listed);
  }
  if (owed.empty()) {
    return;
  }
  std::vector<std::pair<uint32_t, flow::AddressState>> states;
  for (const auto& [a, listed] : owed) {
    const flow::AddressState now = state_of(g, a);
    if (listed && now == flow::AddressState::kActive) {
      states.emplace_back(a, flow::AddressState::kListed);
    } else if (!listed && now == flow::AddressState::kListed) {
      states.emplace_back(a, flow::AddressState::kActive);
    }
  }
  if (!states.empty() && !publish_pool_states(g, states)) {
    return;  // tried again next round
  }
  owed.clear();
  const flow::PoolState* now = g.pool_states->read();
  for (size_t p = 0; p < now->pool_count(); ++p) {
    const auto id = static_cast<flow::PoolId>(p);
    size_t active = 0;
    for (const flow::PoolState::Address& x : now->addresses(id)) {
      active += x.state == flow::AddressState::kActive ? 1 : 0;
    }
    if (active == 0 && !now->addresses(id).empty()) {
      const std::string& pool = now->name(id);
      const char* fallback =
          now->fallback() == flow::NoActiveFallback::kUseListed ? "use_listed" : "refuse";
      std::printf("smtpgw: dnsbl: pool %s has no active address left: new flows follow "
                  "pools.fallback (%s)\n",
                  pool.c_str(), fallback);
      alerts.raise(alerts::Kind::kPoolExhausted, pool,
                   "pool " + pool + " has no active address left: new flows follow "
                       "pools.fallback (" + fallback + ")",
                   nlohmann::json::object(), now_ns);
    }
  }
  std::fflush(stdout);
}

DnsWatch::DnsWatch(Gateway& g, store::Store* db)
    : g_(g), db_(db), checker_(start_domain_checker(g)), dnsbl_(start_dnsbl(g)) {}

void DnsWatch::poll(alerts::Alerts& alerts, uint64_t unix_now_ns, uint64_t monotonic_now_ms) {
  if (checker_) {
    poll_domains(unix_now_ns / 1'000'000'000ull);
  }
  if (dnsbl_) {
    poll_dnsbl(alerts, unix_now_ns, monotonic_now_ms);
  }
}

std::string DnsWatch::counter_lines(const std::string& prefix) const {
  std::string out;
  if (dnsbl_) {
    out += lines_of<dns::DnsblCounter>(*dnsbl_, prefix + "dnsbl_");
  }
  if (checker_) {
    out += lines_of<dns::DomainCounter>(*checker_, prefix + "sender_domains_");
  }
  return out;
}

nlohmann::json DnsWatch::blocklists(uint32_t address, uint64_t unix_now_ns,
                                    uint64_t monotonic_now_ms) const {
  nlohmann::json out = nlohmann::json::object();
  if (!dnsbl_) {
    return out;
  }
  const std::vector<dns::DnsblMonitor::Result> results = dnsbl_->results(address);
  if (results.empty()) {
    return out;
  }
  nlohmann::json zones = nlohmann::json::array();
  for (const dns::DnsblMonitor::Result& r : results) {
    const uint64_t age_s = (monotonic_now_ms - std::min(monotonic_now_ms, r.checked_ms)) / 1000;
    nlohmann::json z = {{"zone", *r.zone},
                        {"trusted", r.trusted},
                        {"result", r.verdict},
                        {"error", r.last_error},
                        {"checked_unix_s", r.checked_ms == 0 ? 0 : unix_now_ns / 1'000'000'000ull - age_s}};
    if (r.code != 0) {
      z["code"] = "127.0.0." + std::to_string(r.code);
    }
    zones.push_back(std::move(z));
  }
  out["zones"] = std::move(zones);
  out["listed"] = dnsbl_->listed(address);
  if (auto it = used_by_.find(address); it != used_by_.end()) {
    out["used_by"] = it->second;
  }
  return out;
}

}  // namespace smtpgw::app
