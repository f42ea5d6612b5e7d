// Text output: HTML rendering (tags dropped, script/style content dropped, entities decoded,
// whitespace collapsed, block elements as line breaks, href/src links collected) and the URL
// scanner that finds http://, https:// and www. links in all body text.
//
// HTML states (one byte moves at most one state; `>` ends any tag-like state):
//   text ─'<'─► tag-open ─letter/'/'─► tag-name ─► in-tag ⇄ attr-name ─'='─► before-value
//        ─► value (quoted | unquoted) ─► in-tag ─'>'─► text (script/style: raw-text until
//   "</script" / "</style"); "<!--" ─► comment until "-->"; "<!x" and "<?" ─► bogus until '>';
//   '&' in text or a value ─► entity until ';' or a non-name byte. '<' + anything else is text.
// Every link or URL is emitted after the text before it (html_flush first), so fields stay in
// stream order.
#include <algorithm>
#include <cstring>

#include "dataplane/mime/decoder_impl.h"

namespace smtpgw::mime {

namespace {

struct Tables {
  bool html_special[256];  // '<', '&' and whitespace stop a text run
  bool url_char[256];      // may continue a URL
  constexpr Tables() : html_special{}, url_char{} {
    for (int c : {'<', '&', ' ', '\t', '\r', '\n', '\f'}) {
      html_special[c] = true;
    }
    for (int c = 0x21; c < 0x7F; ++c) {
      url_char[c] = true;
    }
    for (int c : {'<', '>', '"', '`', '{', '}', '|', '\\', '^', '\''}) {
      url_char[c] = false;
    }
  }
};
constexpr Tables kT;

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

struct NamedEntity {
  std::string_view name;
  uint32_t cp;
};
// Common named entities; nbsp reads as a plain space so text rules see words.
constexpr NamedEntity kEntities[] = {
    {"amp", '&'},       {"lt", '<'},         {"gt", '>'},        {"quot", '"'},
    {"apos", '\''},     {"nbsp", ' '},       {"copy", 0xA9},     {"reg", 0xAE},
    {"trade", 0x2122},  {"euro", 0x20AC},    {"pound", 0xA3},    {"yen", 0xA5},
    {"cent", 0xA2},     {"sect", 0xA7},      {"deg", 0xB0},      {"plusmn", 0xB1},
    {"times", 0xD7},    {"divide", 0xF7},    {"middot", 0xB7},   {"bull", 0x2022},
    {"hellip", 0x2026}, {"ndash", 0x2013},   {"mdash", 0x2014},  {"lsquo", 0x2018},
    {"rsquo", 0x2019},  {"sbquo", 0x201A},   {"ldquo", 0x201C},  {"rdquo", 0x201D},
    {"bdquo", 0x201E},  {"laquo", 0xAB},     {"raquo", 0xBB},    {"iexcl", 0xA1},
    {"iquest", 0xBF},   {"shy", 0xAD},       {"zwnj", 0x200C},   {"zwj", 0x200D},
    {"lrm", 0x200E},    {"rlm", 0x200F},     {"ensp", ' '},      {"emsp", ' '},
    {"thinsp", ' '},    {"auml", 0xE4},      {"ouml", 0xF6},     {"uuml", 0xFC},
    {"Auml", 0xC4},     {"Ouml", 0xD6},      {"Uuml", 0xDC},     {"szlig", 0xDF},
    {"eacute", 0xE9},   {"egrave", 0xE8},    {"agrave", 0xE0},   {"aacute", 0xE1},
    {"ccedil", 0xE7},   {"ntilde", 0xF1},    {"oacute", 0xF3},   {"iacute", 0xED},
    {"uacute", 0xFA},   {"Eacute", 0xC9},
};

// Invisible characters spammers put inside words to break text rules: dropped.
bool invisible(uint32_t cp) {
  return cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) || cp == 0x2060 || cp == 0xFEFF;
}

bool block_tag(std::string_view t) {
  for (std::string_view b : {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
                             "table", "ul", "ol", "title", "blockquote", "hr"}) {
    if (t == b) {
      return true;
    }
  }
  return false;
}

}  // namespace

