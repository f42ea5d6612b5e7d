#include "dataplane/smtp/address.h"

#include <cstring>

#include "dataplane/text/ascii.h"

namespace smtpgw::smtp {

namespace {

using text::ascii_lower;

constexpr std::string_view kStatusNames[] = {
#define SMTPGW_X(name, text) text,
    SMTPGW_ADDRESS_STATUS(SMTPGW_X)
#undef SMTPGW_X
};

// RFC 5322 atext, plus any byte >= 0x80 (RFC 6531 UTF-8 local parts are left as written).
bool is_atext(unsigned char c) {
  if (c >= 0x80) {
    return true;
  }
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr && c != 0;
}

// Domain label characters. '_' is accepted although RFC 5321 has no place for it: real
// hostnames carry it, and refusing it would make the record say less than the server saw.
bool is_label_char(unsigned char c) {
  return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool is_dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') {
    return false;
  }
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') {
        return false;
      }
    } else if (!is_atext(static_cast<unsigned char>(c))) {
      return false;
    }
    prev = c;
  }
  return true;
}

// Writes into a fixed buffer; remembers overflow instead of failing at each call.
struct Writer {
  char* buf;
  size_t cap;
  size_t len = 0;
  bool overflow = false;
  void put(char c) {
    if (len < cap) {
      buf[len++] = c;
    } else {
      overflow = true;
    }
  }
  void put(std::string_view s) {
    for (char c : s) {
      put(c);
    }
  }
};

// Parses a domain (or address literal) at in[pos...], stopping at the first byte that cannot
// belong to it. Writes the canonical form. Returns kOk and sets *end.
AddressStatus parse_domain(std::string_view in, size_t pos, Writer& w, size_t* end) {
  size_t start_len = w.len;
  size_t domain_len = 0;  // canonical length, counted even when the writer is full
  if (pos < in.size() && in[pos] == '[') {
    // Address literal: dtext up to ']' (RFC 5321 4.1.3), lower-cased ("IPv6:" tag and hex).
    w.put('[');
    size_t i = pos + 1;
    for (; i < in.size() && in[i] != ']'; ++i) {
      unsigned char c = static_cast<unsigned char>(in[i]);
      if (c < 33 || c > 126 || c == '[' || c == '\\') {
        return AddressStatus::kBadDomain;
      }
      w.put(ascii_lower(in[i]));
    }
    if (i >= in.size() || i == pos + 1) {
      return AddressStatus::kBadDomain;
    }
    w.put(']');
    *end = i + 1;
    domain_len = *end - pos;
  } else {
    size_t i = pos;
    size_t label = 0;
    while (i < in.size()) {
      unsigned char c = static_cast<unsigned char>(in[i]);
      if (c == '.') {
        if (label == 0) {
          return AddressStatus::kBadDomain;
        }
        label = 0;
        w.put('.');
      } else if (is_label_char(c)) {
        if (++label > 63) {
          return AddressStatus::kBadDomain;
        }
        w.put(ascii_lower(static_cast<char>(c)));
      } else {
        break;
      }
      ++i;
    }
    if (i == pos) {
      return AddressStatus::kBadDomain;
    }
    domain_len = i - pos;
    // One trailing dot is the root; "a.example." and "a.example" are the same sender.
    if (label == 0) {
      if (domain_len <= 1) {
        return AddressStatus::kBadDomain;
      }
      --domain_len;
      if (!w.overflow) {
        --w.len;
      }
    }
    *end = i;
  }
  (void)start_len;
  if (domain_len > kMaxDomain) {
    return AddressStatus::kDomainTooLong;
  }
  return AddressStatus::kOk;
}

// Parses "local@domain" at in[pos...]; sets *end to the first byte after the domain.
AddressStatus parse_mailbox(std::string_view in, size_t pos, Address& out, size_t* end) {
  Writer w{out.text.data(), out.text.size()};
  size_t i = pos;
  if (i < in.size() && in[i] == '"') {
    // Quoted string: collect the unescaped content, then decide how to write it.
    char content[kMaxLocalPart * 2];
    size_t n = 0;
    ++i;
    bool closed = false;
    while (i < in.size()) {
      unsigned char c = static_cast<unsigned char>(in[i]);
      if (c == '"') {
        closed = true;
        ++i;
        break;
      }
      if (c == '\\') {
        if (i + 1 >= in.size()) {
          return AddressStatus::kUnterminatedQuote;
        }
        c = static_cast<unsigned char>(in[i + 1]);
        if (c < 32 || c == 127) {
          return AddressStatus::kBadLocalPart;
        }
        i += 2;
      } else {
        if ((c < 32 && c != '\t') || c == 127) {
          return AddressStatus::kBadLocalPart;
        }
        ++i;
      }
      if (n >= sizeof(content)) {
        return AddressStatus::kLocalPartTooLong;
      }
      content[n++] = static_cast<char>(c);
    }
    if (!closed) {
      return AddressStatus::kUnterminatedQuote;
    }
    std::string_view body(content, n);
    if (is_dot_atom(body)) {
      w.put(body);
    } else {
      w.put('"');
      for (char c : body) {
        if (c == '"' || c == '\\') {
          w.put('\\');
        }
        w.put(c);
      }
      w.put('"');
    }
  } else {
    size_t start = i;
    while (i < in.size() &&
           (in[i] == '.' || is_atext(static_cast<unsigned char>(in[i])))) {
      ++i;
    }
    if (i == start && i >= in.size()) {
      return AddressStatus::kEmpty;
    }
    if (!is_dot_atom(in.substr(start, i - start))) {
      return AddressStatus::kBadLocalPart;
    }
    w.put(in.substr(start, i - start));
  }
  if (w.len > kMaxLocalPart) {
    return AddressStatus::kLocalPartTooLong;
  }
  if (i >= in.size() || in[i] != '@') {
    if (i < in.size() && in[i] != '>' && in[i] != ' ') {
      return AddressStatus::kBadLocalPart;
    }
    return AddressStatus::kNoDomain;
  }
  size_t at = w.len;
  w.put('@');
  AddressStatus st = parse_domain(in, i + 1, w, end);
  if (st != AddressStatus::kOk) {
    return st;
  }
  if (w.overflow) {
    return AddressStatus::kTooLong;
  }
  out.len = static_cast<uint16_t>(w.len);
  out.at = static_cast<uint16_t>(at);
  out.null = false;
  return AddressStatus::kOk;
}

