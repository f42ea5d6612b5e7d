// Session, server side: reply lines, multi-line replies, matching with pending commands, and
// the EHLO extension list.
#include <algorithm>
#include <cstring>

#include "dataplane/smtp/session_impl.h"
#include "dataplane/text/ascii.h"

namespace smtpgw::smtp {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

using text::iequals;

// RFC 3463 status "c.s.d": c one digit, s and d one to three digits.
size_t enhanced_length(std::string_view t) {
  size_t i = 0;
  if (t.size() < 5 || !is_digit(t[0]) || t[1] != '.') {
    return 0;
  }
  i = 2;
  for (int part = 0; part < 2; ++part) {
    size_t start = i;
    while (i < t.size() && is_digit(t[i]) && i - start < 3) {
      ++i;
    }
    if (i == start) {
      return 0;
    }
    if (part == 0) {
      if (i >= t.size() || t[i] != '.') {
        return 0;
      }
      ++i;
    }
  }
  if (i < t.size() && t[i] != ' ') {
    return 0;
  }
  return i;
}

uint16_t auth_bit(std::string_view mech) {
  AuthMechanism m = iequals(mech, "PLAIN")      ? AuthMechanism::kPlain
                    : iequals(mech, "LOGIN")    ? AuthMechanism::kLogin
                    : iequals(mech, "CRAM-MD5") ? AuthMechanism::kCramMd5
                    : iequals(mech, "XOAUTH2")  ? AuthMechanism::kXoauth2
                                                : AuthMechanism::kOther;
  return static_cast<uint16_t>(1u << static_cast<unsigned>(m));
}

}  // namespace

void parse_reply_codes(std::string_view line, Reply& r) {
  r = Reply{};
  if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2])) {
    r.text.assign(line);
    return;
  }
  r.code = static_cast<uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
  size_t en = enhanced_length(text);
  if (en > 0 && text[0] == line[0] && (line[0] == '2' || line[0] == '4' || line[0] == '5')) {
    r.enhanced.assign(text.substr(0, en));
    text.remove_prefix(en);
    while (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
  }
  r.text.assign(text);
}

void parse_reply_text(std::string_view text, Reply& r) { parse_reply_codes(text, r); }

void Session::Impl::server_data(std::string_view d) {
  // Session::on_server_data has filtered closed, opaque and refused sessions.
  const uint64_t base_off = s.server_off_;
  s.server_off_ += d.size();
  size_t i = 0;
  const uint32_t max = limits.max_reply_line;
  while (i < d.size()) {
    // The 220 to STARTTLS may be followed by nothing we could read.
    if (s.state_ == ClientState::kOpaque) {
      return;
    }
    if (reply_len == 0 && !reply_skip) {
      reply_start = base_off + i;
    }
    const void* lf = std::memchr(d.data() + i, '\n', d.size() - i);
    size_t avail = lf != nullptr
                       ? static_cast<size_t>(static_cast<const char*>(lf) - d.data()) + 1 - i
                       : d.size() - i;
    if (reply_skip) {
      i += avail;
      reply_skip = lf == nullptr;
      continue;
    }
    if (reply_len + avail > max) {
      size_t take = max - reply_len;
      std::memcpy(reply_buf.get() + reply_len, d.data() + i, take);
      reply_len = max;
      anomaly(Counter::kReplyTooLong, s.client_off_);
      reply_skip = lf == nullptr;
      i += avail;
      std::string_view line(reply_buf.get(), reply_len);
      reply_len = 0;
      reply_line(line, false);
      continue;
    }
    if (lf == nullptr) {
      std::memcpy(reply_buf.get() + reply_len, d.data() + i, avail);
      reply_len += static_cast<uint32_t>(avail);
      return;
    }
    std::string_view line;
    if (reply_len == 0) {
      line = d.substr(i, avail);
    } else {
      std::memcpy(reply_buf.get() + reply_len, d.data() + i, avail);
      reply_len += static_cast<uint32_t>(avail);
      line = std::string_view(reply_buf.get(), reply_len);
    }
    reply_len = 0;
    i += avail;
    line.remove_suffix(1);
    bool bare = line.empty() || line.back() != '\r';
    if (!bare) {
      line.remove_suffix(1);
    }
    reply_line(line, bare);
  }
}

