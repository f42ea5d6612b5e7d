// The fields a message is scanned as: the stream engine (smtp/, mime/) produces them, the
// scanner (scan/) consumes them. One definition, used by both sides.
#pragma once

#include <cstdint>
#include <string_view>

namespace smtpgw {

// What a field is. Envelope and header fields are complete values (block-mode scans); body
// fields arrive as a sequence of chunks between message begin and end (streaming scans).
enum class FieldKind : uint8_t {
  kEnvelopeHelo,  // EHLO/HELO argument
  kEnvelopeFrom,  // MAIL FROM address, canonical form, without angle brackets ("" for <>)
  kEnvelopeRcpt,  // one RCPT TO address, canonical form (one field per recipient)
  kEnvelopeAuth,  // authenticated user name (never the secret)
  kHeader,        // one header: name = field name as written, value = unfolded + RFC 2047
                  // decoded, raw = unfolded but not decoded
  kBodyText,      // a chunk of decoded text of the text/* parts (HTML rendered to text)
  kRawBody,       // a chunk of the body as transmitted (after dot-unstuffing), MIME undecoded
  kUri,           // one URI found in the body (text or HTML links), complete
  kFull,          // a chunk of the whole message as transmitted: headers and body
};

inline constexpr int kFieldKindCount = 9;

struct Field {
  FieldKind kind;
  std::string_view name;   // header name for kHeader; empty otherwise
  std::string_view value;  // the value or chunk
  std::string_view raw;    // kHeader only: the raw (undecoded) value; empty otherwise
};

// Receives the fields of one message at a time. Calls come in order:
//   begin_message, field*, end_message   (or abort_message instead of end_message)
// Views are valid only during the call. Implementations must not throw; they run on a worker
// (no allocation per call on the hot path) or in the offline analyzer.
class FieldSink {
 public:
  virtual ~FieldSink() = default;
  virtual void begin_message() = 0;
  virtual void field(const Field& f) = 0;
  // The message ended normally (end of DATA / last BDAT chunk seen).
  virtual void end_message() = 0;
  // The message will not complete (RSET, connection closed, limit hit).
  virtual void abort_message() = 0;
};

// Receives a message's content: the DATA or BDAT bytes after dot-unstuffing, headers and body
// as transmitted, in order. The SMTP session produces it; the MIME decoder consumes it and turns
// it into header/body/uri/full fields for a FieldSink. Calls come in order:
//   begin_content, content*, end_content   (or abort_content)
// and always inside the FieldSink's begin_message ... end_message/abort_message of the same
// message, after its envelope fields. Views are valid only during the call; must not throw.
class ContentSink {
 public:
  virtual ~ContentSink() = default;
  virtual void begin_content() = 0;
  virtual void content(std::string_view chunk) = 0;
  virtual void end_content() = 0;
  virtual void abort_content() = 0;
};

}  // namespace smtpgw
