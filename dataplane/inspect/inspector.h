// The inspection pipeline (DESIGN.md, data flow steps 4-9): one TCP flow's segments →
// reassembly (tcp/) → SMTP session (smtp/) → MIME decoder (mime/) → scanner (scan/), with the
// hold points of the session answered by a Decisions object, and one report per message.
//
// Two drivers use it and nothing else: a worker (mbuf → flow table → Inspector → TX / inject)
// and `smtpgw analyze` (pcap record → flow map → Inspector → JSON records). The driver owns the
// flow table and the packets; the Inspector owns everything a flow borrows while it works.
//
//   Inspector (one per worker thread)        Flow (one per TCP connection, owned by the driver)
//     tcp::Reassembler (slot pool)             tcp::FlowState
//     smtp::SessionContext (active parts)      smtp::Session
//     Pool<mime::Decoder>      ── lent per message's content ──►  decoder_
//     Pool<scan::ScanContext>  ── lent per message (MAIL FROM → its record) ──►  Message::scan
//     Pool<Message>            ── lent per message (MAIL FROM → its record) ──►  msgs_[]
//
// Holds: the session stops releasing client bytes at each configured hold point (a command, the
// end of data); the Flow asks Decisions::on_hold at once and applies the answer (allow, or
// refuse with a reply: the session then parses nothing more and the driver answers the client).
// Decisions are synchronous: everything they need (sender table, published policy, the verdict)
// is at hand on the worker. A message a pool bound left uninspected (no message state, no
// decoder, no scan context) is never passed silently: at its next hold it is deferred with
// kReplyUninspected (fail closed), or, with Config::fail_open, counted and decided as usual.
//
// Threads: an Inspector and its Flows are used by one thread. No lock, no system call, no log;
// no allocation on the packet path once the pools are made (a worker makes them at start; the
// analyzer lets them grow, see Pool).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "contract/fields.h"
#include "dataplane/count/accountant.h"
#include "dataplane/inspect/pool.h"
#include "dataplane/mime/decoder.h"
#include "dataplane/scan/scan_context.h"
#include "dataplane/smtp/session.h"
#include "dataplane/stats/registry.h"
#include "dataplane/tcp/reassembler.h"

namespace smtpgw::inspect {

// What the gateway does at a hold point. Every action but kAllow ends the session: its bytes
// from the hold on are never released, the client gets the reply, both sides are closed.
enum class Action : uint8_t {
  kAllow,     // release the held bytes
  kRefuse,    // 5xx: a restricted sender, a limit that restricts
  kThrottle,  // 451 4.7.0: a sending limit; the client retries later
  kDefer,     // 451 4.x.x: spam on a normal-pool flow, or not inspected (fail closed)
};
std::string_view action_name(Action a);

// The egress pool a flow leaves from, chosen at its SYN (Decisions::pool_for): mail judged spam
// leaves only from kHighRisk.
enum class EgressPool : uint8_t { kNormal, kHighRisk };
std::string_view pool_name(EgressPool p);

struct Decision {
  Action action = Action::kAllow;
  // The reply line without CRLF for any action but kAllow. Must outlive the flow's session
  // (a static string, or text owned by the published policy).
  std::string_view reply;
};

// The reply to a STARTTLS on a flow whose server's STARTTLS was masked (Decisions::
// inspect_starttls): the client never saw it offered.
inline constexpr std::string_view kReplyStarttlsNotOffered = "502 5.5.1 STARTTLS not offered";

// The reply of the fail-closed outcome (RFC 3463 4.3.2: system not accepting network messages).
inline constexpr std::string_view kReplyUninspected =
    "451 4.3.2 Message could not be inspected, try again later";

// One message's inspection state: lent at MAIL FROM, given back after its record was reported.
struct Message {
  uint64_t index = 0;                  // the record's index (transactions of the session from 0)
  scan::ScanContext* scan = nullptr;   // lent with the message; holds the verdict until the record
  bool ended = false;                  // end_message seen: the scan context has a verdict
  bool inspected = true;               // false: a pool bound left part of it unscanned
  bool has_summary = false;            // `summary` holds the MIME decoder's summary
  bool auto_submitted = false;         // RFC 3834 Auto-Submitted other than "no" (end of content)
  bool long_header_line = false;      // a header line over 998 octets (end of content)
  Action action = Action::kAllow;      // the decision that ended it, if any
  std::string_view reply;              // ... and its reply (empty for kAllow)
  // The Decisions' own state of the message (zeroed when lent): its sender accounting.
  count::MessageState account;
  bool accounted = false;              // MAIL FROM was counted (account is live)
  uint32_t rcpts_decided = 0;          // RCPT TO holds decided so far
  uint32_t over_limit_decided = 0;     // ... of them past the session's recipient limit
  mime::Summary summary;               // copied at the end of content (Config::keep_summaries)

