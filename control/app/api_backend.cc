#include "control/app/api_backend.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>

#include "control/clock/clock.h"
#include "control/config/config.h"
#include "dataplane/count/key.h"
#include "dataplane/flow/pool_state.h"

namespace smtpgw::app {

namespace {

const char* action_name(events::ActionTaken a) {
  switch (a) {
    case events::ActionTaken::kAlerted:
      return "alert";
    case events::ActionTaken::kThrottled:
      return "throttle";
    case events::ActionTaken::kBlockedForToday:
      return "block_user_for_today";
    case events::ActionTaken::kBlocked:
      return "block_user";
    case events::ActionTaken::kNotReapplied:
      return "not_reapplied";
  }
  return "unknown";
}

const char* kind_name(events::KeyKind k) {
  switch (k) {
    case events::KeyKind::kHost:
      return "host";
    case events::KeyKind::kSender:
      return "sender";
    case events::KeyKind::kUser:
      return "user";
    case events::KeyKind::kOrg:
      return "org";
    case events::KeyKind::kPair:
      return "pair";
    case events::KeyKind::kNone:
      break;
  }
  return "none";
}

std::string ipv4_text(uint32_t a) { return config::to_string(config::Ipv4{a}); }

}  // namespace

bool parse_key(const std::string& text, events::KeyBytes& out) {
  if (text.rfind("user:", 0) == 0) {
    return count::user_key(text.substr(5), out) == count::KeyStatus::kOk;
  }
  if (text.rfind("org:", 0) == 0) {
    return count::org_key(text.substr(4), out) == count::KeyStatus::kOk;
  }
  uint8_t a[16];
  if (inet_pton(AF_INET, text.c_str(), a) == 1) {
    out = count::host_key_v4(a);
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), a) == 1) {
    out = count::host_key_v6(a);
    return true;
  }
  return text.find('@') != std::string::npos &&
         count::sender_key(text, out) == count::KeyStatus::kOk;
}

ApiBackend::ApiBackend(Gateway& g, store::Store* store, RuleVersions& rules,
                       PolicyVersions& policies, std::function<std::string()> extra)
    : g_(g),
      store_(store),
      rules_(rules),
      policies_(policies),
      extra_metrics_(std::move(extra)),
      started_unix_s_(clock::unix_now_s()) {}

api::Reply ApiBackend::on_main(std::function<api::Reply()> f) {
  std::packaged_task<api::Reply()> task(std::move(f));
  std::future<api::Reply> done = task.get_future();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shut_) {
      return api::Reply::error(503, "the gateway is stopping");
    }
    tasks_.push_back(std::move(task));
  }
  if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    return api::Reply::error(503, "the gateway did not answer within 5 s");
  }
  return done.get();
}

void ApiBackend::run_pending() {
  std::deque<std::packaged_task<api::Reply()>> tasks;
  {
    std::lock_guard<std::mutex> l(mu_);
    tasks.swap(tasks_);
  }
  for (auto& t : tasks) {
    t();
  }
}

void ApiBackend::shut() {
  std::deque<std::packaged_task<api::Reply()>> tasks;
  {
    std::lock_guard<std::mutex> l(mu_);
    shut_ = true;
    tasks.swap(tasks_);
  }
  for (auto& t : tasks) {  // the gateway is still whole: answer them, nobody waits out 5 s
    t();
  }
}

api::Reply ApiBackend::health() {
  return on_main([this] {
    nlohmann::json h;
    h["status"] = "ok";
    char host[256] = {};
    h["gateway"] = gethostname(host, sizeof host - 1) == 0 ? host : "";  // whose console this is
    h["workers"] = g_.workers.size();
    h["uptime_s"] = clock::unix_now_s() - started_unix_s_;
    h["policy_version"] = g_.policy ? g_.policy->read()->policy().version : 0;
    h["rules"] = g_.ruleset ? "loaded" : "none";
    h["rules_version"] = rules_.active();
    h["store"] = store_ != nullptr ? store_->path() : "disabled";
    return api::Reply{200, h};
  });
}

namespace {

nlohmann::json restriction_json(const store::Restriction& r) {
  return {{"key", store::Store::key_text(r.key)},
          {"kind", kind_name(r.key.kind)},
          {"limit", r.limit_name},
          {"action", action_name(r.action)},
          {"until_unix_s", r.until_unix_s},
          {"applied_unix_ns", r.applied_unix_ns}};
}

}  // namespace

