// The complaint endpoints of the operator API (ApiBackend::complaint, ::complaints): an ARF
// report parsed (control/feedback), matched to the sender it is about through the message
// trace, and kept in the store.
//
// Matching, in order: the report's sender (Original-Mail-From, else the original message's
// Return-Path, else its From: feedback::sender_of) when the trace holds a message of it; else
// the report's Source-IP, which a receiver reports as the address the mail came from, i.e. one
// of our egress addresses: its heaviest user in the trace over the last 30 days. A report that
// matches neither is kept with the sender it names (matched_by "report") or none ("none").
#include <string>

#include "control/app/api_backend.h"
#include "control/clock/clock.h"
#include "control/feedback/arf.h"

namespace smtpgw::app {

namespace {

constexpr uint64_t kSourceIpWindowNs = 30ull * 86'400 * 1'000'000'000ull;

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) {
    out += (out.empty() ? "" : ",") + s;
  }
  return out;
}

}  // namespace

bool counts_as_complaint(const std::string& feedback_type) {
  // not-spam (RFC 6650) withdraws a judgement and auth-failure (RFC 6591) reports a failed
  // check, not a recipient's complaint: both kept, neither counted.
  return feedback_type != "not-spam" && feedback_type != "auth-failure";
}

api::Reply ApiBackend::complaint(const std::string& text) {
  if (store_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false): complaints "
                                  "are kept in it");
  }
  const feedback::Result parsed = feedback::parse(text);
  if (!parsed) {
    api::Reply r = api::Reply::error(400, "not a complaint report (ARF, RFC 5965): " +
                                              parsed.error().what);
    r.body["part"] = parsed.error().part;
    r.body["line"] = parsed.error().line;
    return r;
  }
  const feedback::Report& rep = parsed.report();
  store::Complaint c;
  c.unix_ns = clock::unix_now_ns();
  c.feedback_type = rep.feedback_type;
  c.source_ip = rep.source_ip;
  c.user_agent = rep.user_agent;
  c.arrival_date = rep.arrival_date;
  c.reported_domain = joined(rep.reported_domains);
  c.original_rcpt_to = joined(rep.original_rcpt_to);
  c.incidents = rep.incidents;
  std::string error;
  const std::string named = feedback::sender_of(rep);
  if (!named.empty()) {
    if (std::optional<std::string> host = store_->host_of_sender(named, &error)) {
      c.sender = named;
      c.host = *host;
      c.matched_by = "sender";
    }
  }
  if (c.matched_by.empty() && !rep.source_ip.empty() && error.empty()) {
    const nlohmann::json users = store_->egress_users(
        rep.source_ip, c.unix_ns > kSourceIpWindowNs ? c.unix_ns - kSourceIpWindowNs : 0, 1,
        &error);
    if (!users.empty() && !users[0]["sender"].get<std::string>().empty()) {
      c.sender = users[0]["sender"].get<std::string>();
      c.host = users[0]["host"].get<std::string>();
      c.matched_by = "source_ip";
    }
  }
  if (!error.empty()) {
    return api::Reply::error(500, error);
  }
  if (c.matched_by.empty()) {
    c.sender = named;
    c.matched_by = named.empty() ? "none" : "report";
  }
  const int64_t id = store_->add_complaint(c, &error);
  if (id == 0) {
    return api::Reply::error(500, error);
  }
  const bool counted = counts_as_complaint(c.feedback_type) && !c.sender.empty();
  if (counted && complaint_hook_) {
    on_main([hook = complaint_hook_, c] {
      hook(c);
      return api::Reply{200, {}};
    });
  }
  return api::Reply{200, nlohmann::json{{"id", id},
                                        {"feedback_type", c.feedback_type},
                                        {"sender", c.sender},
                                        {"host", c.host},
                                        {"matched_by", c.matched_by},
                                        {"counted", counted}}};
}

api::Reply ApiBackend::complaints(const std::string& sender, uint32_t limit) {
  if (store_ == nullptr) {
    return api::Reply::error(503, "the store is disabled (store.enabled: false)");
  }
  std::string error;
  nlohmann::json rows = store_->complaints(sender, limit, &error);
  if (!error.empty()) {
    return api::Reply::error(500, error);
  }
  return api::Reply{200, nlohmann::json{{"complaints", rows}}};
}

}  // namespace smtpgw::app
