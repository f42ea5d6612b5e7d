#include "control/app/policy_versions.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "control/clock/clock.h"

namespace smtpgw::app {

namespace {

constexpr const char* kKind = "policy";

nlohmann::json limit_json(const policy::Limit& l) {
  return {{"max", l.max}, {"action", policy::action_name(l.action)}};
}

api::Reply refused(const config::Result& r, const std::string& what) {
  api::Reply out = api::Reply::error(422, what + " is refused (" + std::to_string(r.errors().size()) +
                                              " errors); the policy in force stays");
  nlohmann::json errors = nlohmann::json::array();
  for (const config::Error& e : r.errors()) {
    errors.push_back(e.to_string());
  }
  out.body["errors"] = errors;
  return out;
}

}  // namespace

nlohmann::json policy_json(const policy::Policy& p) {
  nlohmann::json orgs = nlohmann::json::array();
  for (const policy::OrgPrefix& o : p.org_prefixes) {
    orgs.push_back({{"prefix", o.prefix}, {"name", o.org}});
  }
  return {{"version", p.version},
          {"sender",
           {{"messages_per_minute", limit_json(p.sender.messages_per_minute)},
            {"recipients_per_message", limit_json(p.sender.recipients_per_message)},
            {"external_recipients_per_hour", limit_json(p.sender.external_recipients_per_hour)},
            {"internal_recipients_per_hour", limit_json(p.sender.internal_recipients_per_hour)},
            {"recipients_per_day", limit_json(p.sender.recipients_per_day)}}},
          {"host",
           {{"messages_per_minute", limit_json(p.host.messages_per_minute)},
            {"recipients_per_hour", limit_json(p.host.recipients_per_hour)}}},
          {"org",
           {{"recipients_per_day", limit_json(p.org.recipients_per_day)},
            {"recipients_per_day_factor", p.org.org_recipients_per_day_factor}}},
          {"spam",
           {{"verdicts_to_restrict", p.spam.verdicts_to_restrict},
            {"window_seconds", p.spam.window_seconds},
            {"action", policy::action_name(p.spam.action)},
            {"steer_ttl_seconds", p.spam.steer_ttl_seconds}}},
          {"dry_run", p.dry_run},
          {"day_boundary_utc_offset_min", p.day_boundary_utc_offset_min},
          {"internal_domains", p.internal_domains},
          {"organisations", orgs},
          {"sender_table_capacity", p.sender_table_capacity}};
}

PolicyVersions::PolicyVersions(Gateway& g, std::string config_path, store::Store* db)
    : g_(g), config_path_(std::move(config_path)), db_(db) {}

void PolicyVersions::load() {
  if (db_ == nullptr) {
    return;
  }
  std::string error;
  const store::ActiveVersion a = db_->active_version(kKind, &error);
  if (a.version == 0) {
    return;
  }
  const std::optional<store::StoredVersion> v = db_->version(kKind, a.version, &error);
  const std::string name = "policy version " + std::to_string(a.version);
  config::Result r = v ? config::load_policy(v->body, name, g_.cfg)
                       : config::Result(std::vector<config::Error>{});
  if (!v || !r.ok()) {
    std::fprintf(stderr, "%s", v ? r.error_text().c_str() : "");
    std::fprintf(stderr, "smtpgw: policy: %s (active when the gateway stopped) %s; the config "
                         "file's limits are in force\n",
                 name.c_str(), v ? "is refused by this binary" : ("cannot be read: " + error).c_str());
    return;
  }
  const uint32_t capacity = g_.cfg.limits.sender_table_capacity;
  g_.cfg.limits = r.config().limits;
  g_.cfg.limits.sender_table_capacity = capacity;  // the config file's, always
  active_.store(a.version, std::memory_order_relaxed);
  std::printf("smtpgw: policy: %s (pushed through the API) is in force\n", name.c_str());
}

api::Reply PolicyVersions::activate(const config::Config& cfg, int64_t id, const std::string& how) {
  policy::Policy next = cfg.limits;
  next.sender_table_capacity = g_.cfg.limits.sender_table_capacity;  // needs a restart
  if (!g_.policy) {
    return api::Reply::error(409, "the gateway runs without enforcement (inspection off)");
  }
  if (!publish_policy(g_, next)) {
    return api::Reply::error(503, "not published: the workers still read too many older "
                                  "policy versions; try again");
  }
  g_.cfg.limits = next;
  active_.store(id, std::memory_order_relaxed);
  const uint64_t published = g_.policy->read()->policy().version;  // the only writer: stable
  std::printf("smtpgw: policy: stored version %lld in force (%s), published as version %llu\n",
              static_cast<long long>(id), how.c_str(), static_cast<unsigned long long>(published));
  std::fflush(stdout);
  nlohmann::json body{{"version", id}, {"policy_version", published}};
  if (cfg.limits.sender_table_capacity != next.sender_table_capacity) {
    body["warning"] = "sender_table_capacity takes effect at the next start (from the config "
                      "file)";
  }
  return api::Reply{200, body};
}

api::Reply PolicyVersions::push(const std::string& text, const std::string& note,
                                const OnMain& on_main) {
  if (db_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false): pushed "
                                  "policies are kept in it");
  }
  std::lock_guard<std::mutex> l(mu_);
  auto base = std::make_shared<config::Config>();
  // Tasks run on the main lcore may outlive this call (on_main gives up after 5 s): they
  // capture by value.
  api::Reply state = on_main([this, base] {
    *base = g_.cfg;
    return api::Reply{200, {}};
  });
  if (state.status != 200) {
    return state;
  }
  config::Result r = config::load_policy(text, "policy", *base);
  if (!r.ok()) {
    return refused(r, "the policy");
  }
  std::string error;
  const int64_t id = db_->add_version(kKind, text, policy_json(r.config().limits), note,
                                      clock::unix_now_ns(), &error);
  if (id == 0) {
    return api::Reply::error(500, "not kept, so not published: " + error);
  }
  auto cfg = std::make_shared<config::Config>(r.config());
  api::Reply out = on_main([this, cfg, id] { return activate(*cfg, id, "pushed"); });
  if (out.status == 200 && !db_->activate_version(kKind, id, clock::unix_now_ns(), &error)) {
    out.body["warning"] = "in force, but not recorded as active: " + error;
  }
  return out;
}

