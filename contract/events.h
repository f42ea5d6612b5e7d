// Events from the dataplane workers to the control plane: one fixed-size, trivially copyable
// record per event, carried by one Boost.Lockfree spsc_queue per worker
// (dataplane/count/event_queue.h). The worker fills an Event on its stack and pushes a copy: no
// heap allocation, no pointers into worker memory (the control plane reads the queue later).
//
// Both sides include this header; there is no second copy of these structs anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace smtpgw::events {

// What a sender key names. Values are stable (they are stored in SQLite by the control plane).
enum class KeyKind : uint8_t {
  kNone = 0,    // no key (an unused key slot)
  kHost = 1,    // inside host: data = 1 family byte (4 or 6) + 4 or 16 address bytes
  kSender = 2,  // envelope sender, canonical "local@domain" (domain lower-case)
  kUser = 3,    // authenticated user name, as given by the SMTP session
  kOrg = 4,     // organisation: a lower-case domain, or an operator-mapped organisation name
  kPair = 5,    // (inside host, destination server): two host keys' data one after the other;
                // only ever steered (a bounce's retry), never counted or restricted
};
inline constexpr int kKeyKindCount = 6;

// A sender key in fixed storage: kind, length and up to kKeyDataMax bytes, zero-padded (so two
// keys compare equal with one 64-byte memcmp and hash the same).
inline constexpr size_t kKeyDataMax = 62;
struct KeyBytes {
  KeyKind kind = KeyKind::kNone;
  uint8_t len = 0;
  char data[kKeyDataMax] = {};
};
static_assert(sizeof(KeyBytes) == 64);
static_assert(std::is_trivially_copyable_v<KeyBytes>);

// The limits, generated from one list (names are the config spelling, used in events, metrics
// and docs/accounting.md). Values are stable.
#define SMTPGW_LIMIT_IDS(X)                                                     \
  X(kSenderMessagesPerMinute, "sender_messages_per_minute")                    \
  X(kSenderRecipientsPerMessage, "sender_recipients_per_message")              \
  X(kSenderExternalRecipientsPerHour, "sender_external_recipients_per_hour")   \
  X(kSenderInternalRecipientsPerHour, "sender_internal_recipients_per_hour")   \
  X(kSenderRecipientsPerDay, "sender_recipients_per_day")                      \
  X(kHostMessagesPerMinute, "host_messages_per_minute")                        \
  X(kHostRecipientsPerHour, "host_recipients_per_hour")                        \
  X(kOrgRecipientsPerDay, "org_recipients_per_day")                            \
  X(kSpamVerdicts, "spam_verdicts")

enum class LimitId : uint8_t {
#define SMTPGW_X(id, name) id,
  SMTPGW_LIMIT_IDS(SMTPGW_X)
#undef SMTPGW_X
  kNone,  // no limit (an operator restriction, or "not decided by a limit")
};
inline constexpr int kLimitIdCount = static_cast<int>(LimitId::kNone);

// The event kinds, generated from one list (names and per-kind overflow counters).
#define SMTPGW_EVENT_KINDS(X)                                                   \
  X(kMessageRecord, "message_record")                                          \
  X(kThresholdCrossed, "threshold_crossed")                                    \
  X(kRestrictionApplied, "restriction_applied")                                \
  X(kSpamVerdict, "spam_verdict")                                              \
  X(kRemoteRejection, "remote_rejection")                                      \
  X(kEvasion, "evasion")                                                       \
  X(kTrace, "trace")                                                           \
  X(kTraceRecipient, "trace_recipient")                                        \
  X(kTraceRule, "trace_rule")                                                  \
  X(kTraceSubject, "trace_subject")

enum class EventKind : uint8_t {
#define SMTPGW_X(id, name) id,
  SMTPGW_EVENT_KINDS(SMTPGW_X)
#undef SMTPGW_X
};
inline constexpr int kEventKindCount = 10;

// What a limit's action did (the policy's LimitAction, plus "throttled" for the message itself).
enum class ActionTaken : uint8_t {
  kAlerted = 0,          // counted and reported only
  kThrottled = 1,        // the message got 451 4.7.x
  kBlockedForToday = 2,  // restricted until the next day boundary
  kBlocked = 3,          // restricted until released
  kNotReapplied = 4,     // block action, but released earlier today for this limit: alert only
};

