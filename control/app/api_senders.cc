// The sender look-up of the operator API (ApiBackend::sender): one key's counters per window
// from the shared sender table, its state, and the policy's limits for its kind with what was
// observed against each, so an operator sees how close a sender is to a restriction.
#include <string>

#include "control/app/api_backend.h"
#include "control/clock/clock.h"
#include "dataplane/count/sender_table.h"

namespace smtpgw::app {

using events::LimitId;

namespace {

count::Window window_of(uint32_t seconds) {
  return seconds <= 60 ? count::Window::kMinute
         : seconds <= 3'600 ? count::Window::kHour
                            : count::Window::kDay;
}

}  // namespace

api::Reply ApiBackend::sender(const std::string& key_text) {
  events::KeyBytes key;
  if (!parse_key(key_text, key)) {
    return api::Reply::error(400, "\"" + key_text + "\" is no sender key: an address "
                                  "(a@example.org), a host (10.1.0.5), user:NAME or org:NAME");
  }
  return on_main([this, key, key_text] {
    if (!g_.senders) {
      return api::Reply::error(503, "the gateway runs without enforcement");
    }
    count::Handle h;
    const count::Entry* e = g_.senders->find(key, h) ? g_.senders->get(h) : nullptr;
    if (e == nullptr) {
      return api::Reply::error(404, key_text + " has sent nothing the sender table remembers");
    }
    const auto now = static_cast<uint32_t>(clock::unix_now_s());
    nlohmann::json out{{"key", key_text}};
    switch (count::SenderTable::state(*e, now)) {
      case count::SenderState::kNormal:
        out["state"] = "normal";
        break;
      case count::SenderState::kSteeredHighRisk:
        out["state"] = "steered_high_risk";
        break;
      case count::SenderState::kRestricted:
        out["state"] = "restricted";
        break;
    }
    const count::Restriction r =
        count::Restriction::unpack(e->restriction.load(std::memory_order_relaxed));
    out["restriction"] = r.in_force(now)
                             ? nlohmann::json{{"limit", events::limit_name(r.limit)},
                                              {"until_unix_s", r.until_s}}
                             : nlohmann::json(nullptr);
    out["steered_until_unix_s"] = e->steer_until_s.load(std::memory_order_relaxed);
    nlohmann::json counters = nlohmann::json::object();
    for (int c = 0; c < count::kCounterCount; ++c) {
      const auto counter = static_cast<count::Counter>(c);
      counters[count::counter_name(counter)] = {
          {"minute", e->count(counter, count::Window::kMinute, now)},
          {"hour", e->count(counter, count::Window::kHour, now)},
          {"day", e->count(counter, count::Window::kDay, now)}};
    }
    out["counters"] = counters;
    // The limits of the key's kind against what the windows hold (the policy in force).
    const policy::Policy& p = g_.policy ? g_.policy->read()->policy() : g_.cfg.limits;
    nlohmann::json limits = nlohmann::json::array();
    const auto limit = [&](LimitId id, const policy::Limit& l, uint64_t observed) {
      limits.push_back({{"limit", events::limit_name(id)},
                        {"max", l.max},
                        {"action", policy::action_name(l.action)},
                        {"observed", observed}});
    };
    const auto n = [&](count::Counter c, count::Window w) { return uint64_t{e->count(c, w, now)}; };
    using count::Counter;
    using count::Window;
    if (key.kind == events::KeyKind::kSender || key.kind == events::KeyKind::kUser) {
      limit(LimitId::kSenderMessagesPerMinute, p.sender.messages_per_minute,
            n(Counter::kMessages, Window::kMinute));
      limit(LimitId::kSenderExternalRecipientsPerHour, p.sender.external_recipients_per_hour,
            n(Counter::kRecipientsExternal, Window::kHour));
      limit(LimitId::kSenderInternalRecipientsPerHour, p.sender.internal_recipients_per_hour,
            n(Counter::kRecipientsInternal, Window::kHour));
      limit(LimitId::kSenderRecipientsPerDay, p.sender.recipients_per_day,
            n(Counter::kRecipientsInternal, Window::kDay) +
                n(Counter::kRecipientsExternal, Window::kDay));
    } else if (key.kind == events::KeyKind::kHost) {
      limit(LimitId::kHostMessagesPerMinute, p.host.messages_per_minute,
            n(Counter::kMessages, Window::kMinute));
      limit(LimitId::kHostRecipientsPerHour, p.host.recipients_per_hour,
            n(Counter::kRecipientsInternal, Window::kHour) +
                n(Counter::kRecipientsExternal, Window::kHour));
    } else if (key.kind == events::KeyKind::kOrg) {
      policy::Limit l = p.org.recipients_per_day;
      if (l.max == 0) {  // the contract's default: the sender's, times the factor
        l.max = p.sender.recipients_per_day.max * p.org.org_recipients_per_day_factor;
      }
      limit(LimitId::kOrgRecipientsPerDay, l,
            n(Counter::kRecipientsInternal, Window::kDay) +
                n(Counter::kRecipientsExternal, Window::kDay));
    }
    limit(LimitId::kSpamVerdicts, policy::Limit{p.spam.verdicts_to_restrict, p.spam.action},
          n(Counter::kSpamVerdicts, window_of(p.spam.window_seconds)));
    out["limits"] = limits;
    return api::Reply{200, out};
  });
}

}  // namespace smtpgw::app
