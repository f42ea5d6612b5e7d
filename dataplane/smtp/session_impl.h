// Private state of smtp::Session, shared by session*.cc. Not installed, not for other modules.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "dataplane/smtp/session.h"

namespace smtpgw::smtp {

// What a pending (awaiting reply) command was, so its reply can be interpreted.
enum class CmdKind : uint8_t {
  kGreeting,  // virtual: the server's first reply
  kEhlo,
  kHelo,
  kAuth,          // AUTH line
  kAuthResponse,  // a line of an open AUTH exchange
  kMail,
  kRcpt,
  kData,       // DATA (expects 354)
  kEndOfData,  // the "." line (expects the final reply)
  kBdat,       // a BDAT chunk without LAST
  kBdatLast,
  kRset,
  kQuit,
  kStarttls,
  kOther,  // NOOP, VRFY, EXPN, HELP, unknown, malformed, ...
};

inline constexpr uint32_t kNoIndex = 0xffffffffu;
inline constexpr int kNoSlot = -1;
inline constexpr int kRecordSlots = kMaxOpenTransactions;  // one slot made when first needed
// Room for Session::Impl inside a Part (static_assert in session.cc).
inline constexpr size_t kImplBytes = 768;

struct PendingCmd {
  CmdKind kind = CmdKind::kOther;
  int8_t slot = kNoSlot;
  uint32_t gen = 0;              // slot generation, so a reused slot is not updated by mistake
  uint32_t rcpt = kNoIndex;      // recipient index in the record (kRcpt)
};

struct Slot {
  explicit Slot(const RecordCapacity& cap) : rec(cap) {}
  MessageRecord rec;
  bool live = false;         // holds a transaction not yet reported
  bool client_open = false;  // the client is still inside this transaction
  bool fields_open = false;  // FieldSink begin_message called, end/abort not yet
  bool refused = false;
  uint32_t gen = 0;
  uint32_t refs = 0;         // pending commands that still point here
  uint32_t rcpts_sent = 0;   // RCPT commands in this transaction (including over the limit)
  // The end of data (or BDAT LAST) was sent: the server may queue the message.
  bool content_ended() const { return rec.client_offset_end != 0; }
};

struct HoldEntry {
  HoldPoint hold;
  int8_t slot = kNoSlot;
  uint32_t gen = 0;
};

// Position inside DATA content, for dot-unstuffing and end detection across segments.
enum class DataPos : uint8_t {
  kMid,        // inside a line
  kLineStart,  // just after CRLF
  kDot,        // CRLF "."
  kDotCr,      // CRLF "." CR
  kBareLf,     // just after a LF without CR (not a line start for unstuffing)
  kBareLfDot,  // bare LF "."
};

// One active part of a context's pool: the buffers, rings and record slots that a busy session
// uses (made once, kept across the sessions that take the part), and room for the parser
// state (Session::Impl), constructed when a session takes the part and destroyed when it gives
// it back, so every activation starts from clean state without touching the buffers.
struct SessionContext::Part {
  explicit Part(const SessionLimits& limits);
  std::unique_ptr<char[]> cmd_buf;
  std::unique_ptr<char[]> reply_buf;
  std::unique_ptr<PendingCmd[]> pending;
  std::unique_ptr<HoldEntry[]> holds;
  std::array<std::unique_ptr<Slot>, kRecordSlots> slots;  // null until a transaction needs one
  Part* next_made = nullptr;  // SessionContext::all_
  alignas(std::max_align_t) unsigned char state[kImplBytes];
};

// The parser state of a busy session. Lives inside its Part; what must survive an idle period
// is in the Session (s).
struct Session::Impl {
  Impl(Session& s, SessionContext::Part& part);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // What a content segment touches comes first, in one cache line: with hundreds of flows
  // in flight, each line of per-flow state a segment reads is a cache miss.
  Session& s;
  ContentSink* content;
  // The slot whose content is open (ContentSink begin_content called, end/abort not yet); it
  // is always the current one. Content bytes are counted here and added to its record's size
  // before anyone sees the record (flush_size), so a content segment touches no slot memory.
  Slot* streaming = nullptr;
  uint64_t streamed = 0;
  uint64_t base = 0;              // client offset of the chunk being parsed
  uint64_t dot_off = 0;           // DATA: client offset of the "." that may end the data
  uint64_t barrier = UINT64_MAX;  // DATA / STARTTLS sent, reply not yet seen
  int cur = kNoSlot;              // the transaction the client is in
  DataPos dpos = DataPos::kLineStart;  // DATA: position for dot-unstuffing and the end
  bool mid_prev_cr = false;       // DATA, kMid: the last byte seen was CR
  bool data_confirmed = false;    // DATA: 354 seen
  bool data_ahead = false;        // DATA: content bytes arrived before the 354

  const SessionLimits& limits;
  FieldSink* fields;
  SessionObserver* observer;

  // Client line buffer (a line split across segments is copied here, then processed).
  std::unique_ptr<char[]>& cmd_buf;
  uint32_t cmd_len = 0;
  uint64_t cmd_start = 0;      // client offset of the current line's first byte

