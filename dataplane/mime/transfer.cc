// Content-Transfer-Encoding decoders (base64, quoted-printable), streaming: their state between
// calls is a few bits, so a quartet or an escape may be split anywhere. Then charset conversion
// of text to UTF-8 and dispatch to the part's consumer.
#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>  // SSE2 always; AVX2 only in functions built for it, chosen at run time
#endif

#include "dataplane/cpu_features.h"
#include "dataplane/mime/decoder_impl.h"

namespace smtpgw::mime {

namespace {

using text::hex_value;
using text::kBase64Invalid;
using text::kBase64Pad;
using text::kBase64Values;

// Windows-1252 0x80..0x9F; the five undefined bytes map to the C1 control of the same value
// (as the WHATWG encoding standard does).
constexpr uint16_t kCp1252High[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

constexpr size_t kBatch = 4096;

}  // namespace

void Writer::put(std::string_view s) {
  size_t m = std::min(s.size(), cap - len);
  if (m != 0) {
    std::memcpy(data + len, s.data(), m);
  }
  len += m;
  overflow |= m < s.size();
}

Charset parse_charset(std::string_view name) {
  size_t b = name.find_first_not_of(" \t\"");
  if (b == std::string_view::npos) {
    return Charset::kPass;
  }
  name.remove_prefix(b);
  name = name.substr(0, name.find_first_of(" \t\""));
  for (std::string_view s : {"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968"}) {
    if (iequals(name, s)) {
      return Charset::kPass;
    }
  }
  for (std::string_view s : {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1",
                             "cp819", "iso-ir-100"}) {
    if (iequals(name, s)) {
      return Charset::kLatin1;
    }
  }
  for (std::string_view s : {"windows-1252", "cp1252", "x-cp1252"}) {
    if (iequals(name, s)) {
      return Charset::kCp1252;
    }
  }
  return Charset::kUnknown;
}

void put_utf8(Writer& w, uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    cp = 0xFFFD;
  }
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    b[0] = static_cast<char>(0xC0 | (cp >> 6));
    b[1] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = static_cast<char>(0xE0 | (cp >> 12));
    b[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    b[2] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    b[0] = static_cast<char>(0xF0 | (cp >> 18));
    b[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    b[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    b[3] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 4;
  }
  w.put(std::string_view(b, n));
}

size_t byte_to_utf8(Charset cs, unsigned char c, char* out) {
  if (c < 0x80 || cs == Charset::kPass || cs == Charset::kUnknown) {
    out[0] = static_cast<char>(c);
    return 1;
  }
  uint32_t cp = c;
  if (cs == Charset::kCp1252 && c < 0xA0) {
    cp = kCp1252High[c - 0x80];
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  out[0] = static_cast<char>(0xE0 | (cp >> 12));
  out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[2] = static_cast<char>(0x80 | (cp & 0x3F));
  return 3;
}

// Decoded bytes of the current leaf: counted for its attachment record, then converted and
// handed to the text or HTML consumer (opaque parts stop here).
void DecoderImpl::decoded(const char* p, size_t n) {
  if (n == 0) {
    return;
  }
  if (attachment_ >= 0) {
    summary_.attachments[attachment_].decoded_size += n;
  }
  if (leaf_ == LeafKind::kOpaque) {
    return;
  }
  if (charset_ == Charset::kLatin1 || charset_ == Charset::kCp1252) {
    charset_out(p, n);
    return;
  }
  if (leaf_ == LeafKind::kHtml) {
    html_feed(p, n);
  } else {
    text_out(p, n);
  }
}

void DecoderImpl::charset_out(const char* p, size_t n) {
  char buf[kBatch];
  size_t o = 0;
  for (size_t i = 0; i < n; ++i) {
    o += byte_to_utf8(charset_, static_cast<unsigned char>(p[i]), buf + o);
    if (o > kBatch - 4 || i + 1 == n) {
      if (leaf_ == LeafKind::kHtml) {
        html_feed(buf, o);
      } else {
        text_out(buf, o);
      }
      o = 0;
    }
  }
}

// An attachment's base64 is only measured, so only the number of alphabet characters matters,
// not their values: this takes whole 16-byte blocks made of alphabet characters (A-Z a-z 0-9 + /)
// and CR/LF only (an attachment's lines, their breaks included, so a block may straddle them)
// and adds to `sextets` how many of their bytes are alphabet characters. Returns the bytes taken,
// stopping before the first block holding anything else (padding, blanks, invalid characters),
// which the caller's scalar loop reads. SSE2 (always there on x86-64); 0 without it.
// This is text::kBase64Values' alphabet again, as range compares on 16 bytes at a time: kept
// here because a table lookup takes one byte per load, and the vector form is what keeps
// measuring a large attachment cheap. Both must agree on which bytes are alphabet characters.
static size_t b64_count_blocks(const unsigned char* p, size_t n, size_t& sextets) {
  size_t i = 0;
#if defined(__SSE2__)
  // c is in [lo, lo + len) when c + (0x80 - lo), as a signed byte, is below -128 + len: two
  // instructions per range.
  auto in_range = [](__m128i v, char lo, int len) {
    const __m128i t = _mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
    return _mm_cmplt_epi8(t, _mm_set1_epi8(static_cast<char>(-128 + len)));
  };
  const __m128i zero = _mm_setzero_si128();
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i plus = _mm_set1_epi8('+');
  const __m128i lower = _mm_set1_epi8(0x20);  // only A-Z and a-z land in a-z once ORed with it
  // One block: `brk` gets its line breaks (-1 per byte), the result is its valid bytes.
  auto classify = [&](const unsigned char* q, __m128i& brk) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    brk = _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf));
    return _mm_or_si128(
        _mm_or_si128(in_range(_mm_or_si128(v, lower), 'a', 26), in_range(v, '/', 11)),
        _mm_or_si128(_mm_cmpeq_epi8(v, plus), brk));
  };
  // Line-break bytes seen, per byte lane (a compare gives -1 where it matches), summed before a
  // lane can pass 255.
  __m128i breaks = zero;
  size_t breaks_total = 0;
  auto flush = [&] {
    const __m128i sums = _mm_sad_epu8(breaks, zero);  // two 64-bit lane sums
    breaks_total += static_cast<size_t>(_mm_cvtsi128_si64(sums)) +
                    static_cast<size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
    breaks = zero;
  };
  // Four blocks per test while the run lasts (a lane gains at most 4 per round: flush every 63),
  // then single blocks up to the one that ends it.
  unsigned rounds = 0;
  while (i + 64 <= n) {
    __m128i b0, b1, b2, b3;
    const __m128i ok = _mm_and_si128(_mm_and_si128(classify(p + i, b0), classify(p + i + 16, b1)),
                                     _mm_and_si128(classify(p + i + 32, b2),
                                                   classify(p + i + 48, b3)));
    if (_mm_movemask_epi8(ok) != 0xffff) {
      break;
    }
    breaks = _mm_sub_epi8(breaks, _mm_add_epi8(_mm_add_epi8(b0, b1), _mm_add_epi8(b2, b3)));
    i += 64;
    if (++rounds == 63) {
      flush();
      rounds = 0;
    }
  }
  flush();
  while (i + 16 <= n) {
    __m128i b0;
    if (_mm_movemask_epi8(classify(p + i, b0)) != 0xffff) {
      break;
    }
    breaks = _mm_sub_epi8(breaks, b0);
    i += 16;
  }
  flush();  // at most 3 blocks more: fewer than four were left, or one of them was not valid
  sextets += i - breaks_total;
#else
  (void)p;
  (void)n;
  (void)sextets;
#endif
  return i;
}

#if defined(__x86_64__)
// The sum of v's 32 bytes.
[[gnu::target("avx2")]] static inline size_t byte_sum_avx2(__m256i v) {
  const __m256i sums = _mm256_sad_epu8(v, _mm256_setzero_si256());  // four 64-bit lane sums
  return static_cast<size_t>(_mm256_extract_epi64(sums, 0)) +
         static_cast<size_t>(_mm256_extract_epi64(sums, 1)) +
         static_cast<size_t>(_mm256_extract_epi64(sums, 2)) +
         static_cast<size_t>(_mm256_extract_epi64(sums, 3));
}

// b64_count_blocks with 32-byte blocks, two per test; stops before the first 32-byte block that
// is not all alphabet and line breaks (b64_count_blocks then takes 16-byte blocks of the rest).
[[gnu::target("avx2")]] static size_t b64_count_blocks_avx2(const unsigned char* p, size_t n,
                                                           size_t& sextets) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i cr = _mm256_set1_epi8('\r');
  const __m256i lf = _mm256_set1_epi8('\n');
  const __m256i plus = _mm256_set1_epi8('+');
  const __m256i lower = _mm256_set1_epi8(0x20);
  // c in [lo, lo + len) as in b64_count_blocks: shift the range to the bottom of signed bytes.
  const __m256i a_shift = _mm256_set1_epi8(static_cast<char>(0x80 - 'a'));
  const __m256i a_top = _mm256_set1_epi8(static_cast<char>(-128 + 26));
  const __m256i d_shift = _mm256_set1_epi8(static_cast<char>(0x80 - '/'));
  const __m256i d_top = _mm256_set1_epi8(static_cast<char>(-128 + 11));
  size_t i = 0;
  __m256i breaks = zero;
  size_t breaks_total = 0;
  unsigned rounds = 0;
  while (i + 32 <= n) {
    __m256i ok[2];
    __m256i brk[2];
    const bool pair = i + 64 <= n;
    for (int h = 0; h < (pair ? 2 : 1); ++h) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32 * h));
      brk[h] = _mm256_or_si256(_mm256_cmpeq_epi8(v, cr), _mm256_cmpeq_epi8(v, lf));
      const __m256i letter = _mm256_cmpgt_epi8(
          a_top, _mm256_add_epi8(_mm256_or_si256(v, lower), a_shift));
      const __m256i digit = _mm256_cmpgt_epi8(d_top, _mm256_add_epi8(v, d_shift));
      ok[h] = _mm256_or_si256(_mm256_or_si256(letter, digit),
                              _mm256_or_si256(_mm256_cmpeq_epi8(v, plus), brk[h]));
    }
    if (!pair) {
      ok[1] = ok[0];
      brk[1] = zero;
    }
    if (static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_and_si256(ok[0], ok[1]))) !=
        0xffffffffu) {
      break;
    }
    // Line-break bytes per lane (a compare gives -1 where it matches), summed before a lane
    // can pass 255: it gains at most 2 per round.
    breaks = _mm256_sub_epi8(breaks, _mm256_add_epi8(brk[0], brk[1]));
    i += pair ? 64 : 32;
    if (++rounds == 127) {
      breaks_total += byte_sum_avx2(breaks);
      breaks = zero;
      rounds = 0;
    }
  }
  breaks_total += byte_sum_avx2(breaks);
  sextets += i - breaks_total;
  return i;
}
#endif

