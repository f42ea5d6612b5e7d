// Per-subject sending reputation beyond raw counts: spam-verdict ratio, remote unknown-user
// rejections, complaints, and the share of an organisation's traffic that comes from suspicious
// senders. The control plane feeds it the workers' trace events and the complaints the ARF intake
// matched, and turns what poll() returns into alerts and restrictions. This module only judges:
// it raises nothing, restricts nothing and keeps no state outside the Tracker.
//
// Subjects, as text (events::subject_text, contract/key_text.h): the envelope sender
// ("a@example.org"), the inside host ("10.1.0.5", "2001:db8::5"), the authenticated user
// ("user:NAME") and the organisation ("org:NAME"). Each message counts once for each of its
// subjects, and each subject is judged on its own (an ISP watches hosts, a hosting company its
// users and organisations).
//
// The window: `window_s` seconds in `buckets` equal buckets (a day in hours by default). A
// subject's counts are the sum of the buckets inside the window that ends with the tracker's
// clock; a bucket leaves the window whole. The clock is the newest time the tracker was given:
// an event's unix_ns or poll's `unix_s`, whichever is later (workers and the control plane read
// the same system clock). An event older than the window is dropped and counted (late_events).
//
// Judgements, each with hysteresis (a finding is reported once per episode; the episode ends
// when the ratio falls below clear_factor times its threshold, or when the window holds no
// message of the subject any more, and only then can the same finding come again):
//   suspicious   messages >= min_messages and (spam / messages > spam_ratio, or
//                unknown_user / recipients_answered > rejection_ratio); each reason has its own
//                hysteresis, the episode lasts while either reason holds.
//   complaints   messages >= complaint_min_messages and complaints / messages > complaint_warn
//                (warn) or > complaint_restrict (restrict). A subject that reaches restrict
//                directly reports restrict only; warn then restrict reports both; dropping below
//                clear_factor x restrict returns to warn silently (restrict can come again).
//   org share    for an organisation: messages >= org_min_messages and suspicious_messages /
//                messages > org_suspicious_share, where suspicious_messages is the sum of the
//                window messages of its currently suspicious members (below).
// Every comparison is strict ("passes": a ratio equal to its threshold does not).
//
// Who is a member of an organisation: each message has one principal, the authenticated user
// when there is one, else the envelope sender, else the host. A principal's window messages
// (those it was the principal of) count as its organisation's suspicious messages while it is
// suspicious. A principal belongs to the organisation of its latest message.
//
// Threads: the main lcore only. A Tracker is not thread-safe; every method, const ones included,
// must be called from one thread (or under the caller's lock).
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "contract/events.h"
#include "contract/ip_prefix.h"
#include "contract/policy.h"

namespace smtpgw::reputation {

struct Options {
  uint32_t window_s = 86'400;     // the sliding window
  uint32_t buckets = 24;          // window_s / buckets is the granularity; window_s % buckets == 0
  uint64_t min_messages = 50;     // before the spam and rejection ratios are judged
  double spam_ratio = 0.10;       // spam verdicts / messages
  double rejection_ratio = 0.05;  // 5.1.x (unknown user) rejections / recipients answered
  double complaint_warn = 0.001;  // complaints / messages
  double complaint_restrict = 0.003;  // >= complaint_warn
  // One complaint in 1,000 messages is the warn rate: below that volume a single complaint
  // would already pass it, so complaint rates are judged from 1,000 messages in the window.
  uint64_t complaint_min_messages = 1'000;
  std::vector<policy::OrgPrefix> organisations;  // inside prefix -> organisation (first match)
  double org_suspicious_share = 0.5;  // suspicious members' messages / the org's messages
  uint64_t org_min_messages = 200;
  double clear_factor = 0.8;        // an episode ends below clear_factor x its threshold, (0, 1]
  uint32_t max_subjects = 100'000;  // beyond it the least recently seen subject is evicted; >= 4

