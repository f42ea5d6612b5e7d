// The rule set the workers scan with, and its versions: version 0 is the config file's
// (rules.dir, or the shipped set), read at start and again on SIGHUP; an operator pushes a new
// version through the API (compiled off the packet path, on the API's thread; activated through
// the workers' RCU, or rejected with the compiler's per-rule errors while the active version
// stays) and rolls back to any earlier one. Pushed versions live in the store, with which one is
// active, so a restart scans with the version that was active when the gateway stopped.
//
// Threads: load() on the main thread before the workers start; push/rollback/describe on the
// API's threads (serialized among themselves; what touches the gateway runs on the main lcore
// through `on_main`); config_dir_active()/reloaded() on the main lcore.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "control/alerts/alerts.h"
#include "control/api/server.h"
#include "control/app/gateway.h"
#include "control/rules/compiler.h"
#include "control/store/store.h"

namespace smtpgw::app {

// Compiles rules.dir (or the shipped set) with a scratch per worker. Prints every error (or,
// lenient, every skipped rule) as `smtpgw rules check` does; null when it does not compile.
// Any thread; takes seconds for thousands of rules.
std::shared_ptr<const scan::Ruleset> compile_rules(const config::Config& cfg,
                                                   const std::string& config_path);

// The version a roll-back goes to: `version` when given, else the one active before the
// current (409 when there is none: `version0`, the config file's, has always been in force).
// Reads the store (own connection); any thread.
api::Reply rollback_target(const store::Store& db, const std::string& kind,
                           std::optional<int64_t> version, const std::string& version0,
                           int64_t* to);

class RuleVersions {
 public:
  // Runs a task on the main lcore and returns its answer (ApiBackend's task queue).
  using OnMain = std::function<api::Reply(std::function<api::Reply()>)>;

  // `db` may be null (the store is off: pushing answers 503, for nothing could be kept).
  RuleVersions(Gateway& g, std::string config_path, store::Store* db, alerts::Alerts& alerts);

  // Before the workers start: g.ruleset compiled from the active version (the store's, else
  // rules.dir). A stored version that no longer compiles (a newer binary) is reported, and
  // rules.dir is used. False: no rule set compiles and the gateway must not start.
  bool load();

  // A push: the files of a rule set (each {name, text}), strict or lenient. 200 with the new
  // version, 422 with the compiler's diagnostics ("file:line: rule NAME: message"), 409 when
  // the gateway runs without rules, 503 without the store or when the workers still read too
  // many older rule sets.
  api::Reply push(const std::vector<rules::Source>& files, bool lenient, const std::string& note,
                  const OnMain& on_main);
  // A roll-back to `version` (0: rules.dir; nullopt: the one active before the current).
  api::Reply rollback(std::optional<int64_t> version, const OnMain& on_main);
  // The active version and the stored ones.
  api::Reply describe(const OnMain& on_main);

  // The active version (0: rules.dir). Any thread (for display).
  int64_t active() const { return active_.load(std::memory_order_relaxed); }
  // Main lcore: whether rules.dir is the active version (what SIGHUP compiles again).
  bool config_dir_active() const { return active() == 0; }
  // Main lcore, at start (after the alerts' sinks are added): the alert owed by load().
  void raise_pending();

 private:
  // Main lcore: publishes `rs` as version `id`, raises ruleset_activated.
  api::Reply activate(std::shared_ptr<const scan::Ruleset> rs, int64_t id, const std::string& how);
  api::Reply rejected(const rules::CompileResult& r, const std::string& what);

  Gateway& g_;
  const std::string config_path_;
  store::Store* db_;
  alerts::Alerts& alerts_;
  std::mutex mu_;  // one push or roll-back at a time: the store's active row follows the gateway
  // relaxed: written on the main lcore only; read there, or by describe() for display
  std::atomic<int64_t> active_{0};
  std::string pending_alert_;  // load(): why the stored version was not used
};

}  // namespace smtpgw::app