// Body text, in kBodyText chunks; cut where the buffer fills so URL fields interleave with the
// chunks at the same places whatever the input split.
void DecoderImpl::text_out(const char* p, size_t n) {
  if (n == 0) {
    return;
  }
  summary_.body_text_bytes += n;
  text_last_ = p[n - 1];
  while (n != 0) {
    size_t seg = std::min(n, chunk_cap_ - text_.len);
    url_scan(p, seg);
    chunk_append(text_, FieldKind::kBodyText, p, seg);
    p += seg;
    n -= seg;
  }
}

void DecoderImpl::emit_uri(std::string_view uri, bool truncated) {
  if (summary_.uri_count >= limits_.max_uris) {
    note(Note::kUriLimit);
    return;
  }
  if (truncated) {
    note(Note::kUriTruncated);
  }
  ++summary_.uri_count;
  emit(FieldKind::kUri, uri);
}

// Finds "http://", "https://" and "www." by their ':' or '.' (memchr: most text has few), then
// looks back (through hist_, the bytes before this call) for the scheme and a word start.
void DecoderImpl::url_scan(const char* p, size_t n) {
  auto put = [&](char c) {
    if (text_uri_len_ < limits_.max_uri_bytes) {
      text_uri_[text_uri_len_++] = c;
    } else {
      text_uri_trunc_ = true;
    }
  };
  // Byte m positions before p[k] (m <= 8).
  auto back = [&](size_t k, size_t m) -> char {
    return k >= m ? p[k - m] : hist_[hist_.size() - (m - k)];
  };
  auto back_is = [&](size_t k, std::string_view word) {
    for (size_t m = 1; m <= word.size(); ++m) {
      if (ascii_lower(back(k, m)) != word[word.size() - m]) {
        return false;
      }
    }
    return !is_alnum(back(k, word.size() + 1));
  };
  const char* colon = nullptr;
  const char* dot = nullptr;
  size_t i = 0;
  while (i < n) {
    switch (us_) {
      case Url::kIdle: {
        if (colon < p + i) {
          colon = static_cast<const char*>(std::memchr(p + i, ':', n - i));
          colon = colon ? colon : p + n;
        }
        if (dot < p + i) {
          dot = static_cast<const char*>(std::memchr(p + i, '.', n - i));
          dot = dot ? dot : p + n;
        }
        const char* q = std::min(colon, dot);
        if (q == p + n) {
          i = n;
          break;
        }
        size_t k = static_cast<size_t>(q - p);
        i = k + 1;
        size_t len = 0;
        if (*q == ':') {
          len = back_is(k, "https") ? 5 : back_is(k, "http") ? 4 : 0;
        } else {
          len = back_is(k, "www") ? 3 : 0;
        }
        if (len == 0) {
          break;
        }
        text_uri_len_ = 0;
        text_uri_trunc_ = false;
        for (size_t m = len; m >= 1; --m) {
          put(back(k, m));
        }
        put(*q);
        if (*q == ':') {
          us_ = Url::kSlash1;
        } else {
          url_prefix_ = 4;
          us_ = Url::kCollect;
        }
        break;
      }
      case Url::kSlash1:
      case Url::kSlash2:
        if (p[i] != '/') {
          us_ = Url::kIdle;  // p[i] is read again
          break;
        }
        put(p[i++]);
        if (us_ == Url::kSlash2) {
          url_prefix_ = static_cast<uint8_t>(text_uri_len_);
          us_ = Url::kCollect;
        } else {
          us_ = Url::kSlash2;
        }
        break;
      case Url::kCollect: {
        size_t j = i;
        while (j < n && kT.url_char[static_cast<unsigned char>(p[j])]) {
          ++j;
        }
        for (size_t k = i; k < j; ++k) {
          put(p[k]);
        }
        i = j;
        if (j < n) {
          url_finish();
        }
        break;
      }
    }
  }
  // Remember the last bytes for the next call's look-behind.
  if (n >= hist_.size()) {
    std::memcpy(hist_.data(), p + n - hist_.size(), hist_.size());
  } else {
    std::memmove(hist_.data(), hist_.data() + n, hist_.size() - n);
    std::memcpy(hist_.data() + hist_.size() - n, p, n);
  }
}

