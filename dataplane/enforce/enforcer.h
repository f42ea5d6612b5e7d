// The gateway's policy at the inspection's hold points (DESIGN.md steps 8-9): the sender
// table's restrictions and limits (count/accountant.h), the scanner's verdict and the flow's
// egress pool decide whether a held command or end of data is released, and with which reply
// the session ends if not. The same object decides for a worker and for `smtpgw analyze
// --config`, so analyze reports what the live gateway would have done.
//
//   hold          what is checked                              refusal (session then closed)
//   SYN           host or (host, server) pair steered?         — (the pool: high_risk / normal)
//   AUTH          the user restricted?                         550 5.1.8
//   MAIL FROM     restrictions, messages per minute            550 5.1.8 / 451 4.7.0
//                 a bounce on a normal flow                    451 4.7.1 + pair steered
//                 a sender domain without A/MX, normal flow    451 4.7.1 + pair steered
//   RCPT TO       session recipient limit, recipient limits   452 4.5.3 / 451 4.7.0 /
//                                                              554 5.2.2 (a quota) / 550 5.1.8
//   end of data   a header line over 998 octets                554 5.6.0
//                 spam verdict on a normal flow                451 4.7.1 (host, sender steered)
//                 a restriction the verdict just applied       550 5.1.8
//   any command   a line over 512 octets (AUTH excepted)       500 5.5.2
//   MAIL, RCPT    a path over 320 octets                       501 5.5.4
// A spam message on a high-risk flow is released and counted. Spam never leaves from the normal
// pool: without a high-risk pool there is nowhere to retry it from, so it is refused
// (550 5.7.1) and the client's MTA returns it at once; bounces are then released.
// Every record, whatever its outcome, is traced to the event queue (events::Trace, then one
// events::TraceRecipient per recipient kept) after the server's final reply.
// With policy.dry_run nothing is refused, deferred or steered (the accountant's events say what
// would have been).
//
// STARTTLS: masked (so the mail stays inspectable) unless the policy allows TLS for the
// client's prefix; see inspect::Decisions::inspect_starttls.
//
// The policy is read from a PolicySource at every decision (one acquire load): a policy the
// control plane publishes applies from the next hold point on (compiled_policy.h).
//
// Threads: one Enforcer per worker (its counters and its event queue are that worker's); the
// sender table and the policy are shared read-mostly. No heap, no lock, no system call per
// call; cost: one to four sender-table lookups and the window sums (count/accountant.h).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "contract/policy.h"
#include "dataplane/count/accountant.h"
#include "dataplane/count/event_queue.h"
#include "dataplane/enforce/compiled_policy.h"
#include "dataplane/enforce/domain_marks.h"
#include "dataplane/inspect/inspector.h"
#include "dataplane/stats/registry.h"

namespace smtpgw::enforce {

// Replies of the enforcement (RFC 3463 codes), without CRLF. The accountant's 451 4.7.0 and
// 550 5.1.8 are count::kReplyThrottle and count::kReplyRestricted.
inline constexpr std::string_view kReplySpamDeferred =
    "451 4.7.1 Message deferred as suspected spam; it will be retried from a high-risk address";
inline constexpr std::string_view kReplyBounceDeferred =
    "451 4.7.1 Bounce deferred; it will be retried from a high-risk address";
inline constexpr std::string_view kReplyNoMxDeferred =
    "451 4.7.1 Sender domain has no mail exchanger; it will be retried from a high-risk address";
inline constexpr std::string_view kReplySpamRefused = "550 5.7.1 Message refused as suspected spam";
inline constexpr std::string_view kReplyTooManyRecipients = "452 4.5.3 Too many recipients";
inline constexpr std::string_view kReplyQuota = "554 5.2.2 Submission quota exceeded";
// The firewall-style limits (smtp::SessionLimits, mime: RFC 5322 2.1.1).
inline constexpr std::string_view kReplyCommandTooLong =
    "500 5.5.2 Command line longer than 512 octets";
inline constexpr std::string_view kReplyAddressTooLong = "501 5.5.4 Address longer than 320 octets";
inline constexpr std::string_view kReplyHeaderLineTooLong =
    "554 5.6.0 Header line longer than 998 octets";

// Every counter of the enforcement, from one list: X(name, "text", "meaning").
#define SMTPGW_ENFORCE_COUNTERS(X)                                                              \
  X(kRecords, "records", "message records reported (every transaction, any outcome)")           \
  X(kSpam, "spam", "records with a spam verdict")                                               \
  X(kNotScanned, "not_scanned", "records without a verdict (no scan context, rules, or content)") \
  X(kRecordsRefused, "records_refused", "records the gateway refused (5xx): action refuse")     \
  X(kRecordsThrottled, "records_throttled", "records a sending limit deferred: action throttle") \
  X(kRecordsDeferred, "records_deferred", "records deferred (spam steered, fail closed): defer")  \
  X(kSteeredFlows, "steered_flows", "connections given the high-risk pool at SYN")              \
  X(kRefusedRestricted, "refused_restricted", "AUTH or MAIL FROM of a restricted sender: 550") \
  X(kRefusedLimit, "refused_limit", "a limit that restricts refused a recipient: 550 or 554")   \
  X(kThrottled, "throttled", "a sending limit deferred a command: 451 4.7.0")                   \
  X(kTooManyRecipients, "too_many_recipients", "recipients per message over a limit: 452")     \
  X(kSpamDeferred, "spam_deferred", "spam on a normal flow deferred: 451 4.7.1, steered")       \
  X(kSpamReleased, "spam_released", "spam released on a high-risk flow")                        \
  X(kSpamRefused, "spam_refused", "spam refused, no high-risk pool to send it from: 550 5.7.1")  \
  X(kBounceDeferred, "bounce_deferred", "a bounce on a normal flow deferred: pair steered")     \
  X(kNoMxDeferred, "no_mx_deferred", "sender domain without A/MX, normal flow: pair steered")   \
  X(kRefusedCommandLine, "refused_command_line", "a command line over 512 octets: 500 5.5.2")   \
  X(kRefusedAddress, "refused_address", "a MAIL FROM or RCPT TO path over 320 octets: 501")    \
  X(kRefusedHeaderLine, "refused_header_line", "a header line over 998 octets: 554 5.6.0")     \
  X(kRemoteRejections, "remote_rejections", "recipients the remote server refused (5xx)")      \
  X(kUntrackedKeys, "untracked_keys", "a sender key the table could not hold (full, contended)")

enum class Counter : uint8_t {
#define SMTPGW_X(name, text, doc) name,
  SMTPGW_ENFORCE_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};
inline constexpr size_t kCounterCount = static_cast<size_t>(Counter::kCount);
std::string_view counter_name(Counter c);

// Where the records go once the enforcement has seen them (a worker's trace, analyze's JSON).
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void on_record(inspect::Flow& flow, const smtp::MessageRecord& record,
                         inspect::Message* message) = 0;
};

