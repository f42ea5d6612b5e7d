#include "dataplane/scan/scan_context.h"

#include <algorithm>
#include <cstring>

#include "dataplane/text/ascii.h"

namespace smtpgw::scan {

namespace {

int on_hs_match(unsigned id, unsigned long long /*from*/, unsigned long long /*to*/,
                unsigned /*flags*/, void* ctx) {
  static_cast<ScanContext*>(ctx)->on_match(id);
  return 0;  // keep scanning: other rules may still match
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '"' ||
                        s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Field:addr — the first address: inside <...>, else the first word with '@', else the value.
std::string_view header_addr(std::string_view v) {
  const size_t lt = v.find('<');
  if (lt != std::string_view::npos) {
    const size_t gt = v.find('>', lt);
    return trim(v.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1));
  }
  const size_t at = v.find('@');
  if (at != std::string_view::npos) {
    size_t b = v.find_last_of(" \t,;(", at);
    b = b == std::string_view::npos ? 0 : b + 1;
    size_t e = v.find_first_of(" \t,;)", at);
    return trim(v.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b));
  }
  return trim(v);
}

// Field:name — the display name: before <...>, or the (comment) after a bare address.
std::string_view header_name(std::string_view v) {
  const size_t lt = v.find('<');
  if (lt != std::string_view::npos) {
    return trim(v.substr(0, lt));
  }
  const size_t open = v.find('(');
  if (open != std::string_view::npos) {
    const size_t close = v.find(')', open);
    return trim(v.substr(open + 1, close == std::string_view::npos ? std::string_view::npos
                                                                   : close - open - 1));
  }
  return {};
}

}  // namespace

std::string_view scan_event_name(ScanEvent e) {
  switch (e) {
#define SMTPGW_X(name, str) \
  case ScanEvent::name:     \
    return str;
    SMTPGW_SCAN_EVENTS(SMTPGW_X)
#undef SMTPGW_X
    case ScanEvent::kCount:
      break;
  }
  return "unknown";
}

ScanContext::ScanContext(const Ruleset& ruleset, unsigned worker)
    : fixed_(&ruleset), active_(&ruleset), worker_(worker) {}

ScanContext::ScanContext(const Source& source, unsigned worker)
    : source_(&source), worker_(worker) {}

ScanContext::~ScanContext() { drop_streams(); }

void ScanContext::release() {
  if (in_message_) {
    abort_message();
  }
  drop_streams();  // they belong to the pinned version's databases
  pin_.reset();
  if (source_ != nullptr) {
    active_ = nullptr;
  }
  verdict_ = Verdict{};
}

void ScanContext::begin_message() {
  if (in_message_) {
    abort_message();  // call order violated: the unfinished message gets no verdict
  }
  verdict_ = Verdict{};
  if (source_ != nullptr) {
    // The new pin is taken before the old one is dropped, so the streams' version cannot be
    // freed (and its address reused) before they are closed.
    Source::Pin pin = source_->pin();
    if (pin.get() != streams_of_) {
      drop_streams();
    }
    pin_ = std::move(pin);
    active_ = pin_.get();
  }
  in_message_ = true;
  subject_len_ = 0;
  subject_seen_ = false;
  body_started_ = false;
  paragraphs_.reset();
  std::fill(std::begin(stream_failed_), std::end(stream_failed_), false);
  if (active_ == nullptr) {
    count(ScanEvent::kNoRuleset);
    return;
  }
  if (worker_ >= active_->worker_count()) {
    count(ScanEvent::kNoScratch);
    drop_streams();
    active_ = nullptr;
    pin_.reset();
    return;
  }
  matched_.reset();
  seen_groups_.reset();
  std::memset(counts_, 0, std::min<size_t>(active_->multiple_count(), kMaxMultipleRules));
}

void ScanContext::on_match(unsigned id) {
  const Rule& r = active_->rules()[id];
  if (r.multiple) {
    uint8_t& c = counts_[r.counter];
    if (c < r.max_hits) {
      ++c;
    }
  }
  matched_.set(id);
}

void ScanContext::scan_block(const Database& db, std::string_view data) {
  if (!db) {
    return;
  }
  if (hs_scan(db.get(), data.data(), static_cast<unsigned>(data.size()), 0,
              active_->scratch(worker_), on_hs_match, this) != HS_SUCCESS) {
    count(ScanEvent::kScanError);
  }
}

