#include "control/app/rule_versions.h"

#include <cstdio>
#include <filesystem>
#include <utility>

#include "control/clock/clock.h"
#include "control/codec/base64.h"

namespace smtpgw::app {

namespace {

constexpr const char* kKind = "rules";
constexpr size_t kDiagnosticsShown = 200;  // a reply lists at most this many

// A version as stored: the files' bytes in base64, for rule files need not be UTF-8 (JSON
// strings must be).
std::string body_of(const std::vector<rules::Source>& files, bool lenient) {
  nlohmann::json f = nlohmann::json::array();
  for (const rules::Source& s : files) {
    f.push_back({{"name", s.name}, {"base64", codec::base64_encode(s.text)}});
  }
  return nlohmann::json{{"files", f}, {"lenient", lenient}}.dump();
}

// A stored body back into files; false when it is not one of ours.
bool files_of(const std::string& body, std::vector<rules::Source>* files, bool* lenient) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_array()) {
    return false;
  }
  for (const nlohmann::json& f : j["files"]) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() ||
        !f.contains("base64") || !f["base64"].is_string()) {
      return false;
    }
    std::optional<std::string> text = codec::base64_decode(f["base64"].get<std::string>());
    if (!text) {
      return false;
    }
    files->push_back({f["name"].get<std::string>(), std::move(*text)});
  }
  *lenient = j.value("lenient", false);
  return true;
}

rules::CompileResult compile_files(const std::vector<rules::Source>& files, bool lenient,
                                   unsigned workers) {
  rules::CompileOptions opts;
  opts.mode = lenient ? rules::Mode::kLenient : rules::Mode::kStrict;
  opts.worker_count = workers;
  return rules::compile_sources(files, opts);
}

nlohmann::json diagnostics(const std::vector<rules::Diagnostic>& ds) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < ds.size() && i < kDiagnosticsShown; ++i) {
    out.push_back(ds[i].to_string() + " [" + std::string(rules::problem_name(ds[i].problem)) + "]");
  }
  return out;
}

}  // namespace

