// SpamAssassin's view of body text for `body` rules, as a streaming transform: every run of
// whitespace (space, tab, CR, LF, VT, FF) becomes one character — a newline when the run holds
// two or more line feeds (a paragraph break), otherwise a space. So a paragraph is one line, a
// phrase wrapped by the sender's mailer still reads as one phrase, and `^`/`$` (with /m) anchor
// at paragraph starts and ends. This is SpamAssassin's
//     s/\n+\s*\n+/\f/g;  s/\s+/ /g;  tr/\f/\n/
// applied to its rendered body text (rules/README.md, "Body text").
//
// The output depends only on the bytes fed, never on how they were split into calls. No
// allocation: output is collected in a fixed buffer and handed to the caller's `out` whenever
// the buffer fills, and by finish(). One instance per scan context (one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace smtpgw::scan {

class Paragraphs {
 public:
  static constexpr size_t kBufferBytes = 4096;

  // Normalises `in`. out(std::string_view) receives the output in order, in pieces of at most
  // kBufferBytes (only when the buffer is full; the rest waits for more input or finish()).
  // Cost: one pass over the bytes, 16 at a time where there is nothing to rewrite, and a copy.
  template <typename Out>
  void feed(std::string_view in, Out&& out) {
    const char* p = in.data();
    const char* const end = p + in.size();
    while (p < end) {
      if (in_run_) {
        while (p < end && is_space(*p)) {
          newlines_ += (*p == '\n' && newlines_ < 2) ? 1 : 0;
          ++p;
        }
        if (p == end) {
          return;  // the run may go on in the next call
        }
        put(newlines_ >= 2 ? '\n' : ' ', out);
        in_run_ = false;
        newlines_ = 0;
      }
      const char* start = p;
      p = skip_plain(p, end);
      append(start, static_cast<size_t>(p - start), out);
      if (p < end) {
        in_run_ = true;  // p is whitespace: the loop above consumes the run
      }
    }
  }

  // End of the text: a pending whitespace run becomes its separator; then everything buffered
  // is handed to `out`. The instance is ready for a new text afterwards.
  template <typename Out>
  void finish(Out&& out) {
    if (in_run_) {
      put(newlines_ >= 2 ? '\n' : ' ', out);
    }
    if (len_ != 0) {
      out(std::string_view(buf_, len_));
    }
    reset();
  }

  // Drops everything (an aborted message).
  void reset() {
    len_ = 0;
    in_run_ = false;
    newlines_ = 0;
  }

 private:
  static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

  // The first byte from p that starts a whitespace run needing a rewrite: a control whitespace
  // (TAB..CR), or a space followed by whitespace; `end` if none. Text is mostly words and lone
  // spaces, so 16 bytes are classified at a time (SSE2, always there on x86-64).
  static const char* skip_plain(const char* p, const char* end) {
    for (;;) {
#if defined(__SSE2__)
      while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i t = _mm_sub_epi8(v, _mm_set1_epi8('\t'));
        const int ctl = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(4)), t));
        const int sp = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
        // A space whose next byte is whitespace; the last lane's next byte is not loaded, so
        // a space there stops the block and the scalar step below looks at it.
        const int special = ctl | (sp & ((ctl | sp) >> 1)) | (sp & 0x8000);
        if (special != 0) {
          p += __builtin_ctz(static_cast<unsigned>(special));
          break;
        }
        p += 16;
      }
#endif
      if (p == end) {
        return p;
      }
      if (!is_space(*p)) {
        ++p;
      } else if (*p == ' ' && p + 1 < end && !is_space(p[1])) {
        p += 2;  // a lone space between words is already its own normal form
      } else {
        return p;
      }
    }
  }

  template <typename Out>
  void put(char c, Out& out) {
    if (len_ == kBufferBytes) {
      out(std::string_view(buf_, len_));
      len_ = 0;
    }
    buf_[len_++] = c;
  }

  template <typename Out>
  void append(const char* p, size_t n, Out& out) {
    while (n != 0) {
      if (len_ == kBufferBytes) {
        out(std::string_view(buf_, len_));
        len_ = 0;
      }
      const size_t take = n < kBufferBytes - len_ ? n : kBufferBytes - len_;
      std::memcpy(buf_ + len_, p, take);
      len_ += take;
      p += take;
      n -= take;
    }
  }

  size_t len_ = 0;
  bool in_run_ = false;
  uint8_t newlines_ = 0;  // line feeds in the current run, counted up to 2
  char buf_[kBufferBytes];
};

}  // namespace smtpgw::scan
