// SMTP session parser: one per TCP connection, fed with the reassembled client stream and the
// server's replies, in order, in any segmentation. It emits the envelope as FieldSink fields,
// the message content (dot-unstuffed) to a ContentSink, one MessageRecord per transaction to the
// observer, and tells the caller how many client bytes may be released (hold points).
//
// Threads: a Session and its SessionContext are used by one thread (its flow's worker, or the
// analyzer). on_client_data / on_server_data / on_close never throw, lock or log.
//
// Memory: a session is two parts. The Session object is what every flow keeps while idle
// (state, offsets, endpoints, the server's extensions; helo and auth user in exact-size heap
// text): about 200 bytes. Everything else — line buffers, the ring of commands awaiting a reply,
// hold points, the two transaction records — is an *active part* the session takes from its
// context's pool when bytes arrive and gives back as soon as it is idle again: in command state
// with no partial line, no command awaiting a reply, no open transaction and no undecided hold
// (or opaque / refused with nothing open). A flow between messages or waiting for its client
// therefore costs the Session object, not the few KiB of an active part (tools/bench stream,
// smtpgw_flow_cost). Taking and giving back a part is O(1) (a free list); a pool grows only up
// to its bound, and blocks it made are kept for the next session, so in steady state nothing
// is allocated. The exceptions, at most a few per message and never per packet: the helo and
// auth user text (at EHLO / AUTH), a part's second and third record slots and their recipient
// storage (made by the first pipelined transaction that needs them, then kept with the part),
// a new part while the pool grows. A worker reserves every part at start, each with its first
// record slot and recipient storage (reserve), so one transaction at a time allocates nothing.
// Cost: linear in the bytes fed (each byte is looked at once, plus one copy of partial lines
// into the line buffers and of content into nothing: content chunks are views into the
// caller's data except around dot-stuffing, where they are split).
//
// States of the client side (what the next client byte is):
//   kCommand    a command line (or an AUTH response line, when an AUTH exchange is open)
//   kData       message content after DATA (dot-unstuffed; ends at CRLF "." CRLF)
//   kBdat       a BDAT chunk (counted by length; the next command follows it)
//   kSkipLine   the rest of an over-long line, discarded up to LF
//   kStarttls   after STARTTLS, until its reply: a 220 makes the session opaque, any other reply
//               returns to kCommand
//   kOpaque     TLS (or given up): bytes are counted only
//   kRefused    the caller refused a hold point, or no active part was available: nothing more
//               is parsed or released
// The server side parses reply lines ("ddd-text" continuation, "ddd text" final) and matches
// each complete reply with the oldest command awaiting one (FIFO: that is what PIPELINING
// promises). The greeting is matched with a virtual first command.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "contract/fields.h"
#include "dataplane/smtp/address.h"
#include "dataplane/smtp/message_record.h"
#include "dataplane/stats/registry.h"

