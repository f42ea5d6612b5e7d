// Policy snapshot: the sending limits, spam thresholds and steering rules the workers enforce.
// Built by the control plane (from the `limits:` section of the config), published read-only to
// the workers (see dataplane/publish/), and never modified after publication.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace smtpgw::policy {

// What happens when a limit is reached (config spelling in comments).
enum class LimitAction : uint8_t {
  kAlert,              // "alert": count and raise an event only
  kThrottle,           // "throttle": this message gets 451 4.7.x; the client retries later
  kBlockUserForToday,  // "block_user_for_today": restricted until the next day boundary
  kBlockUser,          // "block_user": restricted until an operator releases the sender
};

// The config spelling of an action (static strings; any thread).
inline const char* action_name(LimitAction a) {
  switch (a) {
    case LimitAction::kAlert:
      return "alert";
    case LimitAction::kThrottle:
      return "throttle";
    case LimitAction::kBlockUserForToday:
      return "block_user_for_today";
    case LimitAction::kBlockUser:
      return "block_user";
  }
  return "unknown";
}

// One limit. max == 0 means "the service default" (the defaults below); configurable up to
// kLimitCeiling.
struct Limit {
  uint32_t max = 0;
  LimitAction action = LimitAction::kAlert;
  bool operator==(const Limit&) const = default;
};

inline constexpr uint32_t kLimitCeiling = 10'000;

// Limits per envelope sender and per authenticated user. Defaults follow Exchange Online.
struct SenderLimits {
  Limit messages_per_minute{30, LimitAction::kThrottle};
  Limit recipients_per_message{500, LimitAction::kBlockUserForToday};
  Limit external_recipients_per_hour{500, LimitAction::kBlockUserForToday};
  Limit internal_recipients_per_hour{1'000, LimitAction::kBlockUserForToday};
  Limit recipients_per_day{10'000, LimitAction::kBlockUserForToday};
  bool operator==(const SenderLimits&) const = default;
};

// Limits per inside host (IPv4/IPv6 address).
struct HostLimits {
  Limit messages_per_minute{120, LimitAction::kThrottle};
  Limit recipients_per_hour{5'000, LimitAction::kAlert};
  bool operator==(const HostLimits&) const = default;
};

// Limits per organisation (sender domain, or an operator mapping of inside prefixes).
// recipients_per_day.max == 0 means: the sender default recipients_per_day multiplied by
// org_recipients_per_day_factor (documented in docs/config.md).
struct OrgLimits {
  Limit recipients_per_day{0, LimitAction::kAlert};
  uint32_t org_recipients_per_day_factor = 10;
  bool operator==(const OrgLimits&) const = default;
};

struct SpamPolicy {
  uint32_t verdicts_to_restrict = 5;      // spam verdicts within window_seconds restrict
  uint32_t window_seconds = 3'600;        // one of 60, 3600, 86400 (the counter windows)
  LimitAction action = LimitAction::kBlockUser;
  uint32_t steer_ttl_seconds = 3'600;     // any spam verdict steers host+sender to high_risk
  bool operator==(const SpamPolicy&) const = default;
};

// An inside prefix that belongs to a named organisation.
struct OrgPrefix {
  std::string prefix;  // "10.1.0.0/16" or "2001:db8::/32", as configured
  std::string org;
  bool operator==(const OrgPrefix&) const = default;
};

// What the gateway does with STARTTLS (config `inspection.starttls`).
enum class Starttls : uint8_t {
  kInspect,  // "inspect": the server's STARTTLS is masked, so the mail stays readable
  kAllow,    // "allow": TLS is let through; the flow is opaque after the 220, not inspected
};

// An inside prefix with its own STARTTLS policy (the longest matching prefix wins).
struct StarttlsPrefix {
  std::string prefix;  // as configured
  Starttls starttls = Starttls::kInspect;
  bool operator==(const StarttlsPrefix&) const = default;
};

struct Policy {
  uint64_t version = 0;  // set by the control plane at publication
  SenderLimits sender;
  HostLimits host;
  OrgLimits org;
  SpamPolicy spam;
  bool dry_run = false;                      // evaluate and report, never enforce
  int32_t day_boundary_utc_offset_min = 0;   // time zone of "today" (fixed offset)
  std::vector<std::string> internal_domains; // lower-case; recipients there are internal
  std::vector<OrgPrefix> org_prefixes;
  Starttls starttls = Starttls::kInspect;
  std::vector<StarttlsPrefix> starttls_prefixes;
  uint32_t sender_table_capacity = 65'536;   // entries in the shared sender table

  // The same limits, thresholds and prefixes (the version aside): a reload that changes
  // nothing publishes nothing.
  bool same_rules(const Policy& o) const {
    Policy a = *this;
    a.version = o.version;
    return a == o;
  }
  bool operator==(const Policy&) const = default;
};

}  // namespace smtpgw::policy
