// ARF reports (arf.h): the message's header block, the multipart/report structure, the three
// parts in order, the feedback-report fields, and the sender address for matching. The MIME
// pieces are in mime.cc.
#include "control/feedback/arf.h"

#include <arpa/inet.h>

#include <array>
#include <optional>

#include "control/feedback/mime.h"
#include "dataplane/text/ascii.h"

namespace smtpgw::feedback {

namespace {

using detail::ContentType;
using detail::Field;
using detail::HeaderBlock;
using detail::HeaderMode;
using detail::quoted;
using detail::strip_comments;
using text::ascii_lower;
using text::iequals;

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) {
    c = ascii_lower(c);
  }
  return o;
}

// Where the text being parsed sits, to turn its line numbers into the error's.
struct Where {
  size_t part = 0;        // 0: the message itself
  std::string label;      // "message", "part 2", "part 2 (message/feedback-report)"
  size_t first_line = 1;  // input line of the text's first line
  bool decoded = false;   // the text is a decoded body: its lines are not input lines

  std::string line_label(size_t line) const {
    return decoded ? "decoded line " + std::to_string(line)
                   : "line " + std::to_string(first_line + line - 1);
  }
};

Result fail(const Where& w, size_t line, const std::string& what) {
  ParseError e;
  e.part = w.part;
  e.what = w.label + ": ";
  if (line != 0) {
    e.line = w.decoded ? w.first_line : w.first_line + line - 1;
    e.what += w.line_label(line) + ": ";
  }
  e.what += what;
  return Result(std::move(e));
}

// "<a@b>" → "a@b", "<>" → "", anything else as it is (comments and blanks removed).
std::string unbracket(std::string_view v) {
  std::string s = strip_comments(v);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

// The canonical text of the IPv4 or IPv6 address `s` (brackets allowed), or nullopt.
std::optional<std::string> canonical_ip(std::string s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  if (s.empty() || s.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return std::string(inet_ntop(AF_INET, buf, out, sizeof out));
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return std::string(inet_ntop(AF_INET6, buf, out, sizeof out));
  }
  return std::nullopt;
}

std::optional<uint32_t> positive_u32(std::string_view s) {
  if (s.empty() || s.size() > 10) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > UINT32_MAX) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(v);
}

// The feedback-report fields that may appear at most once. Received-Date is the historic name
// of Arrival-Date and shares its slot.
enum Once : size_t {
  kFeedbackType,
  kUserAgent,
  kVersion,
  kOriginalMailFrom,
  kOriginalEnvelopeId,
  kArrivalDate,
  kReportingMta,
  kSourceIp,
  kIncidents,
  kOnceCount
};

struct OnceName {
  std::string_view name;
  Once slot;
};
constexpr std::array<OnceName, 10> kOnceFields = {{
    {"Feedback-Type", kFeedbackType},
    {"User-Agent", kUserAgent},
    {"Version", kVersion},
    {"Original-Mail-From", kOriginalMailFrom},
    {"Original-Envelope-Id", kOriginalEnvelopeId},
    {"Arrival-Date", kArrivalDate},
    {"Received-Date", kArrivalDate},
    {"Reporting-MTA", kReportingMta},
    {"Source-IP", kSourceIp},
    {"Incidents", kIncidents},
}};

constexpr std::array<std::string_view, 6> kFeedbackTypes = {"abuse",    "auth-failure", "fraud",
                                                            "not-spam", "other",        "virus"};