namespace smtpgw::smtp {

// Every counter of the session, generated from one list: X(name, "text", is_anomaly).
// Anomalies are also reported to SessionObserver::on_anomaly as they happen.
#define SMTPGW_SMTP_COUNTERS(X)                                                                 \
  X(kCommands, "commands", false)                                                               \
  X(kReplies, "replies", false)                                                                 \
  X(kMessagesDelivered, "messages_delivered", false)                                            \
  X(kMessagesRejected, "messages_rejected", false)                                              \
  X(kMessagesAborted, "messages_aborted", false)                                                \
  X(kMessagesRefused, "messages_refused", false)                                                \
  X(kMessagesUnknown, "messages_unknown", false)                                                \
  X(kContentBytes, "content_bytes", false)                                                      \
  X(kAuthSuccess, "auth_success", false)                                                        \
  X(kAuthFailure, "auth_failure", false)                                                        \
  X(kOpaque, "opaque", false)               /* STARTTLS accepted: nothing more parsed */        \
  X(kHolds, "holds", false)                 /* hold points raised */                            \
  X(kStarttlsMasked, "starttls_masked", false) /* STARTTLS lines of EHLO replies masked */      \
  X(kNulByte, "nul_byte", true)             /* NUL in a command or reply line */                \
  X(kBareLf, "bare_lf", true)               /* command/reply line ended by LF alone */          \
  X(kDataBareLf, "data_bare_lf", true)      /* LF without CR in DATA content */                 \
  X(kDataBareCr, "data_bare_cr", true)      /* CR without LF in DATA content */                 \
  X(kSmugglingSuspect, "smuggling_suspect", true) /* "\n.\n"-like end some servers accept */    \
  X(kCommandTooLong, "command_too_long", true)    /* over max_command_line: cut */              \
  X(kCommandOverLimit, "command_over_limit", true) /* over command_line_limit (not AUTH) */      \
  X(kAddressOverLimit, "address_over_limit", true) /* a path over address_limit */              \
  X(kReplyTooLong, "reply_too_long", true)                                                      \
  X(kUnknownCommand, "unknown_command", true)                                                   \
  X(kMalformedCommand, "malformed_command", true) /* known verb, bad syntax */                  \
  X(kBadAddress, "bad_address", true)             /* see the record's AddressStatus */          \
  X(kOutOfSequence, "out_of_sequence", true)      /* RCPT/DATA/BDAT without MAIL, ... */        \
  X(kMalformedReply, "malformed_reply", true)                                                   \
  X(kMultilineCodeMismatch, "multiline_code_mismatch", true)                                    \
  X(kReplyWithoutCommand, "reply_without_command", true)                                        \
  X(kPendingOverflow, "pending_overflow", true)   /* too many commands awaiting a reply */      \
  X(kCommandWithoutReply, "command_without_reply", true) /* still pending at close */           \
  X(kTooManyRecipients, "too_many_recipients", true)                                            \
  X(kRecipientsDropped, "recipients_dropped", true) /* record capacity */                       \
  X(kAuthDecodeFailed, "auth_decode_failed", true)                                              \
  X(kClientAheadOfReply, "client_ahead_of_reply", true) /* content/TLS before 354/220 */        \
  X(kHoldOverflow, "hold_overflow", true)                                                       \
  X(kRecordOverflow, "record_overflow", true) /* transactions pipelined past record slots */    \
  X(kBadBdatSize, "bad_bdat_size", true)                                                        \
  X(kDataAfterEnd, "data_after_end", true)    /* client bytes after refuse/close */             \
  X(kNoActiveState, "no_active_state", true)  /* pool bound reached: the session is refused */  \
  X(kDesync, "desync", true)                  /* replies can no longer be matched */

enum class Counter : uint8_t {
#define SMTPGW_X(name, text, anomaly) name,
  SMTPGW_SMTP_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
};
inline constexpr size_t kCounterCount = 0
#define SMTPGW_X(name, text, anomaly) +1
    SMTPGW_SMTP_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
    ;
std::string_view counter_name(Counter c);
bool counter_is_anomaly(Counter c);

// Plain counters of the sessions of one context (one worker, one analyzer, or one standalone
// session): written by that thread only, read by it or after it stopped.
struct SessionCounters {
  std::array<uint64_t, kCounterCount> value{};
  uint64_t operator[](Counter c) const { return stats::load(value[static_cast<size_t>(c)]); }
};

// Bounds, all enforced with a counter and a defined outcome (docs/smtp.md lists them).
struct SessionLimits {
  uint32_t max_command_line = 1000;  // bytes incl. CRLF; longer: cut, rest skipped, counted
  // The firewall-style limits (docs/smtp.md): a line or path past them is counted as an
  // anomaly, which the observer may answer with stop(). 0: not checked.
  uint32_t command_line_limit = 512;  // RFC 5321 4.5.3.1.4, incl. CRLF; AUTH lines excepted
                                      // (RFC 4954 4: up to 12,288 octets)
  uint32_t address_limit = 320;       // a MAIL FROM / RCPT TO path, without its angle brackets
  uint32_t max_reply_line = 512;     // RFC 5321 4.5.3.1.5
  uint32_t max_recipients = 100;     // per transaction, RFC 5321 4.5.3.1.8; more: not emitted
  uint32_t max_pending = 128;        // commands awaiting a reply; more: desync
  uint32_t max_holds = 16;           // undecided hold points; more: release frozen
  uint32_t max_ehlo_lines = 64;      // lines of one multi-line reply that are interpreted
  RecordCapacity record;             // recipients kept per record
  // Which commands are hold points (bits of HoldKind). 0: nothing is held (analyze).
  uint32_t hold_mask = 0;
};

// Transactions whose records a session keeps at once: the one being sent, the one whose end of
// data awaits its reply, and one the client left (RSET, EHLO) before the replies to its MAIL and
// RCPT came. A client that pipelines after the end of data (".", MAIL, RCPT, RSET, MAIL, ...)
// has all three open before the server's first reply. Beyond it: kRecordOverflow.
inline constexpr int kMaxOpenTransactions = 3;

enum class HoldKind : uint8_t {
  kAuth,       // the AUTH line or response that carries the user name
  kMailFrom,   // the MAIL FROM command
  kRcptTo,     // each RCPT TO command
  kEndOfData,  // the "." line ending DATA, or the last byte of the BDAT LAST chunk
  kStarttls,   // the STARTTLS command
};
inline constexpr uint32_t hold_bit(HoldKind k) { return 1u << static_cast<uint32_t>(k); }
// Every hold point: what a worker holds at (and analyze, which allows each at once).
inline constexpr uint32_t kHoldAll = hold_bit(HoldKind::kAuth) | hold_bit(HoldKind::kMailFrom) |
                                     hold_bit(HoldKind::kRcptTo) | hold_bit(HoldKind::kEndOfData) |
                                     hold_bit(HoldKind::kStarttls);

struct HoldPoint {
  HoldKind kind;
  uint64_t offset;  // client stream offset of the first byte that must not be released
};

// Receives what the session learns. Called synchronously from on_client_data / on_server_data
// / on_close on the session's thread. Must not throw. May call Session::allow / refuse.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  // A transaction ended (any outcome). The record is valid only during the call.
  virtual void on_message(const MessageRecord& record) { (void)record; }
  // A hold point was reached; the session keeps parsing, but release_limit() stays at or below
  // hold.offset until allow() is called for it (decisions apply to holds in order). `record` is
  // the transaction it belongs to (envelope so far), or nullptr for AUTH outside one.
  virtual void on_hold(const HoldPoint& hold, const MessageRecord* record) {
    (void)hold;
    (void)record;
  }
  // An anomaly counter was incremented (see SMTPGW_SMTP_COUNTERS).
  virtual void on_anomaly(Counter c, uint64_t client_offset) {
    (void)c;
    (void)client_offset;
  }
};