  // Server reply parsing.
  std::unique_ptr<char[]>& reply_buf;
  uint32_t reply_len = 0;
  bool reply_skip = false;      // discarding the rest of an over-long reply line
  uint64_t reply_start = 0;     // server offset of the current reply line's first byte
  bool in_multiline = false;
  uint16_t ml_code = 0;
  uint32_t ml_lines = 0;
  Reply cur_reply;              // the first line of the reply being read
  ServerExtensions ehlo_ext;    // built from an EHLO reply, kept if it is a 250

  // Pending commands (FIFO ring).
  std::unique_ptr<PendingCmd[]>& pending;
  uint32_t pending_cap = 0;
  uint32_t pending_head = 0;
  uint32_t pending_count = 0;

  // Hold points (FIFO ring).
  std::unique_ptr<HoldEntry[]>& holds;
  uint32_t hold_cap = 0;
  uint32_t hold_head = 0;
  uint32_t hold_count = 0;

  // Transactions.
  std::array<std::unique_ptr<Slot>, kRecordSlots>& slots;
  uint32_t next_gen = 1;

  // DATA / BDAT.
  uint64_t bdat_left = 0;
  bool bdat_last = false;
  uint64_t bdat_end = 0;        // client offset just after the chunk
  uint64_t starttls_ahead = 0;  // bytes sent after STARTTLS before its reply

  // AUTH exchange.
  bool auth_open = false;       // AUTH sent, no final reply yet
  uint32_t auth_expected = 0;   // responses the mechanism still predicts
  uint32_t auth_awaiting = 0;   // 334 challenges not yet answered
  uint32_t auth_responses = 0;
  uint32_t auth_payloads = 0;   // base64 payloads seen (initial response included)
  AuthMechanism auth_mech = AuthMechanism::kNone;
  FixedText<kMaxAddress> auth_pending_user;

  // --- helpers (session.cc) ---
  void count(Counter c, uint64_t n = 1) { s.count(c, n); }
  void anomaly(Counter c, uint64_t offset) { s.anomaly(c, offset); }
  void data_after_end(uint64_t offset) { s.data_after_end(offset); }
  void set_desync(uint64_t offset);
  // Whether the session can give its part back (see "Memory" in session.h).
  bool idle() const;
  void raise_hold(HoldKind kind, uint64_t offset, int slot);
  bool push_pending(CmdKind kind, int slot, uint32_t rcpt = kNoIndex);
  Slot* slot_ptr(int i) { return i >= 0 ? slots[i].get() : nullptr; }
  int open_slot(uint64_t offset);
  void release_ref(int slot, uint32_t gen);
  void maybe_finish(int slot);
  void finish(int slot);
  void abort_sinks(Slot& sl);
  void open_content(Slot& sl);
  void flush_size() {
    if (streaming != nullptr) {
      streaming->rec.size += streamed;
      streamed = 0;
    }
  }
  void close_client_txn(uint64_t offset);  // RSET / QUIT / EHLO / close: client leaves the txn
  void close();                            // Session::on_close
  void refuse(std::string_view reply);     // Session::refuse
  void stop(std::string_view reply, uint64_t offset);  // Session::stop
  void finish_all();                       // reports every live record, wipes the line

  // --- client side (session_client.cc) ---
  void client_data(std::string_view d);
  size_t command_bytes(std::string_view d, size_t i);
  void process_line(std::string_view line, uint64_t line_end, bool truncated);
  void dispatch(std::string_view line, uint64_t line_end, bool truncated);
  void cmd_helo(std::string_view arg, bool ehlo);
  void cmd_mail(std::string_view arg);
  // Whether the path in `rest` is over limits.address_limit and the observer, told of it,
  // stopped the session.
  bool path_over_limit(std::string_view rest);
  void cmd_rcpt(std::string_view arg);
  void cmd_data(uint64_t line_end);
  void cmd_bdat(std::string_view arg, uint64_t line_end);
  void cmd_auth(std::string_view arg, bool truncated);
  void auth_response(std::string_view line, bool truncated);
  void extract_user(AuthMechanism mech, std::string_view b64, uint32_t step);
  bool m_is_user_payload() const;
  void auth_reply(const Reply& r);
  size_t data_bytes(std::string_view d, size_t i);
  size_t bdat_bytes(std::string_view d, size_t i);
  void emit_content(std::string_view chunk);
  void end_of_content(uint64_t end_offset, uint64_t hold_offset);
  void wipe_line();

  // --- server side (session_server.cc) ---
  void server_data(std::string_view d);
  void reply_line(std::string_view line, bool bare_lf);
  void reply_complete();
  void match_reply(const PendingCmd& cmd, const Reply& r);
  void ehlo_line(std::string_view text);
  // Masking on, an EHLO reply being read, its first line done: whether the partial line in
  // reply_buf may still turn out to advertise STARTTLS.
  bool partial_may_be_starttls() const;
};

// Reads "ddd" + optional enhanced status from a reply's first line into r.
void parse_reply_codes(std::string_view line, Reply& r);
// Parses a reply like "550 5.1.8 text" given to Session::refuse.
void parse_reply_text(std::string_view text, Reply& r);
// Base64 decode into out (capacity cap); returns decoded length or -1 on bad input.
long base64_decode(std::string_view in, char* out, size_t cap);
// Overwrites memory in a way the compiler may not elide (secrets).
void secure_wipe(void* p, size_t n);

}  // namespace smtpgw::smtp