// Part 2's body: the report fields into `r`, or the first fault.
std::optional<Result> read_report_fields(std::string_view body, const Where& w,
                                         const Limits& limits, Report* r) {
  HeaderBlock h;
  if (auto f = detail::parse_header_block(body, limits.max_header_lines, HeaderMode::kReport, &h)) {
    return fail(w, f->line, f->what);
  }
  std::array<const Field*, kOnceCount> once{};
  for (const Field& f : h.fields) {
    for (const OnceName& o : kOnceFields) {
      if (!iequals(f.name, o.name)) {
        continue;
      }
      if (const Field* first = once[o.slot]) {
        const std::string what =
            iequals(first->name, f.name)
                ? std::string(o.name) + " appears more than once (first on " +
                      w.line_label(first->line) + ")"
                : "Arrival-Date and Received-Date are both present (Received-Date is the "
                  "historic name of Arrival-Date; first on " +
                      w.line_label(first->line) + ")";
        return fail(w, f.line, what);
      }
      once[o.slot] = &f;
    }
    if (iequals(f.name, "Original-Rcpt-To")) {
      r->original_rcpt_to.push_back(unbracket(f.value));
    } else if (iequals(f.name, "Reported-Domain")) {
      r->reported_domains.push_back(strip_comments(f.value));
    } else if (iequals(f.name, "Reported-URI")) {
      r->reported_uris.push_back(unbracket(f.value));
    } else if (iequals(f.name, "Authentication-Results")) {
      r->authentication_results.push_back(f.value);
    }
  }
  for (Once required : {kFeedbackType, kUserAgent, kVersion}) {
    if (!once[required]) {
      return fail(w, 0, std::string(kOnceFields[required].name) + " is missing");
    }
  }

  const Field& type = *once[kFeedbackType];
  r->feedback_type_received = lower(strip_comments(type.value));
  if (r->feedback_type_received.empty()) {
    return fail(w, type.line, "Feedback-Type is empty");
  }
  r->feedback_type = "other";
  for (std::string_view known : kFeedbackTypes) {
    if (r->feedback_type_received == known) {
      r->feedback_type = known;
    }
  }

  const Field& agent = *once[kUserAgent];
  if (agent.value.empty()) {
    return fail(w, agent.line, "User-Agent is empty");
  }
  r->user_agent = agent.value;

  const Field& version = *once[kVersion];
  r->version = strip_comments(version.value);
  if (r->version != "1") {
    return fail(w, version.line,
                "Version " + quoted(r->version) + " is not 1 (the only version, RFC 5965 3.1)");
  }

  if (const Field* f = once[kSourceIp]) {
    auto ip = canonical_ip(strip_comments(f->value));
    if (!ip) {
      return fail(w, f->line, "Source-IP " + quoted(f->value) + " is not an IP address");
    }
    r->source_ip = *ip;
  }
  if (const Field* f = once[kIncidents]) {
    auto n = positive_u32(strip_comments(f->value));
    if (!n) {
      return fail(w, f->line,
                  "Incidents " + quoted(f->value) + " is not a positive 32-bit integer");
    }
    r->incidents = *n;
  }
  if (const Field* f = once[kOriginalMailFrom]) {
    r->original_mail_from = unbracket(f->value);
  }
  if (const Field* f = once[kOriginalEnvelopeId]) {
    r->original_envelope_id = f->value;
  }
  if (const Field* f = once[kArrivalDate]) {
    r->arrival_date = f->value;
  }
  if (const Field* f = once[kReportingMta]) {
    r->reporting_mta = f->value;
  }
  return std::nullopt;
}

// Part 3's body: the original message's header fields into `r`.
std::optional<Result> read_original_headers(std::string_view body, const Where& w,
                                            const Limits& limits, Report* r) {
  HeaderBlock h;
  if (auto f =
          detail::parse_header_block(body, limits.max_header_lines, HeaderMode::kLenient, &h)) {
    return fail(w, f->line, f->what);
  }
  const std::pair<std::string_view, std::string*> wanted[] = {
      {"From", &r->orig_from},
      {"Return-Path", &r->orig_return_path},
      {"Message-ID", &r->orig_message_id},
      {"Subject", &r->orig_subject},
      {"To", &r->orig_to},
      {"Date", &r->orig_date},
  };
  for (const auto& [name, out] : wanted) {
    if (const Field* f = detail::find_field(h, name)) {
      *out = f->value;
    }
  }
  for (const Field& f : h.fields) {
    if (iequals(f.name, "Received")) {
      r->orig_received.push_back(f.value);
    }
  }
  return std::nullopt;
}

bool is_part3_type(const ContentType& t) {
  return (t.type == "message" &&
          (t.subtype == "rfc822" || t.subtype == "global" || t.subtype == "global-headers")) ||
         (t.type == "text" && t.subtype == "rfc822-headers");
}

