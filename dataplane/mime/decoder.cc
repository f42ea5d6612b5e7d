// Content loop, chunked fields and the multipart structure.
//
// Segmentation invariance: every field is emitted at a position of the byte stream that depends
// only on the bytes. content() cuts its input at the points where the kFull buffer becomes full,
// parses the piece, then appends it to that buffer; the raw body is the buffer's tail from where
// the body began (one copy serves kFull and kRawBody: copying is a sixth of the stream engine's
// time, and the scanner needs chunks, not the caller's small segments); everything below parses
// greedily (it emits as soon as the bytes decide) and in stream order, and text_out() cuts its
// input where the kBodyText buffer becomes full. So one call or one call per byte give the same
// sequence of fields.
//
// Line classifier (while at least one multipart is open). A delimiter line is "--" + boundary,
// matched as a prefix (RFC 2046 forbids a boundary in the content, so real mailers never rely on
// a longer match); the line break before it belongs to the delimiter. Cases, per line:
//   1. the line does not start with '-'          → previous break + line go to the current state
//   2. it starts with '-' but stops matching every open boundary → same as 1, from that byte
//   3. it ends (CR/LF) before a full match        → same as 1
//   4. it matches an open boundary (innermost first; an outer one closes the inner parts)
//      → the current part ends; then "--" right after the boundary closes that multipart
//        (epilogue follows), anything else opens the next part; the rest of the line is skipped.
#include "dataplane/mime/decoder.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dataplane/mime/decoder_impl.h"

namespace smtpgw::mime {

namespace {

Limits with_floors(Limits l) {
  l.max_depth = std::clamp<uint32_t>(l.max_depth, 1, 1000);
  l.max_parts = std::max<uint32_t>(l.max_parts, 1);
  l.max_header_bytes = std::max<uint32_t>(l.max_header_bytes, 64);
  l.max_line_bytes = std::max<uint32_t>(l.max_line_bytes, 1);
  l.chunk_bytes = std::max<uint32_t>(l.chunk_bytes, 64);
  l.max_uri_bytes = std::max<uint32_t>(l.max_uri_bytes, 16);
  return l;
}

}  // namespace

bool Summary::auto_submitted() const {
  if (!has(SummaryHeader::kAutoSubmitted)) {
    return false;
  }
  std::string_view v = value(SummaryHeader::kAutoSubmitted);
  size_t b = v.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    return false;
  }
  v.remove_prefix(b);
  size_t e = v.find_first_of(" \t;(");
  return !iequals(v.substr(0, e), "no");
}

HeaderScratch::HeaderScratch(const Limits& limits)
    : cap_(3 * static_cast<size_t>(with_floors(limits).max_header_bytes)),
      decoded_(std::make_unique_for_overwrite<char[]>(cap_)),
      parameter_(std::make_unique_for_overwrite<char[]>(cap_)) {}
HeaderScratch::~HeaderScratch() = default;

size_t HeaderScratch::memory_bytes(const Limits& limits) {
  return sizeof(HeaderScratch) + 6 * static_cast<size_t>(with_floors(limits).max_header_bytes);
}

DecoderImpl::DecoderImpl(FieldSink& sink, const Limits& limits, HeaderScratch* shared)
    : sink_(&sink), limits_(with_floors(limits)), chunk_cap_(limits_.chunk_bytes) {
  if (shared == nullptr || shared->cap_ < 3 * static_cast<size_t>(limits_.max_header_bytes)) {
    own_scratch_ = std::make_unique<HeaderScratch>(limits_);
    shared = own_scratch_.get();
  }
  scratch_ = shared;
  // The byte buffers are not zeroed: each is written before it is read (lengths are tracked),
  // and zeroing ~160 KB per decoder was most of what building one cost (and touched every page
  // of buffers a decoder may never fill).
  full_.data = std::make_unique_for_overwrite<char[]>(chunk_cap_);
  text_.data = std::make_unique_for_overwrite<char[]>(chunk_cap_);
  hdr_ = std::make_unique_for_overwrite<char[]>(limits_.max_header_bytes);
  frames_ = std::make_unique<Frame[]>(limits_.max_depth);
  attr_uri_ = std::make_unique_for_overwrite<char[]>(limits_.max_uri_bytes);
  text_uri_ = std::make_unique_for_overwrite<char[]>(limits_.max_uri_bytes);
}

