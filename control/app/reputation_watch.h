// The control plane's use of the reputation tracker (control/reputation): every traced message
// and every counted complaint goes in; what it finds comes out as alerts and, for the two
// judgements that restrict, as restrictions written into the sender table and the store:
//   suspicious_sending_pattern   alert (spam ratio or unknown-user ratio passed, before any limit)
//   complaint_rate_warn          alert suspicious_sending_pattern (the complaint rate)
//   complaint_rate_restrict      the sender (host, user) restricted until an operator releases
//                                it, alert user_restricted_from_sending; for an organisation,
//                                alert suspicious_sending_pattern only (see org_suspicious_share)
//   org_suspicious_share         the organisation restricted until released, alert
//                                org_restricted_from_sending
// Cleared findings are logged. Off with reputation.enabled: false.
//
// Threads: the main lcore only.
#pragma once

#include <memory>
#include <string>

#include "control/alerts/alerts.h"
#include "control/app/gateway.h"
#include "control/reputation/reputation.h"
#include "control/store/store.h"

namespace smtpgw::app {

class ReputationWatch {
 public:
  // `db` may be null (the restrictions are then not kept across a restart).
  ReputationWatch(Gateway& g, store::Store* db);

  void observe(const events::Event& e) { tracker_->observe(e); }
  // A complaint matched to `sender` (the ARF intake).
  void complaint(const std::string& sender, uint64_t unix_s) {
    tracker_->complaint(sender, unix_s);
  }
  // What the tracker found since the last call, acted on.
  void poll(alerts::Alerts& alerts, uint64_t unix_now_ns);
  // "PREFIXname value" lines (the exit report, /metrics).
  std::string counter_lines(const std::string& prefix) const;

 private:
  void restrict(const reputation::Finding& f, const std::string& reason);

  Gateway& g_;
  store::Store* db_;
  std::unique_ptr<reputation::Tracker> tracker_;
};

// The tracker's options from the config (reputation:, and limits.organisations).
reputation::Options reputation_options(const config::Config& cfg);

}  // namespace smtpgw::app