// b64_count_blocks, 64 bytes per test where the CPU has AVX2.
static size_t b64_count(const unsigned char* p, size_t n, size_t& sextets) {
  size_t i = 0;
#if defined(__x86_64__)
  if (cpu_has_avx2()) {
    i = b64_count_blocks_avx2(p, n, sextets);
  }
#endif
  return i + b64_count_blocks(p + i, n - i, sextets);
}

void DecoderImpl::b64_feed(const unsigned char* p, size_t n) {
  char out[kBatch];
  size_t o = 0;
  uint32_t acc = b64_acc_;
  unsigned k = b64_n_;
  size_t i = 0;
  while (i < n) {
    if (leaf_ == LeafKind::kOpaque) {
      // An attachment is only measured: count its sextets without decoding them (acc keeps
      // whatever it had: only the count of sextets, k, matters for an attachment's size).
      size_t sextets = 0;
      i += b64_count(p + i, n - i, sextets);
      const size_t total = k + sextets;
      if (attachment_ >= 0) {
        summary_.attachments[attachment_].decoded_size += 3 * (total / 4);
      }
      k = static_cast<unsigned>(total % 4);
      if (i >= n) {
        break;
      }
    }
    if (k == 0) {
      // Whole quartets: the common case, one table lookup per character.
      while (i + 4 <= n) {
        uint32_t a = kBase64Values[p[i]], b = kBase64Values[p[i + 1]], c = kBase64Values[p[i + 2]],
                 d = kBase64Values[p[i + 3]];
        if ((a | b | c | d) >= 64) {
          break;
        }
        uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
        out[o] = static_cast<char>(v >> 16);
        out[o + 1] = static_cast<char>(v >> 8);
        out[o + 2] = static_cast<char>(v);
        o += 3;
        i += 4;
        if (o > kBatch - 3) {
          decoded(out, o);
          o = 0;
        }
      }
      if (i >= n) {
        break;
      }
    }
    uint8_t v = kBase64Values[p[i++]];
    if (v < 64) {
      acc = (acc << 6) | v;
      if (++k == 4) {
        out[o] = static_cast<char>(acc >> 16);
        out[o + 1] = static_cast<char>(acc >> 8);
        out[o + 2] = static_cast<char>(acc);
        o += 3;
        k = 0;
        acc = 0;
      }
    } else if (v == kBase64Pad) {
      // Padding ends a group: 2 sextets give one byte, 3 give two; a lone sextet is an error.
      if (k == 2) {
        out[o++] = static_cast<char>(acc >> 4);
      } else if (k == 3) {
        out[o] = static_cast<char>(acc >> 10);
        out[o + 1] = static_cast<char>(acc >> 2);
        o += 2;
      } else if (k == 1 && !bad_noted_) {
        note(Note::kBadBase64);
        bad_noted_ = true;
      }
      k = 0;
      acc = 0;
    } else if (v == kBase64Invalid && !bad_noted_) {
      note(Note::kBadBase64);
      bad_noted_ = true;
    }
    if (o > kBatch - 3) {
      decoded(out, o);
      o = 0;
    }
  }
  decoded(out, o);
  b64_acc_ = acc;
  b64_n_ = static_cast<uint8_t>(k);
}