  // The scan verdict, or nullptr (no rule set, not ended, no scan context, scan error).
  const scan::Verdict* verdict() const {
    return scan != nullptr && ended && scan->verdict().valid ? &scan->verdict() : nullptr;
  }
};

class Flow;

// A hold point as Decisions sees it.
struct Hold {
  const smtp::HoldPoint& point;
  const smtp::MessageRecord* record;  // the transaction so far; nullptr for AUTH outside one
  Message* message;                   // its inspection state; nullptr when none could be had
};

// The driver's side of the pipeline. Called on the flow's thread from inside
// Inspector::on_segment / close; must not throw, and must not close the flow from the call.
class Decisions {
 public:
  virtual ~Decisions() = default;
  // A client's SYN opens a connection: the pool its egress address comes from. The driver sets
  // Flow::pool from it (a worker may fall back to the normal pool when there is no high-risk
  // one). Default: kNormal.
  virtual EgressPool pool_for(const smtp::Endpoint& client, const smtp::Endpoint& server) {
    (void)client;
    (void)server;
    return EgressPool::kNormal;
  }
  // Whether a connection from `client` is inspected past STARTTLS: the server's STARTTLS is
  // masked in its EHLO replies (smtp::Session::set_mask_starttls) and a client's STARTTLS is
  // answered kReplyStarttlsNotOffered. False: a 220 to STARTTLS makes the flow opaque (counted
  // as flows_opaque: its mail is not inspected). Asked once, when the Flow is made.
  // Default: false (analyze reports a capture as it is).
  virtual bool inspect_starttls(const smtp::Endpoint& client) {
    (void)client;
    return false;
  }
  // A hold point was reached; the answer is applied at once (see Action). STARTTLS holds are
  // the Flow's own (see inspect_starttls) and never reach here.
  virtual Decision on_hold(Flow& flow, const Hold& hold) = 0;
  // The session met a violation of the firewall-style limits (smtp::Counter
  // kCommandOverLimit, kAddressOverLimit) at client offset `offset`; `message` is the open
  // transaction's state, if any. Anything but kAllow stops the session there with the reply:
  // the offending line is never released. Default: allow (the line is parsed as usual).
  virtual Decision on_violation(Flow& flow, smtp::Counter violation, Message* message) {
    (void)flow;
    (void)violation;
    (void)message;
    return {};
  }
  // A transaction ended (any outcome). `message` is its inspection state (nullptr when none
  // could be had). Both are valid only during the call.
  virtual void on_record(Flow& flow, const smtp::MessageRecord& record, Message* message) = 0;
};

// Every counter of the stage, from one list: X(name, "text", "meaning").
#define SMTPGW_INSPECT_COUNTERS(X)                                                              \
  X(kFlows, "flows", "flows opened (a SYN from the client)")                                    \
  X(kFlowsClosed, "flows_closed", "flows closed (FIN both ways, RST, expiry, end of capture)") \
  X(kFlowsOpaque, "flows_opaque", "STARTTLS accepted: the rest of the flow is encrypted")      \
  X(kMessages, "messages", "message records reported")                                          \
  X(kClientBytes, "client_bytes", "reassembled client → server payload")                       \
  X(kServerBytes, "server_bytes", "reassembled server → client payload")                       \
  X(kContentBytes, "content_bytes", "message content in the records (after dot-unstuffing)")   \
  X(kEvasions, "evasions", "retransmitted bytes that differed from the first copy")            \
  X(kHoldsAllowed, "holds_allowed", "hold points released by the decision")                    \
  X(kHoldsEnded, "holds_ended", "hold points refused, throttled or deferred")                  \
  X(kStarttlsRefused, "starttls_refused", "STARTTLS sent although masked: 502 5.5.1, ended")   \
  X(kViolationsEnded, "violations_ended", "sessions ended at an over-long command or address") \
  X(kNoMessageState, "no_message_state", "message state pool empty at MAIL FROM")               \
  X(kNoDecoder, "no_decoder", "MIME decoder pool empty at DATA: content not decoded")          \
  X(kNoScanContext, "no_scan_context", "scan context pool empty at MAIL FROM: not scanned")    \
  X(kUninspectedDeferred, "uninspected_deferred", "uninspected message deferred (fail closed)") \
  X(kUninspectedPassed, "uninspected_passed", "uninspected message decided as usual (fail_open)")

enum class Counter : uint8_t {
#define SMTPGW_X(name, text, doc) name,
  SMTPGW_INSPECT_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};
inline constexpr size_t kCounterCount = static_cast<size_t>(Counter::kCount);
std::string_view counter_name(Counter c);

struct Config {
  tcp::Config tcp;
  smtp::SessionLimits session;        // hold_mask: which points wait for a decision
  uint32_t max_active_sessions = 0;   // sessions parsing at once (0: no bound)
  uint32_t reserve_active_sessions = 0;  // their parser state made at start (a worker: all)
  mime::Limits mime;
  // Pools: made at start up to reserve_*, on demand up to max_* (a worker sets both equal).
  uint32_t reserve_messages = 16, max_messages = 1u << 20;
  uint32_t reserve_decoders = 4, max_decoders = 1u << 20;
  uint32_t reserve_scans = 4, max_scans = 1u << 20;
  // The rules: a fixed rule set (analyze, tests) or a published one (workers); neither: no scan.
  const scan::Ruleset* ruleset = nullptr;
  const scan::ScanContext::Source* rules_source = nullptr;
  unsigned worker = 0;                // the scratch of the rule set this thread uses
  bool keep_summaries = true;         // copy each message's MIME summary for its record
  bool fail_open = false;             // uninspected messages: decide as usual instead of 451
  // Map every page of the decoders made at start and open the scan contexts' Hyperscan
  // streams now (a worker: no page fault or allocation on the packet path for them; analyze,
  // which grows its pools with the capture, leaves them until used).
  bool prefault = false;
};

// One TCP connection's inspection state. Owned by the driver's flow table; made when the
// client's SYN opens the flow, closed through Inspector::close. Its StreamConsumer,
// SessionObserver and sinks are the glue between the stages and are called only by them.
class Flow final : public tcp::StreamConsumer,
                   public smtp::SessionObserver,
                   public FieldSink,
                   public ContentSink {
 public:
  // `id` names the flow to the driver (analyze numbers flows; a worker its table slot); it is
  // kept in 32 bits.
  Flow(class Inspector& inspector, uint64_t id, const smtp::Endpoint& client,
       const smtp::Endpoint& server);
  ~Flow() override;
  Flow(const Flow&) = delete;
  Flow& operator=(const Flow&) = delete;

  uint64_t id() const { return id_; }
  // FIN both ways, or RST: the driver should close the flow and drop it from its table.
  bool done() const { return done_; }
  // The session stopped at a refused hold point (or when no active part could be had): the
  // driver answers the client with this reply and closes both sides. Empty until then; the
  // reply of a session refused for want of an active part is kReplyUninspected.
  std::string_view refusal() const {
    return session_.client_state() != smtp::ClientState::kRefused ? std::string_view{}
           : refusal_len_ == 0 ? kReplyUninspected
                               : std::string_view(refusal_, refusal_len_);
  }
  const smtp::Session& session() const { return session_; }
  EgressPool pool() const { return pool_; }
  // The pool's id for the trace (flow::PoolId: 0 normal, 1 high risk, 2.. the named pools).
  uint8_t pool_id() const { return pool_id_; }
  // Set by the driver when the flow is made (from Decisions::pool_for, or the pool of the
  // address its binding holds). A named pool is kNormal here: only spam steering tells them
  // apart, and a named pool is its tenant's normal pool.
  void set_pool(EgressPool p, uint8_t pool_id) {
    pool_ = p;
    pool_id_ = pool_id;
  }
  void set_pool(EgressPool p) { set_pool(p, p == EgressPool::kHighRisk ? 1 : 0); }
  // The IPv4 egress address (host order) and port its NAT binding holds, for the message trace;
  // zero where there is none (analyze). Set by the driver when the flow is made.
  void set_egress(uint32_t addr, uint16_t port) {
    egress_addr_ = addr;
    egress_port_ = port;
  }
  uint32_t egress_addr() const { return egress_addr_; }
  uint16_t egress_port() const { return egress_port_; }

  tcp::FlowState tcp;

  // tcp::StreamConsumer
  uint64_t on_data(tcp::Direction d, uint64_t offset, std::string_view bytes) override;
  void on_fin(tcp::Direction d) override;
  void on_reset() override;
  // smtp::SessionObserver
  void on_message(const smtp::MessageRecord& record) override;
  void on_hold(const smtp::HoldPoint& hold, const smtp::MessageRecord* record) override;
  void on_anomaly(smtp::Counter c, uint64_t client_offset) override;
  // FieldSink: the session's envelope and the decoder's fields, into the message's scan.
  void begin_message() override;
  void field(const Field& f) override;
  void end_message() override;
  void abort_message() override;
  // ContentSink: the message's content, into a lent decoder.
  void begin_content() override;
  void content(std::string_view chunk) override;
  void end_content() override;
  void abort_content() override;

 private:
  friend class Inspector;
  // As many as the session keeps records: every open transaction has its message state.
  static constexpr int kMaxMessages = smtp::kMaxOpenTransactions;

  void close();
  void finish_content();
  // Ends the session with a decision's reply (a refused hold or a violation).
  void end_with(Message* m, const Decision& d);
  Message* find(uint64_t index);
  void give_back(Message* m);

  Inspector& in_;
  smtp::Session session_;
  mime::Decoder* decoder_ = nullptr;
  const char* refusal_ = nullptr;       // the reply of the decision that refused a hold
  Message* current_ = nullptr;          // the message between begin_message and its end
  std::array<Message*, kMaxMessages> msgs_{};  // lent, awaiting their record
  // Packed: an idle flow (this object and its NAT binding) is meant to stay within 512 bytes.
  uint32_t begun_ = 0;                  // begin_message calls: the next message's index
  uint32_t id_;
  uint32_t egress_addr_ = 0;
  uint16_t refusal_len_ = 0;
  uint16_t egress_port_ = 0;
  bool fin_[2] = {false, false};
  bool closed_ = false;
  bool done_ = false;
  EgressPool pool_ = EgressPool::kNormal;
  uint8_t pool_id_ = 0;
};

class Inspector {
 public:
  // Makes the reassembler's slot pool, the session context and the reserved pool objects.
  // `decisions` must outlive the Inspector. Thread: any, before use.
  Inspector(const Config& config, Decisions& decisions, tcp::OwnerOps owner_ops);
  ~Inspector();
  Inspector(const Inspector&) = delete;
  Inspector& operator=(const Inspector&) = delete;