void reset(Address& out) {
  out.len = 0;
  out.at = 0;
  out.null = false;
}

AddressStatus fail(Address& out, AddressStatus s) {
  reset(out);
  return s;
}

}  // namespace

std::string_view address_status_name(AddressStatus s) {
  size_t i = static_cast<size_t>(s);
  return i < kAddressStatusCount ? kStatusNames[i] : std::string_view("invalid");
}

AddressStatus parse_path(std::string_view in, PathKind kind, Address& out, size_t* consumed,
                         bool* bracketless) {
  reset(out);
  if (bracketless != nullptr) {
    *bracketless = false;
  }
  size_t i = 0;
  while (i < in.size() && in[i] == ' ') {
    ++i;
  }
  if (i >= in.size()) {
    return AddressStatus::kEmpty;
  }
  if (in[i] != '<') {
    // "MAIL FROM:user@example.com": not RFC 5321, but sent by real clients and accepted by
    // real servers, so it is parsed (the caller counts it).
    if (bracketless != nullptr) {
      *bracketless = true;
    }
    size_t end = 0;
    AddressStatus st = parse_mailbox(in, i, out, &end);
    if (st != AddressStatus::kOk) {
      return fail(out, st);
    }
    if (end < in.size() && in[end] != ' ') {
      return fail(out, AddressStatus::kBadDomain);
    }
    *consumed = end;
    return AddressStatus::kOk;
  }
  ++i;
  if (i < in.size() && in[i] == '>') {
    if (kind != PathKind::kReversePath) {
      return AddressStatus::kNullNotAllowed;
    }
    out.null = true;
    *consumed = i + 1;
    return AddressStatus::kOk;
  }
  if (i < in.size() && in[i] == '@') {
    // Source route "@a,@b:" (RFC 5321 4.1.2, obsolete): checked, then dropped.
    Address scratch;
    while (true) {
      Writer w{scratch.text.data(), scratch.text.size()};
      size_t end = 0;
      if (i >= in.size() || in[i] != '@' ||
          parse_domain(in, i + 1, w, &end) != AddressStatus::kOk) {
        return fail(out, AddressStatus::kBadSourceRoute);
      }
      i = end;
      if (i < in.size() && in[i] == ',') {
        ++i;
        continue;
      }
      if (i < in.size() && in[i] == ':') {
        ++i;
        break;
      }
      return fail(out, AddressStatus::kBadSourceRoute);
    }
  }
  if (kind == PathKind::kForwardPath) {
    constexpr std::string_view kPostmaster = "postmaster";
    if (in.size() > i + kPostmaster.size() && in[i + kPostmaster.size()] == '>' &&
        text::iequals(in.substr(i, kPostmaster.size()), kPostmaster)) {
      std::memcpy(out.text.data(), kPostmaster.data(), kPostmaster.size());
      out.len = static_cast<uint16_t>(kPostmaster.size());
      out.at = out.len;
      *consumed = i + kPostmaster.size() + 1;
      return AddressStatus::kOk;
    }
  }
  size_t end = 0;
  AddressStatus st = parse_mailbox(in, i, out, &end);
  if (st != AddressStatus::kOk) {
    return fail(out, st);
  }
  if (end >= in.size() || in[end] != '>') {
    return fail(out, end >= in.size() ? AddressStatus::kMissingBracket
                                      : AddressStatus::kBadDomain);
  }
  *consumed = end + 1;
  return AddressStatus::kOk;
}

AddressStatus canonicalise_mailbox(std::string_view mailbox, Address& out) {
  reset(out);
  if (mailbox.empty()) {
    return AddressStatus::kEmpty;
  }
  size_t end = 0;
  AddressStatus st = parse_mailbox(mailbox, 0, out, &end);
  if (st != AddressStatus::kOk) {
    return fail(out, st);
  }
  if (end != mailbox.size()) {
    return fail(out, AddressStatus::kBadDomain);
  }
  return AddressStatus::kOk;
}

void canonicalise_user(std::string_view user, Address& out) {
  if (canonicalise_mailbox(user, out) == AddressStatus::kOk) {
    return;
  }
  size_t n = user.size() < out.text.size() ? user.size() : out.text.size();
  if (n > 0) {
    std::memcpy(out.text.data(), user.data(), n);
  }
  out.len = static_cast<uint16_t>(n);
  out.at = out.len;
  out.null = false;
}

}  // namespace smtpgw::smtp
