// Sending limits, spam thresholds and their actions, checked inline by the workers at MAIL FROM,
// RCPT TO and end of message against the shared sender table (sender_table.h), with events to
// the worker's queue (event_queue.h). See docs/accounting.md for the model.
//
// What is counted when (so the counts include the current message at every check):
//   begin_message (MAIL FROM)  +1 message on host, sender, user, org; checks the per-minute
//                              message limits; a throttled or refused message is taken back.
//   add_recipient (RCPT TO)    +1 internal or external recipient on each; checks recipients per
//                              message / per hour / per day; a refused recipient is taken back.
//   end_message (end of DATA)  KiB, spam verdict (steers, counts toward the spam threshold);
//                              an automatic reply is moved from messages/recipients to its own
//                              counter (it is only known once the headers were seen).
// Bounces (null sender) are counted in their own counter at MAIL FROM and skip every limit.
//
// Exactly one ThresholdCrossed event per crossing episode (one window length per limit and
// entry), however many workers race: see Entry::crossed. A worker's push that finds its queue
// full is counted (EventQueue::overflow) and recoverable from the table (reconcile.h).
//
// Threads: one Accountant serves every worker (it holds no mutable state of its own); each call
// is made by the worker that owns the MessageState, with that worker's EventQueue. No heap, no
// lock, no syscall (the clock is the injected one). Cost: a few hundred relaxed loads and a
// handful of CAS per call, dominated by the window sums (6 to 24 words each).
#pragma once

#include <cstdint>
#include <string_view>

#include "contract/events.h"
#include "contract/policy.h"
#include "dataplane/count/event_queue.h"
#include "dataplane/count/sender_table.h"

namespace smtpgw::count {

enum class Verdict : uint8_t {
  kAllow = 0,
  kThrottle = 1,  // 451 4.7.0: this message (or recipient) is deferred; the client retries
  kRefuse = 2,    // 550 5.1.8: the sender is restricted (or a block action just applied)
};

inline constexpr std::string_view kReplyThrottle = "451 4.7.0 Sending limit exceeded, try again later";
inline constexpr std::string_view kReplyRestricted = "550 5.1.8 Access denied, bad outbound sender";

struct Decision {
  Verdict verdict = Verdict::kAllow;  // what the worker does now (always kAllow in dry_run)
  Verdict would = Verdict::kAllow;    // what the limits decided (== verdict unless dry_run)
  bool steer_high_risk = false;       // send from the high-risk pool (never set in dry_run)
  bool would_steer = false;           // ... what steering decided (also in dry_run)
  LimitId limit = LimitId::kNone;     // the limit or restriction reason behind `would`
  KeyKind subject = KeyKind::kNone;   // whose limit or restriction
  uint16_t code = 0;                  // 451 or 550 when verdict != kAllow, else 0
  std::string_view reply;             // the reply line without CRLF (static), empty for allow
};

enum class Exempt : uint8_t { kNone = 0, kBounce = 1, kAutoReply = 2 };

// Key slots of a message, in this order.
enum KeySlot : int { kSlotHost = 0, kSlotSender = 1, kSlotUser = 2, kSlotOrg = 3, kSlotCount = 4 };

// One message's accounting state, owned by the worker handling its session. Fill keys (kind
// kNone for an absent key: no AUTH, or a key the builder refused), exempt (kBounce for the null
// sender), flow_id and host_* before begin_message; the Accountant fills the rest.
struct MessageState {
  events::KeyBytes keys[kSlotCount];
  Handle handles[kSlotCount];
  FindOutcome find[kSlotCount] = {};  // how each key was resolved (kFull, kContended: untracked
                                      // for this message; kBadKey also for an absent key)
  Exempt exempt = Exempt::kNone;
  uint64_t flow_id = 0;
  uint8_t host_family = 0;
  uint8_t host_addr[16] = {};
  // Filled by the Accountant:
  bool counted = false;          // the message is counted in messages (taken back if not)
  uint32_t mail_from_s = 0;
  uint32_t rcpt_internal = 0;    // accepted by the limits in this message
  uint32_t rcpt_external = 0;
  uint32_t rcpt_rejected = 0;    // by the remote server
};

struct MessageEnd {
  uint64_t bytes = 0;
  bool spam = false;
  bool auto_reply = false;  // "Auto-Submitted:" present and not "no"
  int32_t score_milli = 0;
};

// True if the recipient's domain (after the last '@', case-insensitive) is one of
// policy.internal_domains (exact match). O(number of internal domains).
bool is_internal(const policy::Policy& policy, std::string_view recipient);

// The effective maximum of each limit (0 → service default, clamped to kLimitCeiling; the
// organisation default is the sender recipients_per_day times org_recipients_per_day_factor).
uint32_t effective_max(const policy::Policy& policy, LimitId id);
policy::LimitAction limit_action(const policy::Policy& policy, LimitId id);

class Accountant {
 public:
  explicit Accountant(SenderTable& table) : table_(table) {}

  // MAIL FROM. Resolves the keys, refuses a restricted key, steers a steered one, counts the
  // message (or the bounce) and checks the per-minute message limits.
  Decision begin_message(const policy::Policy& policy, MessageState& m, EventQueue& q);
  // RCPT TO (before the command is released to the server). `recipient` is canonical.
  Decision add_recipient(const policy::Policy& policy, MessageState& m, std::string_view recipient,
                         EventQueue& q);
  // The remote server's reply to a released RCPT TO was a rejection (5xx). unknown_user: its
  // enhanced status was 5.1.x. Counts and emits a RemoteRejection event.
  void remote_rejection(const policy::Policy& policy, MessageState& m, uint16_t code,
                        bool unknown_user, EventQueue& q);
  // End of DATA/BDAT, after the scan verdict. Emits the message record.
  Decision end_message(const policy::Policy& policy, MessageState& m, const MessageEnd& end,
                       EventQueue& q);

  // Control plane: a complaint (feedback loop) about a sender key. False if untracked.
  bool record_complaint(const events::KeyBytes& key);

  SenderTable& table() { return table_; }

 private:
  struct Check;
  Entry* entry(MessageState& m, int slot);
  void restriction_check(const policy::Policy& policy, MessageState& m, uint32_t now_s,
                         Decision& d);
  void over_limit(const policy::Policy& policy, MessageState& m, int slot, Entry& e,
                  const Check& c, uint32_t observed, uint32_t now_s, EventQueue& q, Decision& d);
  void emit(EventQueue& q, events::Event& ev, const MessageState& m, int slot);

  SenderTable& table_;
};

}  // namespace smtpgw::count