api::Reply ApiBackend::restrictions() {
  if (store_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false)");
  }
  std::string error;
  const auto list = store_->restrictions_in_force(clock::unix_now_s(), &error);
  if (!error.empty()) {
    return api::Reply::error(500, error);
  }
  nlohmann::json out = nlohmann::json::array();
  for (const store::Restriction& r : list) {
    out.push_back(restriction_json(r));
  }
  return api::Reply{200, nlohmann::json{{"restrictions", out}}};
}

api::Reply ApiBackend::restriction_history(uint32_t limit) {
  if (store_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false)");
  }
  std::string error;
  const auto list = store_->restriction_history(limit, &error);
  if (!error.empty()) {
    return api::Reply::error(500, error);
  }
  nlohmann::json out = nlohmann::json::array();
  for (const store::Restriction& r : list) {
    nlohmann::json j = restriction_json(r);
    j["released_unix_ns"] = r.released_unix_ns;
    j["release_reason"] = r.release_reason;
    out.push_back(std::move(j));
  }
  return api::Reply{200, nlohmann::json{{"restrictions", out}}};
}

api::Reply ApiBackend::release(const std::string& key_text, const std::string& reason) {
  events::KeyBytes key;
  if (!parse_key(key_text, key)) {
    return api::Reply::error(400, "\"" + key_text + "\" is no sender key: an address "
                                  "(a@example.org), a host (10.1.0.5), user:NAME or org:NAME");
  }
  api::Reply r = on_main([this, key, key_text] {
    if (!g_.senders) {
      return api::Reply::error(503, "the gateway runs without enforcement");
    }
    if (!g_.senders->release(key, g_.cfg.limits.day_boundary_utc_offset_min)) {
      return api::Reply::error(404, "no restriction of " + key_text + " is in force");
    }
    return api::Reply{200, nlohmann::json{{"released", key_text}}};
  });
  if (r.status == 200 && store_ != nullptr) {
    std::string error;
    if (!store_->release(key, reason, clock::unix_now_ns(), &error)) {
      r.body["warning"] = "released, but not recorded: " + error;
    }
  }
  return r;
}

// The rules a traced message hit get their descriptions from the active rule set (the trace
// keeps names and scores only: descriptions are long and the same in every row). A rule no
// longer in it is marked so. The rule set is taken on the main lcore (its only writer) and read
// here: a published rule set is immutable.
void ApiBackend::describe_rules(nlohmann::json& rows) {
  std::map<std::string, std::string> wanted;
  for (const nlohmann::json& m : rows) {
    for (const nlohmann::json& r : m.value("rules", nlohmann::json::array())) {
      wanted.emplace(r.value("name", ""), std::string());
    }
  }
  if (wanted.empty()) {
    return;
  }
  // Captured by value: a task may run after on_main gave up waiting (5 s).
  auto active = std::make_shared<std::shared_ptr<const scan::Ruleset>>();
  const bool answered = on_main([this, active] {
                          *active = g_.ruleset;
                          return api::Reply{200, {}};
                        }).status == 200;
  const std::shared_ptr<const scan::Ruleset> rs = answered ? *active : nullptr;
  std::map<std::string, bool> found;
  if (rs) {
    for (const scan::Rule& rule : rs->rules()) {
      if (auto it = wanted.find(rule.name); it != wanted.end()) {
        it->second = rule.description;
        found[rule.name] = true;
      }
    }
  }
  for (nlohmann::json& m : rows) {
    for (nlohmann::json& r : m["rules"]) {
      const std::string name = r.value("name", "");
      r["description"] = wanted[name];
      r["in_active_rules"] = found.count(name) != 0;
    }
  }
}

api::Reply ApiBackend::trace(const api::TraceQuery& q) {
  if (store_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false)");
  }
  if (!q.pool.empty()) {
    // The start config's pools, fixed for the gateway's life: readable from any thread.
    const std::vector<std::string> pools = pool_names(g_.cfg.pools);
    std::string names;
    for (const std::string& p : pools) {
      names += (names.empty() ? "" : ", ") + p;
    }
    if (std::find(pools.begin(), pools.end(), q.pool) == pools.end()) {
      return api::Reply::error(400, "no pool is named \"" + q.pool + "\" (pools: " + names + ")");
    }
  }
  std::string error;
  nlohmann::json rows = store_->trace(q, &error);
  if (!error.empty()) {
    return api::Reply::error(500, error);
  }
  describe_rules(rows);
  nlohmann::json out{{"messages", rows}};
  if (rows.size() == q.limit && !rows.empty()) {
    out["next_before_id"] = rows.back()["id"];
  }
  return api::Reply{200, out};
}