// One message as the gateway saw it (end of DATA or abort). `key` of the Event is the envelope
// sender (kNone for the null sender).
struct MessageRecord {
  uint8_t host_family;      // 4 or 6
  uint8_t host_addr[16];    // IPv4 in the first 4 bytes
  uint8_t verdict;          // 0 clean, 1 spam (scan/)
  uint8_t exempt;           // 0 none, 1 bounce (null sender), 2 automatic reply
  uint8_t outcome;          // count::Verdict of the end-of-message check (0 allow, 1 throttle, 2 refuse)
  uint32_t recipients_internal;
  uint32_t recipients_external;
  uint32_t recipients_rejected;  // by the remote server (any 5xx)
  uint32_t pad0;
  uint64_t bytes;
  uint64_t flow_id;         // the worker's flow identifier, for the message trace
  int32_t score_milli;      // rule score x 1000
  uint32_t pad1;
};

// A limit was crossed (exactly one event per crossing episode, see docs/accounting.md).
struct ThresholdCrossed {
  LimitId limit;
  ActionTaken action;
  uint8_t dry_run;          // 1: evaluated only; nothing was enforced
  uint8_t pad0;
  uint32_t limit_max;       // the effective maximum
  uint32_t observed;        // the count (including the current message) that crossed it
  uint32_t window_seconds;  // 60, 3600, 86400, or 0 for per-message limits
  uint64_t crossed_at_s;    // unix seconds of the crossing (the table's Entry::crossed word)
};

// A restriction was written to the table (by a limit's action).
struct RestrictionApplied {
  LimitId limit;
  ActionTaken action;       // kBlockedForToday or kBlocked
  uint8_t pad0[6];
  uint64_t until_unix_s;    // 0: until released
};

struct SpamVerdict {
  int32_t score_milli;
  uint32_t steer_ttl_seconds;
  uint64_t flow_id;
  uint8_t host_family;
  uint8_t host_addr[16];
  uint8_t pad0[7];
};

// A recipient was rejected by the remote server.
struct RemoteRejection {
  uint16_t reply_code;      // e.g. 550
  uint8_t unknown_user;     // 1: enhanced status 5.1.x (bad destination mailbox)
  uint8_t pad0[5];
  uint64_t flow_id;
};

// A stream-level evasion attempt (retransmission with different bytes, key that could not be
// built, ...). `detail` is a reason code owned by the emitting module.
struct Evasion {
  uint16_t module;          // 1 tcp, 2 smtp, 3 mime, 4 count
  uint16_t detail;
  uint32_t pad0;
  uint64_t flow_id;
};