// One body part: its headers checked for its place (1, 2 or 3), its body decoded and read.
std::optional<Result> read_part(size_t index, const detail::Part& part, size_t first_line,
                                const Limits& limits, Report* r) {
  Where w{index, "part " + std::to_string(index), first_line, false};
  HeaderBlock h;
  if (auto f =
          detail::parse_header_block(part.text, limits.max_header_lines, HeaderMode::kStrict, &h)) {
    return fail(w, f->line, f->what);
  }
  ContentType t;
  size_t line = 0;
  if (const Field* ct = detail::find_field(h, "Content-Type")) {
    line = ct->line;
    auto f = detail::parse_content_type(ct->value, &t);
    // Part 1 is only typed: a sloppy parameter there does not spoil the report.
    if (f && !(index == 1 && !t.type.empty())) {
      return fail(w, line, f->what);
    }
  } else {
    t.type = "text";  // RFC 2045 5.2: text/plain by default
    t.subtype = "plain";
  }
  const std::string shown =
      line ? "Content-Type " + quoted(t.full()) : "no Content-Type (text/plain)";
  if (index == 1) {
    if (t.type != "text" && !(t.type == "multipart" && t.subtype == "alternative")) {
      return fail(w, line,
                  shown + ": the first part of a feedback report is text for people " +
                      "(text/* or multipart/alternative)");
    }
    return std::nullopt;
  }
  if (index == 2 && !(t.type == "message" && t.subtype == "feedback-report")) {
    return fail(w, line, shown + ", not message/feedback-report");
  }
  if (index == 3 && !is_part3_type(t)) {
    return fail(w, line, shown + ", neither message/rfc822 nor text/rfc822-headers");
  }
  detail::Encoding encoding = detail::Encoding::kIdentity;
  if (const Field* cte = detail::find_field(h, "Content-Transfer-Encoding")) {
    auto e = detail::parse_transfer_encoding(cte->value);
    if (!e) {
      return fail(w, cte->line,
                  "Content-Transfer-Encoding " + quoted(cte->value) +
                      " is not one of 7bit, 8bit, binary, base64, quoted-printable");
    }
    encoding = *e;
  }
  const std::string_view raw = part.text.substr(h.body_offset);
  std::string decoded;
  if (encoding == detail::Encoding::kBase64) {
    decoded = detail::decode_base64(raw);
  } else if (encoding == detail::Encoding::kQuotedPrintable) {
    decoded = detail::decode_quoted_printable(raw);
  }
  const bool is_decoded = encoding != detail::Encoding::kIdentity;
  const Where body{index, w.label + " (" + t.full() + ")", first_line + h.body_line - 1,
                   is_decoded};
  const std::string_view text = is_decoded ? std::string_view(decoded) : raw;
  if (index == 2) {
    return read_report_fields(text, body, limits, r);
  }
  r->original_type = t.full();
  return read_original_headers(text, body, limits, r);
}

}  // namespace

