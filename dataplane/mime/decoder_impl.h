// Internal state of the MIME decoder (not part of the public API). Split by stage:
//   decoder.cc   content loop, chunk buffers, boundary/line classifier, part structure
//   header.cc    header section: unfolding, RFC 2047, Content-* parameters (RFC 2231), summary
//   transfer.cc  base64 and quoted-printable decoders, charset conversion to UTF-8
//   html.cc      HTML rendering to text, link collection, URL scanning of text
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "dataplane/mime/decoder.h"
#include "dataplane/text/ascii.h"

namespace smtpgw::mime {

using text::ascii_lower;
using text::iequals;

inline constexpr size_t kMaxBoundaryBytes = 200;  // RFC 2046 allows 70; longer is refused
inline constexpr size_t kEntityBytes = 32;        // longest HTML entity name kept

enum class Charset : uint8_t { kPass, kLatin1, kCp1252, kUnknown };
enum class Cte : uint8_t { kIdentity, kBase64, kQuotedPrintable, kUnknown };
enum class LeafKind : uint8_t { kText, kHtml, kOpaque };

// Bounded append target: keeps the first `cap` bytes, remembers whether more were offered.
struct Writer {
  char* data;
  size_t cap;
  size_t len = 0;
  bool overflow = false;
  void put(char c) {
    if (len < cap) {
      data[len++] = c;
    } else {
      overflow = true;
    }
  }
  void put(std::string_view s);
  std::string_view view() const { return {data, len}; }
};

// What an entity's header section said about its body.
struct EntityInfo {
  FixedText<kAttachmentTypeBytes> type;       // lower-cased type/subtype; empty if absent
  std::array<char, kMaxBoundaryBytes> boundary{};
  uint16_t boundary_len = 0;
  bool boundary_bad = false;                  // present but empty or too long
  Charset charset = Charset::kPass;
  Cte cte = Cte::kIdentity;
  bool disposition_attachment = false;
  bool has_name = false;
  FixedText<kAttachmentNameBytes> name;       // filename, else Content-Type name
  bool name_from_filename = false;
  bool type_seen = false;  // the first of duplicated Content-* headers wins
  bool cte_seen = false;
  bool disposition_seen = false;
  void clear() { *this = EntityInfo{}; }
};

// An open multipart: its boundary and the depth of the multipart entity itself.
struct Frame {
  std::array<char, kMaxBoundaryBytes> boundary{};
  uint16_t len = 0;
  uint16_t depth = 0;
  bool seen_delimiter = false;
};

class DecoderImpl {
 public:
  DecoderImpl(FieldSink& sink, const Limits& limits, HeaderScratch* shared);
  void prefault();

  void begin();
  void content(const char* p, size_t n);
  void end();
  void abort();

  FieldSink* sink_;
  Limits limits_;

 private:
  // Where the bytes the line classifier lets through go.
  enum class State : uint8_t { kHeader, kLeaf, kDiscard };
  enum class Mode : uint8_t { kIdle, kActive, kDone };
  // Line classifier (only while a multipart is open).
  enum class Line : uint8_t { kMid, kStart, kCandidate, kDelimTail, kSkipToEol };
  // Header line reader.
  enum class HLine : uint8_t { kStart, kCr, kIn };
  // HTML renderer.
  enum class Html : uint8_t {
    kText, kTagOpen, kTagName, kInTag, kAttrName, kAfterAttrName, kBeforeValue, kValueQuoted,
    kValueUnquoted, kMarkup, kComment, kBogus, kRawText, kEntity
  };
  // Text URL scanner.
  enum class Url : uint8_t { kIdle, kSlash1, kSlash2, kCollect };

  struct ChunkBuf {
    std::unique_ptr<char[]> data;
    size_t len = 0;
  };
  // What a content() call touches comes first, in a few adjacent cache lines: with hundreds of
  // messages in flight the decoder's state is cold at every segment, and each line is a miss.
  Mode mode_ = Mode::kIdle;
  State state_ = State::kHeader;
  bool in_body_ = false;        // past the top-level header section: bytes are raw body
  bool header_top_ = true;      // the header section being read is the message's own
  bool section_ended_ = false;  // set by header_feed when it consumed the blank line
  // Chunked fields.
  ChunkBuf full_, text_;
  // Where the raw body starts in full_ (0 once the body filled a buffer; kNoRaw while the
  // top-level header section is read).
  static constexpr size_t kNoRaw = SIZE_MAX;
  size_t raw_from_ = kNoRaw;
  size_t chunk_cap_;
  size_t frame_count_ = 0;
  uint16_t depth_ = 0;
  uint32_t parts_ = 0;
  // Line classifier.
  Line line_ = Line::kStart;
  uint8_t pending_break_ = 0;  // 0, 1 ("\n") or 2 ("\r\n") held until the next line is known
  bool pending_cr_ = false;
  size_t cand_len_ = 0;
  int delim_frame_ = -1;
  uint8_t tail_len_ = 0;
  bool tail_dash_ = false;
  // Current leaf.
  LeafKind leaf_ = LeafKind::kText;
  Cte cte_ = Cte::kIdentity;
  Charset charset_ = Charset::kPass;
  int attachment_ = -1;
  size_t line_len_ = 0;
  bool long_line_noted_ = false;
  bool bad_noted_ = false;
  // base64
  uint32_t b64_acc_ = 0;
  uint8_t b64_n_ = 0;
  // quoted-printable: 0 plain, 1 after '=', 2 after '=' and one hex digit, 3 after "=\r"
  uint8_t qp_state_ = 0;
  char qp_hex1_ = 0;
  char text_last_ = '\n';  // last byte of body text of the current part ('\n' if none)
  // Text URL scanner (its buffer is below).
  Url us_ = Url::kIdle;
  std::array<char, 8> hist_{};  // last bytes of the part's text before the current url_scan
  uint8_t url_prefix_ = 0;