void ScanContext::open_streams() {
  if (in_message_) {
    return;  // a message's version stays until its end
  }
  if (source_ != nullptr && !current()) {
    // As begin_message: the new pin before the old one goes, streams of another version closed.
    Source::Pin pin = source_->pin();
    if (pin.get() != streams_of_) {
      drop_streams();
    }
    pin_ = std::move(pin);
    active_ = pin_.get();
  }
  if (active_ == nullptr || worker_ >= active_->worker_count()) {
    return;
  }
  for (int i = 0; i < kStreamClassCount; ++i) {
    const Database& db = active_->stream(static_cast<StreamClass>(i));
    if (db && streams_[i] == nullptr) {
      if (hs_open_stream(db.get(), 0, &streams_[i]) != HS_SUCCESS) {
        streams_[i] = nullptr;  // opened at first use instead (and counted if it fails then)
        continue;
      }
      streams_of_ = active_;
    }
  }
}

void ScanContext::write_stream(StreamClass c, std::string_view data) {
  const int i = static_cast<int>(c);
  const Database& db = active_->stream(c);
  if (!db || stream_failed_[i]) {
    return;
  }
  if (streams_[i] == nullptr) {
    if (hs_open_stream(db.get(), 0, &streams_[i]) != HS_SUCCESS) {
      streams_[i] = nullptr;
      stream_failed_[i] = true;
      count(ScanEvent::kStreamOpenFailed);
      return;
    }
    streams_of_ = active_;
  }
  stream_used_[i] = true;
  if (data.empty()) {
    return;
  }
  if (hs_scan_stream(streams_[i], data.data(), static_cast<unsigned>(data.size()), 0,
                     active_->scratch(worker_), on_hs_match, this) != HS_SUCCESS) {
    count(ScanEvent::kScanError);
  }
}

// SpamAssassin's body text starts with the Subject as its first paragraph; the text parts follow
// after a blank line. Both go through the paragraph transform.
void ScanContext::write_body(std::string_view text) {
  if (!active_->stream(StreamClass::kBody)) {
    return;
  }
  auto out = [this](std::string_view v) { write_stream(StreamClass::kBody, v); };
  if (!body_started_) {
    body_started_ = true;
    if (subject_seen_) {
      paragraphs_.feed(std::string_view(subject_, subject_len_), out);
      paragraphs_.feed("\n\n", out);
    }
  }
  paragraphs_.feed(text, out);
}

void ScanContext::scan_header(const Field& f) {
  const std::string_view raw = f.raw.empty() ? f.value : f.raw;
  if (!subject_seen_ && text::iequals(f.name, "subject")) {
    subject_seen_ = true;
    subject_len_ = std::min(f.value.size(), sizeof(subject_));
    if (subject_len_ < f.value.size()) {
      count(ScanEvent::kSubjectTruncated);
    }
    std::memcpy(subject_, f.value.data(), subject_len_);
  }
  if (const HeaderGroup* g = active_->find_header(f.name)) {
    seen_groups_.set(static_cast<size_t>(g - active_->header_groups().data()));
    for (uint32_t id : g->exists_rules) {
      matched_.set(id);
    }
    scan_block(g->dbs[static_cast<int>(HeaderVariant::kValue)], f.value);
    scan_block(g->dbs[static_cast<int>(HeaderVariant::kRaw)], raw);
    if (g->dbs[static_cast<int>(HeaderVariant::kAddr)]) {
      scan_block(g->dbs[static_cast<int>(HeaderVariant::kAddr)], header_addr(f.value));
    }
    if (g->dbs[static_cast<int>(HeaderVariant::kName)]) {
      scan_block(g->dbs[static_cast<int>(HeaderVariant::kName)], header_name(f.value));
    }
  }
  // ALL sees the header block as "Name: value\n" lines, in order.
  if (active_->stream(StreamClass::kAllHeaders)) {
    write_stream(StreamClass::kAllHeaders, f.name);
    write_stream(StreamClass::kAllHeaders, ": ");
    write_stream(StreamClass::kAllHeaders, f.value);
    write_stream(StreamClass::kAllHeaders, "\n");
  }
  if (active_->stream(StreamClass::kAllHeadersRaw)) {
    write_stream(StreamClass::kAllHeadersRaw, f.name);
    write_stream(StreamClass::kAllHeadersRaw, ": ");
    write_stream(StreamClass::kAllHeadersRaw, raw);
    write_stream(StreamClass::kAllHeadersRaw, "\n");
  }
}

void ScanContext::field(const Field& f) {
  if (!in_message_) {
    count(ScanEvent::kFieldOutsideMessage);
    return;
  }
  if (active_ == nullptr) {
    return;
  }
  switch (f.kind) {
    case FieldKind::kEnvelopeHelo:
      scan_block(active_->envelope(EnvelopeField::kHelo), f.value);
      break;
    case FieldKind::kEnvelopeFrom:
      scan_block(active_->envelope(EnvelopeField::kFrom), f.value);
      break;
    case FieldKind::kEnvelopeRcpt:
      scan_block(active_->envelope(EnvelopeField::kRcpt), f.value);
      break;
    case FieldKind::kEnvelopeAuth:
      scan_block(active_->envelope(EnvelopeField::kAuth), f.value);
      break;
    case FieldKind::kHeader:
      scan_header(f);
      break;
    case FieldKind::kBodyText:
      write_body(f.value);
      break;
    case FieldKind::kRawBody:
      write_stream(StreamClass::kRawBody, f.value);
      break;
    case FieldKind::kUri:
      scan_block(active_->uri(), f.value);
      break;
    case FieldKind::kFull:
      write_stream(StreamClass::kFull, f.value);
      break;
  }
}