void DecoderImpl::qp_feed(const char* p, size_t n) {
  char out[kBatch];
  size_t o = 0;
  auto flush_if_full = [&] {
    if (o > kBatch - 3) {
      decoded(out, o);
      o = 0;
    }
  };
  auto bad = [&] {
    if (!bad_noted_) {
      note(Note::kBadQuotedPrintable);
      bad_noted_ = true;
    }
  };
  size_t i = 0;
  while (i < n) {
    flush_if_full();  // the cases below write at most two bytes
    char c = p[i];
    switch (qp_state_) {
      case 0: {
        const char* eq = static_cast<const char*>(std::memchr(p + i, '=', n - i));
        size_t run = (eq ? eq - (p + i) : n - i);
        while (run != 0) {
          size_t m = std::min(run, kBatch - o);
          std::memcpy(out + o, p + i, m);
          o += m;
          i += m;
          run -= m;
          if (o == kBatch) {
            decoded(out, o);
            o = 0;
          }
        }
        if (eq != nullptr) {
          qp_state_ = 1;
          ++i;
        }
        break;
      }
      case 1:
        if (hex_value(c) >= 0) {
          qp_hex1_ = c;
          qp_state_ = 2;
          ++i;
        } else if (c == '\r') {
          qp_state_ = 3;
          ++i;
        } else if (c == '\n') {
          qp_state_ = 0;  // soft line break
          ++i;
        } else {
          bad();
          out[o++] = '=';
          qp_state_ = 0;  // c is read again as plain text
        }
        break;
      case 2:
        if (hex_value(c) >= 0) {
          out[o++] = static_cast<char>(hex_value(qp_hex1_) * 16 + hex_value(c));
          ++i;
        } else {
          bad();
          out[o++] = '=';
          out[o++] = qp_hex1_;
        }
        qp_state_ = 0;
        break;
      case 3:
        qp_state_ = 0;  // "=\r\n" soft break; "=\r" + other: the CR is dropped too
        if (c == '\n') {
          ++i;
        } else {
          bad();
        }
        break;
    }
  }
  decoded(out, o);
}

// End of a leaf's body: the encoder's leftovers.
void DecoderImpl::transfer_finish() {
  if (cte_ == Cte::kBase64) {
    char out[2];
    size_t o = 0;
    if (b64_n_ == 2) {
      out[o++] = static_cast<char>(b64_acc_ >> 4);
    } else if (b64_n_ == 3) {
      out[o++] = static_cast<char>(b64_acc_ >> 10);
      out[o++] = static_cast<char>(b64_acc_ >> 2);
    } else if (b64_n_ == 1 && !bad_noted_) {
      note(Note::kBadBase64);
      bad_noted_ = true;
    }
    b64_n_ = 0;
    b64_acc_ = 0;
    decoded(out, o);
  } else if (cte_ == Cte::kQuotedPrintable) {
    // A final '=' is a soft break whose line break belongs to the next delimiter; "=X" is cut.
    if (qp_state_ == 2) {
      if (!bad_noted_) {
        note(Note::kBadQuotedPrintable);
        bad_noted_ = true;
      }
      char out[2] = {'=', qp_hex1_};
      decoded(out, 2);
    }
    qp_state_ = 0;
  }
}

}  // namespace smtpgw::mime
