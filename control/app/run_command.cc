// smtpgw run --config FILE: loads the config, starts EAL and the ports, builds the tables the
// workers read, launches one worker per worker lcore, and waits on the main lcore until SIGINT
// or SIGTERM; then stops the workers, prints the counters and closes the ports.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "control/alerts/alerts.h"
#include "control/api/server.h"
#include "control/app/api_backend.h"
#include "control/app/commands.h"
#include "control/app/gateway.h"
#include "control/config/config.h"
#include "control/dns/dnsbl_monitor.h"
#include "control/dns/domain_checker.h"
#include "control/store/store.h"
#include "control/rules/compiler.h"
#include "dataplane/worker/telemetry.h"
#include "dataplane/worker/worker.h"

namespace smtpgw::app {

namespace {

std::atomic<bool> g_stop{false};  // relaxed: a flag, no data published through it
std::atomic<bool> g_reload{false};  // SIGHUP: read the config again, publish what may change

void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }
void on_hup(int) { g_reload.store(true, std::memory_order_relaxed); }

int launch_worker(void* arg) {
  static_cast<worker::Worker*>(arg)->run(g_stop);
  return 0;
}

// Compiles rules.dir (or the shipped set) with a scratch per worker. Prints every error (or,
// lenient, every skipped rule) as `smtpgw rules check` does; null when it does not compile.
std::shared_ptr<const scan::Ruleset> compile_rules(const config::Config& cfg,
                                                   const std::string& config_path) {
  const config::RulesConfig& rc = cfg.rules;
  std::filesystem::path dir = rc.dir.empty() ? std::filesystem::path(SMTPGW_SHIPPED_RULES)
                                             : std::filesystem::path(rc.dir);
  if (dir.is_relative() && !rc.dir.empty()) {
    dir = std::filesystem::path(config_path).parent_path() / dir;
  }
  rules::CompileOptions opts;
  opts.mode = rc.lenient ? rules::Mode::kLenient : rules::Mode::kStrict;
  opts.worker_count = static_cast<unsigned>(cfg.worker_count());
  rules::CompileResult r = rules::compile_directory(dir, opts);
  if (!rules::report(r, opts.mode, stderr)) {
    std::fprintf(stderr,
                 "smtpgw: rules.dir: %s does not compile (%u errors above; rules.lenient: true "
                 "skips bad rules)\n",
                 dir.c_str(), r.fatal_errors);
    return nullptr;
  }
  std::printf("smtpgw: rules: %u rules from %s (%u skipped)\n", r.compiled_rules, dir.c_str(),
              r.skipped_rules);
  return std::move(r.ruleset);
}

// The rule set at start into g.ruleset; false: do not start.
bool load_rules(Gateway& g, const std::string& config_path) {
  if (!g.cfg.rules.enabled) {
    std::printf("smtpgw: rules: disabled (rules.enabled: false): messages are not scanned\n");
    return true;
  }
  g.ruleset = compile_rules(g.cfg, config_path);
  if (!g.ruleset) {
    std::fprintf(stderr, "smtpgw: not starting\n");
    return false;
  }
  return true;
}

// SIGHUP: the config file read again. What may change while the gateway runs is published to
// the workers: `limits` (with `inspection.starttls` and `starttls_prefixes`) as the next policy
// version, and `rules` compiled again. Any other key takes effect at the next start. A config
// that does not load, or rules that do not compile, change nothing: the policy and the rule
// set in use stay.
void reload(Gateway& g, const std::string& config_path, alerts::Alerts& alerts, uint64_t now_ns) {
  config::Result loaded = config::load_file(config_path);
  if (!loaded) {
    std::fprintf(stderr, "%s", loaded.error_text().c_str());
    std::fprintf(stderr, "smtpgw: reload failed: %s rejected; the policy and the rule set in "
                         "use stay\n", config_path.c_str());
    return;
  }
  const config::Config& next = loaded.config();
  std::shared_ptr<const scan::Ruleset> rules;
  if (g.rules && next.rules.enabled) {
    rules = compile_rules(next, config_path);
    if (!rules) {
      std::fprintf(stderr, "smtpgw: rules: reload failed; the policy and the rule set in use "
                           "stay\n");
      alerts.raise(alerts::Kind::kRulesetRejected, "rules.dir",
                   "the rule set does not compile (errors in the gateway's log); the one in use "
                   "stays",
                   nlohmann::json::object(), now_ns);
      return;
    }
  } else if (next.rules.enabled != (g.rules != nullptr)) {
    std::printf("smtpgw: rules.enabled changed: takes effect at the next start\n");
  }
  if (g.policy) {
    policy::Policy limits = next.limits;
    if (limits.sender_table_capacity != g.cfg.limits.sender_table_capacity) {
      std::printf("smtpgw: limits.sender_table_capacity changed: takes effect at the next "
                  "start\n");
      limits.sender_table_capacity = g.cfg.limits.sender_table_capacity;
    }
    if (g.policy->read()->policy().same_rules(limits)) {  // the only writer: read() is stable
      std::printf("smtpgw: policy: unchanged (version %llu)\n",
                  static_cast<unsigned long long>(g.policy->read()->policy().version));
    } else if (publish_policy(g, limits)) {
      g.cfg.limits = limits;
      std::printf("smtpgw: policy: reloaded (version %llu); every hold point from now on is "
                  "decided by it\n",
                  static_cast<unsigned long long>(g.policy->read()->policy().version));
    } else {
      std::fprintf(stderr, "smtpgw: policy: reload refused: too many older versions still "
                           "read by the workers; the policy in use stays\n");
    }
  }
  if (rules) {
    if (!publish_ruleset(g, rules)) {
      std::fprintf(stderr, "smtpgw: rules: reload refused: too many older rule sets still in "
                           "use by messages in flight; the rule set in use stays\n");
      return;
    }
    g.ruleset = std::move(rules);
    g.cfg.rules = next.rules;
    std::printf("smtpgw: rules: reloaded; new messages are scanned with it, messages in flight "
                "finish with the rule set they began with\n");
    alerts.raise(alerts::Kind::kRulesetActivated, "rules.dir", "a new rule set is active",
                 {{"rules", g.ruleset->info().rule_count}, {"version", g.ruleset->info().version}},
                 now_ns);
  }
}

uint64_t unix_now_s() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

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

// A traced transaction's envelope sender domain (whatever became of it), to the checker.
void feed_domain(dns::DomainChecker& c, const events::Event& e, uint64_t now_s) {
  if (e.kind != events::EventKind::kTrace || e.key.kind != events::KeyKind::kSender) {
    return;
  }
  const std::string_view sender(e.key.data, e.key.len);
  const size_t at = sender.rfind('@');
  if (at != std::string_view::npos) {
    c.seen(sender.substr(at + 1), now_s);
  }
}

// What the checker's answers changed: logged (at most kLogged a round) and published. Returns
// whether a publication is still owed (the workers had not released enough older versions).
bool publish_domain_changes(Gateway& g, dns::DomainChecker& c, uint64_t now_s, bool owed) {
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
  if (changes.empty() && !owed) {
    return false;
  }
  std::fflush(stdout);
  return !publish_domain_marks(g, c.marked());
}

// Every counter of `o` (an enum class C with kCount, named by counter_name) as
// "PREFIXname value" lines.
template <class C, class O>
std::string counter_lines(const O& o, const std::string& prefix) {
  std::string out;
  for (size_t k = 0; k < static_cast<size_t>(C::kCount); ++k) {
    const auto c = static_cast<C>(k);
    out += prefix + dns::counter_name(c) + " " + std::to_string(o.counter(c)) + "\n";
  }
  return out;
}

uint64_t monotonic_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
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
flow::AddressState state_of(const Gateway& g, uint32_t a, flow::Pool* pool) {
  const flow::PoolState* now = g.pool_states->read();  // the only writer: stable
  for (flow::Pool p : {flow::Pool::kNormal, flow::Pool::kHighRisk}) {
    for (const flow::PoolState::Address& x : now->addresses(p)) {
      if (x.ip == a) {
        *pool = p;
        return x.state;
      }
    }
  }
  return flow::AddressState::kActive;
}

// What the blocklists said since the last round: logged, and the pool states published (a
// listed address leaves rotation for new flows; a delisted one returns; an address an operator
// drains stays draining). `owed` keeps what could not be published yet (the workers had not
// released enough older versions) for the next round.
void apply_dnsbl(Gateway& g, dns::DnsblMonitor& m, uint64_t now_ms,
                 std::vector<std::pair<uint32_t, bool>>& owed, alerts::Alerts& alerts,
                 uint64_t now_ns) {
  const dns::DnsblMonitor::Changes c = m.poll(now_ms);
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
      alerts.raise(alerts::Kind::kEgressListed, ip,
                   ip + " is listed on " + a.zone + " (127.0.0." + std::to_string(a.code) +
                       "): no new flow leaves from it",
                   {{"zone", a.zone}, {"code", a.code}}, now_ns);
    } else {
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
    flow::Pool pool = flow::Pool::kNormal;
    const flow::AddressState now = state_of(g, a, &pool);
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
  for (flow::Pool p : {flow::Pool::kNormal, flow::Pool::kHighRisk}) {
    size_t active = 0;
    for (const flow::PoolState::Address& x : now->addresses(p)) {
      active += x.state == flow::AddressState::kActive ? 1 : 0;
    }
    if (active == 0 && !now->addresses(p).empty()) {
      const char* pool = p == flow::Pool::kNormal ? "normal" : "high_risk";
      const char* fallback =
          now->fallback() == flow::NoActiveFallback::kUseListed ? "use_listed" : "refuse";
      std::printf("smtpgw: dnsbl: pool %s has no active address left: new flows follow "
                  "pools.fallback (%s)\n",
                  pool, fallback);
      alerts.raise(alerts::Kind::kPoolExhausted, pool,
                   std::string("pool ") + pool + " has no active address left: new flows follow "
                       "pools.fallback (" + fallback + ")",
                   nlohmann::json::object(), now_ns);
    }
  }
  std::fflush(stdout);
}

// The database (docs/config.md, "store"), opened before the workers start: the restrictions
// still in force are written into the sender table again, so a restart lifts none. Null when
// the store is off; `failed` when it is on and cannot be opened (the gateway does not start:
// running without it would lose the trace and the restrictions silently).
std::unique_ptr<store::Store> open_store(Gateway& g, const std::string& config_path,
                                         bool* failed) {
  const config::StoreConfig& sc = g.cfg.store;
  *failed = false;
  if (!sc.enabled) {
    std::printf("smtpgw: store: disabled (store.enabled: false): no trace or restriction is kept "
                "across a restart\n");
    return nullptr;
  }
  std::filesystem::path path(sc.path);
  if (path.is_relative()) {
    path = std::filesystem::path(config_path).parent_path() / path;
  }
  store::Options o;
  o.path = path.string();
  o.trace_days = sc.trace_days;
  o.trace_max_rows = sc.trace_max_rows;
  std::string error;
  std::unique_ptr<store::Store> st = store::Store::open(o, &error);
  if (!st) {
    std::fprintf(stderr, "smtpgw: store: %s\n", error.c_str());
    *failed = true;
    return nullptr;
  }
  size_t applied = 0;
  if (g.senders) {
    for (const store::Restriction& r : st->restrictions_in_force(unix_now_s(), &error)) {
      const count::FindOutcome o2 = g.senders->restrict(r.key, r.limit, r.action, r.until_unix_s);
      applied += o2 == count::FindOutcome::kFull || o2 == count::FindOutcome::kContended ? 0 : 1;
    }
  }
  if (!error.empty()) {
    std::fprintf(stderr, "smtpgw: store: %s\n", error.c_str());
  }
  std::printf("smtpgw: store: %s (schema %d): %zu restrictions in force re-applied\n",
              o.path.c_str(), store::kSchemaVersion, applied);
  return st;
}

// Unix nanoseconds now (the alerts' and the store's clock).
uint64_t unix_now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// The alerts a worker's event raises: a restriction (of a sender, user, host or organisation)
// and a limit crossed.
void alert_of(const events::Event& e, alerts::Alerts& alerts) {
  const std::string key = store::Store::key_text(e.key);
  if (e.kind == events::EventKind::kRestrictionApplied) {
    const events::RestrictionApplied& r = e.u.restriction;
    const bool org = e.key.kind == events::KeyKind::kOrg;
    const std::string term =
        r.until_unix_s == 0 ? "until an operator releases it" : "for the rest of the day";
    alerts.raise(org ? alerts::Kind::kOrgRestricted : alerts::Kind::kUserRestricted, key,
                 key + " is restricted from sending (" + events::limit_name(r.limit) + ") " + term,
                 {{"limit", events::limit_name(r.limit)}, {"until_unix_s", r.until_unix_s}},
                 e.unix_ns);
  } else if (e.kind == events::EventKind::kThresholdCrossed) {
    const events::ThresholdCrossed& t = e.u.crossed;
    alerts.raise(alerts::Kind::kLimitExceeded, key,
                 key + " exceeded " + events::limit_name(t.limit) + " (" +
                     std::to_string(t.observed) + " of " + std::to_string(t.limit_max) +
                     (t.window_seconds != 0 ? " in " + std::to_string(t.window_seconds) + " s"
                                            : std::string(" in one message")) +
                     (t.dry_run != 0 ? ", dry run" : "") + ")",
                 {{"limit", events::limit_name(t.limit)},
                  {"observed", t.observed},
                  {"max", t.limit_max},
                  {"window_seconds", t.window_seconds},
                  {"dry_run", t.dry_run != 0}},
                 e.unix_ns);
  }
}

// The alerts and their sinks (docs/config.md, "alerts"): the gateway's log, the store, and the
// JSON-lines file when configured (false when it cannot be opened: the start stops).
bool start_alerts(const Gateway& g, const std::string& config_path, store::Store* db,
                  alerts::Alerts& alerts) {
  alerts.add_sink([](const alerts::Alert& a, bool first) {
    if (first) {
      std::printf("smtpgw: alert: %s %s: %s\n", alerts::kind_name(a.kind), a.subject.c_str(),
                  a.message.c_str());
      std::fflush(stdout);
    }
  });
  if (db != nullptr) {
    alerts.add_sink([db](const alerts::Alert& a, bool first) {
      db->submit_alert(alerts::to_json(a), first);
    });
  }
  if (!g.cfg.alerts.file.empty()) {
    std::filesystem::path path(g.cfg.alerts.file);
    if (path.is_relative()) {
      path = std::filesystem::path(config_path).parent_path() / path;
    }
    alerts::Alerts::Sink file;
    std::string error;
    if (!alerts::jsonl_sink(path.string(), &file, &error)) {
      std::fprintf(stderr, "smtpgw: alerts.file: %s\n", error.c_str());
      return false;
    }
    alerts.add_sink(std::move(file));
  }
  return true;
}

// The operator API (docs/config.md, "api"): off without a token; `failed` when it is
// configured but cannot start (a token file that cannot be read, an address in use), which
// stops the start rather than run without the API the operator asked for.
std::unique_ptr<api::Server> start_api(const Gateway& g, const std::string& config_path,
                                       api::Backend& backend, bool* failed) {
  const config::ApiConfig& ac = g.cfg.api;
  *failed = false;
  if (!ac.enabled) {
    std::printf("smtpgw: api: disabled (api.enabled: false)\n");
    return nullptr;
  }
  std::string token = ac.token;
  if (!ac.token_file.empty()) {
    std::filesystem::path path(ac.token_file);
    if (path.is_relative()) {
      path = std::filesystem::path(config_path).parent_path() / path;
    }
    std::ifstream in(path);
    if (!in || !std::getline(in, token)) {
      std::fprintf(stderr, "smtpgw: api.token_file: cannot read %s\n", path.c_str());
      *failed = true;
      return nullptr;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
    if (token.size() < 16) {
      std::fprintf(stderr, "smtpgw: api.token_file: %s: the token must have at least 16 "
                           "characters\n", path.c_str());
      *failed = true;
      return nullptr;
    }
  }
  if (token.empty()) {
    std::printf("smtpgw: api: off: no api.token or api.token_file configured\n");
    return nullptr;
  }
  api::Options o;
  o.address = ac.address;
  o.port = ac.port;
  o.token = token;
  o.max_body = ac.max_body;
  std::string error;
  std::unique_ptr<api::Server> server = api::Server::start(o, backend, &error);
  if (!server) {
    std::fprintf(stderr, "smtpgw: api: %s\n", error.c_str());
    *failed = true;
    return nullptr;
  }
  std::printf("smtpgw: api: listening on http://%s:%u/api/v1/ (bearer token required)\n",
              ac.address.c_str(), server->port());
  return server;
}

}  // namespace

int run_main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if (std::strncmp(argv[i], "--config=", 9) == 0) {
      config_path = argv[i] + 9;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("usage: smtpgw run --config FILE\n");
      return 0;
    } else {
      std::fprintf(stderr, "smtpgw run: unexpected argument '%s'\nusage: smtpgw run --config FILE\n",
                   argv[i]);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "usage: smtpgw run --config FILE\n");
    return 2;
  }
  // From here on SIGINT/SIGTERM stop the gateway cleanly, even while it is still starting
  // (compiling a large rule set takes seconds).
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  config::Result loaded = config::load_file(config_path);
  if (!loaded) {
    std::fprintf(stderr, "%s", loaded.error_text().c_str());
    std::fprintf(stderr, "smtpgw: %s: configuration rejected, not starting\n", config_path.c_str());
    return 2;
  }
  Gateway g;
  g.cfg = std::move(loaded.config());
  if (!load_rules(g, config_path)) {
    return 2;
  }

  std::vector<std::string> eal_args = config::eal_arguments(g.cfg, "smtpgw");
  // Without a PCI device in the config, keep EAL away from the machine's own NICs: probing
  // them is slow and may touch a device the host is using.
  bool any_pci = false;
  for (const std::string& a : eal_args) {
    any_pci = any_pci || a == "-a" || a == "--allow" || a == "-b" || a == "--block";
  }
  if (!any_pci) {
    eal_args.insert(eal_args.begin() + 1, "--no-pci");
  }
  std::vector<char*> eal_argv;
  for (std::string& a : eal_args) {
    eal_argv.push_back(a.data());
  }
  eal_argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(eal_args.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "smtpgw: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }

  int status = 0;
  bool store_failed = false;
  std::unique_ptr<store::Store> db;
  if (!build(g)) {
    status = 1;
  } else if (db = open_store(g, config_path, &store_failed); store_failed) {
    status = 1;
  } else {
    unsigned w = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
      if (w < g.workers.size()) {
        rte_eal_remote_launch(launch_worker, g.workers[w++].get(), lcore);
      }
    }
    std::signal(SIGHUP, on_hup);
    std::unique_ptr<dns::DomainChecker> checker = start_domain_checker(g);
    bool marks_owed = false;
    std::unique_ptr<dns::DnsblMonitor> dnsbl = start_dnsbl(g);
    std::vector<std::pair<uint32_t, bool>> dnsbl_owed;
    alerts::Alerts raised(g.cfg.alerts.aggregate);
    if (!start_alerts(g, config_path, db.get(), raised)) {
      g_stop.store(true, std::memory_order_relaxed);
      status = 1;
    }
    std::vector<uint64_t> overflow_seen(g.events.size(), 0);
    // The DNS checks' counters, as "PREFIXname value" lines (the exit report, /metrics).
    const auto dns_counters = [&](const std::string& prefix) {
      std::string out;
      if (dnsbl) {
        out += counter_lines<dns::DnsblCounter>(*dnsbl, prefix + "dnsbl_");
      }
      if (checker) {
        out += counter_lines<dns::DomainCounter>(*checker, prefix + "sender_domains_");
      }
      return out;
    };
    ApiBackend backend(g, db.get(), [&]() { return dns_counters("smtpgw_"); });
    bool api_failed = false;
    std::unique_ptr<api::Server> api_server = start_api(g, config_path, backend, &api_failed);
    if (api_failed) {
      g_stop.store(true, std::memory_order_relaxed);
      status = 1;
    }
    std::printf("smtpgw: running with %zu worker(s); SIGINT or SIGTERM stops, SIGHUP reloads "
                "limits and rules\n",
                g.workers.size());
    std::fflush(stdout);
    const uint32_t interval = g.cfg.telemetry.stats_interval_s;
    uint64_t ticks = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const uint64_t now_s = unix_now_s();
      drain_events(g, [&](const events::Event& e) {
        if (checker) {
          feed_domain(*checker, e, now_s);
        }
        if (db) {
          db->submit(e);
        }
        alert_of(e, raised);
      });
      for (size_t i = 0; i < g.events.size(); ++i) {
        const uint64_t lost = g.events[i]->overflow_total();
        if (lost != overflow_seen[i]) {
          raised.raise(alerts::Kind::kQueueOverflow, "worker" + std::to_string(i),
                       "worker " + std::to_string(i) + "'s event queue overflowed: " +
                           std::to_string(lost - overflow_seen[i]) +
                           " events lost (trace rows and alerts among them)",
                       {{"lost", lost - overflow_seen[i]}}, unix_now_ns());
          overflow_seen[i] = lost;
        }
      }
      if (checker) {
        marks_owed = publish_domain_changes(g, *checker, now_s, marks_owed);
        g.domain_marks->reclaim();
      }
      if (dnsbl) {
        apply_dnsbl(g, *dnsbl, monotonic_ms(), dnsbl_owed, raised, unix_now_ns());
      }
      backend.run_pending();
      if (g_reload.exchange(false, std::memory_order_relaxed)) {
        reload(g, config_path, raised, unix_now_ns());
        std::fflush(stdout);
      }
      if (g.rules) {
        g.rules->reclaim();  // old rule sets whose last message ended
      }
      g.pool_states->reclaim();
      if (g.policy) {
        g.policy->reclaim();
      }
      if (interval != 0 && ++ticks % (interval * 10) == 0) {
        std::printf("smtpgw: counters\n%s",
                    worker::format_report(g.stats, static_cast<uint16_t>(g.workers.size())).c_str());
        std::fflush(stdout);
      }
    }
    backend.shut();
    api_server.reset();  // no request reaches the gateway from here on
    rte_eal_mp_wait_lcore();
    std::printf("smtpgw: stopped; counters:\n%s",
                worker::format_report(g.stats, static_cast<uint16_t>(g.workers.size())).c_str());
    for (size_t i = 0; i < g.workers.size(); ++i) {
      worker::Worker& w = *g.workers[i];
      std::printf("  worker%zu nat_bindings %u\n", i, w.nat().size());
      w.close_inspection();  // transactions still open are reported, as at a flow's end
      if (i < g.pipelines.size()) {
        // Every non-zero counter of the pipeline (inspect, smtp, tcp, enforce), as telemetry's
        // /smtpgw/pipeline names them.
        g.pipelines[i].for_each([i](std::string_view stage, std::string_view name, uint64_t v) {
          if (v != 0) {
            std::printf("  worker%zu %.*s_%.*s %llu\n", i, static_cast<int>(stage.size()),
                        stage.data(), static_cast<int>(name.size()), name.data(),
                        static_cast<unsigned long long>(v));
          }
        });
      }
      if (const inspect::Inspector* in = w.inspector()) {
        // Each pool made at start: how much of it the traffic used, and how often it ran out
        // (what an operator sizes the inspection keys from).
        const auto pool = [i](const char* name, uint32_t made, uint32_t peak, uint64_t out) {
          std::printf("  worker%zu pool_%s made %u peak %u exhausted %llu\n", i, name, made, peak,
                      static_cast<unsigned long long>(out));
        };
        const smtp::SessionContext::PoolStats& s = in->sessions().pool();
        pool("active_sessions", s.parts, s.peak, s.exhausted);
        for (const auto& [name, p] : {std::pair{"messages", &in->messages().stats()},
                                      std::pair{"decoders", &in->decoders().stats()},
                                      std::pair{"scan_contexts", &in->scans().stats()}}) {
          pool(name, p->made, p->peak, p->exhausted);
        }
        const tcp::Reassembler& r = in->reassembler();
        std::printf("  worker%zu pool_segments made %u in_use %u exhausted %llu\n", i,
                    r.config().pool_slots, r.config().pool_slots - r.free_slots(),
                    static_cast<unsigned long long>(r.counter(tcp::Counter::kDropPoolExhausted)));
      }
      if (i < g.enforcers.size()) {
        std::printf("  worker%zu events_overflow %llu\n", i,
                    static_cast<unsigned long long>(g.events[i]->overflow_total()));
      }
    }
    drain_events(g, [&](const events::Event& e) {
      if (db) {
        db->submit(e);
      }
    });
    if (db) {
      db->flush();
      std::printf("  store_committed %llu\n  store_dropped %llu\n  store_write_errors %llu\n",
                  static_cast<unsigned long long>(db->committed()),
                  static_cast<unsigned long long>(db->dropped()),
                  static_cast<unsigned long long>(db->write_errors()));
    }
    std::printf("%s", dns_counters("  ").c_str());
    for (size_t k = 0; k < events::kEventKindCount; ++k) {
      std::printf("  events_%s %llu\n", events::event_kind_name(static_cast<events::EventKind>(k)),
                  static_cast<unsigned long long>(g.events_drained[k]));
    }
    std::fflush(stdout);
  }
  teardown(g);
  rte_eal_cleanup();
  return status;
}

}  // namespace smtpgw::app
