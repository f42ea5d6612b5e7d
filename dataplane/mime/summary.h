// Per-message summary the MIME decoder fills while it streams: presence and first values of the
// headers other stages need (sender accounting, trace), the attachments seen, and how many times
// each bound or malformation was met (the notes). Fixed size: no heap, copyable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/text/fixed_text.h"

namespace smtpgw::mime {

// Every bound and malformation the decoder meets, with its defined outcome. One list generates
// the enum, the names and the counters (Summary::notes per message, Decoder::Stats::notes in
// total). A note is counted once per occurrence unless the comment says otherwise.
#define SMTPGW_MIME_NOTES(X)                                                                     \
  /* one unfolded header longer than Limits::max_header_bytes: truncated, still emitted */       \
  X(kHeaderTruncated, "header_truncated")                                                        \
  /* header after Limits::max_header_section_bytes of the section: not emitted or recorded */    \
  X(kHeaderSectionLimit, "header_section_limit")                                                 \
  /* content ended inside the top-level header section (no body) */                             \
  X(kHeaderUnterminated, "header_unterminated")                                                  \
  /* header line without a colon or with an invalid name: skipped (still in kFull) */            \
  X(kGarbageHeader, "garbage_header")                                                            \
  /* NUL byte inside a header: kept as is; counted once per header */                           \
  X(kNulByte, "nul_byte")                                                                        \
  /* malformed RFC 2047 encoded word: left as written */                                         \
  X(kBadEncodedWord, "bad_encoded_word")                                                         \
  /* charset other than UTF-8/ASCII/ISO-8859-1/Windows-1252: bytes passed through undecoded */  \
  X(kUnknownCharset, "unknown_charset")                                                          \
  /* multipart or message/rfc822 nested deeper than Limits::max_depth: its body is skipped */    \
  X(kDepthLimit, "depth_limit")                                                                  \
  /* more than Limits::max_parts parts: later parts skipped (their boundaries still honoured) */ \
  X(kPartLimit, "part_limit")                                                                    \
  /* multipart without a usable boundary (missing, empty, longer than 200): read as text/plain */\
  X(kMissingBoundary, "missing_boundary")                                                        \
  /* multipart whose boundary never appeared: its whole body was read as text (preamble) */      \
  X(kNoDelimiter, "no_delimiter")                                                                \
  /* multipart ended by end of content or an outer boundary before its close delimiter */        \
  X(kUnterminatedMultipart, "unterminated_multipart")                                            \
  /* invalid base64 character skipped, or a dangling single sextet at the end of a part */       \
  X(kBadBase64, "bad_base64")                                                                    \
  /* '=' not followed by two hex digits or a line break (or truncated): kept literally */        \
  X(kBadQuotedPrintable, "bad_quoted_printable")                                                 \
  /* Content-Transfer-Encoding other than 7bit/8bit/binary/base64/quoted-printable: raw bytes */ \
  X(kUnknownEncoding, "unknown_encoding")                                                        \
  /* body line longer than Limits::max_line_bytes: counted once per part, still decoded */       \
  X(kLongLine, "long_line")                                                                      \
  /* header line over 998 octets (RFC 5322 2.1.1; its CRLF not counted): counted once a line */  \
  X(kLongHeaderLine, "long_header_line")                                                         \
  /* URI longer than Limits::max_uri_bytes: emitted truncated */                                 \
  X(kUriTruncated, "uri_truncated")                                                              \
  /* more than Limits::max_uris URIs in the message: later ones not emitted */                   \
  X(kUriLimit, "uri_limit")                                                                      \
  /* more than kMaxAttachments attachments: later ones counted, not recorded */                  \
  X(kAttachmentLimit, "attachment_limit")                                                        \
  /* content/end_content without begin_content: ignored */                                       \
  X(kOutOfOrderCall, "out_of_order_call")

enum class Note : uint8_t {
#define SMTPGW_MIME_NOTE_ENUM(id, name) id,
  SMTPGW_MIME_NOTES(SMTPGW_MIME_NOTE_ENUM)
#undef SMTPGW_MIME_NOTE_ENUM
};

inline constexpr size_t kNoteCount = 0
#define SMTPGW_MIME_NOTE_COUNT(id, name) +1
    SMTPGW_MIME_NOTES(SMTPGW_MIME_NOTE_COUNT)
#undef SMTPGW_MIME_NOTE_COUNT
    ;

// Stable snake_case name of a note (metrics label, JSON key). Cost: O(1). Any thread.
constexpr std::string_view note_name(Note n) {
  constexpr std::string_view kNames[] = {
#define SMTPGW_MIME_NOTE_NAME(id, name) name,
      SMTPGW_MIME_NOTES(SMTPGW_MIME_NOTE_NAME)
#undef SMTPGW_MIME_NOTE_NAME
  };
  return kNames[static_cast<size_t>(n)];
}

// The headers whose presence and first value the summary records (top-level header section).
#define SMTPGW_MIME_SUMMARY_HEADERS(X)        \
  X(kFrom, "From")                            \
  X(kTo, "To")                                \
  X(kSubject, "Subject")                      \
  X(kMessageId, "Message-ID")                 \
  X(kDate, "Date")                            \
  X(kListUnsubscribe, "List-Unsubscribe")     \
  X(kPrecedence, "Precedence")                \
  X(kDkimSignature, "DKIM-Signature")         \
  X(kAutoSubmitted, "Auto-Submitted")

enum class SummaryHeader : uint8_t {
#define SMTPGW_MIME_SH_ENUM(id, name) id,
  SMTPGW_MIME_SUMMARY_HEADERS(SMTPGW_MIME_SH_ENUM)
#undef SMTPGW_MIME_SH_ENUM
};

inline constexpr size_t kSummaryHeaderCount = 0
#define SMTPGW_MIME_SH_COUNT(id, name) +1
    SMTPGW_MIME_SUMMARY_HEADERS(SMTPGW_MIME_SH_COUNT)
#undef SMTPGW_MIME_SH_COUNT
    ;

// The header name as written in the list above (matching is case-insensitive).
constexpr std::string_view summary_header_name(SummaryHeader h) {
  constexpr std::string_view kNames[] = {
#define SMTPGW_MIME_SH_NAME(id, name) name,
      SMTPGW_MIME_SUMMARY_HEADERS(SMTPGW_MIME_SH_NAME)
#undef SMTPGW_MIME_SH_NAME
  };
  return kNames[static_cast<size_t>(h)];
}

using text::FixedText;

inline constexpr size_t kSummaryValueBytes = 256;   // first value of each summary header
inline constexpr size_t kAttachmentNameBytes = 128;  // UTF-8 file name
inline constexpr size_t kAttachmentTypeBytes = 64;   // "type/subtype", lower case
inline constexpr size_t kMaxAttachments = 16;        // recorded per message; more are counted

struct HeaderRecord {
  uint16_t count = 0;                     // occurrences in the top-level header section
  FixedText<kSummaryValueBytes> value;    // first occurrence, unfolded and RFC 2047 decoded
};

// A part that is not body text: it has a file name, or Content-Disposition: attachment, or a
// type other than text/*, multipart/* and message/rfc822.
struct Attachment {
  FixedText<kAttachmentNameBytes> name;   // filename (RFC 2231/2047 decoded to UTF-8), else name
  FixedText<kAttachmentTypeBytes> type;   // lower-cased "type/subtype" ("text/plain" if absent)
  uint64_t decoded_size = 0;              // bytes after Content-Transfer-Encoding decoding
  bool disposition_attachment = false;    // Content-Disposition: attachment
  uint8_t depth = 0;                      // nesting depth (top-level body = 0)
};

struct Summary {
  // The counters first: the decoder updates some on every content() call (one cache line).
  uint32_t header_count = 0;        // kHeader fields emitted
  uint32_t part_count = 0;          // entities seen, the message itself included
  uint32_t max_depth = 0;           // deepest nesting reached
  uint32_t uri_count = 0;           // kUri fields emitted
  uint64_t content_bytes = 0;       // bytes given to content()
  uint64_t header_bytes = 0;        // bytes of the top-level header section, blank line included
  uint64_t body_text_bytes = 0;     // bytes emitted as kBodyText
  std::array<Attachment, kMaxAttachments> attachments{};
  uint32_t attachment_count = 0;    // recorded in attachments[]
  uint32_t attachments_dropped = 0; // seen beyond kMaxAttachments
  std::array<uint32_t, kNoteCount> notes{};
  bool ended = false;               // end_content seen
  bool aborted = false;             // abort_content seen
  std::array<HeaderRecord, kSummaryHeaderCount> headers{};

  bool has(SummaryHeader h) const { return headers[static_cast<size_t>(h)].count != 0; }
  std::string_view value(SummaryHeader h) const {
    return headers[static_cast<size_t>(h)].value.view();
  }
  uint32_t note(Note n) const { return notes[static_cast<size_t>(n)]; }
  // RFC 3834: an Auto-Submitted header whose keyword is not "no" marks an automatic message
  // (auto-replied, auto-generated, auto-notified). Cost: O(value length).
  bool auto_submitted() const;
};

}  // namespace smtpgw::mime
