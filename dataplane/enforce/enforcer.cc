#include "dataplane/enforce/enforcer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "dataplane/count/key.h"

namespace smtpgw::enforce {

using count::KeySlot;
using inspect::Action;
using inspect::Decision;
using inspect::EgressPool;

std::string_view counter_name(Counter c) {
  switch (c) {
#define SMTPGW_X(name, text, doc) \
  case Counter::name:             \
    return text;
    SMTPGW_ENFORCE_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
    case Counter::kCount:
      break;
  }
  return "?";
}

count::KeyBytes host_key(const smtp::Endpoint& e) {
  return e.v6 ? count::host_key_v6(e.addr.data()) : count::host_key_v4(e.addr.data());
}

namespace {

bool is_quota(events::LimitId id) {
  using events::LimitId;
  return id == LimitId::kSenderExternalRecipientsPerHour ||
         id == LimitId::kSenderInternalRecipientsPerHour ||
         id == LimitId::kSenderRecipientsPerDay || id == LimitId::kHostRecipientsPerHour ||
         id == LimitId::kOrgRecipientsPerDay;
}

}  // namespace

Enforcer::Enforcer(count::Accountant& accountant, const PolicySource& policy,
                   count::EventQueue& events, Options options, RecordSink* sink)
    : accountant_(accountant), policy_(policy), events_(events), options_(options), sink_(sink) {}

bool Enforcer::inspect_starttls(const smtp::Endpoint& client) {
  const CompiledPolicy& cp = now();
  // dry_run: masking changes what the client sees, which is enforcement
  return !cp.policy().dry_run && cp.inspect_starttls(client);
}

bool Enforcer::steered(const count::KeyBytes& key, uint32_t now_s) const {
  count::SenderTable& t = accountant_.table();
  count::Handle h;
  if (!t.find(key, h)) {
    return false;
  }
  const count::Entry* e = t.get(h);
  return e != nullptr && e->steer_until_s.load(std::memory_order_relaxed) > now_s;
}

EgressPool Enforcer::pool_for(const smtp::Endpoint& client, const smtp::Endpoint& server) {
  if (!options_.high_risk_pool || now().policy().dry_run) {
    return EgressPool::kNormal;
  }
  const uint32_t now_s = accountant_.table().clock().now_s();
  const count::KeyBytes host = host_key(client);
  if (steered(host, now_s) || steered(count::pair_key(host, host_key(server)), now_s)) {
    count(Counter::kSteeredFlows);
    return EgressPool::kHighRisk;
  }
  return EgressPool::kNormal;
}

Decision Enforcer::on_hold(inspect::Flow& flow, const inspect::Hold& hold) {
  const CompiledPolicy& cp = now();
  switch (hold.point.kind) {
    case smtp::HoldKind::kAuth:
      return auth(cp.policy(), flow);
    case smtp::HoldKind::kMailFrom:
      if (hold.record != nullptr && hold.message != nullptr) {
        return mail_from(cp, flow, *hold.record, *hold.message);
      }
      break;
    case smtp::HoldKind::kRcptTo:
      if (hold.record != nullptr && hold.message != nullptr && hold.message->accounted) {
        return rcpt_to(cp.policy(), *hold.record, *hold.message);
      }
      break;
    case smtp::HoldKind::kEndOfData:
      if (hold.record != nullptr && hold.message != nullptr && hold.message->accounted) {
        return end_of_data(cp.policy(), flow, *hold.record, *hold.message);
      }
      break;
    case smtp::HoldKind::kStarttls:
      break;  // the Flow's own (inspect_starttls)
  }
  return {};  // no message state (fail_open): nothing to count it under
}

// The limits established firewalls put on SMTP (a command line, a path): a line past them is
// an attack on a parser somewhere (the server's, a content filter's) more often than mail.
Decision Enforcer::on_violation(inspect::Flow&, smtp::Counter violation, inspect::Message*) {
  if (now().policy().dry_run) {
    return {};
  }
  if (violation == smtp::Counter::kCommandOverLimit) {
    count(Counter::kRefusedCommandLine);
    return {Action::kRefuse, kReplyCommandTooLong};
  }
  if (violation == smtp::Counter::kAddressOverLimit) {
    count(Counter::kRefusedAddress);
    return {Action::kRefuse, kReplyAddressTooLong};
  }
  return {};
}

// AUTH names the user before any MAIL FROM: a restricted user is refused at once (its MAIL FROM
// would be refused anyway; this way it never reaches the server's authentication).
Decision Enforcer::auth(const policy::Policy& p, inspect::Flow& flow) {
  smtp::Address user;  // canonical, as the session keeps it once the server accepts it
  smtp::canonicalise_user(flow.session().auth_pending_user(), user);
  count::KeyBytes k;
  if (p.dry_run || user.len == 0 || count::user_key(user.view(), k) != count::KeyStatus::kOk) {
    return {};
  }
  count::SenderTable& t = accountant_.table();
  count::Handle h;
  const count::Entry* e = t.find(k, h) ? t.get(h) : nullptr;
  if (e != nullptr &&
      count::Restriction::unpack(e->restriction.load(std::memory_order_seq_cst))
          .in_force(t.clock().now_s())) {
    count(Counter::kRefusedRestricted);
    return {Action::kRefuse, count::kReplyRestricted};
  }
  return {};
}

Decision Enforcer::mail_from(const CompiledPolicy& cp, inspect::Flow& flow,
                             const smtp::MessageRecord& r, inspect::Message& m) {
  const policy::Policy& p = cp.policy();
  count::MessageState& a = m.account;
  a = count::MessageState{};
  a.keys[count::kSlotHost] = host_key(r.client);
  const count::KeyBytes& hk = a.keys[count::kSlotHost];
  a.host_family = static_cast<uint8_t>(hk.data[0]);
  std::memcpy(a.host_addr, hk.data + 1, hk.len - 1u);
  const std::string_view from = r.from.view();
  if (r.from_status == smtp::AddressStatus::kOk && r.from.null) {
    a.exempt = count::Exempt::kBounce;
  } else if (r.from_status == smtp::AddressStatus::kOk &&
             count::sender_key(from, a.keys[count::kSlotSender]) != count::KeyStatus::kOk) {
    a.keys[count::kSlotSender] = {};
  }
  const std::string_view user = flow.session().auth_user();
  if (!user.empty() && count::user_key(user, a.keys[count::kSlotUser]) != count::KeyStatus::kOk) {
    a.keys[count::kSlotUser] = {};
  }
  if (const count::KeyBytes* org = cp.org_of(r.client)) {
    a.keys[count::kSlotOrg] = *org;
  } else if (a.keys[count::kSlotSender].kind == events::KeyKind::kNone ||
             count::org_key_of_sender(from, a.keys[count::kSlotOrg]) != count::KeyStatus::kOk) {
    a.keys[count::kSlotOrg] = {};
  }
  a.flow_id = flow.id();
  const count::Decision d = accountant_.begin_message(p, a, events_);
  m.accounted = true;
  for (count::FindOutcome o : a.find) {
    if (o == count::FindOutcome::kFull || o == count::FindOutcome::kContended) {
      count(Counter::kUntrackedKeys);
    }
  }
  if (d.verdict == count::Verdict::kRefuse) {
    count(Counter::kRefusedRestricted);
    return {Action::kRefuse, count::kReplyRestricted};
  }
  if (d.verdict == count::Verdict::kThrottle) {
    count(Counter::kThrottled);
    return {Action::kThrottle, count::kReplyThrottle};
  }
  if (flow.pool() != EgressPool::kNormal || !options_.high_risk_pool || p.dry_run) {
    return {};
  }
  // Only the pair moves for these two: one bounce (to a destination that may be a spam trap or
  // a dead domain), or one sender whose domain cannot receive its bounces, must not move the
  // host's whole traffic. Where the pair cannot be held (table full), deferring would repeat at
  // every retry: the message is released instead.
  if (a.exempt == count::Exempt::kBounce) {
    if (!steer_pair(p, hk, r.server)) {
      return {};
    }
    count(Counter::kBounceDeferred);
    return {Action::kDefer, kReplyBounceDeferred};
  }
  const DomainMarks* marks =
      options_.domain_marks != nullptr ? options_.domain_marks->read() : nullptr;
  if (marks != nullptr && r.from_status == smtp::AddressStatus::kOk &&
      marks->marked(r.from.domain())) {
    if (!steer_pair(p, hk, r.server)) {
      return {};
    }
    count(Counter::kNoMxDeferred);
    return {Action::kDefer, kReplyNoMxDeferred};
  }
  return {};
}

bool Enforcer::steer_pair(const policy::Policy& p, const count::KeyBytes& host,
                          const smtp::Endpoint& server) {
  count::SenderTable& t = accountant_.table();
  count::Handle h;
  const count::FindOutcome o = t.find_or_insert(count::pair_key(host, host_key(server)), h);
  count::Entry* e = o == count::FindOutcome::kFull || o == count::FindOutcome::kContended
                        ? nullptr
                        : t.get(h);
  if (e == nullptr) {
    count(Counter::kUntrackedKeys);
    return false;
  }
  const uint32_t ttl = p.spam.steer_ttl_seconds != 0 ? p.spam.steer_ttl_seconds
                                                     : policy::SpamPolicy{}.steer_ttl_seconds;
  count::SenderTable::steer(*e, t.clock().now_s() + ttl);
  return true;
}

Decision Enforcer::rcpt_to(const policy::Policy& p, const smtp::MessageRecord& r,
                           inspect::Message& m) {
  // The hold is for the recipient the session added last, unless it went past the session's
  // recipient bound (not kept: counted as external, the accountant still sees it).
  std::string_view recipient;
  if (r.recipients_over_limit > m.over_limit_decided) {
    ++m.over_limit_decided;
  } else {
    const uint32_t i = m.rcpts_decided++;
    const auto rcpts = r.recipients();
    if (i < rcpts.size()) {
      if (rcpts[i].status != smtp::AddressStatus::kOk) {
        return {};  // the server refuses it; nothing to count
      }
      recipient = r.recipient_address(rcpts[i]);
    }
  }
  const count::Decision d = accountant_.add_recipient(p, m.account, recipient, events_);
  if (d.verdict == count::Verdict::kThrottle) {
    if (d.limit == events::LimitId::kSenderRecipientsPerMessage) {
      count(Counter::kTooManyRecipients);
      return {Action::kThrottle, kReplyTooManyRecipients};
    }
    count(Counter::kThrottled);
    return {Action::kThrottle, count::kReplyThrottle};
  }
  if (d.verdict == count::Verdict::kRefuse) {
    if (is_quota(d.limit)) {
      count(Counter::kRefusedLimit);
      return {Action::kRefuse, kReplyQuota};
    }
    count(d.limit == events::LimitId::kSenderRecipientsPerMessage ? Counter::kRefusedLimit
                                                                   : Counter::kRefusedRestricted);
    return {Action::kRefuse, count::kReplyRestricted};
  }
  return {};
}

Decision Enforcer::end_of_data(const policy::Policy& p, inspect::Flow& flow,
                               const smtp::MessageRecord& r, inspect::Message& m) {
  if (m.long_header_line && !p.dry_run) {
    count(Counter::kRefusedHeaderLine);
    return {Action::kRefuse, kReplyHeaderLineTooLong};
  }
  const scan::Verdict* v = m.verdict();
  count::MessageEnd end;
  end.bytes = r.size;
  end.spam = v != nullptr && v->spam;
  end.auto_reply = m.auto_submitted;
  end.score_milli = v != nullptr ? static_cast<int32_t>(std::lround(v->score * 1000.0)) : 0;
  const count::Decision d = accountant_.end_message(p, m.account, end, events_);
  if (d.verdict == count::Verdict::kRefuse) {
    count(Counter::kRefusedRestricted);
    return {Action::kRefuse, count::kReplyRestricted};
  }
  if (end.spam && !p.dry_run) {
    if (flow.pool() == EgressPool::kHighRisk) {
      count(Counter::kSpamReleased);
    } else if (options_.high_risk_pool) {
      count(Counter::kSpamDeferred);  // the accountant steered host, sender and user
      return {Action::kDefer, kReplySpamDeferred};
    } else {
      count(Counter::kSpamRefused);
      return {Action::kRefuse, kReplySpamRefused};
    }
  }
  return {};
}

namespace {

template <size_t N>
void copy_text(char (&to)[N], std::string_view from) {
  const size_t n = std::min(from.size(), N);
  std::memcpy(to, from.data(), n);
}

uint16_t reply_code(std::string_view reply) {
  if (reply.size() < 3) {
    return 0;
  }
  uint16_t code = 0;
  for (size_t i = 0; i < 3; ++i) {
    if (reply[i] < '0' || reply[i] > '9') {
      return 0;
    }
    code = static_cast<uint16_t>(code * 10 + (reply[i] - '0'));
  }
  return code;
}

}  // namespace

// The message trace (contract/events.h, Trace and TraceRecipient): every record, whatever its
// outcome, with the gateway's action and the server's final reply.
void Enforcer::trace(inspect::Flow& flow, const smtp::MessageRecord& record,
                     const inspect::Message* message, const scan::Verdict* v) {
  events::Event ev;
  ev.kind = events::EventKind::kTrace;
  ev.unix_ns = accountant_.table().clock().now();
  if (message != nullptr && message->accounted) {
    ev.key = message->account.keys[count::kSlotSender];
    ev.user = message->account.keys[count::kSlotUser];
  } else {
    if (record.from_status == smtp::AddressStatus::kOk && !record.from.null &&
        count::sender_key(record.from.view(), ev.key) != count::KeyStatus::kOk) {
      ev.key = {};
    }
    if (record.auth_user.len != 0 &&
        count::user_key(record.auth_user.view(), ev.user) != count::KeyStatus::kOk) {
      ev.user = {};
    }
  }
  events::Trace& t = ev.u.trace;
  t = events::Trace{};
  t.host_family = record.client.v6 ? 6 : 4;
  std::memcpy(t.host_addr, record.client.addr.data(), record.client.v6 ? 16 : 4);
  t.server_family = record.server.v6 ? 6 : 4;
  std::memcpy(t.server_addr, record.server.addr.data(), record.server.v6 ? 16 : 4);
  t.server_port = record.server.port;
  t.pool = flow.pool_id();
  const Action action = message != nullptr ? message->action : Action::kAllow;
  t.action = static_cast<uint8_t>(action);
  t.outcome = static_cast<uint8_t>(record.outcome);
  t.verdict = v == nullptr ? 2 : v->spam ? 1 : 0;
  t.exempt = record.from_status == smtp::AddressStatus::kOk && record.from.null ? 1 : 0;
  if (action != Action::kAllow) {
    t.gateway_reply = reply_code(message->reply);
  }
  if (record.outcome != smtp::MessageOutcome::kRefused) {
    t.remote_reply = record.final_reply.code;
    copy_text(t.remote_enhanced, record.final_reply.enhanced.view());
  }
  t.egress_addr = flow.egress_addr();
  t.egress_port = flow.egress_port();
  const auto rcpts = record.recipients();
  t.recipients_kept = static_cast<uint16_t>(rcpts.size());
  t.recipients = static_cast<uint32_t>(rcpts.size()) + record.recipients_dropped +
                 record.recipients_over_limit;
  t.recipients_rejected = record.recipients_rejected;
  t.score_milli = v != nullptr ? static_cast<int32_t>(std::lround(v->score * 1000.0)) : 0;
  t.index = static_cast<uint32_t>(record.index);
  t.bytes = record.size;
  t.flow_id = flow.id();
  // A verdict comes from the message's scan context, whose rule set stays pinned until the
  // message's state is given back (after this call): its rule names are valid here.
  const uint16_t rules_kept =
      v == nullptr ? 0 : static_cast<uint16_t>(std::min<size_t>(v->rules.size(), events::kTraceRules));
  t.rules_kept = rules_kept;
  t.rules_hit = v == nullptr ? 0 : static_cast<uint16_t>(std::min<uint32_t>(v->rule_count, UINT16_MAX));
  events_.push(ev);
  ev.kind = events::EventKind::kTraceRecipient;
  for (const smtp::RecipientResult& rc : rcpts) {
    events::TraceRecipient& r = ev.u.recipient;
    r = events::TraceRecipient{};
    r.flow_id = flow.id();
    r.index = static_cast<uint32_t>(record.index);
    r.reply = rc.reply.code;
    copy_text(r.enhanced, rc.reply.enhanced.view());
    const std::string_view a = record.recipient_address(rc);
    r.len = static_cast<uint8_t>(std::min(a.size(), sizeof r.address));
    r.truncated = a.size() > sizeof r.address ? 1 : 0;
    copy_text(r.address, a);
    events_.push(ev);
  }
  ev.kind = events::EventKind::kTraceRule;
  for (uint16_t i = 0; i < rules_kept; ++i) {
    const scan::Rule& rule = message->scan->ruleset()->rules()[v->rules[i]];
    events::TraceRule& r = ev.u.rule;
    r = events::TraceRule{};
    r.flow_id = flow.id();
    r.index = static_cast<uint32_t>(record.index);
    r.score_milli = static_cast<int32_t>(std::lround(rule.score * 1000.0));
    r.len = static_cast<uint8_t>(std::min(rule.name.size(), sizeof r.name));
    r.truncated = rule.name.size() > sizeof r.name ? 1 : 0;
    copy_text(r.name, rule.name);
    events_.push(ev);
  }
  const std::string_view subject =
      message != nullptr && message->scan != nullptr ? message->scan->subject() : std::string_view();
  if (!subject.empty()) {
    ev.kind = events::EventKind::kTraceSubject;
    events::TraceSubject& s = ev.u.subject;
    s = events::TraceSubject{};
    s.flow_id = flow.id();
    s.index = static_cast<uint32_t>(record.index);
    size_t n = std::min(subject.size(), sizeof s.text);
    while (n < subject.size() && n > 0 && (static_cast<uint8_t>(subject[n]) & 0xC0) == 0x80) {
      --n;  // not inside a UTF-8 sequence
    }
    s.len = static_cast<uint8_t>(n);
    s.truncated = n < subject.size() ? 1 : 0;
    std::memcpy(s.text, subject.data(), n);
    events_.push(ev);
  }
}

void Enforcer::on_record(inspect::Flow& flow, const smtp::MessageRecord& record,
                         inspect::Message* message) {
  count(Counter::kRecords);
  const scan::Verdict* v = message != nullptr ? message->verdict() : nullptr;
  if (v == nullptr) {
    count(Counter::kNotScanned);
  } else if (v->spam) {
    count(Counter::kSpam);
  }
  // Messages by the gateway's action (the trace's action); allowed = records less these.
  switch (message != nullptr ? message->action : Action::kAllow) {
    case Action::kAllow: break;
    case Action::kRefuse: count(Counter::kRecordsRefused); break;
    case Action::kThrottle: count(Counter::kRecordsThrottled); break;
    case Action::kDefer: count(Counter::kRecordsDeferred); break;
  }
  trace(flow, record, message, v);
  if (message != nullptr && message->accounted) {
    for (const smtp::RecipientResult& rc : record.recipients()) {
      if (rc.reply.code >= 500 && rc.reply.code < 600) {
        const bool unknown_user = rc.reply.enhanced.view().starts_with("5.1.");
        accountant_.remote_rejection(now().policy(), message->account, rc.reply.code, unknown_user,
                                     events_);
        count(Counter::kRemoteRejections);
      }
    }
  }
  if (sink_ != nullptr) {
    sink_->on_record(flow, record, message);
  }
}

}  // namespace smtpgw::enforce
