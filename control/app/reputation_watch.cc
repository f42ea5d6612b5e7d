#include "control/app/reputation_watch.h"

#include <cstdio>

#include "control/app/api_backend.h"
#include "control/clock/clock.h"

namespace smtpgw::app {

namespace {

std::string percent(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", r * 100.0);
  return buf;
}

nlohmann::json details_of(const reputation::Finding& f) {
  return {{"finding", reputation::finding_name(f.kind)},
          {"messages", f.counts.messages},
          {"spam", f.counts.spam},
          {"unknown_user", f.counts.unknown_user},
          {"answered", f.counts.answered},
          {"complaints", f.counts.complaints},
          {"spam_ratio", f.ratios.spam},
          {"unknown_user_ratio", f.ratios.unknown_user},
          {"complaint_ratio", f.ratios.complaints},
          {"org", f.org},
          {"org_share", f.org_share},
          {"window_s", f.window_s}};
}

}  // namespace

reputation::Options reputation_options(const config::Config& cfg) {
  const config::ReputationConfig& r = cfg.reputation;
  reputation::Options o;
  o.window_s = r.window;
  o.buckets = r.buckets;
  o.min_messages = r.min_messages;
  o.spam_ratio = r.spam_ratio;
  o.rejection_ratio = r.rejection_ratio;
  o.complaint_warn = r.complaint_warn;
  o.complaint_restrict = r.complaint_restrict;
  o.complaint_min_messages = r.complaint_min_messages;
  o.organisations = cfg.limits.org_prefixes;
  o.org_suspicious_share = r.org_suspicious_share;
  o.org_min_messages = r.org_min_messages;
  o.clear_factor = r.clear_factor;
  o.max_subjects = r.max_subjects;
  return o;
}

ReputationWatch::ReputationWatch(Gateway& g, store::Store* db)
    : g_(g), db_(db), tracker_(std::make_unique<reputation::Tracker>(reputation_options(g.cfg))) {}

void ReputationWatch::restrict(const reputation::Finding& f, const std::string& reason) {
  events::KeyBytes key;
  if (!parse_key(f.subject, key)) {
    std::fprintf(stderr, "smtpgw: reputation: %s is no sender key; not restricted\n",
                 f.subject.c_str());
    return;
  }
  // Until an operator releases it: a complaint rate or a tenant's traffic mostly suspicious is
  // not a burst that ends with the day (docs/config.md, "reputation").
  const events::ActionTaken action = events::ActionTaken::kBlocked;
  if (g_.senders) {
    g_.senders->restrict(key, events::LimitId::kNone, action, 0);
  }
  std::string error;
  if (db_ != nullptr &&
      !db_->add_restriction(key, action, 0, reason, clock::unix_now_ns(), &error)) {
    std::fprintf(stderr, "smtpgw: reputation: %s restricted but not recorded: %s\n",
                 f.subject.c_str(), error.c_str());
  }
}

void ReputationWatch::poll(alerts::Alerts& alerts, uint64_t now_ns) {
  const std::vector<reputation::Finding> found = tracker_->poll(now_ns / 1'000'000'000ull);
  const std::string window = std::to_string(tracker_->options().window_s) + " s";
  for (const reputation::Finding& f : found) {
    const std::string& s = f.subject;
    const std::string of = " of " + std::to_string(f.counts.messages) + " messages in " + window;
    switch (f.kind) {
      case reputation::FindingKind::kSuspicious: {
        std::string why;
        if (f.reasons & reputation::kReasonSpam) {
          why = percent(f.ratios.spam) + " judged spam";
        }
        if (f.reasons & reputation::kReasonUnknownUsers) {
          why += std::string(why.empty() ? "" : ", ") + percent(f.ratios.unknown_user) +
                 " of answered recipients unknown (5.1.x)";
        }
        alerts.raise(alerts::Kind::kSuspiciousPattern, s,
                     s + " sends suspiciously: " + why + of, details_of(f), now_ns);
        break;
      }
      case reputation::FindingKind::kComplaintWarn:
        alerts.raise(alerts::Kind::kSuspiciousPattern, s,
                     s + " draws complaints: " + percent(f.ratios.complaints) + of +
                         " (warn threshold passed)",
                     details_of(f), now_ns);
        break;
      case reputation::FindingKind::kComplaintRestrict:
        if (f.subject_kind == events::KeyKind::kOrg) {
          // An organisation is restricted by its suspicious share only (its own threshold):
          // its members' complaints restrict the members; for the organisation, an alert.
          alerts.raise(alerts::Kind::kSuspiciousPattern, s,
                       s + " draws complaints: " + percent(f.ratios.complaints) + of +
                           " (restrict threshold passed; its senders are judged one by one)",
                       details_of(f), now_ns);
          break;
        }
        restrict(f, "complaint_rate");
        alerts.raise(alerts::Kind::kUserRestricted, s,
                     s + " is restricted from sending (complaint rate " +
                         percent(f.ratios.complaints) + of + ") until an operator releases it",
                     details_of(f), now_ns);
        break;
      case reputation::FindingKind::kOrgSuspicious:
        restrict(f, "org_suspicious_share");
        alerts.raise(alerts::Kind::kOrgRestricted, s,
                     s + " is restricted from sending: " + percent(f.org_share) +
                         " of its messages in " + window +
                         " come from suspicious senders; until an operator releases it",
                     details_of(f), now_ns);
        break;
      case reputation::FindingKind::kSuspiciousCleared:
      case reputation::FindingKind::kComplaintCleared:
      case reputation::FindingKind::kOrgSuspiciousCleared:
        std::printf("smtpgw: reputation: %s: %s\n", s.c_str(), reputation::finding_name(f.kind));
        break;
    }
  }
  if (!found.empty()) {
    std::fflush(stdout);
  }
}

std::string ReputationWatch::counter_lines(const std::string& prefix) const {
  const reputation::Metrics& m = tracker_->metrics();
  std::string out;
  const auto line = [&](const std::string& name, uint64_t v) {
    out += prefix + "reputation_" + name + " " + std::to_string(v) + "\n";
  };
  line("subjects", m.subjects);
  line("evicted", m.evicted);
  line("evicted_flagged", m.evicted_flagged);
  line("late_events", m.late_events);
  line("unattributed_recipients", m.unattributed_recipients);
  line("complaints", m.complaints);
  for (int k = 0; k < reputation::kFindingKindCount; ++k) {
    line(std::string("findings_") + reputation::finding_name(static_cast<reputation::FindingKind>(k)),
         m.findings[k]);
  }
  return out;
}

}  // namespace smtpgw::app
