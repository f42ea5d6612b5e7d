// Lines, header blocks, Content-Type, multipart splitting and transfer decoding for the ARF
// parser (mime.h). Every index is checked against the size of the view it reads.
#include "control/feedback/mime.h"

#include <algorithm>
#include <cstdio>

#include "dataplane/text/ascii.h"

namespace smtpgw::feedback::detail {

namespace {

using text::ascii_lower;
using text::iequals;

constexpr bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) {
    c = ascii_lower(c);
  }
  return o;
}

// RFC 2045 token characters: US-ASCII printable except SPACE and tspecials.
constexpr bool is_token_char(char c) {
  if (c <= ' ' || c >= 127) {
    return false;
  }
  constexpr std::string_view kSpecials = "()<>@,;:\\\"/[]?=";
  return kSpecials.find(c) == std::string_view::npos;
}

// Advances `i` past blanks and comments in `v` (an unclosed comment runs to the end).
void skip_cfws(std::string_view v, size_t& i) {
  while (i < v.size()) {
    if (is_blank(v[i]) || v[i] == '\r' || v[i] == '\n') {
      ++i;
    } else if (v[i] == '(') {
      size_t depth = 0;
      while (i < v.size()) {
        const char c = v[i++];
        if (c == '\\') {
          i += i < v.size() ? 1 : 0;
        } else if (c == '(') {
          ++depth;
        } else if (c == ')' && --depth == 0) {
          break;
        }
      }
    } else {
      return;
    }
  }
}

std::string_view take_token(std::string_view v, size_t& i) {
  const size_t b = i;
  while (i < v.size() && is_token_char(v[i])) {
    ++i;
  }
  return v.substr(b, i - b);
}

}  // namespace

std::optional<std::string_view> Lines::next() {
  if (pos_ >= text_.size()) {
    return std::nullopt;
  }
  begin_ = pos_;
  const size_t lf = text_.find('\n', pos_);
  size_t end = lf == std::string_view::npos ? text_.size() : lf;
  pos_ = lf == std::string_view::npos ? text_.size() : lf + 1;
  if (lf != std::string_view::npos && end > begin_ && text_[end - 1] == '\r') {
    --end;
  }
  ++number_;
  return text_.substr(begin_, end - begin_);
}

std::string quoted(std::string_view s, size_t max) {
  std::string o = "\"";
  const size_t n = std::min(s.size(), max);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c >= 32 && c < 127) {
      o += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      o += buf;
    }
  }
  if (s.size() > max) {
    o += "...";
  }
  o += '"';
  return o;
}

std::optional<Fault> parse_header_block(std::string_view text, size_t max_lines, HeaderMode mode,
                                        HeaderBlock* out) {
  out->fields.clear();
  const bool strict = mode != HeaderMode::kLenient;
  bool open = false;  // the last field may still take continuation lines
  size_t count = 0;
  Lines lines(text);
  while (auto l = lines.next()) {
    if (l->empty()) {
      if (mode == HeaderMode::kReport) {
        open = false;
        continue;
      }
      out->has_body = true;
      out->body_offset = lines.end();
      out->body_line = lines.number() + 1;
      return std::nullopt;
    }
    if (++count > max_lines) {
      return Fault{lines.number(), "more than " + std::to_string(max_lines) + " header lines"};
    }
    if (is_blank(l->front())) {
      if (!open) {
        if (strict && !trim(*l).empty()) {
          return Fault{lines.number(),
                       "continuation line " + quoted(*l) + " with no header field before it"};
        }
        continue;
      }
      const std::string_view more = trim(*l);
      std::string& value = out->fields.back().value;
      if (!more.empty()) {
        if (!value.empty()) {
          value += ' ';
        }
        value.append(more);
      }
      continue;
    }
    const size_t colon = l->find(':');
    std::string_view name = colon == std::string_view::npos ? *l : trim(l->substr(0, colon));
    const bool name_ok =
        colon != std::string_view::npos && !name.empty() &&
        std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 127; });
    if (!name_ok) {
      if (strict) {
        return Fault{lines.number(), colon == std::string_view::npos
                                         ? "line " + quoted(*l) + " is not a header field (no ':')"
                                         : quoted(name) + " is not a header field name"};
      }
      open = false;
      continue;
    }
    out->fields.push_back(
        Field{std::string(name), std::string(trim(l->substr(colon + 1))), lines.number()});
    open = true;
  }
  out->has_body = false;
  out->body_offset = text.size();
  out->body_line = lines.number() + 1;
  return std::nullopt;
}

const Field* find_field(const HeaderBlock& h, std::string_view name, size_t* count) {
  const Field* first = nullptr;
  size_t n = 0;
  for (const Field& f : h.fields) {
    if (iequals(f.name, name)) {
      first = first ? first : &f;
      ++n;
    }
  }
  if (count) {
    *count = n;
  }
  return first;
}

const std::string* ContentType::param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) {
      return &v;
    }
  }
  return nullptr;
}