api::Reply ApiBackend::alerts(uint32_t limit, bool open_only) {
  if (store_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false)");
  }
  std::string error;
  nlohmann::json rows = store_->alerts(limit, open_only, &error);
  if (!error.empty()) {
    return api::Reply::error(500, error);
  }
  return api::Reply{200, nlohmann::json{{"alerts", rows}}};
}

api::Reply ApiBackend::acknowledge(int64_t id, const std::string& note) {
  if (store_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false)");
  }
  std::string error;
  const int r = store_->acknowledge_alert(id, note, clock::unix_now_ns(), &error);
  if (r < 0) {
    return api::Reply::error(500, error);
  }
  if (r == 0) {
    return api::Reply::error(404, "no open alert " + std::to_string(id));
  }
  return api::Reply{200, nlohmann::json{{"acknowledged", id}}};
}

nlohmann::json pool_addresses(const flow::PoolState& pools,
                              const std::function<nlohmann::json(uint32_t)>& blocklists) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t p = 0; p < pools.pool_count(); ++p) {
    for (const flow::PoolState::Address& a : pools.addresses(static_cast<flow::PoolId>(p))) {
      out.push_back({{"address", ipv4_text(a.ip)},
                     {"pool", pools.name(static_cast<flow::PoolId>(p))},
                     {"state", std::string(flow::address_state_name(a.state))}});
      if (blocklists) {
        out.back()["blocklists"] = blocklists(a.ip);
      }
    }
  }
  return out;
}

api::Reply ApiBackend::pools() {
  return on_main([this] {
    const flow::PoolState* now = g_.pool_states->read();  // main lcore: the only writer
    // Per pool: its counts by state and the inside prefixes bound to it (named pools).
    nlohmann::json pools = nlohmann::json::array();
    for (size_t p = 0; p < now->pool_count(); ++p) {
      const auto id = static_cast<flow::PoolId>(p);
      if (id == flow::kHighRiskPool && !now->has_high_risk()) {
        continue;
      }
      size_t by_state[3] = {};  // indexed by flow::AddressState
      for (const flow::PoolState::Address& a : now->addresses(id)) {
        ++by_state[static_cast<int>(a.state)];
      }
      nlohmann::json counts = nlohmann::json::object();
      for (auto s : {flow::AddressState::kActive, flow::AddressState::kListed,
                     flow::AddressState::kDraining}) {
        counts[std::string(flow::address_state_name(s))] = by_state[static_cast<int>(s)];
      }
      nlohmann::json bound = nlohmann::json::array();
      for (const flow::PoolState::Binding& b : now->bindings()) {
        if (b.pool == id) {
          bound.push_back(ipv4_text(b.network) + "/" + std::to_string(b.length));
        }
      }
      pools.push_back({{"name", now->name(id)},
                       {"addresses", now->addresses(id).size()},
                       {"states", counts},
                       {"bound", bound}});
    }
    return api::Reply{
        200, nlohmann::json{{"addresses", pool_addresses(*now, blocklists_)}, {"pools", pools}}};
  });
}

api::Reply ApiBackend::set_address_state(const std::string& address, const std::string& state) {
  const std::optional<config::Ipv4> parsed = config::parse_ipv4(address);
  if (!parsed) {
    return api::Reply::error(400, "\"" + address + "\" is no IPv4 address");
  }
  flow::AddressState s;
  if (state == "draining") {
    s = flow::AddressState::kDraining;
  } else if (state == "active") {
    s = flow::AddressState::kActive;
  } else {
    return api::Reply::error(400, "state must be \"draining\" or \"active\" (\"listed\" is the "
                                  "blocklist monitor's to set)");
  }
  const uint32_t ip = parsed->value;
  api::Reply r = on_main([this, ip, s, address] {
    bool known = false;
    for (uint32_t a : g_.tables.all_pool) {
      known = known || a == ip;
    }
    if (!known) {
      return api::Reply::error(404, address + " is in no pool");
    }
    if (!publish_pool_states(g_, {{ip, s}})) {
      return api::Reply::error(503, "not published: the workers still read older versions; "
                                    "try again");
    }
    return api::Reply{200, nlohmann::json{{"address", address},
                                          {"state", std::string(flow::address_state_name(s))}}};
  });
  if (r.status == 200 && store_ != nullptr) {
    std::string error;
    if (!store_->set_address_state(address, state, clock::unix_now_ns(), &error)) {
      r.body["warning"] = "set, but not recorded (a restart forgets it): " + error;
    }
  }
  return r;
}

