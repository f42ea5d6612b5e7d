// SMTP session parser: one per TCP connection, fed with the reassembled client stream and the
// server's replies, in order, in any segmentation. It emits the envelope as FieldSink fields,
// the message content (dot-unstuffed) to a ContentSink, one MessageRecord per transaction to the
// observer, and tells the caller how many client bytes may be released (hold points).
//
// Threads: a Session is used by one thread at a time (its flow's worker, or the analyzer). Memory:
// the constructor allocates the line buffers and the command and hold rings; a transaction
// record (a Slot, at most two, kept once made) is allocated by the first transaction that needs
// it, and its recipient storage (RecordCapacity) by each transaction's first recipient and freed
// once the record is reported, so an idle flow costs a few KiB (tools/bench stream,
// smtpgw_flow_cost), not the ~30 KiB of two preallocated records. That is at most one allocation
// per message, never per packet (the workers are to serve it from their own mimalloc heap,
// DESIGN.md "Memory"). on_client_data / on_server_data / on_close never throw, lock or log.
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
//   kRefused    the caller refused a hold point: nothing more is parsed or released
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
  X(kNulByte, "nul_byte", true)             /* NUL in a command or reply line */                \
  X(kBareLf, "bare_lf", true)               /* command/reply line ended by LF alone */          \
  X(kDataBareLf, "data_bare_lf", true)      /* LF without CR in DATA content */                 \
  X(kDataBareCr, "data_bare_cr", true)      /* CR without LF in DATA content */                 \
  X(kSmugglingSuspect, "smuggling_suspect", true) /* "\n.\n"-like end some servers accept */    \
  X(kCommandTooLong, "command_too_long", true)                                                  \
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

// Plain per-session counters; a worker sums them into its own slots when the flow ends.
struct SessionCounters {
  std::array<uint64_t, kCounterCount> value{};
  uint64_t operator[](Counter c) const { return value[static_cast<size_t>(c)]; }
};

// Bounds, all enforced with a counter and a defined outcome (docs/smtp.md lists them).
struct SessionLimits {
  uint32_t max_command_line = 1000;  // bytes incl. CRLF; longer: cut, rest skipped, counted
  uint32_t max_reply_line = 512;     // RFC 5321 4.5.3.1.5
  uint32_t max_recipients = 100;     // per transaction, RFC 5321 4.5.3.1.8; more: not emitted
  uint32_t max_pending = 128;        // commands awaiting a reply; more: desync
  uint32_t max_holds = 16;           // undecided hold points; more: release frozen
  uint32_t max_ehlo_lines = 64;      // lines of one multi-line reply that are interpreted
  RecordCapacity record;             // recipients kept per record
  // Which commands are hold points (bits of HoldKind). 0: nothing is held (analyze).
  uint32_t hold_mask = 0;
};

enum class HoldKind : uint8_t {
  kAuth,       // the AUTH line or response that carries the user name
  kMailFrom,   // the MAIL FROM command
  kRcptTo,     // each RCPT TO command
  kEndOfData,  // the "." line ending DATA, or the last byte of the BDAT LAST chunk
};
inline constexpr uint32_t hold_bit(HoldKind k) { return 1u << static_cast<uint32_t>(k); }

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

enum class ClientState : uint8_t { kCommand, kData, kBdat, kSkipLine, kStarttls, kOpaque, kRefused };

class Session {
 public:
  // Sinks and observer may be null (then nothing is emitted there); they must outlive the
  // session. Allocates the line buffers and record slots (the only allocations).
  Session(const SessionLimits& limits, FieldSink* fields, ContentSink* content,
          SessionObserver* observer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Copied into every record of the session.
  void set_endpoints(const Endpoint& client, const Endpoint& server);

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

  ClientState client_state() const { return state_; }
  bool opaque() const { return state_ == ClientState::kOpaque; }
  bool desynchronised() const { return desync_; }
  const ServerExtensions& extensions() const { return ext_; }
  const SessionCounters& counters() const { return counters_; }
  uint64_t client_offset() const { return client_off_; }
  uint64_t server_offset() const { return server_off_; }
  // The canonical authenticated user ("" when none), a sender key.
  std::string_view auth_user() const { return auth_user_.view(); }
  // The current EHLO/HELO argument as sent ("" before one).
  std::string_view helo() const;

  // Diagnostic for tests and audits: whether `needle` occurs anywhere in the session's own
  // buffers (line buffers, records, pending state). Used to prove AUTH secrets are wiped.
  // Cost: linear in the buffers' size.
  bool buffers_contain(std::string_view needle) const;

  struct Impl;  // implementation detail, public only so the .cc helpers can name it

 private:
  friend struct Impl;
  ClientState state_ = ClientState::kCommand;
  bool desync_ = false;
  ServerExtensions ext_;
  SessionCounters counters_;
  uint64_t client_off_ = 0;
  uint64_t server_off_ = 0;
  FixedText<kMaxAddress> auth_user_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smtpgw::smtp