std::optional<Fault> parse_content_type(std::string_view v, ContentType* out) {
  *out = ContentType{};
  size_t i = 0;
  skip_cfws(v, i);
  const std::string_view type = take_token(v, i);
  skip_cfws(v, i);
  if (type.empty() || i >= v.size() || v[i] != '/') {
    return Fault{0, "Content-Type " + quoted(v) + " is not type/subtype"};
  }
  ++i;
  skip_cfws(v, i);
  const std::string_view subtype = take_token(v, i);
  if (subtype.empty()) {
    return Fault{0, "Content-Type " + quoted(v) + " is not type/subtype"};
  }
  out->type = lower(type);
  out->subtype = lower(subtype);
  while (true) {
    skip_cfws(v, i);
    if (i >= v.size()) {
      return std::nullopt;
    }
    if (v[i] != ';') {
      return Fault{
          0, "Content-Type " + quoted(v) + ": expected ';' before " + quoted(v.substr(i), 20)};
    }
    ++i;
    skip_cfws(v, i);
    if (i >= v.size()) {
      return std::nullopt;  // a trailing ';'
    }
    const std::string_view name = take_token(v, i);
    skip_cfws(v, i);
    if (name.empty() || i >= v.size() || v[i] != '=') {
      return Fault{0, "Content-Type " + quoted(v) + ": parameter " +
                          quoted(name.empty() ? v.substr(i, 20) : name) + " has no value"};
    }
    ++i;
    skip_cfws(v, i);
    std::string value;
    if (i < v.size() && v[i] == '"') {
      ++i;
      bool closed = false;
      while (i < v.size()) {
        const char c = v[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < v.size()) {
          value += v[i++];
        } else {
          value += c;
        }
      }
      if (!closed) {
        return Fault{0, "Content-Type " + quoted(v) + ": the quoted value of parameter " +
                            quoted(name) + " is not closed"};
      }
    } else {
      // Unquoted: a token by RFC 2045, but boundaries with '=' or '?' unquoted are common, so
      // anything up to a blank, ';' or a comment.
      const size_t b = i;
      while (i < v.size() && !is_blank(v[i]) && v[i] != ';' && v[i] != '(' && v[i] != '"') {
        ++i;
      }
      value.assign(v.substr(b, i - b));
    }
    std::string key = lower(name);
    if (!out->param(key)) {
      out->params.emplace_back(std::move(key), std::move(value));
    }
  }
}

std::string strip_comments(std::string_view value) {
  std::string o;
  size_t i = 0;
  while (i < value.size()) {
    if (value[i] == '(') {
      skip_cfws(value, i);
      o += ' ';
    } else {
      o += value[i++];
    }
  }
  return std::string(trim(o));
}

std::optional<Fault> split_multipart(std::string_view body, std::string_view boundary,
                                     size_t max_parts, std::vector<Part>* out) {
  out->clear();
  const std::string delimiter = "--" + std::string(boundary);
  bool seen = false;  // a part is open
  size_t part_begin = 0;
  size_t part_line = 0;
  Lines lines(body);
  while (auto l = lines.next()) {
    if (l->substr(0, delimiter.size()) != delimiter) {
      continue;
    }
    std::string_view rest = l->substr(delimiter.size());
    const bool close = rest.substr(0, 2) == "--";
    if (close) {
      rest.remove_prefix(2);
    }
    if (!trim(rest).empty()) {
      continue;  // "--boundaryX": a longer line, not a delimiter
    }
    if (seen) {
      // The line break before a delimiter belongs to it (RFC 2046 5.1.1).
      size_t end = lines.begin();
      if (end > part_begin) {
        --end;  // the LF
        if (end > part_begin && body[end - 1] == '\r') {
          --end;
        }
      }
      out->push_back(Part{body.substr(part_begin, end - part_begin), part_line});
    }
    if (!close && out->size() == max_parts) {
      return Fault{lines.number(), "more than " + std::to_string(max_parts) + " body parts"};
    }
    if (close) {
      if (out->empty()) {
        return Fault{lines.number(),
                     "the closing delimiter " + quoted(*l) + " comes before any body part"};
      }
      return std::nullopt;
    }
    seen = true;
    part_begin = lines.end();
    part_line = lines.number() + 1;
  }
  if (!seen) {
    return Fault{0, "no line " + quoted(delimiter) + " starts a body part (wrong boundary?)"};
  }
  return Fault{0, "the closing delimiter " + quoted(delimiter + "--") +
                      " is missing: the report is truncated"};
}

std::optional<Encoding> parse_transfer_encoding(std::string_view value) {
  const std::string v = strip_comments(value);
  for (std::string_view identity : {"7bit", "8bit", "binary"}) {
    if (iequals(v, identity)) {
      return Encoding::kIdentity;
    }
  }
  if (iequals(v, "base64")) {
    return Encoding::kBase64;
  }
  if (iequals(v, "quoted-printable")) {
    return Encoding::kQuotedPrintable;
  }
  return std::nullopt;
}

std::string decode_base64(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const uint8_t v = text::kBase64Values[static_cast<unsigned char>(c)];
    if (v == text::kBase64Pad) {
      break;
    }
    if (v >= 64) {
      continue;
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  Lines lines(in);
  while (auto l = lines.next()) {
    std::string_view line = *l;
    while (!line.empty() && is_blank(line.back())) {
      line.remove_suffix(1);
    }
    const bool soft = !line.empty() && line.back() == '=';
    if (soft) {
      line.remove_suffix(1);
    }
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '=' && i + 2 < line.size() && text::hex_value(line[i + 1]) >= 0 &&
          text::hex_value(line[i + 2]) >= 0) {
        out += static_cast<char>(text::hex_value(line[i + 1]) * 16 + text::hex_value(line[i + 2]));
        i += 2;
      } else {
        out += line[i];
      }
    }
    if (!soft && in[lines.end() - 1] == '\n') {
      out += '\n';
    }
  }
  return out;
}

}  // namespace smtpgw::feedback::detail