api::Reply ApiBackend::rules() {
  return rules_.describe(via_main_);
}

api::Reply ApiBackend::push_rules(const std::vector<api::RuleFile>& files, bool lenient,
                                  const std::string& note) {
  std::vector<rules::Source> sources;
  sources.reserve(files.size());
  for (const api::RuleFile& f : files) {
    sources.push_back({f.name, f.text});
  }
  return rules_.push(sources, lenient, note, via_main_);
}

api::Reply ApiBackend::rollback_rules(std::optional<int64_t> version) {
  return rules_.rollback(version, via_main_);
}

api::Reply ApiBackend::policy() {
  return policies_.describe(via_main_);
}

api::Reply ApiBackend::push_policy(const std::string& yaml, const std::string& note) {
  return policies_.push(yaml, note, via_main_);
}

api::Reply ApiBackend::rollback_policy(std::optional<int64_t> version) {
  return policies_.rollback(version, via_main_);
}

std::string ApiBackend::metrics() {
  api::Reply r = on_main([this] {
    std::string out;
    auto line = [&out](const std::string& name, const std::string& labels, uint64_t v) {
      out += "smtpgw_" + name + (labels.empty() ? "" : "{" + labels + "}") + " " +
             std::to_string(v) + "\n";
    };
    for (size_t w = 0; w < g_.workers.size(); ++w) {
      const std::string lw = "worker=\"" + std::to_string(w) + "\"";
      for (int c = 0; c < worker::kCounterCount; ++c) {
        line(std::string("worker_") + worker::counter_name(static_cast<worker::Counter>(c)), lw,
             g_.stats[w].get(static_cast<worker::Counter>(c)));
      }
      line("worker_nat_bindings", lw, g_.stats[w].get_bindings());
      if (w < g_.events.size()) {  // this is the queues' consumer thread
        line("event_queue_depth", lw, g_.events[w]->depth());
        line("event_queue_capacity", lw, g_.events[w]->capacity());
      }
      if (w < g_.pipelines.size()) {
        g_.pipelines[w].for_each([&](std::string_view stage, std::string_view name, uint64_t v) {
          line(std::string(stage) + "_" + std::string(name), lw, v);
        });
      }
    }
    const flow::PoolState* now = g_.pool_states->read();
    for (size_t p = 0; p < now->pool_count(); ++p) {
      const auto id = static_cast<flow::PoolId>(p);
      for (const flow::PoolState::Address& a : now->addresses(id)) {
        line("pool_address_state",
             "address=\"" + ipv4_text(a.ip) + "\",pool=\"" + now->name(id) + "\",state=\"" +
                 std::string(flow::address_state_name(a.state)) + "\"",
             1);
      }
    }
    if (g_.policy) {
      line("policy_version", "", g_.policy->read()->policy().version);
    }
    if (g_.ruleset) {
      line("ruleset_version", "", static_cast<uint64_t>(rules_.active()));
      line("ruleset_rules", "", g_.ruleset->info().rule_count);
    }
    if (store_ != nullptr) {
      line("store_queued", "", store_->queued());
      line("store_committed", "", store_->committed());
      line("store_dropped", "", store_->dropped());
      line("store_write_errors", "", store_->write_errors());
    }
    for (size_t k = 0; k < events::kEventKindCount; ++k) {
      line("events_drained", std::string("kind=\"") +
                                 events::event_kind_name(static_cast<events::EventKind>(k)) + "\"",
           g_.events_drained[k]);
    }
    for (size_t k = 0; k < events::kEventKindCount; ++k) {
      uint64_t lost = 0;
      for (const auto& q : g_.events) {
        lost += q->overflow(static_cast<events::EventKind>(k));
      }
      line("events_lost", std::string("kind=\"") +
                              events::event_kind_name(static_cast<events::EventKind>(k)) + "\"",
           lost);
    }
    if (extra_metrics_) {
      out += extra_metrics_();
    }
    return api::Reply{200, nlohmann::json(out)};
  });
  return r.status == 200 ? r.body.get<std::string>() : "# " + r.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace smtpgw::app