std::shared_ptr<const scan::Ruleset> compile_rules(const config::Config& cfg,
                                                   const std::string& config_path) {
  const config::RulesConfig& rc = cfg.rules;
  std::filesystem::path dir(SMTPGW_SHIPPED_RULES);
  if (!rc.dir.empty()) {
    dir = rc.dir;
    if (dir.is_relative()) {  // as every path of the config: from the config file's folder
      dir = std::filesystem::path(config_path).parent_path() / dir;
    }
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

api::Reply rollback_target(const store::Store& db, const std::string& kind,
                           std::optional<int64_t> version, const std::string& version0,
                           int64_t* to) {
  if (version) {
    *to = *version;
    return api::Reply{200, {}};
  }
  std::string error;
  const store::ActiveVersion a = db.active_version(kind, &error);
  if (!error.empty()) {
    return api::Reply::error(500, error);
  }
  if (a.version == 0 && a.previous == 0) {
    return api::Reply::error(409, "no earlier version: " + version0 + " has always been in force");
  }
  *to = a.previous;
  return api::Reply{200, {}};
}

RuleVersions::RuleVersions(Gateway& g, std::string config_path, store::Store* db,
                           alerts::Alerts& alerts)
    : g_(g), config_path_(std::move(config_path)), db_(db), alerts_(alerts) {}

bool RuleVersions::load() {
  if (!g_.cfg.rules.enabled) {
    std::printf("smtpgw: rules: disabled (rules.enabled: false): messages are not scanned\n");
    return true;
  }
  std::string error;
  const store::ActiveVersion a =
      db_ != nullptr ? db_->active_version(kKind, &error) : store::ActiveVersion{};
  if (a.version != 0) {
    const std::optional<store::StoredVersion> v = db_->version(kKind, a.version, &error);
    std::vector<rules::Source> files;
    bool lenient = false;
    if (v && files_of(v->body, &files, &lenient)) {
      rules::CompileResult r =
          compile_files(files, lenient, static_cast<unsigned>(g_.cfg.worker_count()));
      if (r.ruleset && (lenient || r.ok())) {
        std::printf("smtpgw: rules: version %lld (pushed through the API) is active: %u rules "
                    "(%u skipped)\n",
                    static_cast<long long>(a.version), r.compiled_rules, r.skipped_rules);
        g_.ruleset = std::move(r.ruleset);
        active_.store(a.version, std::memory_order_relaxed);
        return true;
      }
      rules::report(r, lenient ? rules::Mode::kLenient : rules::Mode::kStrict, stderr);
    }
    pending_alert_ = "version " + std::to_string(a.version) +
                     " (active when the gateway stopped) " +
                     (v ? "does not compile with this binary" : "cannot be read: " + error) +
                     "; rules.dir is in use";
    std::fprintf(stderr, "smtpgw: rules: %s\n", pending_alert_.c_str());
  }
  g_.ruleset = compile_rules(g_.cfg, config_path_);
  if (!g_.ruleset) {
    std::fprintf(stderr, "smtpgw: not starting\n");
    return false;
  }
  return true;
}

void RuleVersions::raise_pending() {
  if (!pending_alert_.empty()) {
    alerts_.raise(alerts::Kind::kRulesetRejected, "rules", pending_alert_,
                  nlohmann::json::object(), clock::unix_now_ns());
    pending_alert_.clear();
  }
}

api::Reply RuleVersions::activate(std::shared_ptr<const scan::Ruleset> rs, int64_t id,
                                  const std::string& how) {
  if (!publish_ruleset(g_, rs)) {
    return api::Reply::error(503, "not activated: the workers still scan with too many older "
                                  "rule sets; try again");
  }
  g_.ruleset = std::move(rs);
  active_.store(id, std::memory_order_relaxed);
  const uint32_t count = g_.ruleset->info().rule_count;
  std::printf("smtpgw: rules: version %lld active (%s): %u rules; new messages are scanned "
              "with it\n",
              static_cast<long long>(id), how.c_str(), count);
  std::fflush(stdout);
  alerts_.raise(alerts::Kind::kRulesetActivated, "rules",
                "rule set version " + std::to_string(id) + " is active (" + how + ")",
                {{"version", id}, {"rules", count}}, clock::unix_now_ns());
  return api::Reply{200, nlohmann::json{{"version", id}, {"rules", count}}};
}

api::Reply RuleVersions::rejected(const rules::CompileResult& r, const std::string& what) {
  api::Reply out = api::Reply::error(
      422, what + " does not compile (" + std::to_string(r.fatal_errors) +
               " errors); the active version stays");
  out.body["errors"] = diagnostics(r.errors);
  return out;
}

api::Reply RuleVersions::push(const std::vector<rules::Source>& files, bool lenient,
                              const std::string& note, const OnMain& on_main) {
  if (db_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false): pushed rule "
                                  "sets are kept in it");
  }
  std::lock_guard<std::mutex> l(mu_);
  // Tasks run on the main lcore may outlive this call (on_main gives up after 5 s): they
  // capture by value.
  api::Reply state = on_main([this] {
    return g_.rules ? api::Reply{200, {{"workers", g_.cfg.worker_count()}}}
                    : api::Reply::error(409, "the gateway runs without rules (rules.enabled: "
                                             "false); enable them and restart");
  });
  if (state.status != 200) {
    return state;
  }
  const auto workers = state.body["workers"].get<unsigned>();
  rules::CompileResult r = compile_files(files, lenient, workers);  // this thread, not a worker
  if (!r.ruleset || (!lenient && !r.ok())) {
    api::Reply out = rejected(r, "the rule set");
    on_main([this, errors = out.body["errors"], n = r.fatal_errors] {
      alerts_.raise(alerts::Kind::kRulesetRejected, "rules",
                    "a pushed rule set does not compile (" + std::to_string(n) +
                        " errors); the active version stays",
                    {{"errors", errors}}, clock::unix_now_ns());
      return api::Reply{200, {}};
    });
    return out;
  }
  const nlohmann::json summary{{"rules", r.compiled_rules},
                               {"skipped", r.skipped_rules},
                               {"files", files.size()},
                               {"lenient", lenient}};
  std::string error;
  const int64_t id = db_->add_version(kKind, body_of(files, lenient), summary, note,
                                      clock::unix_now_ns(), &error);
  if (id == 0) {
    return api::Reply::error(500, "not kept, so not activated: " + error);
  }
  std::shared_ptr<const scan::Ruleset> rs = std::move(r.ruleset);
  api::Reply out = on_main([this, rs, id] { return activate(rs, id, "pushed"); });
  if (out.status == 200) {
    if (!db_->activate_version(kKind, id, clock::unix_now_ns(), &error)) {
      out.body["warning"] = "active, but not recorded as active: " + error;
    }
    out.body["skipped"] = diagnostics(r.errors);  // lenient: what was left out, and why
  }
  return out;
}

