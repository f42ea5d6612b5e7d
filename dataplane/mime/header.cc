// Header sections: line reading with unfolding (RFC 5322 2.2.3: a CRLF followed by WSP is
// removed, the WSP kept), RFC 2047 encoded words, Content-* headers with RFC 2231 parameters,
// and the summary of the message's own headers.
//
// A header is complete when the first byte of the next line is neither SP nor HT (or at the
// blank line, or at the end of the section), so its field is emitted at that byte.
#include <algorithm>
#include <cstring>

#include "dataplane/mime/decoder_impl.h"

namespace smtpgw::mime {

namespace {

using text::base64_value;
using text::hex_value;
using text::istarts_with;

constexpr std::string_view kWsp = " \t";

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(kWsp);
  if (b == std::string_view::npos) {
    return {};
  }
  size_t e = s.find_last_not_of(kWsp);
  return s.substr(b, e - b + 1);
}

void put_converted(Writer& out, Charset cs, unsigned char c) {
  char tmp[4];
  size_t n = byte_to_utf8(cs, c, tmp);
  out.put(std::string_view(tmp, n));
}

// Lower-cased first token of a header value (up to ';', WSP or a comment).
std::string_view first_token(std::string_view v) {
  v = trim(v);
  size_t e = v.find_first_of("; \t(");
  return v.substr(0, e);
}

constexpr size_t kMaxHeaderLine = 998;  // RFC 5322 2.1.1, without the CRLF

void lower_into(FixedText<kAttachmentTypeBytes>& dst, std::string_view s) {
  dst.assign(s);
  for (uint16_t i = 0; i < dst.len; ++i) {
    dst.data[i] = ascii_lower(dst.data[i]);
  }
}

}  // namespace

void DecoderImpl::header_append(const char* p, size_t n) {
  if (!hdr_nul_ && n != 0 && std::memchr(p, '\0', n) != nullptr) {
    hdr_nul_ = true;
  }
  hdr_offered_ += n;
  size_t room = limits_.max_header_bytes - hdr_len_;
  size_t m = std::min(n, room);
  std::memcpy(hdr_.get() + hdr_len_, p, m);
  hdr_len_ += m;
}

size_t DecoderImpl::header_feed(const char* p, size_t n) {
  const char* const start = p;
  const char* const end = p + n;
  while (p < end) {
    switch (hl_) {
      case HLine::kStart: {
        char c = *p;
        if (c == ' ' || c == '\t') {
          if (!hdr_active_) {
            // A continuation with nothing to continue: read it as a (garbage) header line.
            hdr_active_ = true;
            hdr_nul_ = false;
            hdr_len_ = hdr_offered_ = 0;
          }
          hl_ = HLine::kIn;
          break;
        }
        if (hdr_active_) {
          finish_header();
          hdr_active_ = false;
        }
        if (c == '\n') {
          ++p;
          ++section_bytes_;
          section_ended_ = true;
          start_body();
          return static_cast<size_t>(p - start);
        }
        if (c == '\r') {
          ++p;
          ++section_bytes_;
          hl_ = HLine::kCr;
          break;
        }
        hdr_active_ = true;
        hdr_nul_ = false;
        hdr_len_ = hdr_offered_ = 0;
        hl_ = HLine::kIn;
        break;
      }
      case HLine::kCr:
        if (*p == '\n') {
          ++p;
          ++section_bytes_;
          section_ended_ = true;
          start_body();
          return static_cast<size_t>(p - start);
        }
        // A lone CR at the start of a line: the line is a (garbage) header starting with it.
        hdr_active_ = true;
        hdr_nul_ = false;
        hdr_len_ = hdr_offered_ = 0;
        header_append("\r", 1);
        hl_ = HLine::kIn;
        break;
      case HLine::kIn: {
        const char* lf = static_cast<const char*>(std::memchr(p, '\n', end - p));
        const char* stop = lf ? lf : end;
        header_append(p, stop - p);
        section_bytes_ += stop - p;
        // 998 octets and the CR: a longer physical line breaks RFC 5322 2.1.1 (noted once).
        const size_t before = hline_len_;
        hline_len_ += static_cast<size_t>(stop - p);
        if (hline_len_ > kMaxHeaderLine + 1 && before <= kMaxHeaderLine + 1) {
          note(Note::kLongHeaderLine);
        }
        p = stop;
        if (lf != nullptr) {
          // Drop the CR of CRLF (when it was kept: a truncated header kept nothing more).
          if (hdr_offered_ == hdr_len_ && hdr_len_ != 0 && hdr_[hdr_len_ - 1] == '\r') {
            --hdr_len_;
            --hdr_offered_;
          }
          ++p;
          ++section_bytes_;
          hline_len_ = 0;
          hl_ = HLine::kStart;
        }
        break;
      }
    }
  }
  return n;
}

