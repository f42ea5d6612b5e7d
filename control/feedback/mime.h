// Internal to the ARF parser: the RFC 5322 / MIME pieces a complaint report is made of — lines
// (CRLF or bare LF), header blocks (unfolded, positioned), Content-Type with its parameters,
// multipart bodies split on their boundary (RFC 2046 5.1.1), and base64 / quoted-printable
// bodies decoded. Not a public header: arf.h is the interface.
//
// Everything works on string_views into the caller's bytes, bounded by their size; nothing here
// throws except std::bad_alloc, and nothing keeps state between calls (any thread may call).
// Costs are linear in the bytes given.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smtpgw::feedback::detail {

// A fault found in some text: `line` is 1-based within the text given to the function (0 when
// no line is at fault); the caller turns it into an input line and adds where it was.
struct Fault {
  size_t line = 0;
  std::string what;
};

// Walks text line by line. A line ends at LF; a CR right before the LF is dropped with it, so
// CRLF and bare LF both work. The last line may lack an end of line; an empty text has no lines.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}

  // The next line without its end of line, or nullopt at the end.
  std::optional<std::string_view> next();
  // 1-based number of the line next() returned last (0 before the first).
  size_t number() const { return number_; }
  // Offset in the text where the line next() returned last begins, and where the line after it
  // begins (past its end of line).
  size_t begin() const { return begin_; }
  size_t end() const { return pos_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t begin_ = 0;
  size_t number_ = 0;
};

struct Field {
  std::string name;   // as written (compare with text::iequals)
  std::string value;  // unfolded: each fold (line break and the blanks after it) is one space;
                      // blanks around the value trimmed
  size_t line = 0;    // 1-based line of the field's first line within the text parsed
};

struct HeaderBlock {
  std::vector<Field> fields;
  size_t body_offset = 0;  // where the body begins (after the empty line), or the text's size
  size_t body_line = 1;    // 1-based line at body_offset
  bool has_body = false;   // an empty line ended the block (otherwise it ran to the end)
};

enum class HeaderMode {
  kStrict,   // a line that is not a field, or a continuation with no field before it, is a fault
  kLenient,  // such lines are skipped (the original message's headers: third-party, redacted)
  kReport,   // kStrict, and empty lines are skipped instead of ending the block (the body of
             // message/feedback-report is nothing but fields)
};

// Parses the header fields at the start of `text` up to the first empty line (RFC 5322 2.2).
// Field names are 1*(printable US-ASCII except ':'), blanks before the colon allowed (obsolete
// syntax, still seen). More than `max_lines` physical lines is a fault.
std::optional<Fault> parse_header_block(std::string_view text, size_t max_lines, HeaderMode mode,
                                        HeaderBlock* out);

// The first field named `name` (case-insensitive), or null; `count` gets how many there are.
const Field* find_field(const HeaderBlock& h, std::string_view name, size_t* count = nullptr);

struct ContentType {
  std::string type;                                         // lower-case
  std::string subtype;                                      // lower-case
  std::vector<std::pair<std::string, std::string>> params;  // names lower-case, values unquoted

  // The first parameter named `name` (lower-case), or null.
  const std::string* param(std::string_view name) const;
  std::string full() const { return type + "/" + subtype; }
};

// Parses a Content-Type value (RFC 2045 5.1): type "/" subtype *(";" attribute "=" value), with
// quoted strings and comments. A missing subtype or a parameter without '=' is a fault; a
// trailing ';' is allowed.
std::optional<Fault> parse_content_type(std::string_view value, ContentType* out);

// `s` in double quotes for an error message: at most `max` bytes, then "..."; quotes,
// backslashes and bytes outside printable ASCII escaped (\xNN), so no input can forge a line.
std::string quoted(std::string_view s, size_t max = 64);

// `value` without comments ("(...)", nested, with quoted pairs) and with blanks trimmed.
std::string strip_comments(std::string_view value);

// One body part of a multipart body: its bytes (headers and body, without the delimiter lines
// and without the line break before the next delimiter) and the line it starts on.
struct Part {
  std::string_view text;
  size_t line = 0;  // 1-based, within the multipart body given
};

// Splits a multipart body on "--boundary" (RFC 2046 5.1.1): delimiter lines may carry trailing
// blanks (transport padding); the preamble before the first delimiter and the epilogue after the
// closing "--boundary--" are ignored. Faults: no delimiter at all, no closing delimiter (a
// truncated report), more than `max_parts` parts.
std::optional<Fault> split_multipart(std::string_view body, std::string_view boundary,
                                     size_t max_parts, std::vector<Part>* out);

enum class Encoding { kIdentity, kBase64, kQuotedPrintable };

// The Content-Transfer-Encoding named by `value` (7bit, 8bit, binary, base64, quoted-printable;
// case-insensitive, comments allowed), or nullopt for any other.
std::optional<Encoding> parse_transfer_encoding(std::string_view value);

// RFC 2045 6.8: characters outside the alphabet are ignored, decoding stops at '='; bits of an
// incomplete last quantum are dropped.
std::string decode_base64(std::string_view in);

// RFC 2045 6.7: "=XX" is the byte 0xXX, "=" at the end of a line is a soft break, trailing blanks
// of a line are dropped; an '=' that starts neither is kept as it is. Lines end in LF.
std::string decode_quoted_printable(std::string_view in);

}  // namespace smtpgw::feedback::detail