void DecoderImpl::prefault() {
  std::memset(full_.data.get(), 0, chunk_cap_);
  std::memset(text_.data.get(), 0, chunk_cap_);
  std::memset(hdr_.get(), 0, limits_.max_header_bytes);
  std::memset(scratch_->decoded_.get(), 0, scratch_->cap_);
  std::memset(scratch_->parameter_.get(), 0, scratch_->cap_);
  std::memset(attr_uri_.get(), 0, limits_.max_uri_bytes);
  std::memset(text_uri_.get(), 0, limits_.max_uri_bytes);
}

void DecoderImpl::note(Note n) {
  ++summary_.notes[static_cast<size_t>(n)];
  ++stats_.notes[static_cast<size_t>(n)];
}

void DecoderImpl::emit(FieldKind kind, std::string_view value) {
  sink_->field(Field{kind, {}, value, {}});
}

// One chunk of `kind`. kFull chunks are also the raw body: the kRawBody chunk is the same bytes
// from where the body began (emitted first, as the body is what most rules read).
void DecoderImpl::emit_chunk(FieldKind kind, const char* p, size_t n) {
  if (kind == FieldKind::kFull) {
    if (raw_from_ < n) {
      emit(FieldKind::kRawBody, {p + raw_from_, n - raw_from_});
    }
    if (raw_from_ != kNoRaw) {
      raw_from_ = 0;  // the body goes on to the end: every later chunk is all body
    }
  }
  emit(kind, {p, n});
}

void DecoderImpl::chunk_flush(ChunkBuf& b, FieldKind kind) {
  if (b.len != 0) {
    emit_chunk(kind, b.data.get(), b.len);
    b.len = 0;
  }
}

// Appends and emits each time the buffer is full. A run that starts on an empty buffer and fills
// it is emitted straight from the input: same chunks, no copy.
void DecoderImpl::chunk_append(ChunkBuf& b, FieldKind kind, const char* p, size_t n) {
  while (n != 0) {
    if (b.len == 0 && n >= chunk_cap_) {
      emit_chunk(kind, p, chunk_cap_);
      p += chunk_cap_;
      n -= chunk_cap_;
      continue;
    }
    size_t m = std::min(n, chunk_cap_ - b.len);
    std::memcpy(b.data.get() + b.len, p, m);
    b.len += m;
    p += m;
    n -= m;
    if (b.len == chunk_cap_) {
      chunk_flush(b, kind);
    }
  }
}

void DecoderImpl::begin() {
  if (mode_ == Mode::kActive) {
    ++stats_.aborted;  // a new message without end/abort: the old one is dropped
  }
  mode_ = Mode::kActive;
  ++stats_.messages;
  summary_ = Summary{};
  summary_.part_count = 1;
  state_ = State::kHeader;
  in_body_ = false;
  header_top_ = true;
  full_.len = text_.len = 0;
  raw_from_ = kNoRaw;
  hl_ = HLine::kStart;
  hline_len_ = 0;
  hdr_active_ = false;
  hdr_nul_ = false;
  hdr_len_ = hdr_offered_ = 0;
  section_bytes_ = 0;
  info_.clear();
  frame_count_ = 0;
  depth_ = 0;
  parts_ = 1;
  line_ = Line::kStart;
  pending_break_ = 0;
  pending_cr_ = false;
  cand_len_ = 0;
  attachment_ = -1;
}

void DecoderImpl::content(const char* p, size_t n) {
  if (mode_ != Mode::kActive) {
    note(Note::kOutOfOrderCall);
    return;
  }
  summary_.content_bytes += n;
  stats_.bytes += n;
  while (n != 0) {
    size_t seg = std::min(n, chunk_cap_ - full_.len);
    if (in_body_ && raw_from_ == kNoRaw) {
      raw_from_ = full_.len;  // parse() stopped where the top-level header section ended
    }
    size_t used = parse(p, seg);
    chunk_append(full_, FieldKind::kFull, p, used);
    p += used;
    n -= used;
  }
}