// The streams this message wrote go back to their initial state for the next message: a reset
// is a close and an open without freeing and allocating the stream state. With a scratch and a
// callback it first reports the matches anchored at end of data ($, \z).
void ScanContext::end_streams(bool deliver) {
  for (int i = 0; i < kStreamClassCount; ++i) {
    if (!stream_used_[i]) {
      continue;
    }
    stream_used_[i] = false;
    const hs_error_t rc =
        deliver ? hs_reset_stream(streams_[i], 0, active_->scratch(worker_), on_hs_match, this)
                : hs_reset_stream(streams_[i], 0, nullptr, nullptr, nullptr);
    if (rc != HS_SUCCESS) {
      count(ScanEvent::kScanError);
      hs_close_stream(streams_[i], nullptr, nullptr, nullptr);  // state unknown: start afresh
      streams_[i] = nullptr;
    }
  }
}

void ScanContext::drop_streams() {
  for (int i = 0; i < kStreamClassCount; ++i) {
    if (streams_[i] != nullptr) {
      hs_close_stream(streams_[i], nullptr, nullptr, nullptr);
      streams_[i] = nullptr;
    }
    stream_used_[i] = false;
  }
  streams_of_ = nullptr;
}

void ScanContext::end_message() {
  if (!in_message_) {
    count(ScanEvent::kFieldOutsideMessage);
    return;
  }
  if (active_ == nullptr) {
    in_message_ = false;
    return;
  }
  // A message without body text still has SpamAssassin's body: its Subject paragraph.
  if (subject_seen_ || body_started_) {
    write_body({});
    paragraphs_.finish([this](std::string_view v) { write_stream(StreamClass::kBody, v); });
  }
  end_streams(true);
  in_message_ = false;
  finish();
}

void ScanContext::abort_message() {
  if (!in_message_) {
    count(ScanEvent::kFieldOutsideMessage);
    return;
  }
  if (active_ != nullptr) {
    end_streams(false);
  }
  in_message_ = false;
  verdict_ = Verdict{};
}

void ScanContext::finish() {
  const Ruleset& rs = *active_;
  const std::vector<Rule>& rules = rs.rules();
  for (const AbsentRule& a : rs.absent_rules()) {
    bool seen = false;
    for (uint32_t g : a.groups) {
      seen = seen || seen_groups_[g];
    }
    if (!seen) {
      matched_.set(a.rule);
    }
  }
  hits_ = matched_;
  for (uint32_t i : rs.negated_rules()) {
    hits_[i] = !matched_[i];
  }
  auto value = [&](uint32_t r) -> double {
    const Rule& rule = rules[r];
    if (rule.multiple) {
      return counts_[rule.counter];
    }
    return hits_[r] ? 1.0 : 0.0;
  };
  for (const MetaProgram& m : rs.metas()) {
    // All inputs 0 (the usual case: a message hits few rules): the result is known.
    bool any = false;
    for (const MetaInput& in : m.inputs) {
      if (in.counter >= 0 ? counts_[in.counter] != 0 : hits_[in.rule]) {
        any = true;
        break;
      }
    }
    double result = 0.0;
    const bool ok = any ? eval_meta(m, value, &result) : m.zero_ok;
    if (!ok) {
      count(ScanEvent::kMetaStackOverflow);
      hits_[m.rule] = false;
      continue;
    }
    hits_[m.rule] = any ? result != 0.0 : m.zero_hit;
  }
  Verdict v;
  v.valid = true;
  v.required_score = rs.required_score();
  v.ruleset_version = rs.info().version;
  uint32_t kept = 0;
  const size_t n = rules.size();
  for (size_t i = hits_._Find_first(); i < n; i = hits_._Find_next(i)) {
    const Rule& r = rules[i];
    if (!r.reported) {
      continue;
    }
    v.score += r.score;
    ++v.rule_count;
    if (kept < kMaxVerdictRules) {
      verdict_rules_[kept++] = static_cast<uint32_t>(i);
    } else {
      count(ScanEvent::kVerdictRulesTruncated);
    }
  }
  v.rules = std::span<const uint32_t>(verdict_rules_, kept);
  // Rounding like SpamAssassin's display does not change the comparison: compare the sum.
  v.spam = v.score >= v.required_score - 1e-9;
  verdict_ = v;
}

}  // namespace smtpgw::scan