// One reply line: "ddd-text" continues a reply, "ddd text" or "ddd" ends it (RFC 5321 4.2).
// A line that is neither is counted and ignored: matching it with a command would shift every
// later reply.
void Session::Impl::reply_line(std::string_view line, bool bare_lf) {
  if (bare_lf) {
    anomaly(Counter::kBareLf, s.client_off_);
  }
  if (std::memchr(line.data(), '\0', line.size()) != nullptr) {
    anomaly(Counter::kNulByte, s.client_off_);
  }
  if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
      (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    anomaly(Counter::kMalformedReply, s.client_off_);
    return;
  }
  uint16_t code =
      static_cast<uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
  bool more = line.size() > 3 && line[3] == '-';
  bool ehlo = pending_count > 0 && pending[pending_head].kind == CmdKind::kEhlo;
  if (!in_multiline) {
    parse_reply_codes(line, cur_reply);
    ml_code = code;
    ml_lines = 1;
    in_multiline = true;
    if (ehlo) {
      ehlo_ext = ServerExtensions{};
    }
  } else {
    if (code != ml_code) {
      anomaly(Counter::kMultilineCodeMismatch, s.client_off_);
    }
    ++ml_lines;
    const std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    if (ehlo && ml_lines <= limits.max_ehlo_lines) {
      ehlo_line(text);
    }
    if (ehlo && s.mask_starttls() &&
        iequals(text.substr(0, text.find_first_of(" =")), "STARTTLS")) {
      s.starttls_at_ = static_cast<uint32_t>(reply_start + 4);  // however many lines the reply has
      s.starttls_ |= 2;
      count(Counter::kStarttlsMasked);
    }
  }
  if (!more) {
    in_multiline = false;
    reply_complete();
  }
}

void Session::Impl::ehlo_line(std::string_view text) {
  size_t sep = text.find_first_of(" =");
  std::string_view kw = text.substr(0, sep);
  std::string_view rest = sep == std::string_view::npos ? std::string_view() : text.substr(sep + 1);
  ServerExtensions& e = ehlo_ext;
  if (iequals(kw, "PIPELINING")) {
    e.pipelining = true;
  } else if (iequals(kw, "CHUNKING")) {
    e.chunking = true;
  } else if (iequals(kw, "STARTTLS")) {
    e.starttls = true;
  } else if (iequals(kw, "8BITMIME")) {
    e.eightbitmime = true;
  } else if (iequals(kw, "SMTPUTF8")) {
    e.smtputf8 = true;
  } else if (iequals(kw, "BINARYMIME")) {
    e.binarymime = true;
  } else if (iequals(kw, "DSN")) {
    e.dsn = true;
  } else if (iequals(kw, "SIZE")) {
    e.size = true;
    uint64_t v = 0;
    size_t k = 0;
    for (; k < rest.size() && k < 19 && is_digit(rest[k]); ++k) {
      v = v * 10 + static_cast<uint64_t>(rest[k] - '0');
    }
    e.size_limit = k > 0 ? v : 0;
  } else if (iequals(kw, "AUTH")) {
    // "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN" form.
    while (!rest.empty()) {
      size_t sp = rest.find(' ');
      std::string_view mech = rest.substr(0, sp);
      if (!mech.empty()) {
        e.auth_mechanisms = static_cast<uint16_t>(e.auth_mechanisms | auth_bit(mech));
      }
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    }
  }
}

bool Session::Impl::partial_may_be_starttls() const {
  if (!s.mask_starttls() || reply_len == 0 || reply_skip || !in_multiline || pending_count == 0 ||
      pending[pending_head].kind != CmdKind::kEhlo) {
    return false;
  }
  const std::string_view p(reply_buf.get(), reply_len);
  for (size_t k = 0; k < 3 && k < p.size(); ++k) {
    if (!is_digit(p[k])) {
      return false;
    }
  }
  if (p.size() <= 4) {
    return p.size() < 4 || p[3] == '-' || p[3] == ' ';
  }
  if (p[3] != '-' && p[3] != ' ') {
    return false;
  }
  const std::string_view rest = p.substr(4);
  const size_t end = rest.find_first_of(" =\r");
  constexpr std::string_view kKeyword = "STARTTLS";
  if (end != std::string_view::npos) {
    return iequals(rest.substr(0, end), kKeyword);  // the keyword is complete
  }
  return rest.size() <= kKeyword.size() && iequals(rest, kKeyword.substr(0, rest.size()));
}

