#include "control/app/control_plane.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <utility>

#include <rte_cycles.h>

#include "control/alerts/sinks.h"
#include "control/clock/clock.h"
#include "control/config/config.h"
#include "control/rules/compiler.h"
#include "dataplane/worker/telemetry.h"

namespace smtpgw::app {

namespace {

// A path of the config (store.path, alerts.file, api.token_file, rules.dir): relative ones
// are read from the config file's folder, so the gateway finds its files wherever it starts.
std::filesystem::path beside_config(const std::string& config_path, const std::string& p) {
  std::filesystem::path path(p);
  return path.is_relative() ? std::filesystem::path(config_path).parent_path() / path : path;
}

// Said of what was found in the sender table rather than received as an event.
constexpr const char* kReconciledNote = " (its event was lost in an event-queue overflow; found in the sender table)";

// The alerts a worker's event raises: a restriction (of a sender, user, host or organisation)
// and a limit crossed. `reconciled`: the event was rebuilt from the sender table.
void alert_of(const events::Event& e, alerts::Alerts& alerts, bool reconciled = false) {
  const std::string key = store::Store::key_text(e.key);
  if (e.kind == events::EventKind::kRestrictionApplied) {
    const events::RestrictionApplied& r = e.u.restriction;
    const bool org = e.key.kind == events::KeyKind::kOrg;
    const std::string term =
        r.until_unix_s == 0 ? "until an operator releases it" : "for the rest of the day";
    nlohmann::json details = {{"limit", events::limit_name(r.limit)},
                              {"until_unix_s", r.until_unix_s}};
    if (reconciled) {
      details["reconciled"] = true;
    }
    alerts.raise(org ? alerts::Kind::kOrgRestricted : alerts::Kind::kUserRestricted, key,
                 key + " is restricted from sending (" + events::limit_name(r.limit) + ") " +
                     term + (reconciled ? kReconciledNote : ""),
                 details, e.unix_ns);
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

// The first line of a secret's file (api.token_file, alerts.webhook.token_file), trailing
// blanks removed; false (said on stderr, naming `key` and the file) when it cannot be read or is
// shorter than `min`. The secret itself is never printed.
bool read_secret(const std::string& config_path, const std::string& file, const char* key,
                 size_t min, std::string* out) {
  const std::filesystem::path path = beside_config(config_path, file);
  std::ifstream in(path);
  if (!in || !std::getline(in, *out)) {
    std::fprintf(stderr, "smtpgw: %s: cannot read %s\n", key, path.c_str());
    return false;
  }
  while (!out->empty() && (out->back() == '\r' || out->back() == ' ')) {
    out->pop_back();
  }
  if (out->size() < min) {
    std::fprintf(stderr, "smtpgw: %s: %s: the secret must have at least %zu characters\n", key,
                 path.c_str(), min);
    return false;
  }
  return true;
}

// The operator API (docs/config.md, "api"): off without a token; `failed` when it is
// configured but cannot start (a token file that cannot be read, an address in use), which
// stops the start rather than run without the API the operator asked for.
std::unique_ptr<api::Server> start_api(const Gateway& g, const std::string& config_path,
                                       api::Backend& backend, api::EventStream* events,
                                       api::History* history,
                                       bool* failed) {
  const config::ApiConfig& ac = g.cfg.api;
  *failed = false;
  if (!ac.enabled) {
    std::printf("smtpgw: api: disabled (api.enabled: false)\n");
    return nullptr;
  }
  std::string token = ac.token;
  if (!ac.token_file.empty() &&
      !read_secret(config_path, ac.token_file, "api.token_file", 16, &token)) {
    *failed = true;
    return nullptr;
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
  o.events = events;
  o.history = history;
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

bool ControlPlane::open_store() {
  const config::StoreConfig& sc = g_.cfg.store;
  if (!sc.enabled) {
    std::printf("smtpgw: store: disabled (store.enabled: false): no trace or restriction is kept "
                "across a restart\n");
    return true;
  }
  const std::filesystem::path path = beside_config(config_path_, sc.path);
  store::Options o;
  o.path = path.string();
  o.trace_days = sc.trace_days;
  o.trace_max_rows = sc.trace_max_rows;
  o.pool_names = pool_names(g_.cfg.pools);
  std::string error;
  std::unique_ptr<store::Store> st = store::Store::open(o, &error);
  if (!st) {
    std::fprintf(stderr, "smtpgw: store: %s\n", error.c_str());
    return false;
  }
  std::printf("smtpgw: store: %s (schema %d)\n", o.path.c_str(), store::kSchemaVersion);
  db_ = std::move(st);
  return true;
}

bool ControlPlane::load_versions() {
  policies_ = std::make_unique<PolicyVersions>(g_, config_path_, db_.get());
  policies_->load();
  rules_ = std::make_unique<RuleVersions>(g_, config_path_, db_.get(), alerts_);
  return rules_->load();
}

void ControlPlane::restore_restrictions() {
  if (!db_) {
    return;
  }
  std::string error;
  size_t applied = 0;
  if (g_.senders) {
    for (const store::Restriction& r : db_->restrictions_in_force(clock::unix_now_s(), &error)) {
      const count::FindOutcome o2 = g_.senders->restrict(r.key, r.limit, r.action, r.until_unix_s);
      applied += o2 == count::FindOutcome::kFull || o2 == count::FindOutcome::kContended ? 0 : 1;
      handled_.add_restriction(r.key, r.limit, static_cast<uint32_t>(r.until_unix_s));
    }
  }
  if (!error.empty()) {
    std::fprintf(stderr, "smtpgw: store: %s\n", error.c_str());
  }
  std::printf("smtpgw: store: %zu restrictions in force re-applied\n", applied);
  // The operator's drains, as before the restart; an address no longer configured is skipped.
  std::vector<std::pair<uint32_t, flow::AddressState>> states;
  for (const auto& [address, state] : db_->address_states(&error)) {
    const uint32_t a = config::parse_ipv4(address).value_or(config::Ipv4{}).value;
    if (state != "draining" ||
        std::find(g_.tables.all_pool.begin(), g_.tables.all_pool.end(), a) ==
            g_.tables.all_pool.end()) {
      std::printf("smtpgw: store: %s (%s) is in no pool now: its state is not applied\n",
                  address.c_str(), state.c_str());
      continue;
    }
    states.emplace_back(a, flow::AddressState::kDraining);
  }
  if (!states.empty() && !publish_pool_states(g_, states)) {
    std::fprintf(stderr, "smtpgw: store: the kept address states could not be published\n");
  } else if (!states.empty()) {
    std::printf("smtpgw: store: %zu pool addresses draining as before the restart\n",
                states.size());
  }
}
// SIGHUP: the config file read again. What may change while the gateway runs is published to
// the workers: `limits` (with `inspection.starttls` and `starttls_prefixes`) as the next policy
// version, and `rules` compiled again. Any other key takes effect at the next start. A config
// that does not load, or rules that do not compile, change nothing: the policy and the rule
// set in use stay.
void ControlPlane::reload() {
  Gateway& g = g_;
  const std::string& config_path = config_path_;
  const uint64_t now_ns = clock::unix_now_ns();
  config::Result loaded = config::load_file(config_path);
  if (!loaded) {
    std::fprintf(stderr, "%s", loaded.error_text().c_str());
    std::fprintf(stderr, "smtpgw: reload failed: %s rejected; the policy and the rule set in "
                         "use stay\n", config_path.c_str());
    return;
  }
  const config::Config& next = loaded.config();
  std::shared_ptr<const scan::Ruleset> rules;
  if (g.rules && next.rules.enabled && !rules_->config_dir_active()) {
    std::printf("smtpgw: rules: a version pushed through the API is active; rules.dir is "
                "compiled again after a roll-back to version 0\n");
  } else if (g.rules && next.rules.enabled) {
    rules = compile_rules(next, config_path);
    if (!rules) {
      std::fprintf(stderr, "smtpgw: rules: reload failed; the policy and the rule set in use "
                           "stay\n");
      alerts_.raise(alerts::Kind::kRulesetRejected, "rules",
                   "the rule set does not compile (errors in the gateway's log); the one in use "
                   "stays",
                   nlohmann::json::object(), now_ns);
      return;
    }
  } else if (next.rules.enabled != (g.rules != nullptr)) {
    std::printf("smtpgw: rules.enabled changed: takes effect at the next start\n");
  }
  if (g.policy && !policies_->config_file_active()) {
    std::printf("smtpgw: policy: a version pushed through the API is in force; the file's "
                "limits are read again after a roll-back to version 0\n");
  } else if (g.policy) {
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
    alerts_.raise(alerts::Kind::kRulesetActivated, "rules", "rules.dir, read again, is active",
                 {{"rules", g.ruleset->info().rule_count}, {"version", g.ruleset->info().version}},
                 now_ns);
  }
}

ControlPlane::ControlPlane(Gateway& g, std::string config_path)
    : g_(g),
      config_path_(std::move(config_path)),
      alerts_(g.cfg.alerts.aggregate) {}

ControlPlane::~ControlPlane() = default;

bool ControlPlane::start_alerts() {
  alerts_.add_sink([](const alerts::Alert& a, bool first) {
    if (first) {
      std::printf("smtpgw: alert: %s %s: %s\n", alerts::kind_name(a.kind), a.subject.c_str(),
                  a.message.c_str());
      std::fflush(stdout);
    }
  });
  alerts_.add_sink([events = &events_](const alerts::Alert& a, bool first) {
    if (first) {
      events->publish("alert", alerts::to_json(a));
    }
  });
  if (db_) {
    alerts_.add_sink([db = db_.get()](const alerts::Alert& a, bool first) {
      db->submit_alert(alerts::to_json(a), first);
    });
  }
  const config::AlertsConfig& ac = g_.cfg.alerts;
  if (!ac.file.empty()) {
    const std::filesystem::path path = beside_config(config_path_, ac.file);
    alerts::Alerts::Sink file;
    std::string error;
    if (!alerts::jsonl_sink(path.string(), &file, &error)) {
      std::fprintf(stderr, "smtpgw: alerts.file: %s\n", error.c_str());
      return false;
    }
    alerts_.add_sink(std::move(file));
  }
  // The queued sinks: the config loader checked their values with the sinks' own checks, so a
  // constructor that throws here means a value the loader let through: said, and the start
  // stops rather than run without the sink the operator asked for.
  try {
    if (ac.webhook) {
      alerts::WebhookOptions o;
      o.url = ac.webhook->url;
      o.timeout = std::chrono::milliseconds(ac.webhook->timeout_ms);
      o.delivery.max_queue = ac.webhook->max_queue;
      o.delivery.max_attempts = ac.webhook->max_attempts;
      if (!ac.webhook->token_file.empty() &&
          !read_secret(config_path_, ac.webhook->token_file, "alerts.webhook.token_file", 1,
                       &o.bearer_token)) {
        return false;
      }
      webhook_ = std::make_unique<alerts::WebhookSink>(std::move(o));
      alerts_.add_sink(webhook_->sink());
      std::printf("smtpgw: alerts: posting each alert to %s\n", ac.webhook->url.c_str());
    }
    if (ac.email) {
      alerts::EmailOptions o;
      o.relay_host = ac.email->relay_host;
      o.relay_port = ac.email->relay_port;
      o.from = ac.email->from;
      o.to = ac.email->to;
      o.timeout = std::chrono::milliseconds(ac.email->timeout_ms);
      o.delivery.max_queue = ac.email->max_queue;
      o.delivery.max_attempts = ac.email->max_attempts;
      email_ = std::make_unique<alerts::EmailSink>(std::move(o));
      alerts_.add_sink(email_->sink());
      std::printf("smtpgw: alerts: mailing each alert to %zu admin address(es) through %s:%u\n",
                  ac.email->to.size(), ac.email->relay_host.c_str(), ac.email->relay_port);
    }
    if (ac.syslog) {
      alerts::SyslogOptions o;
      o.facility = alerts::parse_syslog_facility(ac.syslog->facility)
                       .value_or(alerts::SyslogFacility::kDaemon);
      syslog_ = std::make_unique<alerts::SyslogSink>(o);
      alerts_.add_sink(syslog_->sink());
      std::printf("smtpgw: alerts: logging each alert to syslog (%s)\n",
                  ac.syslog->facility.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smtpgw: alerts: %s\n", e.what());
    return false;
  }
  return true;
}

std::string ControlPlane::counter_lines(const std::string& prefix) const {
  std::string out = dns_ ? dns_->counter_lines(prefix) : std::string();
  if (reputation_) {
    out += reputation_->counter_lines(prefix);
  }
  for (const auto& [name, sink] : {std::pair<const char*, const alerts::QueuedSink*>{"webhook", webhook_.get()},
                                  {"email", email_.get()},
                                  {"syslog", syslog_.get()}}) {
    if (sink == nullptr) {
      continue;
    }
    const alerts::SinkCounters c = sink->counters();
    for (const auto& [what, v] : {std::pair<const char*, uint64_t>{"delivered", c.delivered},
                                  {"retried", c.retried},
                                  {"dropped_full", c.dropped_full},
                                  {"failed", c.failed},
                                  {"abandoned", c.abandoned},
                                  {"queued", c.queued}}) {
      out += prefix + "alerts_" + name + "_" + what + " " + std::to_string(v) + "\n";
    }
  }
  out += prefix + "reconcile_runs " + std::to_string(reconcile_runs_) + "\n";
  out += prefix + "reconciled_crossings " + std::to_string(reconciled_crossings_) + "\n";
  out += prefix + "reconciled_restrictions " + std::to_string(reconciled_restrictions_) + "\n";
  out += prefix + "alerts_raised " + std::to_string(alerts_.raised()) + "\n";
  out += prefix + "alerts_folded " + std::to_string(alerts_.folded()) + "\n";
  return out;
}

bool ControlPlane::start() {
  overflow_seen_.assign(g_.events.size(), 0);
  dns_ = std::make_unique<DnsWatch>(g_, db_.get());
  if (g_.cfg.reputation.enabled) {
    reputation_ = std::make_unique<ReputationWatch>(g_, db_.get());
  }
  if (!start_alerts()) {
    return false;
  }
  rules_->raise_pending();
  backend_ = std::make_unique<ApiBackend>(
      g_, db_.get(), *rules_, *policies_, [this]() { return counter_lines("smtpgw_"); });
  backend_->on_blocklists([this](uint32_t address) {
    return dns_->blocklists(address, clock::unix_now_ns(), clock::monotonic_ms());
  });
  if (reputation_) {
    backend_->on_complaint([this](const store::Complaint& c) {
      reputation_->complaint(c.sender, c.unix_ns / 1'000'000'000ull);
    });
  }
  bool api_failed = false;
  api_ = start_api(g_, config_path_, *backend_, &events_, &history_, &api_failed);
  return !api_failed;
}

void ControlPlane::handle(const events::Event& e, uint64_t now_s) {
  if (dns_) {
    dns_->seen(e, now_s);
  }
  if (db_) {
    db_->submit(e);
  }
  if (reputation_) {
    reputation_->observe(e);
  }
  handled_.add(e);
  alert_of(e, alerts_);
}

void ControlPlane::drain() {
  const uint64_t now_s = clock::unix_now_s();
  drain_events(g_, [&](const events::Event& e) { handle(e, now_s); });
}

void ControlPlane::reconcile(bool overflowed) {
  if (!g_.senders) {
    return;
  }
  reconcile_pending_ = reconcile_pending_ || overflowed;
  // Read after the overflow counters: an event lost after them is counted next round, and its
  // crossing is no older than this second.
  const uint32_t table_now_s = g_.senders->clock().now_s();
  const uint64_t now_ms = clock::monotonic_ms();
  if (!reconcile_pending_) {
    reconcile_since_s_ = table_now_s - 1;
    handled_.forget(reconcile_since_s_, table_now_s);
    return;
  }
  if (reconcile_runs_ != 0 && now_ms - reconciled_at_ms_ < 1'000) {
    return;  // the table walk costs O(slots): once a second under a lasting overflow
  }
  const uint64_t now_ns = clock::unix_now_ns();
  for (const count::ReconcileRecord& r : count::reconcile(*g_.senders, reconcile_since_s_, handled_)) {
    if (!r.restriction.active) {
      ++reconciled_crossings_;
      const std::string key = store::Store::key_text(r.key);
      alerts_.raise(alerts::Kind::kLimitExceeded, key,
                    key + " exceeded " + events::limit_name(r.limit) + kReconciledNote,
                    {{"limit", events::limit_name(r.limit)},
                     {"crossed_at_s", r.crossed_at_s},
                     {"reconciled", true}},
                    uint64_t{r.crossed_at_s} * 1'000'000'000ull);
      continue;
    }
    ++reconciled_restrictions_;
    events::Event e;
    e.kind = events::EventKind::kRestrictionApplied;
    e.key = r.key;
    e.unix_ns = now_ns;
    e.u.restriction.limit = r.restriction.limit;
    e.u.restriction.action = r.restriction.action;
    e.u.restriction.until_unix_s = r.restriction.until_s;
    if (db_) {
      db_->submit(e);
    }
    alert_of(e, alerts_, true);
  }
  ++reconcile_runs_;
  reconciled_at_ms_ = now_ms;
  reconcile_pending_ = false;
  reconcile_since_s_ = table_now_s - 1;
}

bool ControlPlane::raise_overflows() {
  bool any = false;
  for (size_t i = 0; i < g_.events.size(); ++i) {
    const uint64_t lost = g_.events[i]->overflow_total();
    if (lost != overflow_seen_[i]) {
      any = true;
      alerts_.raise(alerts::Kind::kQueueOverflow, "worker" + std::to_string(i),
                    "worker " + std::to_string(i) + "'s event queue overflowed: " +
                        std::to_string(lost - overflow_seen_[i]) +
                        " events lost (trace rows and alerts among them)",
                    {{"lost", lost - overflow_seen_[i]}}, clock::unix_now_ns());
      overflow_seen_[i] = lost;
    }
  }
  return any;
}

// The live statistics (GET /api/v1/events, "stats"): per worker its packets, bytes and busy TSC
// cycles (its load is their rate over tsc_hz), the pipeline's counters summed over the workers
// (messages by verdict and action among them), and the pool addresses' states. Totals since
// start: a client takes differences.
void ControlPlane::publish_stats() {
  nlohmann::json workers = nlohmann::json::array();
  nlohmann::json pipeline = nlohmann::json::object();
  uint64_t rx_bytes = 0, tx_bytes = 0;
  for (size_t w = 0; w < g_.workers.size(); ++w) {
    const worker::WorkerStats& st = g_.stats[w];
    rx_bytes += st.get(worker::Counter::rx_bytes);
    tx_bytes += st.get(worker::Counter::tx_bytes);
    workers.push_back({{"rx_packets", st.get(worker::Counter::rx_packets)},
                       {"tx_packets", st.get(worker::Counter::tx_packets)},
                       {"rx_bytes", st.get(worker::Counter::rx_bytes)},
                       {"tx_bytes", st.get(worker::Counter::tx_bytes)},
                       {"busy_cycles", st.get(worker::Counter::busy_cycles)}});
    if (w < g_.pipelines.size()) {
      g_.pipelines[w].for_each([&](std::string_view stage, std::string_view name, uint64_t v) {
        const std::string k = std::string(stage) + "_" + std::string(name);
        pipeline[k] = pipeline.value(k, uint64_t{0}) + v;
      });
    }
  }
  // The published pools: this thread is their only writer, so the version is stable.
  const nlohmann::json pools = pool_addresses(*g_.pool_states->read());
  const uint64_t now_ns = clock::unix_now_ns();
  // The chart's history keeps only what the overview plots: bytes and messages by verdict and
  // by action, totals like the event's.
  nlohmann::json sample = {{"unix_ns", now_ns}, {"rx_bytes", rx_bytes}, {"tx_bytes", tx_bytes}};
  for (const char* k : {"enforce_records", "enforce_spam", "enforce_not_scanned",
                        "enforce_records_refused", "enforce_records_throttled",
                        "enforce_records_deferred"}) {
    sample[k] = pipeline.value(k, uint64_t{0});
  }
  history_.add(std::move(sample));
  events_.publish("stats", {{"unix_ns", now_ns},
                            {"tsc_hz", rte_get_tsc_hz()},
                            {"workers", workers},
                            {"pipeline", pipeline},
                            {"pools", pools},
                            {"alerts_raised", alerts_.raised()}});
}

void ControlPlane::tick(bool reload_requested) {
  if (++ticks_ % 10 == 0 && api_) {
    publish_stats();
  }
  drain();
  reconcile(raise_overflows());
  dns_->poll(alerts_, clock::unix_now_ns(), clock::monotonic_ms());
  if (reputation_ && ticks_ % 10 == 0) {
    reputation_->poll(alerts_, clock::unix_now_ns());
  }
  backend_->run_pending();
  if (reload_requested) {
    reload();
    std::fflush(stdout);
  }
  if (g_.rules) {
    g_.rules->reclaim();  // old rule sets whose last message ended
  }
  g_.pool_states->reclaim();
  if (g_.policy) {
    g_.policy->reclaim();
  }
}

void ControlPlane::close_api() {
  events_.close();
  if (backend_) {
    backend_->shut();
  }
  api_.reset();  // no request reaches the gateway from here on
}

void ControlPlane::finish() {
  drain_events(g_, [&](const events::Event& e) {
    if (db_) {
      db_->submit(e);
    }
  });
  if (db_) {
    db_->flush();
    std::printf("  store_committed %llu\n  store_dropped %llu\n  store_write_errors %llu\n",
                static_cast<unsigned long long>(db_->committed()),
                static_cast<unsigned long long>(db_->dropped()),
                static_cast<unsigned long long>(db_->write_errors()));
  }
  for (alerts::QueuedSink* s : {static_cast<alerts::QueuedSink*>(webhook_.get()),
                                static_cast<alerts::QueuedSink*>(email_.get()),
                                static_cast<alerts::QueuedSink*>(syslog_.get())}) {
    if (s != nullptr) {
      s->stop();  // what is queued gets its grace; the counters below are final
    }
  }
  std::printf("%s", counter_lines("  ").c_str());
}

}  // namespace smtpgw::app