api::Reply RuleVersions::rollback(std::optional<int64_t> version, const OnMain& on_main) {
  if (db_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false)");
  }
  std::lock_guard<std::mutex> l(mu_);
  std::string error;
  int64_t to = 0;
  if (api::Reply target = rollback_target(*db_, kKind, version, "rules.dir", &to);
      target.status != 200) {
    return target;
  }
  auto cfg = std::make_shared<config::Config>();
  api::Reply state = on_main([this, cfg] {
    *cfg = g_.cfg;  // the main lcore's copy, which SIGHUP may change
    return g_.rules ? api::Reply{200, {}}
                    : api::Reply::error(409, "the gateway runs without rules (rules.enabled: "
                                             "false)");
  });
  if (state.status != 200) {
    return state;
  }
  std::shared_ptr<const scan::Ruleset> rs;
  if (to == 0) {
    rs = compile_rules(*cfg, config_path_);
    if (!rs) {
      return api::Reply::error(422, "rules.dir does not compile (its errors are in the "
                                    "gateway's log); the active version stays");
    }
  } else {
    const std::optional<store::StoredVersion> v = db_->version(kKind, to, &error);
    if (!v) {
      return error.empty() ? api::Reply::error(404, "no rule set version " + std::to_string(to))
                           : api::Reply::error(500, error);
    }
    std::vector<rules::Source> files;
    bool lenient = false;
    if (!files_of(v->body, &files, &lenient)) {
      return api::Reply::error(500, "version " + std::to_string(to) + " is not readable");
    }
    rules::CompileResult r = compile_files(files, lenient, static_cast<unsigned>(cfg->worker_count()));
    if (!r.ruleset || (!lenient && !r.ok())) {
      return rejected(r, "version " + std::to_string(to));
    }
    rs = std::move(r.ruleset);
  }
  api::Reply out = on_main([this, rs, to] { return activate(rs, to, "rolled back"); });
  if (out.status == 200 && !db_->activate_version(kKind, to, clock::unix_now_ns(), &error)) {
    out.body["warning"] = "active, but not recorded as active: " + error;
  }
  return out;
}

api::Reply RuleVersions::describe(const OnMain& on_main) {
  api::Reply r = on_main([this] {
    nlohmann::json active{{"version", active_.load(std::memory_order_relaxed)}};
    if (g_.ruleset) {
      const scan::RulesetInfo& i = g_.ruleset->info();
      active["rules"] = i.rule_count;
      active["skipped"] = i.skipped_count;
      active["content_hash"] = i.content_hash;
    }
    active["source"] = active["version"] == 0 ? "rules.dir" : "api";
    return api::Reply{200, active};
  });
  if (r.status != 200) {
    return r;
  }
  nlohmann::json out{{"active", r.body}, {"versions", nlohmann::json::array()}};
  if (db_ != nullptr) {
    std::string error;
    out["versions"] = db_->versions(kKind, 50, &error);
    if (!error.empty()) {
      return api::Reply::error(500, error);
    }
  }
  return api::Reply{200, out};
}

}  // namespace smtpgw::app