// Text kept by an idle session (helo, auth user): heap storage of the exact length, so an idle
// flow does not carry 256-byte buffers. Longer input than `max` is cut and `truncated` set.
// assign() allocates only when the text is longer than any it held before.
class HeapText {
 public:
  std::string_view view() const { return {data_.get(), len_}; }
  bool truncated() const { return truncated_; }
  void assign(std::string_view s, size_t max);
  void clear() {
    len_ = 0;
    truncated_ = false;
  }
  size_t heap_bytes() const { return cap_; }

 private:
  std::unique_ptr<char[]> data_;
  uint16_t len_ = 0;
  uint16_t cap_ = 0;
  bool truncated_ = false;
};

// What the sessions of one thread share: their limits, their counters, and the pool of active
// parts (see "Memory" above). One per worker (or per analyzer); it must outlive its sessions.
// Not thread-safe: the sessions of a context run on one thread.
class SessionContext {
 public:
  // `max_active`: sessions that may hold an active part at once (0: no bound). A session that
  // needs one beyond the bound is refused (ClientState::kRefused, counter kNoActiveState): its
  // bytes past what was already parsed are never released, and the gateway answers the client
  // and closes, rather than forwarding unparsed mail. Limits below a floor are raised to it.
  explicit SessionContext(const SessionLimits& limits, uint32_t max_active = 0);
  ~SessionContext();
  SessionContext(const SessionContext&) = delete;
  SessionContext& operator=(const SessionContext&) = delete;

  // Makes active parts now (start-up), up to the bound, so sessions never allocate one later;
  // each with its first record slot and that record's recipient storage. Cost: per part,
  // active_part_bytes() plus the recipient storage (RecordCapacity).
  void reserve(uint32_t parts);

  const SessionLimits& limits() const { return limits_; }
  const SessionCounters& counters() const { return counters_; }

  struct PoolStats {
    uint32_t active = 0;     // parts held by sessions now
    uint32_t peak = 0;       // most held at once
    uint32_t parts = 0;      // parts made (held + free)
    uint64_t taken = 0;      // times a session took one
    uint64_t exhausted = 0;  // times none could be had (sessions refused)
  };
  const PoolStats& pool() const { return stats_; }
  // Bytes of one active part made with these limits, at most (buffers, rings, the three record
  // slots with their fixed fields, each made when a transaction first needs it; recipient
  // storage comes per transaction). Cost: O(1).
  static size_t active_part_bytes(const SessionLimits& limits);
  // Whether `needle` occurs in any part of the pool, held or free (the secret audit of
  // Session::buffers_contain). Cost: linear in the pool's memory.
  bool parts_contain(std::string_view needle) const;

