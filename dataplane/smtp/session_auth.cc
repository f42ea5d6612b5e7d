// Session, AUTH (RFC 4954): which client lines belong to an AUTH exchange, and the user name
// inside them. Secrets are decoded only into a stack buffer that is wiped before returning;
// the line buffer that held the base64 is wiped by the caller.
//
// Which lines are responses: the mechanism predicts how many (PLAIN 1 without an initial
// response, LOGIN 2 or 1, CRAM-MD5 1, XOAUTH2 1 or 0, others 0), and every 334 from the server
// asks for one more. A line is a response while either count is positive and the exchange has
// no final reply yet.
#include <cstring>

#include "dataplane/smtp/session_impl.h"
#include "dataplane/text/ascii.h"

namespace smtpgw::smtp {

namespace {

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

// A user name worth keeping: not empty, no control characters.
bool printable(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace

long base64_decode(std::string_view in, char* out, size_t cap) {
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char ch : in) {
    if (ch == '=') {
      ++pad;
      continue;
    }
    int v = text::base64_value(ch);
    if (v < 0 || pad > 0) {
      return -1;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n >= cap) {
        return -1;
      }
      out[n++] = static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (pad > 2 || bits >= 6) {
    return -1;
  }
  return static_cast<long>(n);
}

void Session::Impl::cmd_auth(std::string_view arg, bool truncated) {
  arg = trim_spaces(arg);
  size_t sp = arg.find(' ');
  std::string_view mech_name = arg.substr(0, sp);
  std::string_view ir =
      sp == std::string_view::npos ? std::string_view() : trim_spaces(arg.substr(sp + 1));
  if (mech_name.empty()) {
    anomaly(Counter::kMalformedCommand, cmd_start);
    push_pending(CmdKind::kOther, kNoSlot);
    return;
  }
  if (auth_open) {
    anomaly(Counter::kOutOfSequence, cmd_start);
  }
  AuthMechanism m = AuthMechanism::kOther;
  {
    // Upper-case copy of the name for comparison; mechanism names are short.
    char name[24];
    size_t n = mech_name.size() < sizeof(name) ? mech_name.size() : sizeof(name);
    for (size_t i = 0; i < n; ++i) {
      char c = mech_name[i];
      name[i] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    }
    std::string_view up(name, n);
    if (up == "PLAIN") {
      m = AuthMechanism::kPlain;
    } else if (up == "LOGIN") {
      m = AuthMechanism::kLogin;
    } else if (up == "CRAM-MD5") {
      m = AuthMechanism::kCramMd5;
    } else if (up == "XOAUTH2") {
      m = AuthMechanism::kXoauth2;
    }
  }
  bool has_ir = !ir.empty();
  auth_open = true;
  auth_mech = m;
  auth_responses = 0;
  auth_payloads = 0;
  auth_awaiting = 0;
  auth_pending_user.clear();
  switch (m) {
    case AuthMechanism::kPlain:
    case AuthMechanism::kXoauth2:
      auth_expected = has_ir ? 0 : 1;
      break;
    case AuthMechanism::kLogin:
      auth_expected = has_ir ? 1 : 2;
      break;
    case AuthMechanism::kCramMd5:
      auth_expected = 1;
      break;
    default:
      auth_expected = 0;
      break;
  }
  push_pending(CmdKind::kAuth, kNoSlot);
  if (has_ir && m != AuthMechanism::kCramMd5) {
    // "=" is an empty initial response (RFC 4954 section 4).
    std::string_view payload = ir == "=" ? std::string_view() : ir;
    if (truncated) {
      anomaly(Counter::kAuthDecodeFailed, cmd_start);
      ++auth_payloads;
    } else {
      extract_user(m, payload, 0);
    }
  }
}

void Session::Impl::auth_response(std::string_view line, bool truncated) {
  if (auth_awaiting > 0) {
    --auth_awaiting;
  }
  if (auth_expected > 0) {
    --auth_expected;
  }
  ++auth_responses;
  push_pending(CmdKind::kAuthResponse, kNoSlot);
  if (line == "*") {
    return;  // cancelled (RFC 4954): the server answers 501
  }
  if (truncated) {
    anomaly(Counter::kAuthDecodeFailed, cmd_start);
    ++auth_payloads;
    return;
  }
  if (m_is_user_payload()) {
    extract_user(auth_mech, trim_spaces(line), auth_responses);
  } else {
    ++auth_payloads;
  }
}

bool Session::Impl::m_is_user_payload() const {
  // The user name travels in the first payload of these mechanisms; for CRAM-MD5 in the
  // answer to the challenge. Later payloads are secrets and are not decoded.
  return auth_payloads == 0 &&
         (auth_mech == AuthMechanism::kPlain || auth_mech == AuthMechanism::kLogin ||
          auth_mech == AuthMechanism::kCramMd5 || auth_mech == AuthMechanism::kXoauth2);
}

void Session::Impl::extract_user(AuthMechanism mech, std::string_view b64, uint32_t step) {
  (void)step;
  ++auth_payloads;
  char buf[1024];
  long n = base64_decode(b64, buf, sizeof(buf));
  std::string_view user;
  if (n >= 0) {
    std::string_view dec(buf, static_cast<size_t>(n));
    switch (mech) {
      case AuthMechanism::kPlain: {
        // authzid NUL authcid NUL passwd (RFC 4616): the identity is authcid.
        size_t a = dec.find('\0');
        size_t b = a == std::string_view::npos ? a : dec.find('\0', a + 1);
        if (b != std::string_view::npos) {
          user = dec.substr(a + 1, b - a - 1);
          if (user.empty()) {
            user = dec.substr(0, a);
          }
        }
        break;
      }
      case AuthMechanism::kLogin:
        user = dec;
        break;
      case AuthMechanism::kCramMd5: {
        // "user SP hex-digest" (RFC 2195): the user may contain spaces, the digest does not.
        size_t sp = dec.rfind(' ');
        if (sp != std::string_view::npos) {
          user = dec.substr(0, sp);
        }
        break;
      }
      case AuthMechanism::kXoauth2: {
        // "user=" user ^A "auth=Bearer " token ^A ^A
        constexpr std::string_view kUser = "user=";
        if (dec.substr(0, kUser.size()) == kUser) {
          size_t end = dec.find('\x01');
          if (end != std::string_view::npos) {
            user = dec.substr(kUser.size(), end - kUser.size());
          }
        }
        break;
      }
      default:
        break;
    }
  }
  bool ok = printable(user);
  if (ok) {
    auth_pending_user.assign(user);
  }
  secure_wipe(buf, sizeof(buf));
  if (!ok) {
    anomaly(Counter::kAuthDecodeFailed, cmd_start);
    return;
  }
  raise_hold(HoldKind::kAuth, cmd_start, cur);
}

void Session::Impl::auth_reply(const Reply& r) {
  if (!auth_open) {
    return;
  }
  if (r.code == 334) {
    ++auth_awaiting;
    return;
  }
  auth_open = false;
  auth_expected = 0;
  auth_awaiting = 0;
  if (r.code / 100 == 2) {
    Address a;
    canonicalise_user(auth_pending_user.view(), a);
    s.auth_user_.assign(a.view(), kMaxAddress);
    s.auth_user_mech_ = auth_mech;
    count(Counter::kAuthSuccess);
  } else {
    count(Counter::kAuthFailure);
  }
  auth_pending_user.clear();
}

}  // namespace smtpgw::smtp