void Session::Impl::reply_complete() {
  count(Counter::kReplies);
  if (pending_count == 0) {
    // RFC 5321 3.8: a server may send 421 at any time before closing; anything else is a
    // reply to nothing we saw.
    if (cur_reply.code != 421) {
      anomaly(Counter::kReplyWithoutCommand, s.client_off_);
    }
    return;
  }
  PendingCmd cmd = pending[pending_head];
  pending_head = (pending_head + 1) % pending_cap;
  --pending_count;
  match_reply(cmd, cur_reply);
  release_ref(cmd.slot, cmd.gen);
}

void Session::Impl::match_reply(const PendingCmd& cmd, const Reply& r) {
  Slot* sl = nullptr;
  if (cmd.slot >= 0 && slots[cmd.slot]->live && slots[cmd.slot]->gen == cmd.gen) {
    sl = slots[cmd.slot].get();
  }
  bool ok = r.code / 100 == 2;
  switch (cmd.kind) {
    case CmdKind::kGreeting:
    case CmdKind::kRset:
    case CmdKind::kQuit:
    case CmdKind::kOther:
      break;
    case CmdKind::kEhlo:
      if (ok) {
        s.ext_ = ehlo_ext;
        s.ext_.esmtp = true;
      }
      break;
    case CmdKind::kHelo:
      if (ok) {
        s.ext_ = ServerExtensions{};
      }
      break;
    case CmdKind::kAuth:
    case CmdKind::kAuthResponse:
      auth_reply(r);
      break;
    case CmdKind::kMail:
      if (sl != nullptr) {
        sl->rec.mail_reply = r;
        if (!ok && sl->rec.reject_stage == RejectStage::kNone) {
          sl->rec.reject_stage = RejectStage::kMail;
        }
      }
      break;
    case CmdKind::kRcpt:
      if (sl != nullptr) {
        if (ok) {
          ++sl->rec.recipients_accepted;
        } else {
          ++sl->rec.recipients_rejected;
        }
        if (RecipientResult* rr = sl->rec.recipient_at(cmd.rcpt)) {
          rr->reply.code = r.code;
          rr->reply.enhanced = r.enhanced;
        }
      }
      break;
    case CmdKind::kData:
      if (sl != nullptr) {
        sl->rec.data_reply = r;
      }
      if (r.code == 354) {
        data_confirmed = true;
        barrier = UINT64_MAX;
        break;
      }
      if (sl != nullptr) {
        MessageRecord& rec = sl->rec;
        if (rec.reject_stage == RejectStage::kNone) {
          rec.reject_stage = rec.recipients_accepted == 0 && rec.recipients_rejected > 0
                                 ? RejectStage::kRcpt
                                 : RejectStage::kData;
        }
        abort_sinks(*sl);
      }
      if (data_ahead || s.state_ != ClientState::kData) {
        // What we parsed as content was commands for the server. Never release it.
        s.frozen_ = std::min(s.frozen_, barrier);
        set_desync(s.client_off_);
      }
      barrier = UINT64_MAX;
      if (s.state_ == ClientState::kData) {
        s.state_ = ClientState::kCommand;
        cmd_start = s.client_off_;
        cmd_len = 0;
      }
      break;
    case CmdKind::kEndOfData:
    case CmdKind::kBdatLast:
      if (sl != nullptr) {
        sl->rec.final_reply = r;
      }
      break;
    case CmdKind::kBdat:
      if (sl != nullptr) {
        sl->rec.data_reply = r;
        if (!ok && sl->rec.reject_stage == RejectStage::kNone) {
          sl->rec.reject_stage = RejectStage::kData;
        }
      }
      break;
    case CmdKind::kStarttls:
      if (s.state_ != ClientState::kStarttls) {
        break;
      }
      if (r.code != 220 && starttls_ahead > 0) {
        // Bytes sent before the refusal were neither TLS nor parsed: never release them.
        s.frozen_ = std::min(s.frozen_, barrier);
      }
      barrier = UINT64_MAX;
      if (r.code == 220) {
        s.state_ = ClientState::kOpaque;
        count(Counter::kOpaque);
      } else {
        s.state_ = ClientState::kCommand;
        cmd_start = s.client_off_;
        s.classified_ = std::max(s.classified_, s.client_off_);
        if (starttls_ahead > 0) {
          set_desync(s.client_off_);
        }
      }
      break;
  }
}

}  // namespace smtpgw::smtp