  // Whether a client SYN for an existing flow `f` (nullptr: none) starts a new connection: no
  // flow yet, the old one is done, or the SYN does not fit it (its ISN unknown, or data already
  // flowed: the ports were reused). The driver then closes `f` and makes a new Flow.
  static bool starts_new_flow(const Flow* f);

  // Feeds one segment of direction d (client = the SYN's sender) to the flow: reassembly, then
  // the session, decoder and scanner over the bytes it completes, holds decided as they come.
  // Returns the reassembler's outcome. Cost: see tcp::Reassembler::on_segment, plus linear in
  // the bytes delivered. No allocation once the pools are made.
  tcp::SegmentOutcome on_segment(Flow& f, tcp::Direction d, const tcp::Segment& seg) {
    const tcp::SegmentOutcome o = reasm_.on_segment(f.tcp, d, seg, f);
    // A server reply can release client bytes too (content sent before the 354, once it
    // came): the client direction's limit follows the session's after every segment.
    reasm_.allow_release(f.tcp, tcp::Direction::kClientToServer, f.session_.release_limit());
    return o;
  }
  // With a published rule set (Config::rules_source): moves idle scan contexts to the version
  // published now — closing their old streams, opening new ones, at most `budget` contexts a
  // call — so that an old version is freed once the messages in flight on it have ended, and
  // the packet path does not open streams. The driver calls it between bursts (a worker: every
  // poll loop). Cost: one load and compare while nothing new was published.
  void refresh_rules(uint32_t budget = 32);
  // Whether every scan context holds the published version (tests). O(contexts).
  bool rules_current() const;

