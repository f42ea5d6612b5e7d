// The policy the workers enforce (limits, spam thresholds, organisations, time zone), and its
// versions: version 0 is the config file's `limits:` section, read at start and again on
// SIGHUP; an operator pushes a new `limits:` section through the API (validated by the config
// loader, with the errors' positions in the pushed text), published through the workers' RCU
// as the next policy version, and rolls back to any earlier one. Pushed versions live in the
// store, with which one is active, so a restart enforces the version active at the stop.
//
// Two numbers: a stored version (0: the config file's) names what was pushed; the published
// version (policy::Policy::version, 1 at start, one more at each publication) counts what the
// workers were given.
//
// Threads: load() on the main thread before build(); push/rollback/describe on the API's
// threads (serialized among themselves; what touches the gateway runs on the main lcore through
// `on_main`); config_file_active() on the main lcore.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

#include "control/app/rule_versions.h"

namespace smtpgw::app {

class PolicyVersions {
 public:
  using OnMain = RuleVersions::OnMain;

  // `db` may be null (the store is off: pushing answers 503).
  PolicyVersions(Gateway& g, std::string config_path, store::Store* db);

  // Before build(): g.cfg.limits from the store's active version, when one was pushed. A
  // stored version this binary refuses is reported and the config file's is used.
  void load();

  // A push of `text` (a YAML mapping with the one key `limits`). 200 with the stored and the
  // published version; 422 with every error as FILE:LINE:COL: KEY: message; 503 without the
  // store or when the workers still read too many older versions.
  api::Reply push(const std::string& text, const std::string& note, const OnMain& on_main);
  // A roll-back to `version` (0: the config file's limits, read again; nullopt: the one
  // active before the current).
  api::Reply rollback(std::optional<int64_t> version, const OnMain& on_main);
  // The policy in force (as JSON and as the text it was read from) and the stored versions.
  api::Reply describe(const OnMain& on_main);

  int64_t active() const { return active_.load(std::memory_order_relaxed); }
  // Main lcore: whether the config file's `limits:` is in force (what SIGHUP reads again).
  bool config_file_active() const { return active() == 0; }

 private:
  // Main lcore: publishes `cfg.limits` as stored version `id`.
  api::Reply activate(const config::Config& cfg, int64_t id, const std::string& how);

  Gateway& g_;
  const std::string config_path_;
  store::Store* db_;
  std::mutex mu_;  // one push or roll-back at a time
  // relaxed: written on the main lcore only; read there, or for display
  std::atomic<int64_t> active_{0};
};

// A policy as JSON (the API's GET /api/v1/policy).
nlohmann::json policy_json(const policy::Policy& p);

}  // namespace smtpgw::app