// The message trace: one per transaction, whatever its outcome (delivered, rejected by the
// server, refused or deferred by the gateway, aborted), sent when its record is complete, i.e.
// after the server's final reply. `key` is the envelope sender (kNone for the null sender or a
// sender with no key), `user` the authenticated user. Its recipients follow as `recipients_kept`
// kTraceRecipient events with the same flow_id and index, then the rules it hit as `rules_kept`
// kTraceRule events, then its Subject (a kTraceSubject event) when it was scanned and had one.
struct Trace {
  uint8_t host_family;        // 4 or 6
  uint8_t host_addr[16];
  uint8_t server_family;
  uint8_t server_addr[16];
  uint8_t pool;               // flow::PoolId: 0 normal, 1 high risk, 2.. named pools
  uint8_t action;             // the gateway's: 0 allow, 1 refuse, 2 throttle, 3 defer
  uint8_t outcome;            // smtp::MessageOutcome: 0 delivered, 1 rejected, 2 aborted,
                              // 3 refused by the gateway, 4 unknown
  uint8_t verdict;            // 0 clean, 1 spam, 2 not scanned
  uint8_t exempt;             // 1 bounce (null sender)
  uint16_t server_port;
  uint16_t gateway_reply;     // the code the gateway answered with (0: none)
  uint16_t remote_reply;      // the server's final reply code (0: none)
  char remote_enhanced[8];    // its enhanced status ("5.7.1"), NUL-padded
  uint32_t egress_addr;       // the IPv4 egress address, host order (0: not known, analyze)
  uint16_t egress_port;
  uint16_t recipients_kept;   // recipient events that follow (at most the record's bound)
  uint32_t recipients;        // all recipients given, kept or not
  uint32_t recipients_rejected;  // by the remote server
  int32_t score_milli;
  uint32_t index;             // the transaction's number in its session, from 0
  uint64_t bytes;
  uint64_t flow_id;
  uint16_t rules_kept;        // rule events that follow (at most kTraceRules)
  uint16_t rules_hit;         // the reported rules the message hit, kept or not
};
// The rules of one message the trace keeps: a spam verdict's reasons are in the first few, and
// each costs a queue slot.
inline constexpr uint16_t kTraceRules = 32;
// One recipient of a traced message.
struct TraceRecipient {
  uint64_t flow_id;
  uint32_t index;             // the message's (Trace::index)
  uint16_t reply;             // the server's reply to its RCPT TO (0: none)
  char enhanced[8];
  uint8_t len;                // bytes of `address` used
  uint8_t truncated;          // 1: the address was longer than `address`
  char address[88];           // canonical address (or the raw path when it did not parse)
};
// One rule a traced message hit (after its recipients), with the score it gives.
struct TraceRule {
  uint64_t flow_id;
  uint32_t index;             // the message's (Trace::index)
  int32_t score_milli;        // the rule's score in the rule set that scanned the message
  uint8_t len;                // bytes of `name` used
  uint8_t truncated;          // 1: the name was longer than `name`
  char name[94];
};
// The Subject of a traced message (decoded, cut at a UTF-8 boundary).
struct TraceSubject {
  uint64_t flow_id;
  uint32_t index;             // the message's (Trace::index)
  uint8_t len;                // bytes of `text` used
  uint8_t truncated;          // 1: the Subject was longer than `text`
  char text[98];
};
inline constexpr size_t kEventPayloadSize = 112;

struct Event {
  EventKind kind = EventKind::kMessageRecord;
  uint8_t worker = 0;       // the emitting worker's index
  uint8_t pad0[6] = {};
  uint64_t unix_ns = 0;     // the worker's clock at emission
  KeyBytes key;             // the subject sender key (kNone when the event has none)
  KeyBytes user;            // the authenticated user of the session, if any (message records)
  union Payload {
    MessageRecord message;
    ThresholdCrossed crossed;
    RestrictionApplied restriction;
    SpamVerdict spam;
    RemoteRejection rejection;
    Evasion evasion;
    Trace trace;
    TraceRecipient recipient;
    TraceRule rule;
    TraceSubject subject;
    uint8_t raw[kEventPayloadSize];
  } u{};
};

static_assert(sizeof(MessageRecord) <= kEventPayloadSize);
static_assert(sizeof(ThresholdCrossed) <= kEventPayloadSize);
static_assert(sizeof(RestrictionApplied) <= kEventPayloadSize);
static_assert(sizeof(SpamVerdict) <= kEventPayloadSize);
static_assert(sizeof(RemoteRejection) <= kEventPayloadSize);
static_assert(sizeof(Evasion) <= kEventPayloadSize);
static_assert(sizeof(Trace) <= kEventPayloadSize);
static_assert(sizeof(TraceRecipient) <= kEventPayloadSize);
static_assert(sizeof(TraceRule) <= kEventPayloadSize);
static_assert(sizeof(TraceSubject) <= kEventPayloadSize);
static_assert(sizeof(Event) == 256, "one event is four cache lines; queues are sized by it");
static_assert(std::is_trivially_copyable_v<Event>);
static_assert(std::is_standard_layout_v<Event>);

// Names from the X-macro lists above (static strings; any thread).
inline const char* event_kind_name(EventKind k) {
  switch (k) {
#define SMTPGW_X(id, name) \
  case EventKind::id:      \
    return name;
    SMTPGW_EVENT_KINDS(SMTPGW_X)
#undef SMTPGW_X
  }
  return "unknown";
}

inline const char* limit_name(LimitId id) {
  switch (id) {
#define SMTPGW_X(i, name) \
  case LimitId::i:        \
    return name;
    SMTPGW_LIMIT_IDS(SMTPGW_X)
#undef SMTPGW_X
    case LimitId::kNone:
      return "none";
  }
  return "unknown";
}

}  // namespace smtpgw::events
