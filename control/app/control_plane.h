// The control plane of `smtpgw run`, on the main lcore: it drains the workers' event queues
// into the store, the alerts and the DNS checks, publishes what changes (rule sets, policy,
// pool states, domain marks) and reclaims what the workers released, answers the operator
// API's requests, and reloads the config on SIGHUP. run_command.cc owns the start and the stop
// of EAL and the workers around it.
//
// Threads: the main lcore only, except where a part says otherwise (the store's writer, the
// API's server threads and the alert sinks' threads are their own).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "control/alerts/alerts.h"
#include "control/alerts/sinks.h"
#include "control/api/server.h"
#include "control/app/api_backend.h"
#include "control/app/dns_watch.h"
#include "control/app/gateway.h"
#include "control/app/policy_versions.h"
#include "control/app/reputation_watch.h"
#include "control/app/rule_versions.h"
#include "control/store/store.h"
#include "dataplane/count/reconcile.h"

namespace smtpgw::app {

class ControlPlane {
 public:
  ControlPlane(Gateway& g, std::string config_path);
  ~ControlPlane();

  // First, before EAL: the store opened (created or migrated). False (said on stderr) when
  // it is configured and cannot be opened: the gateway must not start, for running without it
  // would lose the trace and restrictions silently.
  bool open_store();

  // Then, still before EAL: the policy (g.cfg.limits) and g.ruleset from their active versions
  // (the store's, else the config file's; policy_versions.h, rule_versions.h). False: no rule
  // set compiles; the gateway must not start.
  bool load_versions();

  // After build(g), before the workers launch: the restrictions in force written into the
  // sender table again, so a restart lifts none.
  void restore_restrictions();

  // After the workers launch: the DNS checks, the alerts and their sinks, the operator API.
  // False (said on stderr) when a configured part cannot start; the caller stops the gateway.
  bool start();

  // One round of the main loop (the caller sleeps 100 ms between rounds). `reload`: SIGHUP
  // was received; the config file is read again.
  void tick(bool reload);

  // Before the workers stop: the API answers what is queued and closes.
  void close_api();

  // After the workers stopped: their last events stored, the control plane's counters printed.
  void finish();

 private:
  bool start_alerts();
  // The control plane's counters (DNS checks, alert sinks) as "PREFIXname value" lines.
  std::string counter_lines(const std::string& prefix) const;
  void reload();
  void publish_stats();
  void handle(const events::Event& e, uint64_t now_s);
  void drain();
  // True when a worker's queue dropped events since the last round (alerted).
  bool raise_overflows();
  // After an overflow (at most once a second): the crossings and restrictions whose events were
  // lost, found in the sender table (count/reconcile.h) and handled as their events would have
  // been. Without one, forgets what can no longer be missed.
  void reconcile(bool overflowed);

  Gateway& g_;
  const std::string config_path_;
  std::unique_ptr<store::Store> db_;
  // The queued sinks before the Alerts that hold their callbacks (which outlive them safely).
  std::unique_ptr<alerts::WebhookSink> webhook_;
  std::unique_ptr<alerts::EmailSink> email_;
  std::unique_ptr<alerts::SyslogSink> syslog_;
  alerts::Alerts alerts_;
  std::unique_ptr<RuleVersions> rules_;
  std::unique_ptr<PolicyVersions> policies_;
  std::unique_ptr<DnsWatch> dns_;
  std::unique_ptr<ReputationWatch> reputation_;  // null: reputation.enabled false
  api::EventStream events_{1024, 4};  // 4 of the API's 8 threads at most hold a stream
  api::History history_{900};         // 15 minutes of the stats event's totals, one a second
  uint64_t ticks_ = 0;
  std::unique_ptr<ApiBackend> backend_;
  std::unique_ptr<api::Server> api_;
  std::vector<uint64_t> overflow_seen_;  // per worker: the overflow count already alerted
  count::Handled handled_;             // crossings and restrictions already handled
  uint32_t reconcile_since_s_ = 0;     // table seconds: no lost crossing is older
  bool reconcile_pending_ = false;     // an overflow not yet reconciled
  uint64_t reconciled_at_ms_ = 0;      // monotonic ms of the last reconcile
  uint64_t reconcile_runs_ = 0;
  uint64_t reconciled_crossings_ = 0;
  uint64_t reconciled_restrictions_ = 0;
};

}  // namespace smtpgw::app