  // Ends the flow: its open transactions end (reported as aborted or as their replies decided),
  // and everything it holds goes back (reassembly slots and their owners, decoder, scan
  // contexts, message states). Idempotent. The driver may then destroy the Flow.
  void close(Flow& f);

  // Client bytes of `f` the driver may forward (stream offsets from the first byte after SYN).
  uint64_t release_limit(const Flow& f) const {
    return reasm_.release_limit(f.tcp, tcp::Direction::kClientToServer);
  }

  const tcp::Reassembler& reassembler() const { return reasm_; }
  const smtp::SessionContext& sessions() const { return sessions_; }
  const Pool<mime::Decoder>& decoders() const { return decoders_; }
  const Pool<scan::ScanContext>& scans() const { return scans_; }
  const Pool<Message>& messages() const { return messages_; }
  // The MIME totals of every decoder (notes, bytes). Cost: O(decoders made).
  mime::Stats mime_stats() const;
  uint64_t counter(Counter c) const { return stats::load(counters_[static_cast<size_t>(c)]); }
  // Adds the pipeline's counter groups — inspect, smtp (the sessions), tcp (the reassembly) —
  // to `r`; they stay valid as long as the Inspector. Before readers start.
  void register_counters(stats::Registry& r) const;
  const Config& config() const { return config_; }
  bool scanning() const { return config_.ruleset != nullptr || config_.rules_source != nullptr; }

 private:
  friend class Flow;
  void count(Counter c, uint64_t n = 1) { stats::add(counters_[static_cast<size_t>(c)], n); }

  class NullSink final : public FieldSink {
   public:
    void begin_message() override {}
    void field(const Field&) override {}
    void end_message() override {}
    void abort_message() override {}
  };

  Config config_;
  Decisions& decisions_;
  tcp::Reassembler reasm_;
  smtp::SessionContext sessions_;
  NullSink null_sink_;  // where an idle decoder's fields would go (none are emitted)
  mime::HeaderScratch header_scratch_;  // shared by the decoders: this thread's, one at a time
  Pool<mime::Decoder> decoders_;
  Pool<scan::ScanContext> scans_;
  Pool<Message> messages_;
  // The published version the contexts are being moved to (pinned, so its address is not
  // reused while compared), and whether some context may still hold an older one.
  scan::ScanContext::Source::Pin rules_seen_;
  bool rules_moving_ = false;
  std::array<uint64_t, kCounterCount> counters_{};
};

}  // namespace smtpgw::inspect