void DecoderImpl::finish_header() {
  std::string_view line(hdr_.get(), hdr_len_);
  if (hdr_nul_) {
    note(Note::kNulByte);
  }
  size_t colon = line.find(':');
  std::string_view name = colon == std::string_view::npos ? std::string_view{}
                                                           : trim(line.substr(0, colon));
  bool valid = !name.empty() && (line[0] != ' ' && line[0] != '\t');
  for (char c : name) {
    if (static_cast<unsigned char>(c) <= 32 || static_cast<unsigned char>(c) >= 127) {
      valid = false;
      break;
    }
  }
  if (!valid) {
    note(Note::kGarbageHeader);
    return;
  }
  if (section_bytes_ > limits_.max_header_section_bytes) {
    note(Note::kHeaderSectionLimit);
    return;
  }
  if (hdr_offered_ > hdr_len_) {
    note(Note::kHeaderTruncated);
  }
  std::string_view value = trim(line.substr(colon + 1));
  if (header_top_) {
    Writer w{scratch_->decoded_.get(), scratch_->cap_};
    std::string_view decoded = decode_words(value, w);
    sink_->field(Field{FieldKind::kHeader, name, decoded, value});
    ++summary_.header_count;
    record_summary(name, decoded);
  }
  interpret_entity_header(name, value);
}

void DecoderImpl::record_summary(std::string_view name, std::string_view decoded) {
  for (size_t i = 0; i < kSummaryHeaderCount; ++i) {
    if (iequals(name, summary_header_name(static_cast<SummaryHeader>(i)))) {
      HeaderRecord& r = summary_.headers[i];
      if (r.count == 0) {
        r.value.assign(decoded);
      }
      if (r.count != UINT16_MAX) {
        ++r.count;
      }
      return;
    }
  }
}

void DecoderImpl::interpret_entity_header(std::string_view name, std::string_view value) {
  if (name.size() < 12 || !istarts_with(name, "content-")) {
    return;
  }
  std::string_view rest = name.substr(8);
  if (iequals(rest, "type")) {
    if (info_.type_seen) {
      return;
    }
    info_.type_seen = true;
    std::string_view t = first_token(value);
    size_t slash = t.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == t.size()) {
      t = {};  // invalid: RFC 2045 5.2 says read it as text/plain
    }
    lower_into(info_.type, t);
    size_t semi = value.find(';');
    std::string_view params = semi == std::string_view::npos ? std::string_view{}
                                                              : value.substr(semi + 1);
    char buf[kMaxBoundaryBytes + 1];
    Writer b{buf, sizeof(buf)};
    if (get_param(params, "boundary", false, b)) {
      if (b.len == 0 || b.overflow || b.len > kMaxBoundaryBytes) {
        info_.boundary_bad = true;
      } else {
        std::memcpy(info_.boundary.data(), buf, b.len);
        info_.boundary_len = static_cast<uint16_t>(b.len);
      }
    }
    char cs[64];
    Writer c{cs, sizeof(cs)};
    if (get_param(params, "charset", false, c)) {
      info_.charset = c.overflow ? Charset::kUnknown : parse_charset(c.view());
    }
    if (!info_.name_from_filename) {
      char nb[kAttachmentNameBytes + 1];
      Writer nw{nb, sizeof(nb)};
      if (get_param(params, "name", true, nw)) {
        info_.has_name = true;
        info_.name.assign(nw.view());
        info_.name.truncated |= nw.overflow;
      }
    }
  } else if (iequals(rest, "transfer-encoding")) {
    if (info_.cte_seen) {
      return;
    }
    info_.cte_seen = true;
    std::string_view t = first_token(value);
    if (iequals(t, "base64")) {
      info_.cte = Cte::kBase64;
    } else if (iequals(t, "quoted-printable")) {
      info_.cte = Cte::kQuotedPrintable;
    } else if (t.empty() || iequals(t, "7bit") || iequals(t, "8bit") || iequals(t, "binary")) {
      info_.cte = Cte::kIdentity;
    } else {
      info_.cte = Cte::kUnknown;
    }
  } else if (iequals(rest, "disposition")) {
    if (info_.disposition_seen) {
      return;
    }
    info_.disposition_seen = true;
    info_.disposition_attachment = iequals(first_token(value), "attachment");
    size_t semi = value.find(';');
    if (semi == std::string_view::npos) {
      return;
    }
    char nb[kAttachmentNameBytes + 1];
    Writer nw{nb, sizeof(nb)};
    if (get_param(value.substr(semi + 1), "filename", true, nw)) {
      info_.has_name = true;
      info_.name_from_filename = true;
      info_.name.assign(nw.view());
      info_.name.truncated |= nw.overflow;
    }
  }
}

