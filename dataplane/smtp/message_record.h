// The per-message record the SMTP session produces: one per mail transaction (MAIL FROM to the
// end of data, RSET, QUIT or close). Fixed capacity, sized at session construction; every
// truncation is counted in the record itself.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "dataplane/smtp/address.h"
#include "dataplane/text/fixed_text.h"

namespace smtpgw::smtp {

using text::FixedText;

// One end of the TCP connection, set by the caller (the session never sees packets).
struct Endpoint {
  std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes when !v6
  bool v6 = false;
  uint16_t port = 0;
};

// The server's EHLO answer (zero when it answered HELO or nothing).
struct ServerExtensions {
  bool esmtp = false;  // the client said EHLO and the server answered 250
  bool pipelining = false;
  bool chunking = false;
  bool starttls = false;
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool binarymime = false;
  bool dsn = false;
  bool size = false;
  uint64_t size_limit = 0;  // SIZE argument (0 = none given)
  // AUTH mechanisms offered, one bit per AuthMechanism.
  uint16_t auth_mechanisms = 0;
};

enum class AuthMechanism : uint8_t { kNone, kPlain, kLogin, kCramMd5, kXoauth2, kOther };

// One server reply, as far as the record keeps it.
struct Reply {
  uint16_t code = 0;                  // 0 = no reply seen
  FixedText<12> enhanced;             // "5.1.1" (RFC 3463), empty if absent
  FixedText<128> text;                // first line's text after the codes, truncated
};

// A reply without its text: what is kept per recipient.
struct ShortReply {
  uint16_t code = 0;       // 0 = no reply matched (yet)
  FixedText<12> enhanced;  // "5.1.1", empty if absent
};

enum class BodyType : uint8_t { kUnspecified, k7Bit, k8BitMime, kBinaryMime, kOther };
enum class DsnRet : uint8_t { kUnspecified, kFull, kHdrs, kOther };

// MAIL FROM parameters (RFC 1870 SIZE, 6152 BODY, 6531 SMTPUTF8, 3461 RET/ENVID, 4954 AUTH).
struct MailParams {
  bool has_size = false;
  uint64_t size = 0;
  BodyType body = BodyType::kUnspecified;
  bool smtputf8 = false;
  DsnRet ret = DsnRet::kUnspecified;
  FixedText<100> envid;        // RFC 3461: at most 100 characters
  uint16_t unknown_params = 0; // parameters not listed above (counted, not kept)
  bool malformed = false;      // a parameter whose value did not parse
};

enum class MessageOutcome : uint8_t {
  kDelivered,  // 2xx to the end of data (or to BDAT LAST)
  kRejected,   // the server refused the transaction: see reject_stage and final_reply
  kAborted,    // the client abandoned it (RSET, QUIT, close) before the server answered it
  kRefused,    // the gateway refused a held command (Session::refuse)
  kUnknown,    // replies could not be matched (desynchronised session)
};
std::string_view message_outcome_name(MessageOutcome o);

enum class RejectStage : uint8_t { kNone, kMail, kRcpt, kData, kEndOfData };
std::string_view reject_stage_name(RejectStage s);

struct RecipientResult {
  uint32_t offset = 0;  // of the canonical address in the record's recipient text
  uint16_t len = 0;
  AddressStatus status = AddressStatus::kOk;  // not kOk: the text is the raw path, cut
  ShortReply reply;
};

// Capacities, from SessionLimits.
struct RecordCapacity {
  uint32_t max_recipients = 100;
  uint32_t recipient_text_bytes = 8192;
};

class MessageRecord {
 public:
  explicit MessageRecord(const RecordCapacity& cap);
  MessageRecord(const MessageRecord&) = delete;
  MessageRecord& operator=(const MessageRecord&) = delete;

  // Forgets the transaction's fields (not the capacity). No allocation.
  void clear();
  // Forgets the recipients, keeping their storage for the next transaction (a record lives in
  // a pooled parser part, so the storage is bounded by the pool, not by the flows). No
  // allocation.
  void forget_recipients();
  // Allocates the recipient storage now if it is not yet (a worker's parts are made at start,
  // so that no transaction allocates it on the packet path). Thread: the owner's.
  void reserve_storage();

  uint64_t index = 0;  // 0-based message number in the session
  Endpoint client;
  Endpoint server;
  FixedText<kMaxAddress> helo;
  FixedText<kMaxAddress> auth_user;  // canonical (see canonicalise_user); never the secret
  AuthMechanism auth_mechanism = AuthMechanism::kNone;
  ServerExtensions extensions;

  Address from;  // canonical; valid when from_status == kOk
  AddressStatus from_status = AddressStatus::kOk;
  FixedText<kMaxAddress> from_raw;  // the path as written when from_status != kOk
  MailParams params;
  Reply mail_reply;

  // Recipients in the order sent. Those past max_recipients are not kept (recipients_dropped);
  // those past the session's recipient limit are counted in recipients_over_limit.
  std::span<const RecipientResult> recipients() const { return {rcpt_.get(), rcpt_count_}; }
  std::string_view recipient_address(const RecipientResult& r) const {
    return {rcpt_text_.get() + r.offset, r.len};
  }
  uint32_t recipients_accepted = 0;
  uint32_t recipients_rejected = 0;
  uint32_t recipients_dropped = 0;     // not kept: record capacity
  uint32_t recipients_over_limit = 0;  // beyond SessionLimits::max_recipients

  uint64_t size = 0;         // content bytes after dot-unstuffing (DATA) or chunk bytes (BDAT)
  uint32_t bdat_chunks = 0;  // 0 for DATA
  bool used_bdat = false;
  bool content_truncated = false;  // the end of content was never seen (close, RSET, desync)
  Reply data_reply;   // reply to DATA (354) or the last non-final BDAT
  Reply final_reply;  // reply to the end of data / BDAT LAST, or the refusing reply
  MessageOutcome outcome = MessageOutcome::kAborted;
  RejectStage reject_stage = RejectStage::kNone;
  uint64_t client_offset_begin = 0;  // client stream offset of MAIL FROM
  uint64_t client_offset_end = 0;    // first byte after the end of data

  // Used by the session to fill the record.
  // Adds a recipient; returns nullptr (and counts recipients_dropped) when full. The first one
  // the record ever had allocates the storage for max_recipients and recipient_text_bytes,
  // unless reserve_storage() did.
  RecipientResult* add_recipient(std::string_view text, AddressStatus status);
  RecipientResult* recipient_at(uint32_t i) { return i < rcpt_count_ ? &rcpt_[i] : nullptr; }
  uint32_t recipient_count() const { return rcpt_count_; }

  // Whether `needle` occurs anywhere in the record's storage: the fixed fields (used or not)
  // and the recipients stored (the recipient storage is fresh per transaction). For tests and
  // audits (secrets must never be there). Cost: linear in the record's size.
  bool storage_contains(std::string_view needle) const;

 private:
  RecordCapacity cap_;
  std::unique_ptr<RecipientResult[]> rcpt_;
  std::unique_ptr<char[]> rcpt_text_;
  uint32_t rcpt_count_ = 0;
  uint32_t rcpt_text_used_ = 0;
};

}  // namespace smtpgw::smtp
