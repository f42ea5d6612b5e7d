#include "dataplane/count/accountant.h"

#include <algorithm>

#include "dataplane/text/ascii.h"

namespace smtpgw::count {

using events::ActionTaken;
using policy::LimitAction;

namespace {

uint32_t resolve(const policy::Limit& l, uint32_t def) {
  return std::min(l.max != 0 ? l.max : def, policy::kLimitCeiling);
}

uint64_t hash_text(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a finaliser so low bits are mixed
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

KeyKind kind_of_slot(int slot) {
  static constexpr KeyKind kKinds[kSlotCount] = {KeyKind::kHost, KeyKind::kSender,
                                                 KeyKind::kUser, KeyKind::kOrg};
  return kKinds[slot];
}

Window window_of(uint32_t seconds) {
  return seconds <= 60 ? Window::kMinute : seconds <= 3600 ? Window::kHour : Window::kDay;
}

uint32_t window_seconds(Window w) {
  return w == Window::kMinute ? 60 : w == Window::kHour ? 3600 : 86'400;
}

}  // namespace

bool is_internal(const policy::Policy& policy, std::string_view recipient) {
  const size_t at = recipient.rfind('@');
  const std::string_view domain = at == std::string_view::npos ? recipient : recipient.substr(at + 1);
  for (const std::string& d : policy.internal_domains) {
    if (text::iequals(d, domain)) {
      return true;
    }
  }
  return false;
}

uint32_t effective_max(const policy::Policy& p, LimitId id) {
  static const policy::SenderLimits kS;
  static const policy::HostLimits kH;
  static const policy::SpamPolicy kSpam;
  switch (id) {
    case LimitId::kSenderMessagesPerMinute:
      return resolve(p.sender.messages_per_minute, kS.messages_per_minute.max);
    case LimitId::kSenderRecipientsPerMessage:
      return resolve(p.sender.recipients_per_message, kS.recipients_per_message.max);
    case LimitId::kSenderExternalRecipientsPerHour:
      return resolve(p.sender.external_recipients_per_hour, kS.external_recipients_per_hour.max);
    case LimitId::kSenderInternalRecipientsPerHour:
      return resolve(p.sender.internal_recipients_per_hour, kS.internal_recipients_per_hour.max);
    case LimitId::kSenderRecipientsPerDay:
      return resolve(p.sender.recipients_per_day, kS.recipients_per_day.max);
    case LimitId::kHostMessagesPerMinute:
      return resolve(p.host.messages_per_minute, kH.messages_per_minute.max);
    case LimitId::kHostRecipientsPerHour:
      return resolve(p.host.recipients_per_hour, kH.recipients_per_hour.max);
    case LimitId::kOrgRecipientsPerDay: {
      if (p.org.recipients_per_day.max != 0) {
        return p.org.recipients_per_day.max;  // not clamped: an organisation spans many senders
      }
      const uint32_t factor = p.org.org_recipients_per_day_factor != 0
                                  ? p.org.org_recipients_per_day_factor
                                  : policy::OrgLimits{}.org_recipients_per_day_factor;
      return effective_max(p, LimitId::kSenderRecipientsPerDay) * factor;
    }
    case LimitId::kSpamVerdicts:
      return p.spam.verdicts_to_restrict != 0 ? p.spam.verdicts_to_restrict
                                              : kSpam.verdicts_to_restrict;
    case LimitId::kNone:
      break;
  }
  return 0;
}

LimitAction limit_action(const policy::Policy& p, LimitId id) {
  switch (id) {
    case LimitId::kSenderMessagesPerMinute:
      return p.sender.messages_per_minute.action;
    case LimitId::kSenderRecipientsPerMessage:
      return p.sender.recipients_per_message.action;
    case LimitId::kSenderExternalRecipientsPerHour:
      return p.sender.external_recipients_per_hour.action;
    case LimitId::kSenderInternalRecipientsPerHour:
      return p.sender.internal_recipients_per_hour.action;
    case LimitId::kSenderRecipientsPerDay:
      return p.sender.recipients_per_day.action;
    case LimitId::kHostMessagesPerMinute:
      return p.host.messages_per_minute.action;
    case LimitId::kHostRecipientsPerHour:
      return p.host.recipients_per_hour.action;
    case LimitId::kOrgRecipientsPerDay:
      return p.org.recipients_per_day.action;
    case LimitId::kSpamVerdicts:
      return p.spam.action;
    case LimitId::kNone:
      break;
  }
  return LimitAction::kAlert;
}

// One limit as evaluated: its maximum, and the window over which a crossing episode lasts
// (0 for the per-message limit: every message is its own episode).
struct Accountant::Check {
  LimitId id;
  uint32_t max;
  LimitAction action;
  uint32_t window_s;
  bool at_least;  // spam: reaching max crosses (N verdicts restrict); others: exceeding it
};

Entry* Accountant::entry(MessageState& m, int slot) {
  if (m.keys[slot].kind == KeyKind::kNone) {
    return nullptr;
  }
  return table_.get(m.handles[slot]);
}

void Accountant::emit(EventQueue& q, events::Event& ev, const MessageState& m, int slot) {
  ev.unix_ns = table_.clock().now();
  ev.key = m.keys[slot];
  ev.user = m.keys[kSlotUser];
  q.push(ev);
}

void Accountant::restriction_check(const policy::Policy& policy, MessageState& m, uint32_t now_s,
                                   Decision& d) {
  for (int s = 0; s < kSlotCount; ++s) {
    Entry* e = entry(m, s);
    if (e == nullptr) {
      continue;
    }
    const Restriction r = Restriction::unpack(e->restriction.load(std::memory_order_seq_cst));
    if (r.in_force(now_s) && d.would != Verdict::kRefuse) {
      d.would = Verdict::kRefuse;
      d.limit = r.limit;
      d.subject = kind_of_slot(s);
    }
    if (s != kSlotOrg && e->steer_until_s.load(std::memory_order_relaxed) > now_s) {
      d.would_steer = true;
    }
  }
  (void)policy;
}

void Accountant::over_limit(const policy::Policy& policy, MessageState& m, int slot, Entry& e,
                            const Check& c, uint32_t observed, uint32_t now_s, EventQueue& q,
                            Decision& d) {
  auto& crossed = e.crossed[static_cast<int>(c.id)];
  bool first = false;
  if (c.window_s == 0) {
    // Per message: the recipient that first goes over is the crossing (this worker owns the
    // message, so there is no race); recorded in the table for reconciliation.
    first = observed == c.max + 1;
    if (first) {
      crossed.store(now_s, std::memory_order_relaxed);
    }
  } else {
    uint32_t cur = crossed.load(std::memory_order_relaxed);
    while (cur == 0 || static_cast<int64_t>(now_s) - static_cast<int64_t>(cur) >=
                           static_cast<int64_t>(c.window_s)) {
      if (crossed.compare_exchange_weak(cur, now_s, std::memory_order_relaxed)) {
        first = true;
        break;
      }
    }
  }
  const uint32_t today = day_number(now_s, policy.day_boundary_utc_offset_min);
  const uint64_t rel = e.release.load(std::memory_order_relaxed);
  const bool released_today =
      (rel >> 32) == today && (rel & (1ull << static_cast<int>(c.id))) != 0;

  ActionTaken taken = ActionTaken::kAlerted;
  Verdict v = Verdict::kAllow;
  bool restricted_now = false;
  uint32_t until = 0;
  switch (c.action) {
    case LimitAction::kAlert:
      break;
    case LimitAction::kThrottle:
      taken = ActionTaken::kThrottled;
      v = Verdict::kThrottle;
      break;
    case LimitAction::kBlockUserForToday:
    case LimitAction::kBlockUser: {
      const bool today_only = c.action == LimitAction::kBlockUserForToday;
      if (released_today) {
        taken = ActionTaken::kNotReapplied;
        break;
      }
      taken = today_only ? ActionTaken::kBlockedForToday : ActionTaken::kBlocked;
      v = Verdict::kRefuse;
      if (policy.dry_run) {
        break;
      }
      if (first) {
        until = today_only ? next_day_start(now_s, policy.day_boundary_utc_offset_min) : 0;
        const uint64_t want = Restriction{true, c.id, taken, until}.pack();
        uint64_t cur = e.restriction.load(std::memory_order_seq_cst);
        while (!Restriction::unpack(cur).in_force(now_s)) {
          if (e.restriction.compare_exchange_weak(cur, want, std::memory_order_seq_cst)) {
            restricted_now = true;
            break;
          }
        }
      } else {
        // The episode's restriction was applied by the crossing's winner (maybe this very
        // second on another worker) or has ended (expired at the day boundary, or released):
        // refuse only while it is in force.
        const bool in_force =
            Restriction::unpack(e.restriction.load(std::memory_order_seq_cst)).in_force(now_s);
        if (!in_force && crossed.load(std::memory_order_relaxed) != now_s) {
          v = Verdict::kAllow;
        }
      }
      break;
    }
  }

  if (first) {
    events::Event ev;
    ev.kind = events::EventKind::kThresholdCrossed;
    ev.u.crossed = events::ThresholdCrossed{};
    ev.u.crossed.limit = c.id;
    ev.u.crossed.action = taken;
    ev.u.crossed.dry_run = policy.dry_run ? 1 : 0;
    ev.u.crossed.limit_max = c.max;
    ev.u.crossed.observed = observed;
    ev.u.crossed.window_seconds = c.window_s;
    ev.u.crossed.crossed_at_s = now_s;
    emit(q, ev, m, slot);
  }
  if (restricted_now) {
    events::Event ev;
    ev.kind = events::EventKind::kRestrictionApplied;
    ev.u.restriction = events::RestrictionApplied{};
    ev.u.restriction.limit = c.id;
    ev.u.restriction.action = taken;
    ev.u.restriction.until_unix_s = until;
    emit(q, ev, m, slot);
  }
  if (v > d.would) {
    d.would = v;
    d.limit = c.id;
    d.subject = kind_of_slot(slot);
  }
}

namespace {

void finish(const policy::Policy& policy, Decision& d) {
  d.verdict = policy.dry_run ? Verdict::kAllow : d.would;
  d.steer_high_risk = !policy.dry_run && d.would_steer;
  if (d.verdict == Verdict::kThrottle) {
    d.code = 451;
    d.reply = kReplyThrottle;
  } else if (d.verdict == Verdict::kRefuse) {
    d.code = 550;
    d.reply = kReplyRestricted;
  }
}

}  // namespace

Decision Accountant::begin_message(const policy::Policy& policy, MessageState& m, EventQueue& q) {
  Decision d;
  for (int s = 0; s < kSlotCount; ++s) {
    m.handles[s] = Handle{};
    m.find[s] = FindOutcome::kBadKey;
    if (m.keys[s].kind != KeyKind::kNone) {
      m.find[s] = table_.find_or_insert(m.keys[s], m.handles[s]);
    }
  }
  const uint32_t now_s = table_.clock().now_s();
  m.mail_from_s = now_s;
  m.counted = false;
  if (m.exempt == Exempt::kAutoReply) {
    m.exempt = Exempt::kNone;  // set by the previous message's end; bounces stay bounces
  }
  m.rcpt_internal = m.rcpt_external = m.rcpt_rejected = 0;
  restriction_check(policy, m, now_s, d);
  if (d.would == Verdict::kRefuse) {
    finish(policy, d);
    if (!policy.dry_run) {
      return d;
    }
  }
  if (m.exempt == Exempt::kBounce) {
    for (int s = 0; s < kSlotCount; ++s) {
      if (Entry* e = entry(m, s)) {
        if (e->add(2, now_s, 1, 0, 0)) {
          table_.note_saturation();
        }
      }
    }
    finish(policy, d);
    return d;
  }
  for (int s = 0; s < kSlotCount; ++s) {
    if (Entry* e = entry(m, s)) {
      if (e->add(0, now_s, 1, 0, 0)) {
        table_.note_saturation();
      }
    }
  }
  m.counted = true;
  for (int s : {kSlotHost, kSlotSender, kSlotUser}) {
    Entry* e = entry(m, s);
    if (e == nullptr) {
      continue;
    }
    const LimitId id =
        s == kSlotHost ? LimitId::kHostMessagesPerMinute : LimitId::kSenderMessagesPerMinute;
    const Check c{id, effective_max(policy, id), limit_action(policy, id), 60, false};
    const uint32_t n = e->traffic_minute.sum(now_s).v[0];
    if (n > c.max) {
      over_limit(policy, m, s, *e, c, n, now_s, q, d);
    }
  }
  finish(policy, d);
  if (d.verdict != Verdict::kAllow) {
    for (int s = 0; s < kSlotCount; ++s) {
      if (Entry* e = entry(m, s)) {
        e->add(0, now_s, -1, 0, 0);
      }
    }
    m.counted = false;
  }
  return d;
}

Decision Accountant::add_recipient(const policy::Policy& policy, MessageState& m,
                                   std::string_view recipient, EventQueue& q) {
  Decision d;
  const uint32_t now_s = table_.clock().now_s();
  restriction_check(policy, m, now_s, d);
  if (d.would == Verdict::kRefuse && !policy.dry_run) {
    finish(policy, d);
    return d;
  }
  if (m.exempt == Exempt::kBounce) {
    finish(policy, d);  // a bounce's recipients count against nothing
    return d;
  }
  const bool internal = is_internal(policy, recipient);
  const int32_t di = internal ? 1 : 0;
  const int32_t de = internal ? 0 : 1;
  const uint64_t h = hash_text(recipient);
  const uint32_t hour = now_s / 3600;
  const uint32_t day = now_s / 86'400;
  for (int s = 0; s < kSlotCount; ++s) {
    if (Entry* e = entry(m, s)) {
      if (e->add(0, now_s, 0, di, de)) {
        table_.note_saturation();
      }
      e->distinct_hour.add(hour, h);
      e->distinct_day.add(day, h);
    }
  }
  (internal ? m.rcpt_internal : m.rcpt_external) += 1;
  const uint32_t in_message = m.rcpt_internal + m.rcpt_external;

  for (int s = 0; s < kSlotCount; ++s) {
    Entry* e = entry(m, s);
    if (e == nullptr) {
      continue;
    }
    auto check = [&](LimitId id, uint32_t window_s, uint32_t observed) {
      const Check c{id, effective_max(policy, id), limit_action(policy, id), window_s, false};
      if (observed > c.max) {
        over_limit(policy, m, s, *e, c, observed, now_s, q, d);
      }
    };
    if (s == kSlotHost) {
      const Lanes hr = e->traffic_hour.sum(now_s);
      check(LimitId::kHostRecipientsPerHour, 3600, hr.v[1] + hr.v[2]);
    } else if (s == kSlotOrg) {
      const Lanes dy = e->traffic_day.sum(now_s);
      check(LimitId::kOrgRecipientsPerDay, 86'400, dy.v[1] + dy.v[2]);
    } else {
      check(LimitId::kSenderRecipientsPerMessage, 0, in_message);
      const Lanes hr = e->traffic_hour.sum(now_s);
      if (internal) {
        check(LimitId::kSenderInternalRecipientsPerHour, 3600, hr.v[1]);
      } else {
        check(LimitId::kSenderExternalRecipientsPerHour, 3600, hr.v[2]);
      }
      const Lanes dy = e->traffic_day.sum(now_s);
      check(LimitId::kSenderRecipientsPerDay, 86'400, dy.v[1] + dy.v[2]);
    }
  }
  finish(policy, d);
  if (d.verdict != Verdict::kAllow) {
    for (int s = 0; s < kSlotCount; ++s) {
      if (Entry* e = entry(m, s)) {
        e->add(0, now_s, 0, -di, -de);
      }
    }
    (internal ? m.rcpt_internal : m.rcpt_external) -= 1;
  }
  return d;
}

void Accountant::remote_rejection(const policy::Policy& policy, MessageState& m, uint16_t code,
                                  bool unknown_user, EventQueue& q) {
  (void)policy;
  const uint32_t now_s = table_.clock().now_s();
  m.rcpt_rejected += 1;
  if (unknown_user) {
    for (int s = 0; s < kSlotCount; ++s) {
      if (Entry* e = entry(m, s)) {
        if (e->add(1, now_s, 0, 1, 0)) {
          table_.note_saturation();
        }
      }
    }
  }
  events::Event ev;
  ev.kind = events::EventKind::kRemoteRejection;
  ev.u.rejection = events::RemoteRejection{};
  ev.u.rejection.reply_code = code;
  ev.u.rejection.unknown_user = unknown_user ? 1 : 0;
  ev.u.rejection.flow_id = m.flow_id;
  emit(q, ev, m, m.keys[kSlotSender].kind != KeyKind::kNone ? kSlotSender : kSlotHost);
}

Decision Accountant::end_message(const policy::Policy& policy, MessageState& m,
                                 const MessageEnd& end, EventQueue& q) {
  Decision d;
  const uint32_t now_s = table_.clock().now_s();
  const int32_t kib = static_cast<int32_t>(std::min<uint64_t>((end.bytes + 1023) / 1024, kLaneMax));
  const bool auto_reply = end.auto_reply && m.exempt == Exempt::kNone;
  for (int s = 0; s < kSlotCount; ++s) {
    Entry* e = entry(m, s);
    if (e == nullptr) {
      continue;
    }
    if (auto_reply && m.counted) {
      // Moved to its own counter; taken back in the buckets of MAIL FROM time (recipients of
      // one message arrive within seconds of it).
      e->add(0, m.mail_from_s, -1, -static_cast<int32_t>(m.rcpt_internal),
             -static_cast<int32_t>(m.rcpt_external));
    }
    bool sat = e->add(2, now_s, 0, auto_reply ? 1 : 0, kib);
    if (end.spam && s != kSlotOrg) {
      sat |= e->add(1, now_s, 1, 0, 0);
    }
    if (sat) {
      table_.note_saturation();
    }
  }
  if (auto_reply) {
    m.exempt = Exempt::kAutoReply;
    m.counted = false;
  }
  if (end.spam) {
    d.would_steer = true;
    const uint32_t ttl = policy.spam.steer_ttl_seconds != 0 ? policy.spam.steer_ttl_seconds
                                                            : policy::SpamPolicy{}.steer_ttl_seconds;
    if (!policy.dry_run) {
      for (int s : {kSlotHost, kSlotSender, kSlotUser}) {
        if (Entry* e = entry(m, s)) {
          SenderTable::steer(*e, now_s + ttl);
        }
      }
    }
    events::Event ev;
    ev.kind = events::EventKind::kSpamVerdict;
    ev.u.spam = events::SpamVerdict{};
    ev.u.spam.score_milli = end.score_milli;
    ev.u.spam.steer_ttl_seconds = ttl;
    ev.u.spam.flow_id = m.flow_id;
    ev.u.spam.host_family = m.host_family;
    std::copy(std::begin(m.host_addr), std::end(m.host_addr), ev.u.spam.host_addr);
    emit(q, ev, m, m.keys[kSlotSender].kind != KeyKind::kNone ? kSlotSender : kSlotHost);

    const Window w = window_of(policy.spam.window_seconds);
    const Check c{LimitId::kSpamVerdicts, effective_max(policy, LimitId::kSpamVerdicts),
                  policy.spam.action, window_seconds(w), true};
    for (int s : {kSlotSender, kSlotUser}) {
      Entry* e = entry(m, s);
      if (e == nullptr) {
        continue;
      }
      const uint32_t n = e->lanes(1, w, now_s).v[0];
      if (n >= c.max) {  // N verdicts in the window restrict: reaching N is the crossing
        over_limit(policy, m, s, *e, c, n, now_s, q, d);
      }
    }
  }
  restriction_check(policy, m, now_s, d);
  finish(policy, d);

  events::Event ev;
  ev.kind = events::EventKind::kMessageRecord;
  ev.u.message = events::MessageRecord{};
  auto& r = ev.u.message;
  r.host_family = m.host_family;
  std::copy(std::begin(m.host_addr), std::end(m.host_addr), r.host_addr);
  r.verdict = end.spam ? 1 : 0;
  r.exempt = static_cast<uint8_t>(m.exempt);
  r.outcome = static_cast<uint8_t>(d.verdict);
  r.recipients_internal = m.rcpt_internal;
  r.recipients_external = m.rcpt_external;
  r.recipients_rejected = m.rcpt_rejected;
  r.bytes = end.bytes;
  r.flow_id = m.flow_id;
  r.score_milli = end.score_milli;
  emit(q, ev, m, kSlotSender);
  return d;
}

bool Accountant::record_complaint(const events::KeyBytes& key) {
  Handle h;
  const FindOutcome o = table_.find_or_insert(key, h);
  if (o == FindOutcome::kFull || o == FindOutcome::kContended || o == FindOutcome::kBadKey) {
    return false;
  }
  Entry* e = table_.get(h);
  if (e == nullptr) {
    return false;
  }
  if (e->add(1, table_.clock().now_s(), 0, 0, 1)) {
    table_.note_saturation();
  }
  return true;
}

}  // namespace smtpgw::count