// RFC 2047: "=?charset?B|Q?text?=" words are decoded to UTF-8; whitespace between two adjacent
// encoded words is dropped; anything malformed stays as written.
std::string_view DecoderImpl::decode_words(std::string_view raw, Writer& out) {
  size_t begin_len = out.len;
  size_t i = 0;
  bool prev_word = false;
  while (i < raw.size()) {
    size_t pos = raw.find("=?", i);
    if (pos == std::string_view::npos) {
      out.put(raw.substr(i));
      break;
    }
    std::string_view between = raw.substr(i, pos - i);
    size_t q1 = raw.find('?', pos + 2);
    bool shaped = q1 != std::string_view::npos && q1 > pos + 2 && q1 + 2 < raw.size() &&
                  raw[q1 + 2] == '?' &&
                  (raw[q1 + 1] == 'B' || raw[q1 + 1] == 'b' || raw[q1 + 1] == 'Q' ||
                   raw[q1 + 1] == 'q');
    std::string_view charset;
    if (shaped) {
      charset = raw.substr(pos + 2, q1 - pos - 2);
      shaped = charset.find_first_of(" \t") == std::string_view::npos;
    }
    size_t end = shaped ? raw.find("?=", q1 + 3) : std::string_view::npos;
    if (end != std::string_view::npos &&
        raw.substr(q1 + 3, end - q1 - 3).find_first_of(" \t") != std::string_view::npos) {
      end = std::string_view::npos;  // an encoded word holds no whitespace (RFC 2047 section 5)
    }
    if (!shaped || end == std::string_view::npos) {
      if (shaped) {
        note(Note::kBadEncodedWord);
      }
      out.put(between);
      out.put("=?");
      i = pos + 2;
      prev_word = false;
      continue;
    }
    bool gap_is_space = between.find_first_not_of(" \t") == std::string_view::npos;
    if (!(prev_word && gap_is_space)) {
      out.put(between);
    }
    size_t star = charset.find('*');  // RFC 2231 language suffix
    Charset cs = parse_charset(charset.substr(0, star));
    if (cs == Charset::kUnknown) {
      note(Note::kUnknownCharset);
    }
    std::string_view text = raw.substr(q1 + 3, end - q1 - 3);
    bool bad = false;
    if (raw[q1 + 1] == 'B' || raw[q1 + 1] == 'b') {
      uint32_t acc = 0;
      int bits = 0;
      for (char c : text) {
        int v = base64_value(c);
        if (v < 0) {
          bad |= c != '=';
          continue;
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          put_converted(out, cs, static_cast<unsigned char>(acc >> bits));
        }
      }
    } else {
      for (size_t k = 0; k < text.size(); ++k) {
        char c = text[k];
        if (c == '_') {
          out.put(' ');
        } else if (c == '=' && k + 2 < text.size() + 0 && hex_value(text[k + 1]) >= 0 &&
                   hex_value(text[k + 2]) >= 0) {
          put_converted(out, cs,
                        static_cast<unsigned char>(hex_value(text[k + 1]) * 16 +
                                                   hex_value(text[k + 2])));
          k += 2;
        } else {
          bad |= c == '=';
          put_converted(out, cs, static_cast<unsigned char>(c));
        }
      }
    }
    if (bad) {
      note(Note::kBadEncodedWord);
    }
    prev_word = true;
    i = end + 2;
  }
  return std::string_view(out.data + begin_len, out.len - begin_len);
}