struct Options {
  // A high-risk pool exists: spam and bounces on normal flows are deferred to be retried
  // from it. False: spam is refused, bounces released, nothing steered.
  bool high_risk_pool = true;
  // Sender domains the control plane marked as having no A/MX (read at MAIL FROM); nullptr:
  // none are marked. Must outlive the Enforcer; read like the policy.
  const DomainMarksSource* domain_marks = nullptr;
};

class Enforcer final : public inspect::Decisions {
 public:
  // `accountant`, `policy`, `events` and `sink` (may be null) must outlive the Enforcer;
  // `policy` must hold a version before the first call. The calls below read it on the
  // calling thread, which must be a reader of its Qsbr domain (a worker) or the only thread
  // (analyze, tests). Thread: any, before use.
  Enforcer(count::Accountant& accountant, const PolicySource& policy, count::EventQueue& events,
           Options options, RecordSink* sink = nullptr);

  inspect::EgressPool pool_for(const smtp::Endpoint& client, const smtp::Endpoint& server) override;
  bool inspect_starttls(const smtp::Endpoint& client) override;
  inspect::Decision on_hold(inspect::Flow& flow, const inspect::Hold& hold) override;
  inspect::Decision on_violation(inspect::Flow& flow, smtp::Counter violation,
                                 inspect::Message* message) override;
  void on_record(inspect::Flow& flow, const smtp::MessageRecord& record,
                 inspect::Message* message) override;

  uint64_t counter(Counter c) const { return stats::load(counters_[static_cast<size_t>(c)]); }
  // Adds the "enforce" counter group to `r` (valid as long as the Enforcer).
  void register_counters(stats::Registry& r) const {
    r.add({"enforce", counters_.data(), kCounterCount,
           [](size_t i) { return counter_name(static_cast<Counter>(i)); }});
  }

 private:
  void count(Counter c) { stats::add(counters_[static_cast<size_t>(c)]); }
  // The active version: valid until the calling worker's next quiescent point, so never kept
  // past the call.
  const CompiledPolicy& now() const { return *policy_.read(); }
  inspect::Decision auth(const policy::Policy& p, inspect::Flow& flow);
  inspect::Decision mail_from(const CompiledPolicy& cp, inspect::Flow& flow,
                              const smtp::MessageRecord& r, inspect::Message& m);
  inspect::Decision rcpt_to(const policy::Policy& p, const smtp::MessageRecord& r,
                            inspect::Message& m);
  inspect::Decision end_of_data(const policy::Policy& p, inspect::Flow& flow,
                                const smtp::MessageRecord& r, inspect::Message& m);
  bool steered(const count::KeyBytes& key, uint32_t now_s) const;
  void trace(inspect::Flow& flow, const smtp::MessageRecord& record,
             const inspect::Message* message, const scan::Verdict* v);
  // Steers the pair (host, server) to the high-risk pool for the spam steer TTL; false when
  // the table cannot hold the pair (then deferring would repeat at every retry).
  bool steer_pair(const policy::Policy& p, const count::KeyBytes& host,
                  const smtp::Endpoint& server);

  count::Accountant& accountant_;
  const PolicySource& policy_;
  count::EventQueue& events_;
  Options options_;
  RecordSink* sink_;
  std::array<uint64_t, kCounterCount> counters_{};
};

// The sender table's host key of an endpoint (IPv4, or IPv6 with IPv4-mapped as IPv4).
count::KeyBytes host_key(const smtp::Endpoint& e);

}  // namespace smtpgw::enforce