// Ends a URL being collected: trailing sentence punctuation is not part of it.
void DecoderImpl::url_finish() {
  if (us_ == Url::kCollect) {
    std::string_view u(text_uri_.get(), text_uri_len_);
    bool has_open = u.find('(') != std::string_view::npos;
    while (u.size() > url_prefix_) {
      char c = u.back();
      if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' ||
          (c == ')' && !has_open)) {
        u.remove_suffix(1);
      } else {
        break;
      }
    }
    if (u.size() > url_prefix_) {
      emit_uri(u, text_uri_trunc_);
    }
  }
  us_ = Url::kIdle;
}

void DecoderImpl::html_flush() {
  if (hout_len_ != 0) {
    size_t n = hout_len_;
    hout_len_ = 0;
    text_out(hout_.data(), n);
  }
}

void DecoderImpl::html_put(char c) {
  if (hout_len_ == hout_.size()) {
    html_flush();
  }
  hout_[hout_len_++] = c;
  last_out_ = c;
}

void DecoderImpl::html_put(std::string_view s) {
  for (char c : s) {
    html_put(c);
  }
}

void DecoderImpl::attr_put(char c) {
  if (!capture_) {
    return;
  }
  if (attr_uri_len_ < limits_.max_uri_bytes) {
    attr_uri_[attr_uri_len_++] = c;
  } else {
    attr_uri_trunc_ = true;
  }
}

void DecoderImpl::html_value_end() {
  if (capture_) {
    std::string_view v(attr_uri_.get(), attr_uri_len_);
    size_t b = v.find_first_not_of(" \t\r\n");
    if (b != std::string_view::npos) {
      v = v.substr(b, v.find_last_not_of(" \t\r\n") - b + 1);
      html_flush();
      emit_uri(v, attr_uri_trunc_);
    }
  }
  capture_ = false;
}

void DecoderImpl::html_tag_end() {
  hs_ = Html::kText;
  std::string_view t(tag_.data(), tag_len_);
  // A tag ends any URL of the text before it.
  html_flush();
  url_finish();
  if (!tag_closing_ && (t == "script" || t == "style")) {
    hs_ = Html::kRawText;
    raw_end_ = t == "script" ? "</script" : "</style";
    raw_idx_ = 0;
    return;
  }
  if (block_tag(t)) {
    if (last_out_ != '\n') {
      html_put('\n');
    }
  } else if ((t == "td" || t == "th") && last_out_ != ' ' && last_out_ != '\n') {
    html_put(' ');
  }
}

void DecoderImpl::html_entity_end(bool semicolon) {
  hs_ = ent_return_;
  std::string_view name(ent_.data(), ent_len_);
  char buf[8];
  Writer w{buf, sizeof(buf)};
  bool ok = false;
  if (name.size() >= 2 && name[0] == '#') {
    bool hex = name[1] == 'x' || name[1] == 'X';
    std::string_view digits = name.substr(hex ? 2 : 1);
    uint32_t cp = 0;
    ok = !digits.empty();
    for (char c : digits) {
      int d = hex ? text::hex_value(c) : (c >= '0' && c <= '9') ? c - '0' : -1;
      if (d < 0) {
        ok = false;
        break;
      }
      cp = std::min<uint32_t>(cp * (hex ? 16 : 10) + static_cast<uint32_t>(d), 0x110000);
    }
    if (ok && !invisible(cp)) {
      put_utf8(w, cp == 0 ? 0xFFFD : cp);
    }
  } else {
    // Without ';' only the four entities every browser accepts bare.
    bool bare_ok = name == "amp" || name == "lt" || name == "gt" || name == "quot";
    if (semicolon || bare_ok) {
      for (const NamedEntity& e : kEntities) {
        if (e.name == name) {
          ok = true;
          if (!invisible(e.cp)) {
            put_utf8(w, e.cp);
          }
          break;
        }
      }
    }
  }
  if (!ok) {
    w.put('&');
    for (char c : name) {
      w.put(c);
    }
    if (semicolon) {
      w.put(';');
    }
  }
  std::string_view out = w.view();
  if (hs_ == Html::kText) {
    for (char c : out) {
      if (c == ' ' && (last_out_ == ' ' || last_out_ == '\n')) {
        continue;
      }
      html_put(c);
    }
  } else {
    for (char c : out) {
      attr_put(c);
    }
  }
}