  // Empty when the options are usable, else what is wrong (the first problem found).
  std::string check() const;
};

// What poll() reports, from one list (names are those of alerts, metrics and docs).
#define SMTPGW_REPUTATION_FINDINGS(X)                         \
  X(kSuspicious, "suspicious_sending_pattern")                \
  X(kSuspiciousCleared, "suspicious_sending_pattern_cleared") \
  X(kComplaintWarn, "complaint_rate_warn")                    \
  X(kComplaintRestrict, "complaint_rate_restrict")            \
  X(kComplaintCleared, "complaint_rate_cleared")              \
  X(kOrgSuspicious, "org_suspicious_share")                   \
  X(kOrgSuspiciousCleared, "org_suspicious_share_cleared")

enum class FindingKind : uint8_t {
#define SMTPGW_X(id, name) id,
  SMTPGW_REPUTATION_FINDINGS(SMTPGW_X)
#undef SMTPGW_X
};
inline constexpr int kFindingKindCount = 7;
#define SMTPGW_X(id, name) +1
static_assert(0 SMTPGW_REPUTATION_FINDINGS(SMTPGW_X) == kFindingKindCount);
#undef SMTPGW_X
const char* finding_name(FindingKind k);

// Why a subject is suspicious (bits of Finding::reasons and Report::reasons).
inline constexpr uint8_t kReasonSpam = 1;          // spam / messages > spam_ratio
inline constexpr uint8_t kReasonUnknownUsers = 2;  // unknown_user / answered > rejection_ratio

// Counts over the window (or one bucket of it).
struct Counts {
  uint64_t messages = 0;      // traced messages (every outcome but aborted)
  uint64_t principal = 0;     // of those, the ones this subject was the principal of
  uint64_t spam = 0;          // verdict spam
  uint64_t recipients = 0;    // all recipients given (Trace::recipients)
  uint64_t rejected = 0;      // recipients the remote server rejected, any 5xx
  uint64_t answered = 0;      // traced recipients the remote server answered
  uint64_t unknown_user = 0;  // traced recipients rejected with a 5.1.x enhanced code
  uint64_t complaints = 0;
};

// The ratios of some Counts (0 when the denominator is 0).
struct Ratios {
  double spam = 0;          // spam / messages
  double unknown_user = 0;  // unknown_user / answered
  double rejected = 0;      // rejected / recipients (reported, not judged)
  double complaints = 0;    // complaints / messages
};
Ratios ratios_of(const Counts& c);

// One change since the previous poll, with what an alert message needs.
struct Finding {
  FindingKind kind;
  std::string subject;           // "a@example.org", "10.1.0.5", "user:NAME", "org:NAME"
  events::KeyKind subject_kind;  // kSender, kHost, kUser, kOrg
  uint8_t reasons = 0;           // kSuspicious: the reasons that hold now (kReason* bits)
  Counts counts;                 // the subject's window at the finding
  Ratios ratios;
  std::string org;                       // the subject's organisation ("org:NAME"), if it has one
  uint64_t org_suspicious_messages = 0;  // org findings: the numerator of the share
  double org_share = 0;                  // org findings: suspicious_messages / messages
  uint32_t window_s = 0;
  uint64_t unix_s = 0;  // the tracker's clock at the finding
};

// One subject's state (describe()).
struct Report {
  std::string subject;
  events::KeyKind subject_kind = events::KeyKind::kNone;
  Counts counts;  // the window
  Ratios ratios;
  uint8_t reasons = 0;          // suspicious while non-zero
  uint8_t complaint_level = 0;  // 0 none, 1 warn, 2 restrict
  bool org_flagged = false;     // an organisation whose suspicious share passed its threshold
  std::string org;              // a member's organisation
  uint64_t org_suspicious_messages = 0;  // an organisation's
  uint64_t first_seen_s = 0;
  uint64_t last_seen_s = 0;
  struct Bucket {
    uint64_t start_s;  // the bucket's first second
    Counts counts;
  };
  std::vector<Bucket> buckets;  // non-empty buckets in the window, oldest first
  uint32_t window_s = 0;
};

// For /metrics.
struct Metrics {
  uint64_t subjects = 0;                 // tracked now
  uint64_t evicted = 0;                  // dropped at max_subjects (least recently seen first)
  uint64_t evicted_flagged = 0;          // of those, with an open episode (it ends unreported)
  uint64_t late_events = 0;              // older than the window: not counted
  uint64_t unattributed_recipients = 0;  // kTraceRecipient without its trace just before
  uint64_t complaints = 0;
  uint64_t complaints_new_subject = 0;  // for a subject that was not tracked
  uint64_t prefixes_skipped = 0;        // organisations' prefixes that do not parse
  uint64_t findings[kFindingKindCount] = {};
};

class Tracker {
 public:
  // Throws std::invalid_argument with Options::check()'s text when `options` are not usable
  // (the config loader refuses the same values, so only a hand-built Options can). A prefix in
  // `options.organisations` that does not parse is skipped and counted (prefixes_skipped).
  // Cost: linear in the prefixes.
  explicit Tracker(Options options);

  // Counts one worker event. kTrace: one message for each of its subjects (not an aborted
  // transaction). kTraceRecipient: the recipient's answer, attributed to the subjects of the
  // trace event that came just before it from the same worker with the same flow_id and index
  // (the enforcer sends a trace and then its recipients, in order, on one queue); without one
  // it is counted in unattributed_recipients. Other kinds are ignored.
  // Cost: O(1) amortized (a few hash look-ups; a new subject may evict the oldest).
  void observe(const events::Event& e);