size_t DecoderImpl::parse(const char* p, size_t n) {
  size_t done = 0;
  while (done < n) {
    // The classifier keeps running after the last multipart closed until it has skipped the
    // rest of the close-delimiter line.
    if (frame_count_ == 0 && line_ == Line::kStart) {
      bool was_body = in_body_;
      done += deliver(p + done, n - done);
      if (in_body_ != was_body) {
        return done;  // raw body starts here: content() re-cuts its pieces
      }
    } else {
      done += classify(p + done, n - done);
    }
  }
  return done;
}

// Hands bytes to the current state. Returns early when a header section ends: the next bytes
// may belong to a multipart, which the line classifier must see.
size_t DecoderImpl::deliver(const char* p, size_t n) {
  switch (state_) {
    case State::kHeader: {
      section_ended_ = false;
      return header_feed(p, n);
    }
    case State::kLeaf:
      leaf_feed(p, n);
      return n;
    case State::kDiscard:
      return n;
  }
  return n;
}

// deliver() for the classifier, which hands over at most one line at a time: a header section
// can only end at the end of what it gets, so nothing is left for the structure to re-read.
void DecoderImpl::deliver_all(const char* p, size_t n) {
  while (n != 0) {
    size_t c = deliver(p, n);
    p += c;
    n -= c;
  }
}

void DecoderImpl::release_break() {
  if (pending_break_ == 2) {
    deliver_all("\r\n", 2);
  } else if (pending_break_ == 1) {
    deliver_all("\n", 1);
  }
  pending_break_ = 0;
}

// A line break is held until the next line shows it is not part of a delimiter, except in a
// header section: there it ends a header line (and maybe the section, so a delimiter right after
// the blank line already matches the new multipart's boundary).
void DecoderImpl::end_line(uint8_t brk) {
  line_ = Line::kStart;
  if (state_ == State::kHeader) {
    pending_break_ = 0;
    deliver_all(brk == 2 ? "\r\n" : "\n", brk);
  } else {
    pending_break_ = brk;
  }
}

// Returns the index of the frame whose boundary the candidate line matches completely, -1 if a
// match is still possible, -2 if none is.
int DecoderImpl::match_candidate() const {
  if (cand_len_ < 2) {
    return -1;
  }
  if (cand_[1] != '-') {
    return -2;
  }
  size_t k = cand_len_ - 2;
  bool possible = false;
  for (size_t i = frame_count_; i-- > 0;) {
    const Frame& f = frames_[i];
    if (k <= f.len && std::memcmp(cand_.data() + 2, f.boundary.data(), k) == 0) {
      if (k == f.len) {
        return static_cast<int>(i);
      }
      possible = true;
    }
  }
  return possible ? -1 : -2;
}

// The first LF in [p, end) that is followed by '-' or is the last byte (what follows it is not
// known yet); nullptr if none. 16 positions at a time (SSE2, always there on x86-64).
const char* DecoderImpl::break_before_dash(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i dash = _mm_set1_epi8('-');
  while (end - p >= 17) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
    const int m = _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, lf), _mm_cmpeq_epi8(b, dash)));
    if (m != 0) {
      return p + __builtin_ctz(static_cast<unsigned>(m));
    }
    p += 16;
  }
#endif
  for (; p + 1 < end; ++p) {
    if (p[0] == '\n' && p[1] == '-') {
      return p;
    }
  }
  return p < end && *p == '\n' ? p : nullptr;
}

