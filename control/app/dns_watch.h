// The control plane's two DNS checks, run from the main lcore's loop: the sender-domain check
// (each traced sender domain looked up for a mail exchanger; marked domains published to the
// Enforcers) and the blocklist monitor (every pool address on every dnsbl zone; listed
// addresses out of rotation, through the published pool states). Each is off when it is not
// configured or c-ares cannot start (said on stdout/stderr; the gateway runs without it).
//
// Threads: the main lcore only (the checks are c-ares channels polled without blocking).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "contract/events.h"
#include "control/alerts/alerts.h"
#include "control/app/gateway.h"
#include "control/dns/dnsbl_monitor.h"
#include "control/dns/domain_checker.h"
#include "control/store/store.h"

namespace smtpgw::app {

class DnsWatch {
 public:
  // Starts what g.cfg configures (sender_domains, dnsbl). `db` (may be null) answers who used
  // an address before it was listed (dnsbl.blame_window), named in the egress_ip_listed alert.
  DnsWatch(Gateway& g, store::Store* db);

  // A drained event: a traced sender's domain is handed to the domain check.
  void seen(const events::Event& e, uint64_t unix_now_s);

  // One round: answers read, marks and pool states published, alerts raised. What could not
  // be published (the workers still read too many older versions) is owed to the next round.
  void poll(alerts::Alerts& alerts, uint64_t unix_now_ns, uint64_t monotonic_now_ms);

  // What the blocklist monitor knows of `address` (GET /api/v1/pools): per zone {zone, trusted,
  // result: listed|clean|unknown, code (listed), error (the last query concluded nothing),
  // checked_unix_s (0: not answered yet)}, and while it is listed, "used_by": who used it most
  // before the listing (as in the alert). {} without the monitor or for an address not watched.
  nlohmann::json blocklists(uint32_t address, uint64_t unix_now_ns, uint64_t monotonic_now_ms) const;

  // The checks' counters as "PREFIXname value" lines (the exit report, /metrics).
  std::string counter_lines(const std::string& prefix) const;

 private:
  void poll_domains(uint64_t unix_now_s);
  void poll_dnsbl(alerts::Alerts& alerts, uint64_t unix_now_ns, uint64_t monotonic_now_ms);
  std::string who_used(const std::string& ip, uint64_t unix_now_ns, nlohmann::json* details);

  Gateway& g_;
  store::Store* db_;
  std::unique_ptr<dns::DomainChecker> checker_;
  bool marks_owed_ = false;
  std::unique_ptr<dns::DnsblMonitor> dnsbl_;
  std::vector<std::pair<uint32_t, bool>> dnsbl_owed_;  // address, listed
  std::map<uint32_t, nlohmann::json> used_by_;          // listed addresses: who_used's ranking
};

}  // namespace smtpgw::app