  struct Part;  // implementation detail (session_impl.h)

 private:
  friend class Session;
  Part* make_part();
  Part* take();
  void give_back(Part* p);

  SessionLimits limits_;
  SessionCounters counters_;
  uint32_t max_active_;
  PoolStats stats_;
  std::unique_ptr<Part*[]> free_;  // free list (LIFO: the warmest part first)
  uint32_t free_count_ = 0;
  uint32_t free_cap_ = 0;
  Part* all_ = nullptr;            // every part made, linked, for destruction and audits
};

enum class ClientState : uint8_t { kCommand, kData, kBdat, kSkipLine, kStarttls, kOpaque, kRefused };

class Session {
 public:
  // A session of `context` (its limits, counters and pool). Sinks and observer may be null
  // (then nothing is emitted there); they and the context must outlive the session. Allocates
  // nothing.
  Session(SessionContext& context, FieldSink* fields, ContentSink* content,
          SessionObserver* observer);
  // A standalone session with a context of its own (its counters are this session's alone):
  // for tools and tests. Allocates that context.
  Session(const SessionLimits& limits, FieldSink* fields, ContentSink* content,
          SessionObserver* observer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Copied into every record of the session.
  void set_endpoints(const Endpoint& client, const Endpoint& server);

  // STARTTLS masking (the gateway's `starttls: inspect`): the STARTTLS line of every EHLO reply
  // is to reach the client as "XXXXXXXX", the same length, so no sequence number changes and
  // the client never starts TLS the gateway could not read. The session finds the keyword;
  // the driver rewrites the packets (mask_server_bytes) and forwards server bytes only up to
  // server_release_limit(). Set before any byte is fed.
  void set_mask_starttls(bool on) { starttls_ = on ? 1 : 0; }
  bool mask_starttls() const { return (starttls_ & 1) != 0; }
  // Server bytes [0, limit) may be forwarded to the client: all fed bytes, except, with masking
  // on, an EHLO reply line not yet complete that may still advertise STARTTLS (it is forwarded
  // once complete, and masked). Cost: O(1).
  uint64_t server_release_limit() const;
  // Whether server stream offsets [offset, offset + len) hold part of the last STARTTLS keyword
  // found (masking on). Cost: O(1).
  bool starttls_in(uint64_t offset, uint64_t len) const;
  // Overwrites with 'X', in `bytes` (server stream offsets [offset, offset + size)), whatever
  // part of that keyword lies in it. Cost: O(1).
  void mask_server_bytes(uint64_t offset, std::span<char> bytes) const;

  // The next bytes of the client → server stream, in order, without gaps. Any segmentation
  // gives the same fields, records and counters.
  void on_client_data(std::string_view bytes);
  // The next bytes of the server → client stream.
  void on_server_data(std::string_view bytes);
  // The connection ended (FIN, RST or timeout). An open transaction is aborted (FieldSink
  // abort_message, record outcome kAborted or the outcome its replies already decided),
  // commands still awaiting a reply are counted. Further data is counted as kDataAfterEnd.
  void on_close();

  // Client bytes [0, release_limit()) may be forwarded to the server. Never decreases. It stops
  // at the first undecided hold point, at the start of a line not yet complete, and at a
  // possible end of data not yet confirmed. Everything fed is releasable once opaque.
  uint64_t release_limit() const;
  // The oldest undecided hold point, or nullptr.
  const HoldPoint* pending_hold() const;
  // Decides the oldest undecided hold point: release may pass it. No-op without one.
  void allow();
  // Refuses the oldest undecided hold point: its bytes are never released, the open
  // transaction ends with outcome kRefused and `reply` (e.g. "550 5.1.8 Sender blocked") as its
  // final reply, and the session stops parsing (state kRefused). The gateway then answers the
  // client and closes both sides. No-op without an undecided hold.
  void refuse(std::string_view reply);
  // Ends the session at client offset `offset`, with or without an undecided hold: for a
  // violation the observer was told of in on_anomaly (its offset is the start of the offending
  // line). Nothing from `offset` on is released, the open transaction ends with outcome
  // kRefused and `reply`, and nothing more is parsed (state kRefused). May be called from
  // on_anomaly; the session stops parsing the line it was in.
  void stop(std::string_view reply, uint64_t offset);

  ClientState client_state() const { return state_; }
  bool opaque() const { return state_ == ClientState::kOpaque; }
  bool desynchronised() const { return desync_; }
  // Whether the session holds an active part now (see "Memory").
  bool active() const { return act_ != nullptr; }
  const ServerExtensions& extensions() const { return ext_; }
  // The counters of the session's context (the session's own for a standalone session).
  const SessionCounters& counters() const { return ctx_->counters(); }
  uint64_t client_offset() const { return client_off_; }
  uint64_t server_offset() const { return server_off_; }
  // The canonical authenticated user ("" when none), a sender key.
  std::string_view auth_user() const { return auth_user_.view(); }
  // The user name of the AUTH exchange in progress, as sent ("" when none): whom an AUTH hold
  // is about (auth_user() is set only once the server accepted it).
  std::string_view auth_pending_user() const;
  // The current EHLO/HELO argument as sent ("" before one).
  std::string_view helo() const { return helo_.view(); }
  // Heap bytes the session holds while idle (helo and auth user text). Cost: O(1).
  size_t idle_heap_bytes() const { return helo_.heap_bytes() + auth_user_.heap_bytes(); }

  // Diagnostic for tests and audits: whether `needle` occurs anywhere in the session's own
  // memory (this object, its text, its context's pool of active parts). Used to prove AUTH
  // secrets are wiped. Cost: linear in the pool's size.
  bool buffers_contain(std::string_view needle) const;

  struct Impl;  // the active part's parser state; public only so the .cc helpers can name it

 private:
  friend struct Impl;
  // Takes an active part if the session has none. False when the pool is at its bound: the
  // session is then refused (see SessionContext).
  bool activate();
  // Gives the active part back if the session is idle (see "Memory").
  void deactivate_if_idle();
  // Destroys the parser state and gives its part back to the context.
  void release_part();
  // Runs `parse` on the active part (which observers may not give back: feeding_), then gives
  // the part back if that left the session idle.
  template <class Parse>
  void feed(Parse parse);
  void count(Counter c, uint64_t n = 1) {
    stats::add(ctx_->counters_.value[static_cast<size_t>(c)], n);
  }
  // Counts an anomaly and tells the observer.
  void anomaly(Counter c, uint64_t offset);
  // kDataAfterEnd, once per session.
  void data_after_end(uint64_t offset);

  // What every segment touches comes first, in one cache line (hundreds of flows are in
  // flight: each line a segment reads is a cache miss).
  Impl* act_ = nullptr;              // the active part's state, or null while idle
  SessionContext* ctx_;
  uint64_t client_off_ = 0;
  uint64_t server_off_ = 0;
  uint64_t classified_ = 0;          // client bytes before this are parsed and safe to release
  uint64_t frozen_ = UINT64_MAX;     // hold overflow or refusal: never released past this
  ClientState state_ = ClientState::kCommand;
  bool closed_ = false;
  bool feeding_ = false;             // inside act_'s parsing (observers may call allow/refuse)
  bool desync_ = false;
  bool after_end_reported_ = false;  // kDataAfterEnd is counted once per session
  bool greeted_ = false;             // the greeting's reply was read (or the session closed)
  uint8_t starttls_ = 0;              // bit 0: masking on; bit 1: a keyword was found
  AuthMechanism auth_user_mech_ = AuthMechanism::kNone;

  SessionContext::Part* part_ = nullptr;
  std::unique_ptr<SessionContext> own_ctx_;  // the standalone constructor's context
  FieldSink* fields_;
  ContentSink* content_;
  SessionObserver* observer_;
  uint32_t message_index_ = 0;       // transactions opened so far
  // Server offset of the last STARTTLS keyword found, modulo 2^32: compared the way TCP compares
  // sequence numbers (a segment and the keyword are far shorter than 2^31), so an idle flow
  // keeps 4 bytes for it.
  uint32_t starttls_at_ = 0;
  Endpoint client_ep_;
  Endpoint server_ep_;
  ServerExtensions ext_;
  HeapText helo_;
  HeapText auth_user_;               // canonical; never the secret
};

}  // namespace smtpgw::smtp