size_t DecoderImpl::classify(const char* p, size_t n) {
  const char* const begin = p;
  const char* const end = p + n;
  while (p < end) {
    switch (line_) {
      case Line::kMid: {
        if (pending_cr_) {
          pending_cr_ = false;
          if (*p == '\n') {
            ++p;
            end_line(2);
            break;
          }
          deliver_all("\r", 1);
        }
        // Inside a part's body a line break matters only before a line that starts with '-'
        // (a delimiter candidate): the lines in between go to the part in one call, breaks
        // included. Header sections see every line; after the outermost multipart closed the
        // classifier stops at the end of this line.
        const char* lf = frame_count_ > 0 && state_ != State::kHeader
                             ? break_before_dash(p, end)
                             : static_cast<const char*>(std::memchr(p, '\n', end - p));
        if (lf == nullptr) {
          size_t m = end - p;
          bool cr = p[m - 1] == '\r';
          deliver_all(p, m - cr);
          pending_cr_ = cr;
          return n;
        }
        size_t m = lf - p;
        bool cr = m != 0 && p[m - 1] == '\r';
        deliver_all(p, m - cr);
        p = lf + 1;
        end_line(cr ? 2 : 1);
        break;
      }
      case Line::kStart:
        if (frame_count_ == 0) {
          // The outermost multipart closed: no more delimiters to look for.
          release_break();
          return static_cast<size_t>(p - begin);
        }
        if (*p != '-') {
          release_break();
          line_ = Line::kMid;
          break;
        }
        line_ = Line::kCandidate;
        cand_len_ = 0;
        [[fallthrough]];
      case Line::kCandidate: {
        while (p < end) {
          char c = *p;
          if (c == '\n' || c == '\r') {
            release_break();
            deliver_all(cand_.data(), cand_len_);
            line_ = Line::kMid;
            break;
          }
          cand_[cand_len_++] = c;
          ++p;
          int r = match_candidate();
          if (r == -2) {
            release_break();
            deliver_all(cand_.data(), cand_len_);
            line_ = Line::kMid;
            break;
          }
          if (r >= 0) {
            pending_break_ = 0;
            on_delimiter(r);
            line_ = Line::kDelimTail;
            tail_len_ = 0;
            tail_dash_ = false;
            break;
          }
        }
        break;
      }
      case Line::kDelimTail: {
        char c = *p;
        if (tail_len_ == 0 && c == '-') {
          tail_len_ = 1;
          ++p;
          break;
        }
        bool close = tail_len_ == 1 && c == '-';
        if (close) {
          ++p;
        }
        on_delimiter_kind(close);
        line_ = Line::kSkipToEol;
        break;
      }
      case Line::kSkipToEol: {
        const char* lf = static_cast<const char*>(std::memchr(p, '\n', end - p));
        if (lf == nullptr) {
          return n;
        }
        p = lf + 1;
        pending_break_ = 0;
        line_ = Line::kStart;
        break;
      }
    }
  }
  return n;
}

// Ends whatever entity is being read: a part cut inside its header section is a part with an
// empty body.
void DecoderImpl::finish_entity() {
  if (state_ == State::kHeader) {
    if (hdr_active_) {
      finish_header();
      hdr_active_ = false;
    }
    start_body();
  }
  if (state_ == State::kLeaf) {
    finish_leaf();
  }
  state_ = State::kDiscard;
}

void DecoderImpl::pop_frames_to(size_t count) {
  while (frame_count_ > count) {
    const Frame& f = frames_[frame_count_ - 1];
    note(Note::kUnterminatedMultipart);
    if (!f.seen_delimiter) {
      note(Note::kNoDelimiter);
    }
    --frame_count_;
  }
}

void DecoderImpl::on_delimiter(int frame) {
  finish_entity();
  pop_frames_to(static_cast<size_t>(frame) + 1);
  frames_[frame].seen_delimiter = true;
  delim_frame_ = frame;
}

void DecoderImpl::on_delimiter_kind(bool close) {
  const Frame& f = frames_[delim_frame_];
  if (close) {
    frame_count_ = static_cast<size_t>(delim_frame_);
    // Epilogue: read as text, like the preamble, so nothing hides outside the parts.
    start_text_leaf(LeafKind::kText, Charset::kPass, Cte::kIdentity);
    return;
  }
  uint16_t depth = static_cast<uint16_t>(f.depth + 1);
  if (parts_ >= limits_.max_parts) {
    note(Note::kPartLimit);
    state_ = State::kDiscard;
    return;
  }
  start_part(depth);
}

void DecoderImpl::start_part(uint16_t depth) {
  ++parts_;
  ++summary_.part_count;
  depth_ = depth;
  summary_.max_depth = std::max<uint32_t>(summary_.max_depth, depth);
  state_ = State::kHeader;
  header_top_ = false;
  hl_ = HLine::kStart;
  hline_len_ = 0;
  hdr_active_ = false;
  hdr_nul_ = false;
  hdr_len_ = hdr_offered_ = 0;
  section_bytes_ = 0;
  info_.clear();
}

