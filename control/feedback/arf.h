// Complaint reports in the Abuse Reporting Format (ARF, RFC 5965): one report, as the bytes of
// an RFC 5322 message whose Content-Type is multipart/report; report-type=feedback-report,
// parsed and validated into a Report, or refused with a ParseError that says where and what.
//
//   message headers ── Content-Type: multipart/report; report-type=feedback-report; boundary=B
//   --B  part 1  text/* (or multipart/alternative): for people; only its type is checked
//   --B  part 2  message/feedback-report: the fields (RFC 5965 3.1-3.3)     → Report fields
//   --B  part 3  message/rfc822 or text/rfc822-headers (optional): the       → Report::orig_*
//                original message's header block
//   --B-- (required: without it the report is truncated); parts after the third are ignored
//
// Parts 2 and 3 may be 7bit, 8bit, binary, base64 or quoted-printable. Lines may end in CRLF or a
// bare LF. Pure C++, no DPDK; meant for the API's complaint endpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace smtpgw::feedback {

struct Limits {
  size_t max_bytes = size_t{1} << 20;  // the whole report
  size_t max_parts = 8;                // body parts of the multipart/report
  size_t max_header_lines = 1000;      // physical lines of any one header block (the message's,
                                       // a part's, the report's fields, the original message's)
};

struct Report {
  // Feedback-Type, lower-case, as the IANA registry names them: abuse, auth-failure (RFC 6591),
  // fraud, not-spam (RFC 6650), other, virus. A type not in the registry is kept in
  // `feedback_type_received` and reported here as "other" (RFC 5965 allows new registered
  // types; a receiver that does not know one can still count the report, and a complaint is
  // better counted as "other" than refused).
  std::string feedback_type;
  std::string feedback_type_received;  // the value as sent, lower-case, comments removed
  std::string user_agent;              // required, non-empty
  std::string version;                 // required; always "1"

  // Optional fields appearing at most once. Addresses without their angle brackets ("<>", the
  // null reverse-path, gives an empty string).
  std::string original_mail_from;
  std::string original_envelope_id;
  std::string arrival_date;   // Arrival-Date, or its historic name Received-Date; not parsed
  std::string reporting_mta;  // as sent, e.g. "dns; mail.example.com"
  std::string source_ip;      // canonical text of a valid IPv4 or IPv6 address (inet_ntop)
  uint32_t incidents = 1;     // Incidents, a positive integer; 1 when absent

  // Optional fields that may repeat, in order.
  std::vector<std::string> original_rcpt_to;  // angle brackets removed
  std::vector<std::string> reported_domains;
  std::vector<std::string> reported_uris;
  std::vector<std::string> authentication_results;

  // The third part: "message/rfc822", "text/rfc822-headers", or empty when the report has no
  // third part (RFC 5965 says SHOULD, not MUST); then every orig_* field is empty.
  std::string original_type;
  // The original message's header fields: the first of each, unfolded (each fold one space),
  // blanks trimmed, encoded words not decoded.
  std::string orig_from, orig_return_path, orig_message_id, orig_subject, orig_to, orig_date;
  std::vector<std::string> orig_received;  // every Received field, top (newest) first
};

struct ParseError {
  // One line a person can act on, naming where and what, e.g.
  //   part 2 (message/feedback-report): line 14: Source-IP "300.1.2.3" is not an IP address
  // "message" is the report's own header block or its multipart structure; "part N" the N-th
  // body part. "line N" counts lines of the input; in a base64 or quoted-printable part it
  // reads "decoded line N", counted in the part's decoded body.
  std::string what;
  size_t line = 0;  // 1-based input line at fault (for a decoded line: where that part's body
                    // starts); 0 when no one line is (e.g. a required field missing)
  size_t part = 0;  // 1-based body part at fault, 0 for the message itself
};

class Result {
 public:
  explicit Result(Report r) : v_(std::move(r)) {}
  explicit Result(ParseError e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  // Precondition: ok().
  const Report& report() const { return std::get<Report>(v_); }
  Report& report() { return std::get<Report>(v_); }
  // Precondition: !ok().
  const ParseError& error() const { return std::get<ParseError>(v_); }

 private:
  std::variant<Report, ParseError> v_;
};

// Parses and validates one complete report. Promises, when ok(): Content-Type was
// multipart/report with report-type=feedback-report and a boundary; the closing delimiter was
// present; part 1 is text/* or multipart/alternative; part 2 is message/feedback-report with
// Feedback-Type, User-Agent and Version exactly once each, Version 1, at most one of each
// once-only field (Arrival-Date and Received-Date count as one), a valid Source-IP and a positive
// Incidents when present; part 3, when present, is message/rfc822 or text/rfc822-headers.
// Unknown fields are ignored, in the report and in every header block.
//
// Errors (ParseError::what), each once, the first found: input over `limits.max_bytes`; empty
// input; a header block that is not fields (a line without ':', a continuation with nothing
// before it, a bad field name) or longer than `limits.max_header_lines`; no body; Content-Type
// missing, repeated, malformed, not multipart/report, without report-type or with another one,
// without boundary or with an empty one; a Content-Transfer-Encoding on the multipart itself
// other than 7bit/8bit/binary; no delimiter line, no closing delimiter, more than
// `limits.max_parts` parts, fewer than 2; a part of the wrong type; a part 2 or 3 with an unknown
// Content-Transfer-Encoding; a missing, repeated, empty or invalid report field as above.
//
// A leading mbox "From " line is skipped. The original message's header block is read
// leniently (lines that are not fields are skipped), since it is third-party and often redacted.
//
// Cost: linear in the input (each byte is visited a small constant number of times; the decoded
// parts are copied once). Never throws except std::bad_alloc; never reads outside `input`.
// Thread-safe: shares no state; any thread may call it.
Result parse(std::string_view input, const Limits& limits = {});

// The address a complaint is matched to the sender by: Original-Mail-From when it is an
// address, else the original message's Return-Path, else its From (the addr-spec of
// `Name <a@b>`, or the first of a list). The domain is lower-cased, the local part kept as
// sent. An address is local@domain with both parts non-empty and no blanks; when none of the
// three is one, the result is empty. Cost: linear in those fields. Any thread.
std::string sender_of(const Report& report);

}  // namespace smtpgw::feedback