 public:
  Stats stats_;
  Summary summary_;

 private:
  // decoder.cc
  void note(Note n);
  void emit(FieldKind kind, std::string_view value);
  void chunk_append(ChunkBuf& b, FieldKind kind, const char* p, size_t n);
  void chunk_flush(ChunkBuf& b, FieldKind kind);
  void emit_chunk(FieldKind kind, const char* p, size_t n);
  size_t parse(const char* p, size_t n);
  size_t deliver(const char* p, size_t n);
  void deliver_all(const char* p, size_t n);
  size_t classify(const char* p, size_t n);
  static const char* break_before_dash(const char* p, const char* end);
  void release_break();
  void end_line(uint8_t brk);
  int match_candidate() const;
  void on_delimiter(int frame);
  void on_delimiter_kind(bool close);
  void finish_entity();
  void start_part(uint16_t depth);
  void start_body();
  void start_text_leaf(LeafKind kind, Charset cs, Cte cte);
  void leaf_feed(const char* p, size_t n);
  void finish_leaf();
  void pop_frames_to(size_t count);

  // header.cc
  size_t header_feed(const char* p, size_t n);
  void header_append(const char* p, size_t n);
  void finish_header();
  void interpret_entity_header(std::string_view name, std::string_view value);
  void record_summary(std::string_view name, std::string_view decoded);
  std::string_view decode_words(std::string_view raw, Writer& out);
  bool get_param(std::string_view params, std::string_view want, bool decode_2047, Writer& out);

  // transfer.cc
  void decoded(const char* p, size_t n);
  void b64_feed(const unsigned char* p, size_t n);
  void qp_feed(const char* p, size_t n);
  void transfer_finish();
  void charset_out(const char* p, size_t n);

  // html.cc
  void text_out(const char* p, size_t n);
  void url_scan(const char* p, size_t n);
  void url_finish();
  void emit_uri(std::string_view uri, bool truncated);
  void html_feed(const char* p, size_t n);
  void html_finish();
  void html_put(char c);
  void html_put(std::string_view s);
  void html_flush();
  void html_tag_end();
  void html_value_end();
  void html_entity_end(bool semicolon);
  void attr_put(char c);



  // Header section.
  HLine hl_ = HLine::kStart;
  size_t hline_len_ = 0;  // octets of the current physical header line so far
  bool hdr_active_ = false;
  bool hdr_nul_ = false;
  size_t hdr_len_ = 0;
  size_t hdr_offered_ = 0;
  uint64_t section_bytes_ = 0;
  std::unique_ptr<char[]> hdr_;      // max_header_bytes
  std::unique_ptr<HeaderScratch> own_scratch_;  // when made without a shared one
  HeaderScratch* scratch_;           // RFC 2047 output and parameter values (see HeaderScratch)
  EntityInfo info_;

  // Structure.
  std::unique_ptr<Frame[]> frames_;

  // Line classifier: the delimiter candidate.
  std::array<char, kMaxBoundaryBytes + 2> cand_{};

  // HTML.
  Html hs_ = Html::kText;
  Html ent_return_ = Html::kText;
  std::array<char, 16> tag_{};
  uint8_t tag_len_ = 0;
  bool tag_closing_ = false;
  std::array<char, 8> attr_{};
  uint8_t attr_len_ = 0;
  bool attr_long_ = false;
  char quote_ = 0;
  bool capture_ = false;
  uint8_t markup_ = 0;
  uint8_t dashes_ = 0;
  const char* raw_end_ = nullptr;  // "</script" or "</style" while skipping their content
  uint8_t raw_idx_ = 0;
  std::array<char, kEntityBytes> ent_{};
  uint8_t ent_len_ = 0;
  char last_out_ = '\n';
  std::array<char, 1024> hout_{};
  size_t hout_len_ = 0;
  std::unique_ptr<char[]> attr_uri_;
  size_t attr_uri_len_ = 0;
  bool attr_uri_trunc_ = false;

  // Text URL scanner.
  std::unique_ptr<char[]> text_uri_;
  size_t text_uri_len_ = 0;
  bool text_uri_trunc_ = false;
};

// Shared helpers (transfer.cc).
Charset parse_charset(std::string_view name);
// Appends the UTF-8 form of code point `cp` (U+FFFD for invalid ones).
void put_utf8(Writer& w, uint32_t cp);
// Converts one byte of `cs` to UTF-8 into out (at least 3 bytes); returns the bytes written.
size_t byte_to_utf8(Charset cs, unsigned char c, char* out);

}  // namespace smtpgw::mime