Result parse(std::string_view input, const Limits& limits) {
  Where msg{0, "message", 1, false};
  if (input.size() > limits.max_bytes) {
    return fail(msg, 0,
                std::to_string(input.size()) + " bytes, more than the limit of " +
                    std::to_string(limits.max_bytes));
  }
  if (input.empty()) {
    return fail(msg, 0, "the input is empty");
  }
  std::string_view text = input;
  if (text.substr(0, 5) == "From ") {  // an mbox separator line
    const size_t lf = text.find('\n');
    text = lf == std::string_view::npos ? std::string_view() : text.substr(lf + 1);
    msg.first_line = 2;
  }

  HeaderBlock top;
  if (auto f =
          detail::parse_header_block(text, limits.max_header_lines, HeaderMode::kStrict, &top)) {
    return fail(msg, f->line, f->what);
  }
  size_t count = 0;
  const Field* ct = detail::find_field(top, "Content-Type", &count);
  if (!ct) {
    return fail(msg, 0,
                "Content-Type is missing: a feedback report is multipart/report; "
                "report-type=feedback-report");
  }
  if (count > 1) {
    const Field* second = ct + 1;
    while (!iequals(second->name, "Content-Type")) {
      ++second;  // within top.fields: there are `count` of them
    }
    return fail(msg, second->line,
                "Content-Type appears more than once (first on line " +
                    std::to_string(msg.first_line + ct->line - 1) + ")");
  }
  ContentType t;
  if (auto f = detail::parse_content_type(ct->value, &t)) {
    return fail(msg, ct->line, f->what);
  }
  if (t.type != "multipart" || t.subtype != "report") {
    return fail(msg, ct->line, "Content-Type " + quoted(t.full()) + " is not multipart/report");
  }
  const std::string* report_type = t.param("report-type");
  if (!report_type) {
    return fail(msg, ct->line,
                "Content-Type multipart/report has no report-type parameter (a feedback report "
                "has report-type=feedback-report)");
  }
  if (!iequals(*report_type, "feedback-report")) {
    return fail(msg, ct->line, "report-type " + quoted(*report_type) + " is not feedback-report");
  }
  const std::string* boundary = t.param("boundary");
  if (!boundary) {
    return fail(msg, ct->line, "Content-Type multipart/report has no boundary parameter");
  }
  if (boundary->empty()) {
    return fail(msg, ct->line, "the boundary parameter is empty");
  }
  if (const Field* cte = detail::find_field(top, "Content-Transfer-Encoding")) {
    auto e = detail::parse_transfer_encoding(cte->value);
    if (e != detail::Encoding::kIdentity) {
      return fail(msg, cte->line,
                  "Content-Transfer-Encoding " + quoted(cte->value) +
                      " on a multipart body (RFC 2045 6.4 allows only 7bit, 8bit or binary)");
    }
  }
  if (!top.has_body) {
    return fail(msg, 0, "the header block runs to the end of the input: there is no body");
  }

  const std::string_view body = text.substr(top.body_offset);
  const Where in_body{0, "message", msg.first_line + top.body_line - 1, false};
  std::vector<detail::Part> parts;
  if (auto f = detail::split_multipart(body, *boundary, limits.max_parts, &parts)) {
    return fail(in_body, f->line, f->what);
  }
  if (parts.size() < 2) {
    return fail(msg, 0,
                "1 body part: a feedback report has at least 2 (text for people, then "
                "message/feedback-report)");
  }
  Report r;
  for (size_t i = 0; i < parts.size() && i < 3; ++i) {
    if (auto failed =
            read_part(i + 1, parts[i], in_body.first_line + parts[i].line - 1, limits, &r)) {
      return std::move(*failed);
    }
  }
  return Result(std::move(r));
}

namespace {

// The addr-spec in an address field: inside the first <...> outside quotes and comments, else
// the first of a comma-separated list; comments and blanks removed, a source route dropped.
std::string address_in(std::string_view v) {
  std::string_view candidate = v;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '"') {
      for (++i; i < v.size() && v[i] != '"'; ++i) {
        i += v[i] == '\\' ? 1 : 0;
      }
    } else if (c == '(') {
      for (size_t depth = 0; i < v.size(); ++i) {
        if (v[i] == '\\') {
          ++i;
        } else if (v[i] == '(') {
          ++depth;
        } else if (v[i] == ')' && --depth == 0) {
          break;
        }
      }
    } else if (c == '<') {
      const size_t close = v.find('>', i + 1);
      candidate = v.substr(i + 1, close == std::string_view::npos ? close : close - i - 1);
      break;
    } else if (c == ',') {
      candidate = v.substr(0, i);
      break;
    }
  }
  std::string a = strip_comments(candidate);
  if (!a.empty() && a.front() == '@') {  // obsolete source route "@a,@b:user@c"
    const size_t colon = a.find(':');
    a = colon == std::string::npos ? std::string() : a.substr(colon + 1);
  }
  return a;
}

// local@domain with the domain lower-cased, or empty when `a` is not one.
std::string normalized(const std::string& a) {
  const size_t at = a.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == a.size()) {
    return {};
  }
  for (char c : a) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 127 || c == '<' || c == '>') {
      return {};
    }
  }
  return a.substr(0, at + 1) + lower(a.substr(at + 1));
}

}  // namespace

std::string sender_of(const Report& report) {
  for (const std::string& candidate : {normalized(address_in(report.original_mail_from)),
                                       normalized(address_in(report.orig_return_path)),
                                       normalized(address_in(report.orig_from))}) {
    if (!candidate.empty()) {
      return candidate;
    }
  }
  return {};
}

}  // namespace smtpgw::feedback