api::Reply PolicyVersions::rollback(std::optional<int64_t> version, const OnMain& on_main) {
  if (db_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false)");
  }
  std::lock_guard<std::mutex> l(mu_);
  std::string error;
  int64_t to = 0;
  if (api::Reply target =
          rollback_target(*db_, kKind, version, "the config file's limits section", &to);
      target.status != 200) {
    return target;
  }
  auto base = std::make_shared<config::Config>();
  api::Reply state = on_main([this, base] {
    *base = g_.cfg;
    return api::Reply{200, {}};
  });
  if (state.status != 200) {
    return state;
  }
  std::shared_ptr<config::Config> next;
  if (to == 0) {
    config::Result r = config::load_file(config_path_);  // the file's limits, read again
    if (!r.ok()) {
      return refused(r, config_path_);
    }
    next = std::make_shared<config::Config>(*base);
    next->limits = r.config().limits;
  } else {
    const std::optional<store::StoredVersion> v = db_->version(kKind, to, &error);
    if (!v) {
      return error.empty() ? api::Reply::error(404, "no policy version " + std::to_string(to))
                           : api::Reply::error(500, error);
    }
    config::Result r = config::load_policy(v->body, "policy version " + std::to_string(to), *base);
    if (!r.ok()) {
      return refused(r, "version " + std::to_string(to));
    }
    next = std::make_shared<config::Config>(r.config());
  }
  api::Reply out = on_main([this, next, to] { return activate(*next, to, "rolled back"); });
  if (out.status == 200 && !db_->activate_version(kKind, to, clock::unix_now_ns(), &error)) {
    out.body["warning"] = "in force, but not recorded as active: " + error;
  }
  return out;
}

api::Reply PolicyVersions::describe(const OnMain& on_main) {
  api::Reply r = on_main([this] {
    const policy::Policy& p = g_.policy ? g_.policy->read()->policy() : g_.cfg.limits;
    return api::Reply{200, {{"version", active()},
                            {"source", active() == 0 ? "config file" : "api"},
                            {"policy_version", p.version},
                            {"limits", policy_json(p)}}};
  });
  if (r.status != 200) {
    return r;
  }
  nlohmann::json out{{"active", r.body}, {"versions", nlohmann::json::array()}};
  if (db_ != nullptr) {
    std::string error;
    const int64_t id = r.body["version"].get<int64_t>();
    if (id != 0) {
      if (std::optional<store::StoredVersion> v = db_->version(kKind, id, &error)) {
        out["active"]["text"] = v->body;  // what was pushed, as pushed
      }
    }
    out["versions"] = db_->versions(kKind, 50, &error);
    if (!error.empty()) {
      return api::Reply::error(500, error);
    }
  }
  return api::Reply{200, out};
}

}  // namespace smtpgw::app
