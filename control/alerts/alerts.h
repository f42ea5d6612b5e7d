// The control plane's alerts: what operators are told, named as they know it. Raised on the
// main lcore from what the workers report (restrictions, limit crossings, queue overflows) and
// from the control plane's own checks (blocklists, rule sets); repeats of one kind for one
// subject within `aggregate_s` are folded into the first (its `repeats` counted), so a sender
// bursting past a limit a thousand times makes one alert, not a thousand.
//
// Every alert goes to the sinks: the store (kept, listed and acknowledged through the API) and
// a JSON-lines file when configured; a webhook, e-mail to the admins and syslog through the
// queued sinks of sinks.h.
//
// Threads: the main lcore (not thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace smtpgw::alerts {

#define SMTPGW_ALERT_KINDS(X)                                                                  \
  X(kUserRestricted, "user_restricted_from_sending", "critical")                              \
  X(kLimitExceeded, "sending_limit_exceeded", "warning")                                      \
  X(kSuspiciousPattern, "suspicious_sending_pattern", "warning")                              \
  X(kOrgRestricted, "org_restricted_from_sending", "critical")                                \
  X(kEgressListed, "egress_ip_listed", "critical")                                            \
  X(kEgressDelisted, "egress_ip_delisted", "info")                                            \
  X(kZoneDisabled, "blocklist_zone_disabled", "warning")                                      \
  X(kPoolExhausted, "pool_exhausted", "critical")                                             \
  X(kRulesetRejected, "ruleset_rejected", "warning")                                          \
  X(kRulesetActivated, "ruleset_activated", "info")                                           \
  X(kQueueOverflow, "event_queue_overflow", "warning")

enum class Kind : uint8_t {
#define SMTPGW_X(id, name, severity) id,
  SMTPGW_ALERT_KINDS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};
const char* kind_name(Kind k);
const char* severity(Kind k);

struct Alert {
  Kind kind;
  std::string subject;  // what it is about: a sender key, an address, a zone, a worker
  std::string message;  // one line an operator can act on
  nlohmann::json details;
  uint64_t unix_ns = 0;
  uint32_t repeats = 0;  // folded into this one since it was raised
};

class Alerts {
 public:
  // An alert raised, or folded into one already raised (`first` false).
  using Sink = std::function<void(const Alert& a, bool first)>;

  explicit Alerts(uint32_t aggregate_s) : aggregate_ns_(uint64_t{aggregate_s} * 1'000'000'000ull) {}
  void add_sink(Sink s) { sinks_.push_back(std::move(s)); }

  // Raises `kind` about `subject`, or counts a repeat of the one raised within the window.
  // Returns true when it was raised (not folded).
  bool raise(Kind kind, const std::string& subject, const std::string& message,
             nlohmann::json details, uint64_t now_unix_ns);

  uint64_t raised() const { return raised_; }
  uint64_t folded() const { return folded_; }

 private:
  uint64_t aggregate_ns_;
  std::vector<Sink> sinks_;
  std::map<std::pair<Kind, std::string>, Alert> open_;  // the window's first of each
  uint64_t raised_ = 0, folded_ = 0;
  uint64_t last_sweep_ns_ = 0;
};

// A sink that appends one JSON object per line to `path` (created if missing); false with
// `error` when it cannot be opened.
bool jsonl_sink(const std::string& path, Alerts::Sink* out, std::string* error);

// The JSON form of an alert (sinks and the API).
nlohmann::json to_json(const Alert& a);

}  // namespace smtpgw::alerts
