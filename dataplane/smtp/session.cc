// Session: construction, the public API, and the transaction bookkeeping shared by both sides.
// The client side is in session_client.cc, the server side in session_server.cc.
#include "dataplane/smtp/session.h"

#include <string.h>  // explicit_bzero

#include <algorithm>
#include <cstring>
#include <new>

#include "dataplane/smtp/session_impl.h"

namespace smtpgw::smtp {

namespace {

constexpr std::string_view kCounterNames[] = {
#define SMTPGW_X(name, text, anomaly) text,
    SMTPGW_SMTP_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
};
constexpr bool kCounterAnomaly[] = {
#define SMTPGW_X(name, text, anomaly) anomaly,
    SMTPGW_SMTP_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
};

// Bounds below which the parser cannot work; smaller configured values are raised to these.
constexpr uint32_t kMinLine = 16;

SessionLimits with_floors(SessionLimits l) {
  l.max_command_line = std::max(l.max_command_line, kMinLine);
  l.max_reply_line = std::max(l.max_reply_line, kMinLine);
  l.max_pending = std::max<uint32_t>(l.max_pending, 1);
  return l;
}

bool contains(const char* p, size_t n, std::string_view needle) {
  return !needle.empty() && std::string_view(p, n).find(needle) != std::string_view::npos;
}

}  // namespace

std::string_view counter_name(Counter c) {
  size_t i = static_cast<size_t>(c);
  return i < kCounterCount ? kCounterNames[i] : std::string_view("invalid");
}

bool counter_is_anomaly(Counter c) {
  size_t i = static_cast<size_t>(c);
  return i < kCounterCount && kCounterAnomaly[i];
}

void secure_wipe(void* p, size_t n) {
  if (p != nullptr && n > 0) {
    explicit_bzero(p, n);
  }
}

void HeapText::assign(std::string_view text, size_t max) {
  size_t n = std::min({text.size(), max, size_t{UINT16_MAX}});
  truncated_ = n < text.size();
  if (n > cap_) {
    data_.reset(new char[n]);
    cap_ = static_cast<uint16_t>(n);
  }
  if (n > 0) {
    std::memcpy(data_.get(), text.data(), n);
  }
  len_ = static_cast<uint16_t>(n);
}

SessionContext::Part::Part(const SessionLimits& l)
    : cmd_buf(new char[l.max_command_line]()),
      reply_buf(new char[l.max_reply_line]()),
      pending(new PendingCmd[l.max_pending + 1]),  // + the greeting
      holds(new HoldEntry[std::max<uint32_t>(l.max_holds, 1)]) {}

SessionContext::SessionContext(const SessionLimits& limits, uint32_t max_active)
    : limits_(with_floors(limits)), max_active_(max_active) {}

SessionContext::~SessionContext() {
  while (all_ != nullptr) {
    Part* p = all_;
    all_ = p->next_made;
    secure_wipe(p->cmd_buf.get(), limits_.max_command_line);
    delete p;
  }
}

void SessionContext::reserve(uint32_t parts) {
  if (max_active_ != 0) {
    parts = std::min(parts, max_active_);
  }
  while (stats_.parts < parts) {
    Part* p = make_part();
    // Most sessions run one transaction at a time: its record slot and recipient storage are
    // made now too, so a first MAIL FROM and RCPT do not allocate on the packet path.
    p->slots[0] = std::make_unique<Slot>(limits_.record);
    p->slots[0]->rec.reserve_storage();
    free_[free_count_++] = p;
  }
}

SessionContext::Part* SessionContext::make_part() {
  Part* p = new Part(limits_);
  p->next_made = all_;
  all_ = p;
  ++stats_.parts;
  if (free_cap_ < stats_.parts) {
    // Room for every part made, so give_back never allocates.
    uint32_t cap = std::max<uint32_t>(16, free_cap_ * 2);
    std::unique_ptr<Part*[]> bigger(new Part*[cap]);
    std::copy(free_.get(), free_.get() + free_count_, bigger.get());
    free_ = std::move(bigger);
    free_cap_ = cap;
  }
  return p;
}

SessionContext::Part* SessionContext::take() {
  Part* p = nullptr;
  if (free_count_ > 0) {
    p = free_[--free_count_];
  } else if (max_active_ == 0 || stats_.parts < max_active_) {
    p = make_part();  // the pool grows: once per new high-water mark of busy sessions
  } else {
    ++stats_.exhausted;
    return nullptr;
  }
  ++stats_.taken;
  ++stats_.active;
  stats_.peak = std::max(stats_.peak, stats_.active);
  return p;
}

void SessionContext::give_back(Part* p) {
  free_[free_count_++] = p;
  --stats_.active;
}

size_t SessionContext::active_part_bytes(const SessionLimits& limits) {
  const SessionLimits l = with_floors(limits);
  return sizeof(Part) + l.max_command_line + l.max_reply_line +
         sizeof(PendingCmd) * (l.max_pending + 1) +
         sizeof(HoldEntry) * std::max<uint32_t>(l.max_holds, 1) + kRecordSlots * sizeof(Slot);
}

bool SessionContext::parts_contain(std::string_view needle) const {
  for (const Part* p = all_; p != nullptr; p = p->next_made) {
    if (contains(p->cmd_buf.get(), limits_.max_command_line, needle) ||
        contains(p->reply_buf.get(), limits_.max_reply_line, needle) ||
        contains(reinterpret_cast<const char*>(p->state), sizeof(p->state), needle)) {
      return true;
    }
    for (const auto& sl : p->slots) {
      if (sl && sl->rec.storage_contains(needle)) {
        return true;
      }
    }
  }
  return false;
}

Session::Impl::Impl(Session& session, SessionContext::Part& part)
    : s(session),
      content(session.content_),
      limits(session.ctx_->limits()),
      fields(session.fields_),
      observer(session.observer_),
      cmd_buf(part.cmd_buf),
      cmd_start(session.client_off_),
      reply_buf(part.reply_buf),
      pending(part.pending),
      pending_cap(limits.max_pending + 1),
      holds(part.holds),
      hold_cap(std::max<uint32_t>(limits.max_holds, 1)),
      slots(part.slots) {
  if (!s.greeted_) {
    push_pending(CmdKind::kGreeting, kNoSlot);
  }
}

Session::Impl::~Impl() {
  // The part goes to another session: nothing of this one's transactions stays live in it.
  for (auto& sl : slots) {
    if (sl) {
      sl->live = false;
      sl->rec.forget_recipients();
    }
  }
  // Whatever an unfinished AUTH line left in the buffer does not outlive the session's use.
  if (cmd_len > 0) {
    wipe_line();
  }
}

bool Session::Impl::idle() const {
  if (cur != kNoSlot || hold_count > 0) {  // cur first: it is on the content path's cache line
    return false;
  }
  for (const auto& sl : slots) {
    if (sl && sl->live) {
      return false;
    }
  }
  switch (s.state_) {
    case ClientState::kCommand:
      return pending_count == 0 && cmd_len == 0 && reply_len == 0 && !reply_skip &&
             !in_multiline && !auth_open && barrier == UINT64_MAX;
    case ClientState::kOpaque:
    case ClientState::kRefused:
      return true;  // nothing more is parsed: what is pending can never be matched
    default:
      return false;
  }
}

void Session::anomaly(Counter c, uint64_t offset) {
  count(c);
  if (observer_ != nullptr) {
    observer_->on_anomaly(c, offset);
  }
}

void Session::data_after_end(uint64_t offset) {
  if (!after_end_reported_) {
    after_end_reported_ = true;
    anomaly(Counter::kDataAfterEnd, offset);
  }
}

static_assert(sizeof(Session::Impl) <= kImplBytes, "raise kImplBytes");
static_assert(alignof(Session::Impl) <= alignof(std::max_align_t));

void Session::Impl::set_desync(uint64_t offset) {
  if (!s.desync_) {
    s.desync_ = true;
    anomaly(Counter::kDesync, offset);
  }
}

void Session::Impl::raise_hold(HoldKind kind, uint64_t offset, int slot) {
  if ((limits.hold_mask & hold_bit(kind)) == 0) {
    return;
  }
  if (hold_count >= limits.max_holds) {
    // No room to remember the decision: never release past this point (the flow stalls and
    // the dataplane's timeout ends it), rather than releasing an unchecked command.
    anomaly(Counter::kHoldOverflow, offset);
    s.frozen_ = std::min(s.frozen_, offset);
    return;
  }
  HoldEntry& e = holds[(hold_head + hold_count) % hold_cap];
  e.hold = HoldPoint{kind, offset};
  e.slot = static_cast<int8_t>(slot);
  e.gen = slot >= 0 ? slots[slot]->gen : 0;
  ++hold_count;
  count(Counter::kHolds);
  if (observer != nullptr) {
    flush_size();  // the observer sees the record as it is
    const MessageRecord* rec = slot >= 0 ? &slots[slot]->rec : nullptr;
    HoldPoint copy = e.hold;  // the observer may decide (and pop) it during the call
    observer->on_hold(copy, rec);
  }
}

bool Session::Impl::push_pending(CmdKind kind, int slot, uint32_t rcpt) {
  // The greeting does not count against max_pending (it is pending before any command).
  uint32_t greeting = pending_count > 0 && pending[pending_head].kind == CmdKind::kGreeting;
  if (pending_count >= pending_cap || pending_count - greeting >= limits.max_pending) {
    // Its reply will be matched with a later command: from here on the matching is wrong, so
    // say so (outcomes become kUnknown) instead of guessing.
    anomaly(Counter::kPendingOverflow, s.client_off_);
    set_desync(s.client_off_);
    return false;
  }
  PendingCmd& p = pending[(pending_head + pending_count) % pending_cap];
  p.kind = kind;
  p.slot = static_cast<int8_t>(slot);
  p.gen = slot >= 0 ? slots[slot]->gen : 0;
  p.rcpt = rcpt;
  ++pending_count;
  if (slot >= 0) {
    ++slots[slot]->refs;
  }
  return true;
}

int Session::Impl::open_slot(uint64_t offset) {
  int free_slot = kNoSlot;
  for (int i = 0; i < kRecordSlots; ++i) {
    if (!slots[i] || !slots[i]->live) {
      free_slot = i;
      break;
    }
  }
  if (free_slot == kNoSlot) {
    // Transactions pipelined faster than their replies: one is reported early with what is
    // known. The oldest whose content was never ended goes first (a transaction the client
    // left): a message whose end of data was sent may have been queued by the server, and its
    // final reply is what the counts and the trace rest on. Only when every slot holds such a
    // message (BDAT LAST after BDAT LAST) does the oldest of them go.
    anomaly(Counter::kRecordOverflow, offset);
    uint64_t oldest = UINT64_MAX;
    bool oldest_ended = true;
    for (int i = 0; i < kRecordSlots; ++i) {
      const Slot& sl = *slots[i];
      bool ended = sl.content_ended();
      if ((oldest_ended && !ended) || (ended == oldest_ended && sl.rec.index < oldest)) {
        oldest = sl.rec.index;
        oldest_ended = ended;
        free_slot = i;
      }
    }
    finish(free_slot);
  }
  // A slot is made by the first transaction that needs it and kept with the pooled part (a
  // worker's parts have their first slot made at start: SessionContext::reserve).
  if (!slots[free_slot]) {
    slots[free_slot] = std::make_unique<Slot>(limits.record);
  }
  Slot& sl = *slots[free_slot];
  sl.rec.clear();
  sl.live = true;
  sl.client_open = true;
  sl.fields_open = false;
  sl.refused = false;
  sl.gen = next_gen++;
  sl.refs = 0;
  sl.rcpts_sent = 0;
  sl.rec.index = s.message_index_++;
  sl.rec.client = s.client_ep_;
  sl.rec.server = s.server_ep_;
  sl.rec.helo.assign(s.helo_.view());
  sl.rec.auth_user.assign(s.auth_user_.view());
  sl.rec.auth_mechanism =
      s.auth_user_.view().empty() ? AuthMechanism::kNone : s.auth_user_mech_;
  sl.rec.extensions = s.ext_;
  sl.rec.client_offset_begin = offset;
  cur = free_slot;
  return free_slot;
}

void Session::Impl::release_ref(int slot, uint32_t gen) {
  if (slot < 0) {
    return;
  }
  Slot& sl = *slots[slot];
  if (!sl.live || sl.gen != gen) {
    return;
  }
  if (sl.refs > 0) {
    --sl.refs;
  }
  maybe_finish(slot);
}

void Session::Impl::maybe_finish(int slot) {
  Slot& sl = *slots[slot];
  if (sl.live && sl.refs == 0 && !sl.client_open) {
    finish(slot);
  }
}

void Session::Impl::open_content(Slot& sl) {
  if (sl.fields_open && streaming == nullptr) {
    streaming = &sl;
    streamed = 0;
    if (content != nullptr) {
      content->begin_content();
    }
  }
}

void Session::Impl::abort_sinks(Slot& sl) {
  if (streaming == &sl) {
    flush_size();
    streaming = nullptr;
    sl.rec.content_truncated = true;
    if (content != nullptr) {
      content->abort_content();
    }
  }
  if (sl.fields_open) {
    sl.fields_open = false;
    if (fields != nullptr) {
      fields->abort_message();
    }
  }
}

// Outcome, first rule that applies:
//   refused by the gateway            -> kRefused
//   replies could not be matched      -> kUnknown
//   a final reply to the end of data  -> kDelivered (2xx) / kRejected (end_of_data)
//   the server refused a stage        -> kRejected (that stage)
//   every recipient refused           -> kRejected (rcpt)
//   otherwise                         -> kAborted (the client left)
void Session::Impl::finish(int slot) {
  Slot& sl = *slots[slot];
  MessageRecord& r = sl.rec;
  abort_sinks(sl);
  if (sl.refused) {
    r.outcome = MessageOutcome::kRefused;
  } else if (s.desync_) {
    r.outcome = MessageOutcome::kUnknown;
  } else if (r.final_reply.code != 0) {
    if (r.final_reply.code / 100 == 2) {
      r.outcome = MessageOutcome::kDelivered;
    } else {
      r.outcome = MessageOutcome::kRejected;
      if (r.reject_stage == RejectStage::kNone) {
        r.reject_stage = RejectStage::kEndOfData;
      }
    }
  } else if (r.reject_stage != RejectStage::kNone) {
    r.outcome = MessageOutcome::kRejected;
  } else if (r.recipients_rejected > 0 && r.recipients_accepted == 0) {
    r.outcome = MessageOutcome::kRejected;
    r.reject_stage = RejectStage::kRcpt;
  } else {
    r.outcome = MessageOutcome::kAborted;
  }
  switch (r.outcome) {
    case MessageOutcome::kDelivered:
      count(Counter::kMessagesDelivered);
      break;
    case MessageOutcome::kRejected:
      count(Counter::kMessagesRejected);
      break;
    case MessageOutcome::kAborted:
      count(Counter::kMessagesAborted);
      break;
    case MessageOutcome::kRefused:
      count(Counter::kMessagesRefused);
      break;
    case MessageOutcome::kUnknown:
      count(Counter::kMessagesUnknown);
      break;
  }
  sl.live = false;
  sl.client_open = false;
  if (cur == slot) {
    cur = kNoSlot;
  }
  if (observer != nullptr) {
    observer->on_message(r);
  }
  r.forget_recipients();  // the storage stays with the part, for its next transaction
}

void Session::Impl::close_client_txn(uint64_t offset) {
  (void)offset;
  if (cur == kNoSlot) {
    return;
  }
  int slot = cur;
  Slot& sl = *slots[slot];
  abort_sinks(sl);
  sl.client_open = false;
  cur = kNoSlot;
  maybe_finish(slot);
}

void Session::Impl::close() {
  s.closed_ = true;
  close_client_txn(s.client_off_);
  if (s.state_ != ClientState::kOpaque && s.state_ != ClientState::kRefused &&
      pending_count > 0) {
    count(Counter::kCommandWithoutReply, pending_count - 1);
    anomaly(Counter::kCommandWithoutReply, s.client_off_);
  }
  while (pending_count > 0) {
    PendingCmd p = pending[pending_head];
    pending_head = (pending_head + 1) % pending_cap;
    --pending_count;
    release_ref(p.slot, p.gen);
  }
  finish_all();
}

void Session::Impl::finish_all() {
  for (int i = 0; i < kRecordSlots; ++i) {
    if (slots[i] && slots[i]->live) {
      finish(i);
    }
  }
  wipe_line();
}

void Session::Impl::refuse(std::string_view reply) {
  HoldEntry e = holds[hold_head];
  hold_count = 0;
  s.frozen_ = std::min(s.frozen_, e.hold.offset);
  s.state_ = ClientState::kRefused;
  if (e.slot >= 0 && slots[e.slot]->live && slots[e.slot]->gen == e.gen) {
    Slot& sl = *slots[e.slot];
    sl.refused = true;
    parse_reply_text(reply, sl.rec.final_reply);
  }
  // The gateway closes both sides now: nothing that is open will complete.
  close_client_txn(s.client_off_);
  finish_all();
}

void Session::Impl::stop(std::string_view reply, uint64_t offset) {
  hold_count = 0;  // holds before `offset` were decided (synchronously); later ones never will be
  s.frozen_ = std::min(s.frozen_, offset);
  s.state_ = ClientState::kRefused;
  if (cur != kNoSlot && slots[cur]->live) {
    Slot& sl = *slots[cur];
    sl.refused = true;
    parse_reply_text(reply, sl.rec.final_reply);
  }
  close_client_txn(s.client_off_);
  finish_all();
}

Session::Session(SessionContext& context, FieldSink* fields, ContentSink* content,
                 SessionObserver* observer)
    : ctx_(&context), fields_(fields), content_(content), observer_(observer) {}

Session::Session(const SessionLimits& limits, FieldSink* fields, ContentSink* content,
                 SessionObserver* observer)
    : Session(*new SessionContext(limits), fields, content, observer) {
  own_ctx_.reset(ctx_);
}

Session::~Session() {
  if (act_ != nullptr) {
    release_part();
  }
}

void Session::release_part() {
  act_->~Impl();
  act_ = nullptr;
  ctx_->give_back(part_);
  part_ = nullptr;
}

bool Session::activate() {
  if (act_ != nullptr) {
    return true;
  }
  part_ = ctx_->take();
  if (part_ == nullptr) {
    // No parser state to be had: refuse rather than forward what nobody parsed. Bytes already
    // parsed stay releasable.
    state_ = ClientState::kRefused;
    frozen_ = std::min(frozen_, classified_);
    anomaly(Counter::kNoActiveState, client_off_);
    return false;
  }
  act_ = new (part_->state) Impl(*this, *part_);
  return true;
}

void Session::deactivate_if_idle() {
  if (act_ == nullptr || feeding_ || !act_->idle()) {
    return;
  }
  greeted_ = true;  // idle means no command awaits a reply: the greeting's was read
  release_part();
}

template <class Parse>
void Session::feed(Parse parse) {
  feeding_ = true;
  parse(*act_);
  feeding_ = false;
  deactivate_if_idle();
}

void Session::set_endpoints(const Endpoint& client, const Endpoint& server) {
  client_ep_ = client;
  server_ep_ = server;
  if (act_ != nullptr) {
    for (auto& sl : act_->slots) {
      if (sl && sl->live) {
        sl->rec.client = client;
        sl->rec.server = server;
      }
    }
  }
}

void Session::on_client_data(std::string_view bytes) {
  if (closed_ || state_ == ClientState::kRefused) {
    if (!bytes.empty()) {
      data_after_end(client_off_);
    }
    client_off_ += bytes.size();
    return;
  }
  if (bytes.empty()) {
    return;
  }
  if (state_ == ClientState::kOpaque && act_ == nullptr) {
    client_off_ += bytes.size();  // TLS: counted only
    return;
  }
  if (!activate()) {
    client_off_ += bytes.size();
    return;
  }
  feed([bytes](Impl& m) { m.client_data(bytes); });
}

void Session::on_server_data(std::string_view bytes) {
  if (closed_ || state_ == ClientState::kOpaque || state_ == ClientState::kRefused ||
      bytes.empty()) {
    server_off_ += bytes.size();
    return;
  }
  if (!activate()) {
    server_off_ += bytes.size();
    return;
  }
  feed([bytes](Impl& m) { m.server_data(bytes); });
}

void Session::on_close() {
  if (closed_) {
    return;
  }
  if (act_ == nullptr && (greeted_ || state_ == ClientState::kOpaque ||
                          state_ == ClientState::kRefused)) {
    closed_ = true;  // idle: nothing is open
    return;
  }
  if (!activate()) {
    closed_ = true;
    return;
  }
  feed([](Impl& m) { m.close(); });
}

uint64_t Session::release_limit() const {
  uint64_t limit = state_ == ClientState::kOpaque ? client_off_ : classified_;
  limit = std::min(limit, frozen_);
  if (act_ != nullptr) {
    limit = std::min(limit, act_->barrier);
    if (act_->hold_count > 0) {
      limit = std::min(limit, act_->holds[act_->hold_head].hold.offset);
    }
  }
  return limit;
}

uint64_t Session::server_release_limit() const {
  if (act_ != nullptr && act_->partial_may_be_starttls()) {
    return server_off_ - act_->reply_len;
  }
  return server_off_;
}

namespace {
constexpr uint32_t kStarttlsLen = 8;  // "STARTTLS"
}  // namespace

bool Session::starttls_in(uint64_t offset, uint64_t len) const {
  if ((starttls_ & 2) == 0) {
    return false;
  }
  const auto o = static_cast<uint32_t>(offset);
  return static_cast<uint32_t>(starttls_at_ - o) < len ||
         static_cast<uint32_t>(o - starttls_at_) < kStarttlsLen;
}

void Session::mask_server_bytes(uint64_t offset, std::span<char> bytes) const {
  if (!starttls_in(offset, bytes.size())) {
    return;
  }
  for (uint32_t k = 0; k < kStarttlsLen; ++k) {
    const uint32_t at = starttls_at_ + k - static_cast<uint32_t>(offset);
    if (at < bytes.size()) {
      bytes[at] = 'X';
    }
  }
}

std::string_view Session::auth_pending_user() const {
  return act_ != nullptr ? act_->auth_pending_user.view() : std::string_view{};
}

const HoldPoint* Session::pending_hold() const {
  if (act_ == nullptr || act_->hold_count == 0) {
    return nullptr;
  }
  return &act_->holds[act_->hold_head].hold;
}

void Session::allow() {
  if (act_ == nullptr || act_->hold_count == 0) {
    return;
  }
  act_->hold_head = (act_->hold_head + 1) % act_->hold_cap;
  --act_->hold_count;
  deactivate_if_idle();  // not while feeding (an observer's call): the feed ends with it
}

void Session::refuse(std::string_view reply) {
  if (act_ == nullptr || act_->hold_count == 0) {
    return;
  }
  act_->refuse(reply);
  deactivate_if_idle();
}

void Session::stop(std::string_view reply, uint64_t offset) {
  if (act_ == nullptr || state_ == ClientState::kRefused) {
    return;
  }
  act_->stop(reply, offset);
  deactivate_if_idle();
}

bool Session::buffers_contain(std::string_view needle) const {
  return contains(reinterpret_cast<const char*>(this), sizeof(*this), needle) ||
         contains(helo_.view().data(), helo_.heap_bytes(), needle) ||
         contains(auth_user_.view().data(), auth_user_.heap_bytes(), needle) ||
         ctx_->parts_contain(needle);
}

void Session::Impl::wipe_line() {
  secure_wipe(cmd_buf.get(), limits.max_command_line);
  cmd_len = 0;
}

}  // namespace smtpgw::smtp