// One parameter of a Content-Type/Content-Disposition value, RFC 2045 syntax plus RFC 2231
// extensions: want*=charset'lang'%XX..., and continuations want*0, want*1*, ... (in index
// order, up to 32). Extended forms win over the plain one. The value is written to `out` as
// UTF-8 (plain values RFC 2047 decoded when decode_2047). Returns whether the parameter exists.
bool DecoderImpl::get_param(std::string_view params, std::string_view want, bool decode_2047,
                            Writer& out) {
  struct Seg {
    std::string_view value;
    bool quoted = false;
    bool ext = false;
    bool used = false;
  };
  constexpr size_t kMaxSegs = 32;
  Seg segs[kMaxSegs];
  bool any_seg = false;
  std::string_view plain;
  bool plain_quoted = false;
  bool has_plain = false;
  size_t i = 0;
  while (i < params.size()) {
    while (i < params.size() && (params[i] == ';' || params[i] == ' ' || params[i] == '\t')) {
      ++i;
    }
    size_t eq = params.find_first_of("=;", i);
    if (eq == std::string_view::npos || params[eq] == ';') {
      i = eq == std::string_view::npos ? params.size() : eq + 1;
      continue;
    }
    std::string_view attr = trim(params.substr(i, eq - i));
    i = eq + 1;
    while (i < params.size() && (params[i] == ' ' || params[i] == '\t')) {
      ++i;
    }
    std::string_view value;
    bool quoted = false;
    if (i < params.size() && params[i] == '"') {
      quoted = true;
      size_t j = i + 1;
      while (j < params.size() && params[j] != '"') {
        j += params[j] == '\\' ? 2 : 1;
      }
      j = std::min(j, params.size());
      value = params.substr(i + 1, j - i - 1);
      i = j + 1;
    } else {
      size_t j = params.find(';', i);
      j = j == std::string_view::npos ? params.size() : j;
      value = trim(params.substr(i, j - i));
      i = j;
    }
    if (!istarts_with(attr, want)) {
      continue;
    }
    std::string_view suffix = attr.substr(want.size());
    if (suffix.empty()) {
      plain = value;
      plain_quoted = quoted;
      has_plain = true;
      continue;
    }
    if (suffix[0] != '*') {
      continue;
    }
    suffix.remove_prefix(1);
    size_t idx = 0;
    bool ext = true;
    if (!suffix.empty()) {
      size_t d = 0;
      while (d < suffix.size() && d < 3 && suffix[d] >= '0' && suffix[d] <= '9') {
        idx = idx * 10 + static_cast<size_t>(suffix[d] - '0');
        ++d;
      }
      if (d == 0 || !(d == suffix.size() || (d + 1 == suffix.size() && suffix[d] == '*'))) {
        continue;
      }
      ext = d + 1 == suffix.size();
    }
    if (idx < kMaxSegs && !segs[idx].used) {
      segs[idx] = Seg{value, quoted, ext, true};
      any_seg = true;
    }
  }
  auto unquote = [](std::string_view v, bool quoted, Writer& w) {
    for (size_t k = 0; k < v.size(); ++k) {
      if (quoted && v[k] == '\\' && k + 1 < v.size()) {
        ++k;
      }
      w.put(v[k]);
    }
  };
  if (any_seg && segs[0].used) {
    Charset cs = Charset::kPass;
    for (size_t k = 0; k < kMaxSegs && segs[k].used; ++k) {
      std::string_view v = segs[k].value;
      if (!segs[k].ext) {
        unquote(v, segs[k].quoted, out);
        continue;
      }
      if (k == 0) {
        size_t a = v.find('\'');
        size_t b = a == std::string_view::npos ? a : v.find('\'', a + 1);
        if (b != std::string_view::npos) {
          cs = parse_charset(v.substr(0, a));
          if (cs == Charset::kUnknown) {
            note(Note::kUnknownCharset);
          }
          v.remove_prefix(b + 1);
        }
      }
      for (size_t m = 0; m < v.size(); ++m) {
        if (v[m] == '%' && m + 2 < v.size() + 0 && hex_value(v[m + 1]) >= 0 &&
            hex_value(v[m + 2]) >= 0) {
          put_converted(out, cs,
                        static_cast<unsigned char>(hex_value(v[m + 1]) * 16 + hex_value(v[m + 2])));
          m += 2;
        } else {
          put_converted(out, cs, static_cast<unsigned char>(v[m]));
        }
      }
    }
    return true;
  }
  if (!has_plain) {
    return false;
  }
  if (!decode_2047) {
    unquote(plain, plain_quoted, out);
    return true;
  }
  Writer tmp{scratch_->parameter_.get(), scratch_->cap_};
  unquote(plain, plain_quoted, tmp);
  decode_words(tmp.view(), out);
  return true;
}

}  // namespace smtpgw::mime
