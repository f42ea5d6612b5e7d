#include "control/reputation/reputation.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <utility>

#include "contract/key_text.h"

namespace smtpgw::reputation {

namespace {

constexpr uint64_t kBillion = 1'000'000'000;

// A ratio threshold in parts per billion, so every judgement is an exact integer comparison
// (a ratio equal to its threshold never passes it because of rounding).
uint64_t ppb(double ratio) {
  return static_cast<uint64_t>(std::llround(ratio * kBillion));
}

// count / total > threshold, exactly.
bool above(uint64_t count, uint64_t total, uint64_t threshold_ppb) {
  return static_cast<unsigned __int128>(count) * kBillion >
         static_cast<unsigned __int128>(threshold_ppb) * total;
}

// count / total < threshold, exactly (false for total 0: no ratio).
bool below(uint64_t count, uint64_t total, uint64_t threshold_ppb) {
  return total != 0 && static_cast<unsigned __int128>(count) * kBillion <
                           static_cast<unsigned __int128>(threshold_ppb) * total;
}

void add_counts(Counts& to, const Counts& c) {
  to.messages += c.messages;
  to.principal += c.principal;
  to.spam += c.spam;
  to.recipients += c.recipients;
  to.rejected += c.rejected;
  to.answered += c.answered;
  to.unknown_user += c.unknown_user;
  to.complaints += c.complaints;
}

void subtract_counts(Counts& from, const Counts& c) {
  from.messages -= c.messages;
  from.principal -= c.principal;
  from.spam -= c.spam;
  from.recipients -= c.recipients;
  from.rejected -= c.rejected;
  from.answered -= c.answered;
  from.unknown_user -= c.unknown_user;
  from.complaints -= c.complaints;
}

double ratio(uint64_t n, uint64_t d) {
  return d == 0 ? 0.0 : static_cast<double>(n) / d;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

// The kind of a subject text (the forms of events::subject_text).
events::KeyKind kind_of_text(const std::string& text) {
  if (text.rfind("user:", 0) == 0) {
    return events::KeyKind::kUser;
  }
  if (text.rfind("org:", 0) == 0) {
    return events::KeyKind::kOrg;
  }
  uint8_t a[16];
  if (inet_pton(AF_INET, text.c_str(), a) == 1 || inet_pton(AF_INET6, text.c_str(), a) == 1) {
    return events::KeyKind::kHost;
  }
  return events::KeyKind::kSender;
}

// The host key of a trace's client (an IPv4-mapped IPv6 address is the IPv4 host, as the
// dataplane's host keys have it).
events::KeyBytes host_key(uint8_t family, const uint8_t* addr) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  events::KeyBytes k;
  k.kind = events::KeyKind::kHost;
  if (family == 6 && std::memcmp(addr, kMapped, sizeof kMapped) != 0) {
    k.data[0] = 6;
    std::memcpy(k.data + 1, addr, 16);
    k.len = 17;
  } else {
    k.data[0] = 4;
    std::memcpy(k.data + 1, family == 6 ? addr + 12 : addr, 4);
    k.len = 5;
  }
  return k;
}

}  // namespace

const char* finding_name(FindingKind k) {
  switch (k) {
#define SMTPGW_X(id, name) \
  case FindingKind::id:    \
    return name;
    SMTPGW_REPUTATION_FINDINGS(SMTPGW_X)
#undef SMTPGW_X
  }
  return "unknown";
}

Ratios ratios_of(const Counts& c) {
  return {ratio(c.spam, c.messages), ratio(c.unknown_user, c.answered),
          ratio(c.rejected, c.recipients), ratio(c.complaints, c.messages)};
}

std::string Options::check() const {
  auto is_ratio = [](double r) { return r >= 0.0 && r <= 1.0; };
  if (buckets == 0 || window_s == 0 || window_s % buckets != 0) {
    return "window_s (" + std::to_string(window_s) + ") must be a positive whole number of " +
           std::to_string(buckets) + " buckets";
  }
  if (!is_ratio(spam_ratio) || !is_ratio(rejection_ratio) || !is_ratio(complaint_warn) ||
      !is_ratio(complaint_restrict) || !is_ratio(org_suspicious_share)) {
    return "ratios must be within 0..1";
  }
  if (complaint_warn > complaint_restrict) {
    return "complaint_warn must not exceed complaint_restrict";
  }
  if (!(clear_factor > 0.0 && clear_factor <= 1.0)) {
    return "clear_factor must be within (0, 1]";
  }
  if (max_subjects < 4) {
    return "max_subjects must be at least 4 (the subjects of one message)";
  }
  return {};
}

Tracker::Tracker(Options options) : options_(std::move(options)) {
  if (std::string why = options_.check(); !why.empty()) {
    throw std::invalid_argument("reputation: " + why);
  }
  bucket_s_ = options_.window_s / options_.buckets;
  spam_ = {ppb(options_.spam_ratio), ppb(options_.spam_ratio * options_.clear_factor)};
  unknown_ = {ppb(options_.rejection_ratio), ppb(options_.rejection_ratio * options_.clear_factor)};
  warn_ = {ppb(options_.complaint_warn), ppb(options_.complaint_warn * options_.clear_factor)};
  restrict_ = {ppb(options_.complaint_restrict),
               ppb(options_.complaint_restrict * options_.clear_factor)};
  share_ = {ppb(options_.org_suspicious_share),
            ppb(options_.org_suspicious_share * options_.clear_factor)};
  for (const policy::OrgPrefix& op : options_.organisations) {
    Prefix p;
    if (op.org.empty() || !p.prefix.parse(op.prefix)) {
      ++metrics_.prefixes_skipped;
      continue;
    }
    p.org = "org:" + lower(op.org);
    prefixes_.push_back(std::move(p));
  }
}

void Tracker::advance(uint64_t unix_s) {
  now_s_ = std::max(now_s_, unix_s);
  now_bucket_ = now_s_ / bucket_s_;
}

std::string Tracker::org_of(uint8_t family, const uint8_t* addr,
                            const events::KeyBytes& sender) const {
  for (const Prefix& p : prefixes_) {
    if (p.prefix.contains(family == 6, addr)) {
      return p.org;
    }
  }
  if (sender.kind == events::KeyKind::kSender) {
    const std::string s = events::key_text(sender);
    const size_t at = s.rfind('@');
    if (at != std::string::npos && at + 1 < s.size()) {
      return "org:" + lower(s.substr(at + 1));
    }
  }
  return {};
}

Tracker::Subject* Tracker::touch(const std::string& text, events::KeyKind kind, uint64_t unix_s) {
  auto it = subjects_.find(text);
  if (it == subjects_.end()) {
    if (subjects_.size() >= options_.max_subjects) {
      evict_one();
    }
    it = subjects_.try_emplace(text).first;
    Subject& s = it->second;
    s.text = &it->first;
    s.kind = kind;
    s.id = next_id_++;
    s.first_seen_s = unix_s;
    lru_.push_front(&s);
    s.lru = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Subject& s = it->second;
  s.last_seen_s = std::max(s.last_seen_s, unix_s);
  metrics_.subjects = subjects_.size();
  return &s;
}

void Tracker::evict_one() {
  Subject* s = lru_.back();
  ++metrics_.evicted;
  if (s->reasons != 0 || s->complaint_level != 0 || s->org_flagged) {
    ++metrics_.evicted_flagged;
  }
  give_credit(*s, 0);
  unlist(dirty_, s->dirty_at, &Subject::dirty_at);
  unlist(flagged_, s->flagged_at, &Subject::flagged_at);
  lru_.pop_back();
  const std::string key = *s->text;
  subjects_.erase(key);
  metrics_.subjects = subjects_.size();
}

void Tracker::unlist(std::vector<Subject*>& list, uint32_t& at, uint32_t Subject::*field) {
  if (at == kNowhere) {
    return;
  }
  Subject* last = list.back();
  list[at] = last;
  last->*field = at;
  list.pop_back();
  at = kNowhere;
}

void Tracker::mark_dirty(Subject& s) {
  if (s.dirty_at == kNowhere) {
    s.dirty_at = static_cast<uint32_t>(dirty_.size());
    dirty_.push_back(&s);
  }
}

void Tracker::set_flagged(Subject& s, bool on) {
  if (on && s.flagged_at == kNowhere) {
    s.flagged_at = static_cast<uint32_t>(flagged_.size());
    flagged_.push_back(&s);
  } else if (!on) {
    unlist(flagged_, s.flagged_at, &Subject::flagged_at);
  }
}

void Tracker::expire(Subject& s) {
  const uint64_t oldest = oldest_bucket();
  size_t n = 0;
  while (n < s.buckets.size() && s.buckets[n].number < oldest) {
    subtract_counts(s.total, s.buckets[n].counts);
    ++n;
  }
  if (n != 0) {
    s.buckets.erase(s.buckets.begin(), s.buckets.begin() + static_cast<ptrdiff_t>(n));
  }
}

void Tracker::add(Subject& s, uint64_t bucket, const Counts& c) {
  expire(s);
  // Buckets are ascending and events arrive nearly in order: search from the newest.
  auto it = s.buckets.end();
  while (it != s.buckets.begin() && std::prev(it)->number > bucket) {
    --it;
  }
  if (it == s.buckets.begin() || std::prev(it)->number != bucket) {
    it = s.buckets.insert(it, Bucket{bucket, {}});
  } else {
    --it;
  }
  add_counts(it->counts, c);
  add_counts(s.total, c);
  mark_dirty(s);
}

// Moves a principal's suspicious credit to `credit` messages of its organisation (0: none).
// The organisation is looked up by its text and must still be the one credited before (same id):
// an organisation evicted and seen again starts from no credit.
void Tracker::give_credit(Subject& s, uint64_t credit) {
  if (s.kind == events::KeyKind::kOrg || s.credit == credit) {
    return;
  }
  Subject* org = nullptr;
  if (!s.org.empty()) {
    auto it = subjects_.find(s.org);
    if (it != subjects_.end()) {
      org = &it->second;
    }
  }
  if (org != nullptr && s.credit != 0 && org->id == s.org_id) {
    org->suspicious_credit -= std::min(org->suspicious_credit, s.credit);
    mark_dirty(*org);
  }
  s.credit = 0;
  s.org_id = 0;
  if (org != nullptr && credit != 0) {
    org->suspicious_credit += credit;
    s.credit = credit;
    s.org_id = org->id;
    mark_dirty(*org);
  }
}

void Tracker::observe(const events::Event& e) {
  if (e.kind != events::EventKind::kTrace && e.kind != events::EventKind::kTraceRecipient) {
    return;
  }
  if (last_trace_.size() <= e.worker) {
    last_trace_.resize(size_t{e.worker} + 1);
  }
  LastTrace& lt = last_trace_[e.worker];
  const uint64_t unix_s = e.unix_ns / kBillion;
  if (e.kind == events::EventKind::kTraceRecipient) {
    const events::TraceRecipient& r = e.u.recipient;
    if (!lt.valid || lt.flow_id != r.flow_id || lt.index != r.index) {
      ++metrics_.unattributed_recipients;
      return;
    }
    Counts c;
    c.answered = r.reply != 0 ? 1 : 0;
    c.unknown_user = std::strncmp(r.enhanced, "5.1.", 4) == 0 ? 1 : 0;
    const uint64_t bucket = lt.unix_s / bucket_s_;
    if ((c.answered == 0 && c.unknown_user == 0) || bucket < oldest_bucket()) {
      return;
    }
    for (int i = 0; i < lt.count; ++i) {
      auto it = subjects_.find(lt.subjects[i]);
      if (it != subjects_.end()) {
        add(it->second, bucket, c);
      }
    }
    return;
  }

  const events::Trace& t = e.u.trace;
  lt.valid = true;
  lt.flow_id = t.flow_id;
  lt.index = t.index;
  lt.unix_s = unix_s;
  lt.count = 0;  // its recipients are matched, and counted for no one, until a subject is added
  advance(unix_s);
  const uint64_t bucket = unix_s / bucket_s_;
  if (bucket < oldest_bucket()) {
    ++metrics_.late_events;
    return;
  }
  if (t.outcome == 2) {  // aborted: no message was sent or judged
    return;
  }
  // The subjects, principal first: the user, else the sender, else the host; the organisation
  // last (it is credited by the principal).
  const events::KeyBytes host = host_key(t.host_family, t.host_addr);
  const std::string org = org_of(static_cast<uint8_t>(host.data[0]),
                                 reinterpret_cast<const uint8_t*>(host.data + 1), e.key);
  events::KeyKind kinds[4];
  if (e.user.kind == events::KeyKind::kUser) {
    kinds[lt.count] = events::KeyKind::kUser;
    lt.subjects[lt.count++] = events::subject_text(e.user);
  }
  if (e.key.kind == events::KeyKind::kSender) {
    kinds[lt.count] = events::KeyKind::kSender;
    lt.subjects[lt.count++] = events::subject_text(e.key);
  }
  kinds[lt.count] = events::KeyKind::kHost;
  lt.subjects[lt.count++] = events::subject_text(host);
  if (!org.empty()) {
    kinds[lt.count] = events::KeyKind::kOrg;
    lt.subjects[lt.count++] = org;
  }
  Counts c;
  c.messages = 1;
  c.spam = t.verdict == 1 ? 1 : 0;
  c.recipients = t.recipients;
  c.rejected = t.recipients_rejected;
  for (int i = 0; i < lt.count; ++i) {
    Subject* s = touch(lt.subjects[i], kinds[i], unix_s);
    c.principal = i == 0 ? 1 : 0;
    add(*s, bucket, c);
    if (i == 0 && s->org != org) {
      give_credit(*s, 0);  // the principal moved: its credit is re-given at the next poll
      s->org = org;
    }
  }
}

bool Tracker::complaint(const std::string& subject_text, uint64_t unix_s) {
  if (subject_text.empty()) {
    return false;
  }
  advance(unix_s);
  const uint64_t bucket = unix_s / bucket_s_;
  if (bucket < oldest_bucket()) {
    ++metrics_.late_events;
    return false;
  }
  const bool known = subjects_.count(subject_text) != 0;
  Subject* s = touch(subject_text, kind_of_text(subject_text), unix_s);
  Counts c;
  c.complaints = 1;
  add(*s, bucket, c);
  ++metrics_.complaints;
  if (!known) {
    ++metrics_.complaints_new_subject;
  }
  if (!s->org.empty()) {
    auto it = subjects_.find(s->org);
    if (it != subjects_.end()) {
      add(it->second, bucket, c);
    }
  }
  return true;
}

Finding Tracker::finding(FindingKind kind, const Subject& s) const {
  Finding f;
  f.kind = kind;
  f.subject = *s.text;
  f.subject_kind = s.kind;
  f.reasons = s.reasons;
  f.counts = s.total;
  f.ratios = ratios_of(s.total);
  f.org = s.org;
  if (s.kind == events::KeyKind::kOrg) {
    f.org_suspicious_messages = std::min(s.suspicious_credit, s.total.messages);
    f.org_share = ratio(f.org_suspicious_messages, s.total.messages);
  }
  f.window_s = options_.window_s;
  f.unix_s = now_s_;
  return f;
}

// The spam and unknown-user reasons, each with its own hysteresis; then the complaint level.
void Tracker::judge(Subject& s, std::vector<Finding>& out) {
  const Counts& t = s.total;
  const uint8_t before = s.reasons;
  const bool volume = t.messages >= options_.min_messages && t.messages != 0;
  if ((s.reasons & kReasonSpam) == 0) {
    if (volume && above(t.spam, t.messages, spam_.enter)) {
      s.reasons |= kReasonSpam;
    }
  } else if (t.messages == 0 || below(t.spam, t.messages, spam_.clear)) {
    s.reasons &= static_cast<uint8_t>(~kReasonSpam);
  }
  if ((s.reasons & kReasonUnknownUsers) == 0) {
    if (volume && t.answered != 0 && above(t.unknown_user, t.answered, unknown_.enter)) {
      s.reasons |= kReasonUnknownUsers;
    }
  } else if (t.messages == 0 || t.answered == 0 ||
             below(t.unknown_user, t.answered, unknown_.clear)) {
    s.reasons &= static_cast<uint8_t>(~kReasonUnknownUsers);
  }
  if (before == 0 && s.reasons != 0) {
    out.push_back(finding(FindingKind::kSuspicious, s));
  } else if (before != 0 && s.reasons == 0) {
    out.push_back(finding(FindingKind::kSuspiciousCleared, s));
  }

  // Complaints: 0 none, 1 warn, 2 restrict.
  const bool complaint_volume = t.messages >= options_.complaint_min_messages && t.messages != 0;
  if (s.complaint_level == 2 &&
      (t.messages == 0 || below(t.complaints, t.messages, restrict_.clear))) {
    s.complaint_level = 1;
  }
  if (s.complaint_level == 1 && (t.messages == 0 || below(t.complaints, t.messages, warn_.clear))) {
    s.complaint_level = 0;
    out.push_back(finding(FindingKind::kComplaintCleared, s));
  }
  if (complaint_volume && s.complaint_level < 2 &&
      above(t.complaints, t.messages, restrict_.enter)) {
    s.complaint_level = 2;
    out.push_back(finding(FindingKind::kComplaintRestrict, s));
  } else if (complaint_volume && s.complaint_level < 1 &&
             above(t.complaints, t.messages, warn_.enter)) {
    s.complaint_level = 1;
    out.push_back(finding(FindingKind::kComplaintWarn, s));
  }
}

void Tracker::evaluate_member(Subject& s, std::vector<Finding>& out) {
  expire(s);
  judge(s, out);
  give_credit(s, s.reasons != 0 ? s.total.principal : 0);
  set_flagged(s, s.reasons != 0 || s.complaint_level != 0);
}

void Tracker::evaluate_org(Subject& s, std::vector<Finding>& out) {
  expire(s);
  judge(s, out);
  const Counts& t = s.total;
  const uint64_t suspicious = std::min(s.suspicious_credit, t.messages);
  if (!s.org_flagged) {
    if (t.messages >= options_.org_min_messages && t.messages != 0 &&
        above(suspicious, t.messages, share_.enter)) {
      s.org_flagged = true;
      out.push_back(finding(FindingKind::kOrgSuspicious, s));
    }
  } else if (t.messages == 0 || below(suspicious, t.messages, share_.clear)) {
    s.org_flagged = false;
    out.push_back(finding(FindingKind::kOrgSuspiciousCleared, s));
  }
  set_flagged(s, s.reasons != 0 || s.complaint_level != 0 || s.org_flagged);
}

std::vector<Finding> Tracker::poll(uint64_t unix_s) {
  advance(unix_s);
  if (now_bucket_ != polled_bucket_) {
    // A bucket left the window: every open episode is judged again (its counts shrank).
    polled_bucket_ = now_bucket_;
    for (Subject* s : flagged_) {
      mark_dirty(*s);
    }
  }
  std::vector<Finding> out;
  std::vector<Subject*> orgs;
  // Members first: their credit changes mark their organisations dirty (appended to dirty_,
  // which this loop then reaches).
  for (size_t i = 0; i < dirty_.size(); ++i) {
    Subject* s = dirty_[i];
    if (s->kind == events::KeyKind::kOrg) {
      orgs.push_back(s);
    } else {
      evaluate_member(*s, out);
    }
  }
  for (Subject* s : orgs) {
    evaluate_org(*s, out);
  }
  for (Subject* s : dirty_) {
    s->dirty_at = kNowhere;
  }
  dirty_.clear();
  for (const Finding& f : out) {
    ++metrics_.findings[static_cast<int>(f.kind)];
  }
  return out;
}

std::optional<Report> Tracker::describe(const std::string& subject_text) {
  auto it = subjects_.find(subject_text);
  if (it == subjects_.end()) {
    return std::nullopt;
  }
  Subject& s = it->second;
  expire(s);
  Report r;
  r.subject = subject_text;
  r.subject_kind = s.kind;
  r.counts = s.total;
  r.ratios = ratios_of(s.total);
  r.reasons = s.reasons;
  r.complaint_level = s.complaint_level;
  r.org_flagged = s.org_flagged;
  r.org = s.org;
  if (s.kind == events::KeyKind::kOrg) {
    r.org_suspicious_messages = std::min(s.suspicious_credit, s.total.messages);
  }
  r.first_seen_s = s.first_seen_s;
  r.last_seen_s = s.last_seen_s;
  for (const Bucket& b : s.buckets) {
    r.buckets.push_back({b.number * bucket_s_, b.counts});
  }
  r.window_s = options_.window_s;
  return r;
}

}  // namespace smtpgw::reputation