  // One complaint (the ARF intake matched it to `subject_text`, in the text form above) at
  // `unix_s`. It counts for the subject and for its organisation when the subject has one. A
  // subject not tracked yet is added (complaints_new_subject). Returns false, counting nothing,
  // for an empty text or a time older than the window. Cost: O(1) amortized.
  bool complaint(const std::string& subject_text, uint64_t unix_s);

  // Advances the clock to `unix_s` (never backwards) and returns what changed since the last
  // poll, members before organisations. Cost: O(subjects counted since the last poll + subjects
  // with an open episode when a bucket boundary passed). A subject with no episode whose ratio
  // rises only because older buckets left the window is judged at its next message.
  std::vector<Finding> poll(uint64_t unix_s);

  // One subject's window, or nullopt when it is not tracked. Counts are as of the tracker's
  // clock. Cost: O(buckets).
  std::optional<Report> describe(const std::string& subject_text);

  const Metrics& metrics() const { return metrics_; }
  const Options& options() const { return options_; }
  size_t size() const { return subjects_.size(); }

 private:
  struct Bucket {
    uint64_t number;  // unix_s / bucket_s
    Counts counts;
  };
  struct Subject;
  using Map = std::unordered_map<std::string, Subject>;
  struct Subject {
    const std::string* text = nullptr;  // the map's key
    events::KeyKind kind = events::KeyKind::kNone;
    uint64_t id = 0;              // unique for the tracker's life
    std::vector<Bucket> buckets;  // ascending, only non-empty ones
    Counts total;                 // sum of `buckets`
    uint8_t reasons = 0;
    uint8_t complaint_level = 0;
    bool org_flagged = false;
    uint32_t dirty_at = kNowhere;       // index in dirty_, or kNowhere
    uint32_t flagged_at = kNowhere;     // index in flagged_, or kNowhere
    std::list<Subject*>::iterator lru;  // position in lru_ (front: most recent)
    std::string org;                    // a principal's organisation, "org:NAME"
    uint64_t org_id = 0;                // that organisation's id when credit was given
    uint64_t credit = 0;                // messages credited to it as suspicious
    uint64_t suspicious_credit = 0;     // an organisation's: its members' credits
    uint64_t first_seen_s = 0;
    uint64_t last_seen_s = 0;
  };
  static constexpr uint32_t kNowhere = UINT32_MAX;

  // The subjects of the last trace of one worker, for its recipient events.
  struct LastTrace {
    bool valid = false;
    uint64_t flow_id = 0;
    uint32_t index = 0;
    uint64_t unix_s = 0;
    int count = 0;
    std::string subjects[4];
  };
  struct Prefix {
    ip::Prefix prefix;
    std::string org;  // "org:name", lower case
  };

  Subject* touch(const std::string& text, events::KeyKind kind, uint64_t unix_s);
  void evict_one();
  void add(Subject& s, uint64_t bucket, const Counts& c);
  void expire(Subject& s);
  void mark_dirty(Subject& s);
  void set_flagged(Subject& s, bool on);
  void unlist(std::vector<Subject*>& list, uint32_t& at, uint32_t Subject::*field);
  void judge(Subject& s, std::vector<Finding>& out);
  void evaluate_member(Subject& s, std::vector<Finding>& out);
  void evaluate_org(Subject& s, std::vector<Finding>& out);
  void give_credit(Subject& s, uint64_t credit);
  Finding finding(FindingKind kind, const Subject& s) const;
  std::string org_of(uint8_t family, const uint8_t* addr, const events::KeyBytes& sender) const;
  void advance(uint64_t unix_s);
  uint64_t oldest_bucket() const {
    return now_bucket_ >= options_.buckets ? now_bucket_ - options_.buckets + 1 : 0;
  }

  // A threshold in parts per billion, and clear_factor times it.
  struct Threshold {
    uint64_t enter = 0;
    uint64_t clear = 0;
  };

  Options options_;
  uint64_t bucket_s_;
  Threshold spam_, unknown_, warn_, restrict_, share_;
  uint64_t now_s_ = 0;  // the clock: the newest time given
  uint64_t now_bucket_ = 0;
  uint64_t polled_bucket_ = 0;
  uint64_t next_id_ = 1;
  Map subjects_;
  std::list<Subject*> lru_;
  std::vector<Subject*> dirty_;
  std::vector<Subject*> flagged_;
  std::vector<Prefix> prefixes_;
  std::vector<LastTrace> last_trace_;  // by worker index
  Metrics metrics_;
};

}  // namespace smtpgw::reputation