// The header section of the current entity ended: choose how to read its body.
void DecoderImpl::start_body() {
  if (header_top_) {
    in_body_ = true;
    summary_.header_bytes = section_bytes_;
  }
  header_top_ = false;
  std::string_view type = info_.type.view();
  if (type.substr(0, 10) == "multipart/") {
    if (info_.boundary_len == 0) {
      note(Note::kMissingBoundary);
      start_text_leaf(LeafKind::kText, info_.charset, Cte::kIdentity);
      return;
    }
    if (depth_ + 1u > limits_.max_depth || frame_count_ >= limits_.max_depth) {
      note(Note::kDepthLimit);
      state_ = State::kDiscard;
      return;
    }
    Frame& f = frames_[frame_count_++];
    f.boundary = info_.boundary;
    f.len = info_.boundary_len;
    f.depth = depth_;
    f.seen_delimiter = false;
    line_ = Line::kStart;  // the body starts on a new line
    pending_break_ = 0;
    pending_cr_ = false;
    // Preamble: read as text (see on_delimiter_kind).
    start_text_leaf(LeafKind::kText, Charset::kPass, Cte::kIdentity);
    return;
  }
  if ((type == "message/rfc822" || type == "message/global") && info_.cte != Cte::kBase64 &&
      info_.cte != Cte::kQuotedPrintable) {
    if (depth_ + 1u > limits_.max_depth) {
      note(Note::kDepthLimit);
      state_ = State::kDiscard;
      return;
    }
    if (parts_ >= limits_.max_parts) {
      note(Note::kPartLimit);
      state_ = State::kDiscard;
      return;
    }
    start_part(static_cast<uint16_t>(depth_ + 1));
    return;
  }
  LeafKind kind = LeafKind::kOpaque;
  if (type.empty() || type.substr(0, 5) == "text/") {
    kind = type == "text/html" ? LeafKind::kHtml : LeafKind::kText;
  }
  bool attachment = info_.disposition_attachment || info_.has_name || kind == LeafKind::kOpaque;
  if (info_.cte == Cte::kUnknown) {
    note(Note::kUnknownEncoding);
  }
  if (kind != LeafKind::kOpaque && info_.charset == Charset::kUnknown) {
    note(Note::kUnknownCharset);
  }
  start_text_leaf(kind, info_.charset, info_.cte);
  if (attachment) {
    if (summary_.attachment_count < kMaxAttachments) {
      attachment_ = static_cast<int>(summary_.attachment_count++);
      Attachment& a = summary_.attachments[attachment_];
      a = Attachment{};
      a.name = info_.name;
      a.type.assign(type.empty() ? std::string_view("text/plain") : type);
      a.disposition_attachment = info_.disposition_attachment;
      a.depth = static_cast<uint8_t>(std::min<uint16_t>(depth_, 255));
    } else {
      ++summary_.attachments_dropped;
      note(Note::kAttachmentLimit);
    }
  }
}

void DecoderImpl::start_text_leaf(LeafKind kind, Charset cs, Cte cte) {
  state_ = State::kLeaf;
  leaf_ = kind;
  charset_ = cs;
  cte_ = cte;
  attachment_ = -1;
  line_len_ = 0;
  long_line_noted_ = false;
  bad_noted_ = false;
  b64_acc_ = 0;
  b64_n_ = 0;
  qp_state_ = 0;
  hs_ = Html::kText;
  raw_end_ = nullptr;
  hout_len_ = 0;
  last_out_ = '\n';
  us_ = Url::kIdle;
  hist_.fill(' ');
  text_last_ = '\n';
  text_uri_len_ = 0;
  text_uri_trunc_ = false;
}