void DecoderImpl::html_feed(const char* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    char c = p[i];
    switch (hs_) {
      case Html::kText: {
        size_t j = i;
        while (j < n && !kT.html_special[static_cast<unsigned char>(p[j])]) {
          ++j;
        }
        if (j > i) {
          while (i < j) {
            if (hout_len_ == hout_.size()) {
              html_flush();
            }
            size_t m = std::min(j - i, hout_.size() - hout_len_);
            std::memcpy(hout_.data() + hout_len_, p + i, m);
            hout_len_ += m;
            i += m;
          }
          last_out_ = p[j - 1];
          continue;
        }
        ++i;
        if (c == '<') {
          hs_ = Html::kTagOpen;
        } else if (c == '&') {
          ent_len_ = 0;
          ent_return_ = Html::kText;
          hs_ = Html::kEntity;
        } else {
          while (i < n && is_space(p[i])) {
            ++i;  // a run of whitespace is one space
          }
          if (last_out_ != ' ' && last_out_ != '\n') {
            html_put(' ');
          }
        }
        break;
      }
      case Html::kTagOpen:
        if (is_alpha(c) || c == '/') {
          tag_closing_ = c == '/';
          tag_len_ = 0;
          if (!tag_closing_) {
            tag_[tag_len_++] = ascii_lower(c);
          }
          hs_ = Html::kTagName;
          ++i;
        } else if (c == '!') {
          markup_ = 0;
          hs_ = Html::kMarkup;
          ++i;
        } else if (c == '?') {
          hs_ = Html::kBogus;
          ++i;
        } else {
          html_put('<');
          hs_ = Html::kText;  // c is read again as text
        }
        break;
      case Html::kTagName:
        while (i < n && !is_space(p[i]) && p[i] != '/' && p[i] != '>') {
          if (tag_len_ < tag_.size()) {
            tag_[tag_len_++] = ascii_lower(p[i]);
          }
          ++i;
        }
        if (i == n) {
          break;
        }
        c = p[i];
        ++i;
        if (is_space(c) || c == '/') {
          hs_ = Html::kInTag;
        } else if (c == '>') {
          html_tag_end();
        } else if (tag_len_ < tag_.size()) {
          tag_[tag_len_++] = ascii_lower(c);
        }
        break;
      case Html::kInTag:
        if (c == '>') {
          ++i;
          html_tag_end();
        } else if (is_space(c) || c == '/') {
          ++i;
        } else {
          attr_len_ = 0;
          attr_long_ = false;
          hs_ = Html::kAttrName;
        }
        break;
      case Html::kAttrName:
        // Bulk: name bytes up to a separator.
        while (i < n && !is_space(p[i]) && p[i] != '=' && p[i] != '>' && p[i] != '/') {
          if (attr_len_ < attr_.size()) {
            attr_[attr_len_++] = ascii_lower(p[i]);
          } else {
            attr_long_ = true;
          }
          ++i;
        }
        if (i == n) {
          break;
        }
        c = p[i];
        ++i;
        if (is_space(c)) {
          hs_ = Html::kAfterAttrName;
        } else if (c == '=') {
          hs_ = Html::kBeforeValue;
        } else if (c == '>') {
          html_tag_end();
        } else if (c == '/') {
          hs_ = Html::kInTag;
        } else if (attr_len_ < attr_.size()) {
          attr_[attr_len_++] = ascii_lower(c);
        } else {
          attr_long_ = true;
        }
        break;
      case Html::kAfterAttrName:
        if (is_space(c)) {
          ++i;
        } else if (c == '=') {
          ++i;
          hs_ = Html::kBeforeValue;
        } else if (c == '>') {
          ++i;
          html_tag_end();
        } else {
          hs_ = Html::kInTag;  // a new attribute starts with c
        }
        break;
      case Html::kBeforeValue: {
        if (is_space(c)) {
          ++i;
          break;
        }
        std::string_view a(attr_.data(), attr_len_);
        capture_ = !tag_closing_ && !attr_long_ && (a == "href" || a == "src");
        attr_uri_len_ = 0;
        attr_uri_trunc_ = false;
        if (c == '"' || c == '\'') {
          quote_ = c;
          hs_ = Html::kValueQuoted;
          ++i;
        } else if (c == '>') {
          ++i;
          capture_ = false;
          html_tag_end();
        } else {
          hs_ = Html::kValueUnquoted;
        }
        break;
      }
      case Html::kValueQuoted: {
        // Bulk: the run up to the closing quote or an entity.
        size_t j = i;
        while (j < n && p[j] != quote_ && p[j] != '&') {
          ++j;
        }
        if (j > i) {
          if (capture_) {
            size_t room = limits_.max_uri_bytes - attr_uri_len_;
            size_t m = std::min(j - i, room);
            std::memcpy(attr_uri_.get() + attr_uri_len_, p + i, m);
            attr_uri_len_ += m;
            attr_uri_trunc_ |= m < j - i;
          }
          i = j;
          break;
        }
        c = p[i];
        ++i;
        if (c == quote_) {
          html_value_end();
          hs_ = Html::kInTag;
        } else if (c == '&') {
          ent_len_ = 0;
          ent_return_ = Html::kValueQuoted;
          hs_ = Html::kEntity;
        } else {
          attr_put(c);
        }
        break;
      }
      case Html::kValueUnquoted:
        ++i;
        if (is_space(c)) {
          html_value_end();
          hs_ = Html::kInTag;
        } else if (c == '>') {
          html_value_end();
          html_tag_end();
        } else if (c == '&') {
          ent_len_ = 0;
          ent_return_ = Html::kValueUnquoted;
          hs_ = Html::kEntity;
        } else {
          attr_put(c);
        }
        break;
      case Html::kMarkup:
        if (c == '-' && markup_ == 0) {
          markup_ = 1;
          ++i;
        } else if (c == '-' && markup_ == 1) {
          dashes_ = 0;
          hs_ = Html::kComment;
          ++i;
        } else {
          hs_ = Html::kBogus;  // c is read again: a '>' ends the declaration
        }
        break;
      case Html::kComment:
        ++i;
        if (c == '-') {
          ++dashes_;
        } else if (c == '>' && dashes_ >= 2) {
          hs_ = Html::kText;
        } else {
          dashes_ = 0;
        }
        break;
      case Html::kBogus: {
        const char* gt = static_cast<const char*>(std::memchr(p + i, '>', n - i));
        if (gt == nullptr) {
          return;
        }
        i = static_cast<size_t>(gt - p) + 1;
        hs_ = Html::kText;
        break;
      }
      case Html::kRawText: {
        if (raw_idx_ == 0) {
          const char* lt = static_cast<const char*>(std::memchr(p + i, '<', n - i));
          if (lt == nullptr) {
            return;
          }
          i = static_cast<size_t>(lt - p) + 1;
          raw_idx_ = 1;
          break;
        }
        ++i;
        if (ascii_lower(c) == raw_end_[raw_idx_]) {
          if (raw_end_[++raw_idx_] == '\0') {
            raw_end_ = nullptr;
            raw_idx_ = 0;
            hs_ = Html::kBogus;  // the rest of the end tag
          }
        } else {
          raw_idx_ = c == '<' ? 1 : 0;
        }
        break;
      }
      case Html::kEntity:
        if (is_alnum(c) || (c == '#' && ent_len_ == 0)) {
          if (ent_len_ + 1u >= ent_.size()) {
            html_entity_end(false);  // too long to be an entity: c is read again
            break;
          }
          ent_[ent_len_++] = c;
          ++i;
        } else if (c == ';') {
          ++i;
          html_entity_end(true);
        } else {
          html_entity_end(false);  // c is read again in the state the entity interrupted
        }
        break;
    }
  }
}

void DecoderImpl::html_finish() {
  if (hs_ == Html::kEntity) {
    html_entity_end(false);
  }
  if (hs_ == Html::kValueQuoted || hs_ == Html::kValueUnquoted) {
    html_value_end();
  }
  html_flush();
  hs_ = Html::kText;
}

}  // namespace smtpgw::mime
