// Session: construction, the public API, and the transaction bookkeeping shared by both sides.
// The client side is in session_client.cc, the server side in session_server.cc.
#include "dataplane/smtp/session.h"

#include <string.h>  // explicit_bzero

#include <algorithm>

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

Session::Impl::Impl(Session& session, const SessionLimits& l, FieldSink* f, ContentSink* c,
                    SessionObserver* o)
    : s(session), limits(l), fields(f), content(c), observer(o) {
  limits.max_command_line = std::max(limits.max_command_line, kMinLine);
  limits.max_reply_line = std::max(limits.max_reply_line, kMinLine);
  limits.max_pending = std::max<uint32_t>(limits.max_pending, 1);
  cmd_buf.reset(new char[limits.max_command_line]());
  reply_buf.reset(new char[limits.max_reply_line]());
  pending_cap = limits.max_pending + 1;  // + the greeting
  pending.reset(new PendingCmd[pending_cap]);
  holds.reset(new HoldEntry[std::max<uint32_t>(limits.max_holds, 1)]);
  push_pending(CmdKind::kGreeting, kNoSlot);
}

void Session::Impl::anomaly(Counter c, uint64_t offset) {
  count(c);
  if (observer != nullptr) {
    observer->on_anomaly(c, offset);
  }
}

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
    frozen = std::min(frozen, offset);
    return;
  }
  uint32_t cap = std::max<uint32_t>(limits.max_holds, 1);
  HoldEntry& e = holds[(hold_head + hold_count) % cap];
  e.hold = HoldPoint{kind, offset};
  e.slot = static_cast<int8_t>(slot);
  e.gen = slot >= 0 ? slots[slot]->gen : 0;
  ++hold_count;
  count(Counter::kHolds);
  if (observer != nullptr) {
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
    // Transactions pipelined faster than their replies: report the oldest with what is known.
    anomaly(Counter::kRecordOverflow, offset);
    uint64_t oldest = UINT64_MAX;
    for (int i = 0; i < kRecordSlots; ++i) {
      if (slots[i]->rec.index < oldest) {
        oldest = slots[i]->rec.index;
        free_slot = i;
      }
    }
    finish(free_slot);
  }
  // A slot is made by the first transaction that needs it and kept (a session that never
  // sends mail never has one); only the record's recipient storage is released per message.
  if (!slots[free_slot]) {
    slots[free_slot] = std::make_unique<Slot>(limits.record);
  }
  Slot& sl = *slots[free_slot];
  sl.rec.clear();
  sl.live = true;
  sl.client_open = true;
  sl.fields_open = false;
  sl.content_open = false;
  sl.refused = false;
  sl.gen = next_gen++;
  sl.refs = 0;
  sl.rcpts_sent = 0;
  sl.rec.index = message_index++;
  sl.rec.client = client_ep;
  sl.rec.server = server_ep;
  sl.rec.helo.assign(helo.view());
  sl.rec.auth_user.assign(s.auth_user_.view());
  sl.rec.auth_mechanism = s.auth_user_.len > 0 ? auth_user_mech : AuthMechanism::kNone;
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

void Session::Impl::abort_sinks(Slot& sl) {
  if (sl.content_open) {
    sl.content_open = false;
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
  r.release_storage();  // an idle session keeps no recipient storage
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

Session::Session(const SessionLimits& limits, FieldSink* fields, ContentSink* content,
                 SessionObserver* observer)
    : impl_(std::make_unique<Impl>(*this, limits, fields, content, observer)) {}

Session::~Session() {
  // Whatever an unfinished AUTH line left in the buffer does not outlive the session.
  secure_wipe(impl_->cmd_buf.get(), impl_->limits.max_command_line);
}

void Session::set_endpoints(const Endpoint& client, const Endpoint& server) {
  impl_->client_ep = client;
  impl_->server_ep = server;
  for (auto& sl : impl_->slots) {
    if (sl && sl->live) {
      sl->rec.client = client;
      sl->rec.server = server;
    }
  }
}

void Session::on_client_data(std::string_view bytes) { impl_->client_data(bytes); }

void Session::on_server_data(std::string_view bytes) { impl_->server_data(bytes); }

void Session::on_close() {
  Impl& m = *impl_;
  if (m.closed) {
    return;
  }
  m.closed = true;
  m.close_client_txn(client_off_);
  if (state_ != ClientState::kOpaque && state_ != ClientState::kRefused &&
      m.pending_count > 0) {
    m.count(Counter::kCommandWithoutReply, m.pending_count - 1);
    m.anomaly(Counter::kCommandWithoutReply, client_off_);
  }
  while (m.pending_count > 0) {
    PendingCmd p = m.pending[m.pending_head];
    m.pending_head = (m.pending_head + 1) % m.pending_cap;
    --m.pending_count;
    m.release_ref(p.slot, p.gen);
  }
  for (int i = 0; i < kRecordSlots; ++i) {
    if (m.slots[i] && m.slots[i]->live) {
      m.finish(i);
    }
  }
  m.wipe_line();
}

uint64_t Session::release_limit() const {
  const Impl& m = *impl_;
  uint64_t limit = state_ == ClientState::kOpaque ? client_off_ : m.classified;
  limit = std::min(limit, m.barrier);
  limit = std::min(limit, m.frozen);
  if (m.hold_count > 0) {
    limit = std::min(limit, m.holds[m.hold_head].hold.offset);
  }
  return limit;
}

const HoldPoint* Session::pending_hold() const {
  const Impl& m = *impl_;
  return m.hold_count > 0 ? &m.holds[m.hold_head].hold : nullptr;
}

void Session::allow() {
  Impl& m = *impl_;
  if (m.hold_count == 0) {
    return;
  }
  m.hold_head = (m.hold_head + 1) % std::max<uint32_t>(m.limits.max_holds, 1);
  --m.hold_count;
}

void Session::refuse(std::string_view reply) {
  Impl& m = *impl_;
  if (m.hold_count == 0) {
    return;
  }
  HoldEntry e = m.holds[m.hold_head];
  m.hold_count = 0;
  m.frozen = std::min(m.frozen, e.hold.offset);
  state_ = ClientState::kRefused;
  if (e.slot >= 0 && m.slots[e.slot]->live && m.slots[e.slot]->gen == e.gen) {
    Slot& sl = *m.slots[e.slot];
    sl.refused = true;
    parse_reply_text(reply, sl.rec.final_reply);
  }
  // The gateway closes both sides now: nothing that is open will complete.
  m.close_client_txn(client_off_);
  for (int i = 0; i < kRecordSlots; ++i) {
    if (m.slots[i] && m.slots[i]->live) {
      m.finish(i);
    }
  }
  m.wipe_line();
}

std::string_view Session::helo() const { return impl_->helo.view(); }

bool Session::buffers_contain(std::string_view needle) const {
  const Impl& m = *impl_;
  if (contains(m.cmd_buf.get(), m.limits.max_command_line, needle) ||
      contains(m.reply_buf.get(), m.limits.max_reply_line, needle) ||
      contains(reinterpret_cast<const char*>(&m), sizeof(m), needle) ||
      contains(reinterpret_cast<const char*>(this), sizeof(*this), needle)) {
    return true;
  }
  for (const auto& sl : m.slots) {
    if (sl && sl->rec.storage_contains(needle)) {
      return true;
    }
  }
  return false;
}

void Session::Impl::wipe_line() {
  secure_wipe(cmd_buf.get(), limits.max_command_line);
  cmd_len = 0;
}

}  // namespace smtpgw::smtp