// The long-line check needs only to know whether some line is longer than max_line_bytes, not
// where each line ends: the current line is short enough iff an LF lies within the next
// max_line_bytes - line_len_ + 1 bytes, and every line between the first and the last LF of
// that window is shorter than it. So one memrchr per window (it scans back from the window's end
// and stops at the last LF: about one line of bytes) replaces one memchr call per line.
void DecoderImpl::leaf_feed(const char* p, size_t n) {
  if (!long_line_noted_) {
    const char* q = p;
    const char* const end = p + n;
    while (q < end) {
      size_t window = limits_.max_line_bytes - line_len_ + 1;  // line_len_ <= max_line_bytes
      size_t avail = static_cast<size_t>(end - q);
      size_t w = std::min(window, avail);
      const char* lf = static_cast<const char*>(memrchr(q, '\n', w));
      if (lf != nullptr) {
        line_len_ = 0;
        q = lf + 1;
        continue;
      }
      if (w == window) {  // max_line_bytes + 1 bytes of one line
        note(Note::kLongLine);
        long_line_noted_ = true;
        break;
      }
      line_len_ += avail;
      break;
    }
  }
  switch (cte_) {
    case Cte::kBase64:
      b64_feed(reinterpret_cast<const unsigned char*>(p), n);
      break;
    case Cte::kQuotedPrintable:
      qp_feed(p, n);
      break;
    case Cte::kIdentity:
    case Cte::kUnknown:
      decoded(p, n);
      break;
  }
}

void DecoderImpl::finish_leaf() {
  transfer_finish();
  if (leaf_ == LeafKind::kHtml) {
    html_finish();
  }
  if (leaf_ != LeafKind::kOpaque) {
    // Each text part ends with a line break, so text of consecutive parts never runs together.
    if (text_last_ != '\n') {
      text_out("\n", 1);
    }
    url_finish();
    chunk_flush(text_, FieldKind::kBodyText);
  }
  attachment_ = -1;
  state_ = State::kDiscard;
}

void DecoderImpl::end() {
  if (mode_ != Mode::kActive) {
    note(Note::kOutOfOrderCall);
    return;
  }
  if (frame_count_ != 0) {
    // Bytes the classifier still holds are content: the message ended, not the line.
    switch (line_) {
      case Line::kMid:
        if (pending_cr_) {
          deliver_all("\r", 1);
        }
        break;
      case Line::kStart:
        release_break();
        break;
      case Line::kCandidate:
        release_break();
        deliver_all(cand_.data(), cand_len_);
        break;
      case Line::kDelimTail:
        on_delimiter_kind(false);
        break;
      case Line::kSkipToEol:
        break;
    }
    pending_cr_ = false;
  }
  if (state_ == State::kHeader && header_top_) {
    if (hdr_active_) {
      finish_header();
      hdr_active_ = false;
    }
    note(Note::kHeaderUnterminated);
    summary_.header_bytes = section_bytes_;
    state_ = State::kDiscard;
  }
  finish_entity();
  pop_frames_to(0);
  chunk_flush(full_, FieldKind::kFull);
  summary_.ended = true;
  ++stats_.ended;
  mode_ = Mode::kDone;
}

void DecoderImpl::abort() {
  if (mode_ != Mode::kActive) {
    note(Note::kOutOfOrderCall);
    return;
  }
  summary_.aborted = true;
  ++stats_.aborted;
  mode_ = Mode::kDone;
}

// Public wrappers.

Decoder::Decoder(FieldSink& sink, const Limits& limits, HeaderScratch* shared)
    : impl_(std::make_unique<DecoderImpl>(sink, limits, shared)) {}
Decoder::~Decoder() = default;
void Decoder::begin_content() { impl_->begin(); }
void Decoder::content(std::string_view chunk) { impl_->content(chunk.data(), chunk.size()); }
void Decoder::end_content() { impl_->end(); }
void Decoder::abort_content() { impl_->abort(); }
const Summary& Decoder::summary() const { return impl_->summary_; }
const Stats& Decoder::stats() const { return impl_->stats_; }
const Limits& Decoder::limits() const { return impl_->limits_; }
void Decoder::set_sink(FieldSink& sink) { impl_->sink_ = &sink; }

void Decoder::prefault() { impl_->prefault(); }

size_t Decoder::memory_bytes(const Limits& limits) {
  Limits l = with_floors(limits);
  return sizeof(Decoder) + sizeof(DecoderImpl) + 2 * static_cast<size_t>(l.chunk_bytes) +
         static_cast<size_t>(l.max_header_bytes) + sizeof(Frame) * l.max_depth +
         2 * static_cast<size_t>(l.max_uri_bytes);
}

}  // namespace smtpgw::mime
