// Session, client side: command lines, envelope, AUTH, DATA and BDAT content.
#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>  // SSE2 always; AVX2 only in functions built for it, chosen at run time
#endif

#include "dataplane/cpu_features.h"
#include "dataplane/smtp/session_impl.h"
#include "dataplane/text/ascii.h"

namespace smtpgw::smtp {

namespace {

using text::ascii_lower;
using text::iequals;
using text::istarts_with;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits off the first space-separated token.
std::string_view next_token(std::string_view& s) {
  s = trim(s);
  size_t sp = s.find(' ');
  std::string_view tok = s.substr(0, sp);
  s = sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
  return tok;
}

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) {
    return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

void parse_mail_params(std::string_view s, MailParams& p) {
  while (true) {
    std::string_view tok = next_token(s);
    if (tok.empty()) {
      if (s.empty()) {
        return;
      }
      continue;
    }
    size_t eq = tok.find('=');
    std::string_view key = tok.substr(0, eq);
    std::string_view val = eq == std::string_view::npos ? std::string_view() : tok.substr(eq + 1);
    if (iequals(key, "SIZE")) {
      p.has_size = parse_u64(val, &p.size);
      p.malformed = p.malformed || !p.has_size;
    } else if (iequals(key, "BODY")) {
      p.body = iequals(val, "7BIT")         ? BodyType::k7Bit
               : iequals(val, "8BITMIME")   ? BodyType::k8BitMime
               : iequals(val, "BINARYMIME") ? BodyType::kBinaryMime
                                            : BodyType::kOther;
      p.malformed = p.malformed || p.body == BodyType::kOther;
    } else if (iequals(key, "SMTPUTF8")) {
      p.smtputf8 = true;
    } else if (iequals(key, "RET")) {
      p.ret = iequals(val, "FULL") ? DsnRet::kFull
              : iequals(val, "HDRS") ? DsnRet::kHdrs
                                     : DsnRet::kOther;
      p.malformed = p.malformed || p.ret == DsnRet::kOther;
    } else if (iequals(key, "ENVID")) {
      p.envid.assign(val);
    } else if (!iequals(key, "AUTH")) {
      ++p.unknown_params;
    }
  }
}

// The raw path text for a record when canonicalisation failed: up to the first '>' (included)
// or the first space.
std::string_view raw_path(std::string_view rest) {
  rest = trim(rest);
  size_t gt = rest.find('>');
  if (gt != std::string_view::npos) {
    return rest.substr(0, gt + 1);
  }
  return rest.substr(0, rest.find(' '));
}

// The first LF in d[i, n) that needs the DATA state machine: one without a CR before it
// (`prev_cr` stands for d[i - 1]), or one followed by '.' or by the end of d. n if none.
// Ordinary lines (CRLF, no leading dot) cost no branch of their own: 32 positions are
// classified at a time with SSE2 (always there on x86-64), 64 with AVX2 where the CPU has it,
// which is what lets DATA run at memory speed instead of stopping at every line end.
//
// An LF at k is an event unless d[k - 1] is CR and d[k + 1] is not '.'.
size_t line_event_tail(const char* d, size_t k, size_t n) {
  for (; k < n; ++k) {
    if (d[k] == '\n' && (d[k - 1] != '\r' || k + 1 == n || d[k + 1] == '.')) {
      return k;
    }
  }
  return n;
}

#if defined(__x86_64__)
// Same as the SSE2 loop in next_line_event, 64 positions per test. Reads d[k - 1, n).
[[gnu::target("avx2")]] size_t line_event_avx2(const char* d, size_t k, size_t n) {
  const __m256i lf = _mm256_set1_epi8('\n');
  const __m256i cr = _mm256_set1_epi8('\r');
  const __m256i dot = _mm256_set1_epi8('.');
  while (k + 65 <= n) {  // reads d[k - 1, k + 65)
    __m256i ev[2];
    for (int h = 0; h < 2; ++h) {
      const char* p = d + k + 32 * h;
      __m256i here = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      __m256i before = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p - 1));
      __m256i after = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 1));
      __m256i ordinary =
          _mm256_andnot_si256(_mm256_cmpeq_epi8(after, dot), _mm256_cmpeq_epi8(before, cr));
      ev[h] = _mm256_andnot_si256(ordinary, _mm256_cmpeq_epi8(here, lf));
    }
    __m256i any = _mm256_or_si256(ev[0], ev[1]);
    if (!_mm256_testz_si256(any, any)) {
      uint64_t m = static_cast<uint32_t>(_mm256_movemask_epi8(ev[0])) |
                   static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(ev[1])))
                       << 32;
      return k + static_cast<size_t>(__builtin_ctzll(m));
    }
    k += 64;
  }
  return line_event_tail(d, k, n);
}

#endif

size_t next_line_event(const char* d, size_t i, size_t n, bool prev_cr) {
  if (i < n && d[i] == '\n' && (!prev_cr || i + 1 == n || d[i + 1] == '.')) {
    return i;
  }
  size_t k = i + 1;  // from here d[k - 1] is inside d
#if defined(__x86_64__)
  if (cpu_has_avx2()) {
    return line_event_avx2(d, k, n);
  }
#endif
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i dot = _mm_set1_epi8('.');
  auto events = [&](const char* p) {
    __m128i here = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i before = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p - 1));
    __m128i after = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
    __m128i ordinary = _mm_andnot_si128(_mm_cmpeq_epi8(after, dot), _mm_cmpeq_epi8(before, cr));
    return _mm_andnot_si128(ordinary, _mm_cmpeq_epi8(here, lf));
  };
  while (k + 33 <= n) {  // reads d[k - 1, k + 33)
    __m128i a = events(d + k);
    __m128i b = events(d + k + 16);
    if (_mm_movemask_epi8(_mm_or_si128(a, b)) != 0) {
      unsigned m = static_cast<unsigned>(_mm_movemask_epi8(a)) |
                   static_cast<unsigned>(_mm_movemask_epi8(b)) << 16;
      return k + static_cast<size_t>(__builtin_ctz(m));
    }
    k += 32;
  }
#endif
  return line_event_tail(d, k, n);
}

}  // namespace

void Session::Impl::client_data(std::string_view d) {
  // Session::on_client_data has filtered closed and refused sessions.
  base = s.client_off_;
  size_t i = 0;
  while (i < d.size()) {
    switch (s.state_) {
      case ClientState::kCommand:
        i = command_bytes(d, i);
        break;
      case ClientState::kSkipLine: {
        const void* lf = std::memchr(d.data() + i, '\n', d.size() - i);
        if (lf == nullptr) {
          i = d.size();
        } else {
          i = static_cast<size_t>(static_cast<const char*>(lf) - d.data()) + 1;
          s.state_ = ClientState::kCommand;
          cmd_start = base + i;
        }
        s.classified_ = std::max(s.classified_, base + i);
        break;
      }
      case ClientState::kData:
        i = data_bytes(d, i);
        break;
      case ClientState::kBdat:
        i = bdat_bytes(d, i);
        break;
      case ClientState::kStarttls:
        // RFC 3207: nothing may follow STARTTLS before its reply. Either TLS sent too early or
        // commands injected to be run after the handshake; kept behind the barrier.
        if (starttls_ahead == 0) {
          anomaly(Counter::kClientAheadOfReply, base + i);
        }
        starttls_ahead += d.size() - i;
        i = d.size();
        break;
      case ClientState::kOpaque:
        i = d.size();
        break;
      case ClientState::kRefused:
        data_after_end(base + i);
        i = d.size();
        break;
    }
  }
  s.client_off_ += d.size();
}

size_t Session::Impl::command_bytes(std::string_view d, size_t i) {
  const void* lf = std::memchr(d.data() + i, '\n', d.size() - i);
  size_t avail = lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - d.data()) + 1 - i
                               : d.size() - i;
  if (cmd_len == 0) {
    cmd_start = base + i;
  }
  const uint32_t max = limits.max_command_line;
  if (cmd_len + avail > max) {
    // Over-long: the first max bytes are interpreted, the rest of the line is skipped.
    size_t take = max - cmd_len;
    std::memcpy(cmd_buf.get() + cmd_len, d.data() + i, take);
    cmd_len = max;
    anomaly(Counter::kCommandTooLong, cmd_start);
    size_t next = i + avail;
    bool line_ends_here = lf != nullptr;
    s.state_ = line_ends_here ? ClientState::kCommand : ClientState::kSkipLine;
    s.classified_ = std::max(s.classified_, base + next);
    process_line(std::string_view(cmd_buf.get(), cmd_len), base + next, true);
    cmd_len = 0;
    if (s.state_ == ClientState::kRefused) {
      return i + take;  // the rest of the line came after the refusal
    }
    if (line_ends_here) {
      cmd_start = base + next;
    }
    return next;
  }
  if (lf == nullptr) {
    std::memcpy(cmd_buf.get() + cmd_len, d.data() + i, avail);
    cmd_len += static_cast<uint32_t>(avail);
    s.classified_ = std::max(s.classified_, cmd_start);
    return d.size();
  }
  std::string_view line;
  if (cmd_len == 0) {
    line = d.substr(i, avail);  // whole line in this segment: no copy
  } else {
    std::memcpy(cmd_buf.get() + cmd_len, d.data() + i, avail);
    cmd_len += static_cast<uint32_t>(avail);
    line = std::string_view(cmd_buf.get(), cmd_len);
  }
  uint64_t line_end = base + i + avail;
  s.classified_ = std::max(s.classified_, line_end);
  process_line(line, line_end, false);
  cmd_len = 0;
  if (s.state_ == ClientState::kCommand) {
    cmd_start = line_end;
  }
  return i + avail;
}

void Session::Impl::process_line(std::string_view line, uint64_t line_end, bool truncated) {
  const size_t octets = line.size();  // with its CRLF; a truncated line had more
  if (!truncated) {
    line.remove_suffix(1);  // LF
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    } else {
      anomaly(Counter::kBareLf, cmd_start);
    }
  }
  if (std::memchr(line.data(), '\0', line.size()) != nullptr) {
    anomaly(Counter::kNulByte, cmd_start);
  }
  count(Counter::kCommands);
  if (auth_open && (auth_awaiting > 0 || auth_expected > 0)) {
    auth_response(line, truncated);
    wipe_line();
    return;
  }
  if (limits.command_line_limit != 0 && (truncated || octets > limits.command_line_limit) &&
      !iequals(line.substr(0, line.find(' ')), "AUTH")) {
    anomaly(Counter::kCommandOverLimit, cmd_start);
    if (s.state_ == ClientState::kRefused) {  // the observer stopped the session
      return;
    }
  }
  dispatch(line, line_end, truncated);
}

// Verbs and what follows them (RFC 5321 4.1.1, 3030, 3207, 4954). Verbs whose effect depends
// on knowing exactly where the line ends (DATA, BDAT, STARTTLS) are not obeyed when the line
// was cut: the server answers such a line with an error anyway.
void Session::Impl::dispatch(std::string_view line, uint64_t line_end, bool truncated) {
  size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  std::string_view arg = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  if (iequals(verb, "EHLO") || iequals(verb, "HELO")) {
    cmd_helo(trim(arg), ascii_lower(verb[0]) == 'e');
  } else if (iequals(verb, "MAIL")) {
    cmd_mail(arg);
  } else if (iequals(verb, "RCPT")) {
    cmd_rcpt(arg);
  } else if (iequals(verb, "AUTH")) {
    cmd_auth(arg, truncated);
    wipe_line();
  } else if (iequals(verb, "DATA") || iequals(verb, "BDAT") || iequals(verb, "STARTTLS")) {
    if (truncated || (ascii_lower(verb[0]) != 'b' && !trim(arg).empty())) {
      anomaly(Counter::kMalformedCommand, cmd_start);
      push_pending(CmdKind::kOther, kNoSlot);
    } else if (ascii_lower(verb[0]) == 'd') {
      cmd_data(line_end);
    } else if (ascii_lower(verb[0]) == 'b') {
      cmd_bdat(arg, line_end);
    } else {
      push_pending(CmdKind::kStarttls, kNoSlot);
      s.state_ = ClientState::kStarttls;
      barrier = line_end;
      starttls_ahead = 0;
      raise_hold(HoldKind::kStarttls, cmd_start, kNoSlot);
    }
  } else if (iequals(verb, "RSET")) {
    close_client_txn(cmd_start);
    push_pending(CmdKind::kRset, kNoSlot);
  } else if (iequals(verb, "QUIT")) {
    close_client_txn(cmd_start);
    push_pending(CmdKind::kQuit, kNoSlot);
  } else if (iequals(verb, "NOOP") || iequals(verb, "VRFY") || iequals(verb, "EXPN") ||
             iequals(verb, "HELP") || iequals(verb, "ETRN")) {
    push_pending(CmdKind::kOther, kNoSlot);
  } else {
    anomaly(Counter::kUnknownCommand, cmd_start);
    push_pending(CmdKind::kOther, kNoSlot);
  }
}

bool Session::Impl::path_over_limit(std::string_view rest) {
  if (limits.address_limit == 0) {
    return false;
  }
  std::string_view path = raw_path(rest);
  if (!path.empty() && path.front() == '<') {
    path.remove_prefix(1);
  }
  if (!path.empty() && path.back() == '>') {
    path.remove_suffix(1);
  }
  if (path.size() <= limits.address_limit) {
    return false;
  }
  anomaly(Counter::kAddressOverLimit, cmd_start);
  return s.state_ == ClientState::kRefused;
}

void Session::Impl::cmd_helo(std::string_view arg, bool ehlo) {
  close_client_txn(cmd_start);  // RFC 5321 4.1.4: EHLO/HELO reset the transaction
  s.helo_.assign(arg, kMaxAddress);
  push_pending(ehlo ? CmdKind::kEhlo : CmdKind::kHelo, kNoSlot);
}

void Session::Impl::cmd_mail(std::string_view arg) {
  arg = trim(arg);
  if (!istarts_with(arg, "FROM:")) {
    anomaly(Counter::kMalformedCommand, cmd_start);
    push_pending(CmdKind::kOther, kNoSlot);
    return;
  }
  std::string_view rest = arg.substr(5);
  if (path_over_limit(rest)) {
    return;  // the observer stopped the session
  }
  if (cur != kNoSlot) {
    // A second MAIL is legitimate only after the first was refused.
    const Reply& prev = slots[cur]->rec.mail_reply;
    if (prev.code == 0 || prev.code / 100 == 2) {
      anomaly(Counter::kOutOfSequence, cmd_start);
    }
    close_client_txn(cmd_start);
  }
  int slot = open_slot(cmd_start);
  Slot& sl = *slots[slot];
  MessageRecord& rec = sl.rec;
  size_t used = 0;
  AddressStatus st = parse_path(rest, PathKind::kReversePath, rec.from, &used);
  std::string_view from_text = rec.from.view();
  if (st != AddressStatus::kOk) {
    rec.from_status = st;
    std::string_view raw = raw_path(rest);
    rec.from_raw.assign(raw);
    from_text = rec.from_raw.view();
    used = static_cast<size_t>(raw.data() + raw.size() - rest.data());
    anomaly(Counter::kBadAddress, cmd_start);
  }
  parse_mail_params(rest.substr(used), rec.params);
  sl.fields_open = true;  // the message is open even without a FieldSink (content, size)
  if (fields != nullptr) {
    fields->begin_message();
    if (rec.helo.len > 0) {
      fields->field(Field{FieldKind::kEnvelopeHelo, {}, rec.helo.view(), {}});
    }
    if (rec.auth_user.len > 0) {
      fields->field(Field{FieldKind::kEnvelopeAuth, {}, rec.auth_user.view(), {}});
    }
    fields->field(Field{FieldKind::kEnvelopeFrom, {}, from_text, {}});
  }
  push_pending(CmdKind::kMail, slot);
  raise_hold(HoldKind::kMailFrom, cmd_start, slot);
}

void Session::Impl::cmd_rcpt(std::string_view arg) {
  arg = trim(arg);
  if (!istarts_with(arg, "TO:")) {
    anomaly(Counter::kMalformedCommand, cmd_start);
    push_pending(CmdKind::kOther, kNoSlot);
    return;
  }
  if (cur == kNoSlot) {
    anomaly(Counter::kOutOfSequence, cmd_start);
    push_pending(CmdKind::kOther, kNoSlot);
    return;
  }
  if (path_over_limit(arg.substr(3))) {
    return;  // the observer stopped the session
  }
  int slot = cur;
  Slot& sl = *slots[slot];
  MessageRecord& rec = sl.rec;
  if (++sl.rcpts_sent > limits.max_recipients) {
    // Forwarded (the server enforces its own limit) but neither emitted nor kept; the hold
    // point lets the dataplane refuse it.
    ++rec.recipients_over_limit;
    anomaly(Counter::kTooManyRecipients, cmd_start);
    push_pending(CmdKind::kRcpt, slot);
    raise_hold(HoldKind::kRcptTo, cmd_start, slot);
    return;
  }
  std::string_view rest = arg.substr(3);
  Address a;
  size_t used = 0;
  AddressStatus st = parse_path(rest, PathKind::kForwardPath, a, &used);
  std::string_view text = a.view();
  if (st != AddressStatus::kOk) {
    text = raw_path(rest).substr(0, kMaxAddress);
    anomaly(Counter::kBadAddress, cmd_start);
  }
  uint32_t index = kNoIndex;
  if (rec.add_recipient(text, st) != nullptr) {
    index = rec.recipient_count() - 1;
  } else {
    anomaly(Counter::kRecipientsDropped, cmd_start);
  }
  if (streaming == &sl) {
    // RCPT between BDAT chunks: the envelope fields are already closed for the scanner.
    anomaly(Counter::kOutOfSequence, cmd_start);
  } else if (fields != nullptr && sl.fields_open) {
    fields->field(Field{FieldKind::kEnvelopeRcpt, {}, text, {}});
  }
  push_pending(CmdKind::kRcpt, slot, index);
  raise_hold(HoldKind::kRcptTo, cmd_start, slot);
}

void Session::Impl::cmd_data(uint64_t line_end) {
  if (cur == kNoSlot) {
    anomaly(Counter::kOutOfSequence, cmd_start);
  }
  push_pending(CmdKind::kData, cur);
  // Content is parsed as soon as it comes, but is not released before the 354 (barrier):
  // if the server refuses DATA, what followed was commands, not content.
  s.state_ = ClientState::kData;
  dpos = DataPos::kLineStart;
  data_confirmed = false;
  data_ahead = false;
  barrier = line_end;
  if (cur != kNoSlot) {
    open_content(*slots[cur]);
  }
}

void Session::Impl::cmd_bdat(std::string_view arg, uint64_t line_end) {
  std::string_view rest = arg;
  std::string_view size_tok = next_token(rest);
  std::string_view last_tok = next_token(rest);
  uint64_t n = 0;
  bool ok = parse_u64(size_tok, &n) && trim(rest).empty() &&
            (last_tok.empty() || iequals(last_tok, "LAST"));
  if (!ok) {
    // The server reads a chunk whose length we cannot know: nothing after this is reliable.
    anomaly(Counter::kBadBdatSize, cmd_start);
    push_pending(CmdKind::kOther, kNoSlot);
    set_desync(cmd_start);
    return;
  }
  bool last = !last_tok.empty();
  if (cur == kNoSlot) {
    anomaly(Counter::kOutOfSequence, cmd_start);
  } else {
    Slot& sl = *slots[cur];
    sl.rec.used_bdat = true;
    ++sl.rec.bdat_chunks;
    open_content(sl);
  }
  push_pending(last ? CmdKind::kBdatLast : CmdKind::kBdat, cur);
  bdat_left = n;
  bdat_last = last;
  bdat_end = line_end + n;
  if (n == 0) {
    if (last) {
      end_of_content(line_end, cmd_start);
    }
    return;
  }
  s.state_ = ClientState::kBdat;
  if (last) {
    s.classified_ = std::min(s.classified_, bdat_end - 1);
  }
}

size_t Session::Impl::bdat_bytes(std::string_view d, size_t i) {
  size_t take = static_cast<size_t>(std::min<uint64_t>(bdat_left, d.size() - i));
  emit_content(d.substr(i, take));
  bdat_left -= take;
  i += take;
  if (bdat_left > 0) {
    // The last byte of a LAST chunk is what completes the message for the server.
    uint64_t parsed = bdat_last ? std::min(base + i, bdat_end - 1) : base + i;
    s.classified_ = std::max(s.classified_, parsed);
    return i;
  }
  s.state_ = ClientState::kCommand;
  cmd_start = bdat_end;
  if (bdat_last) {
    s.classified_ = std::max(s.classified_, bdat_end - 1);
    end_of_content(bdat_end, bdat_end - 1);
  }
  s.classified_ = std::max(s.classified_, bdat_end);
  return i;
}

// DATA content: CRLF "." CRLF ends it; a line starting with "." loses that dot (RFC 5321
// 4.5.2). Cases at each byte, by position (DataPos):
//   kLineStart  "."  -> kDot (the dot is never content)     other -> kMid
//   kDot        CR   -> kDotCr                              LF -> suspect, kMid; other -> kMid
//   kDotCr      LF   -> end of data                         other -> emit the CR, kMid
//   kMid        CRLF -> kLineStart    bare LF -> kBareLf (counted; not a line start)
//   kBareLf     "."  -> kBareLfDot                          other -> kMid
//   kBareLfDot  CR/LF-> smuggling suspect (some servers end data at "\n.\r\n" or "\n.\n")
size_t Session::Impl::data_bytes(std::string_view d, size_t i) {
  if (!data_confirmed && !data_ahead) {
    data_ahead = true;
    anomaly(Counter::kClientAheadOfReply, base + i);
  }
  const size_t n = d.size();
  size_t seg = i;
  auto flush = [&](size_t end) {
    if (end > seg) {
      emit_content(d.substr(seg, end - seg));
    }
  };
  while (i < n) {
    switch (dpos) {
      case DataPos::kLineStart:
        if (d[i] == '.') {
          flush(i);
          dot_off = base + i;
          dpos = DataPos::kDot;
          seg = ++i;
        } else {
          dpos = DataPos::kMid;
          mid_prev_cr = false;
        }
        break;
      case DataPos::kDot:
        if (d[i] == '\r') {
          dpos = DataPos::kDotCr;
          seg = ++i;
        } else {
          if (d[i] == '\n') {
            anomaly(Counter::kSmugglingSuspect, base + i);
          }
          dpos = DataPos::kMid;
          mid_prev_cr = false;
        }
        break;
      case DataPos::kDotCr:
        if (d[i] == '\n') {
          ++i;
          push_pending(CmdKind::kEndOfData, cur);
          s.state_ = ClientState::kCommand;
          cmd_start = base + i;
          end_of_content(base + i, dot_off);
          s.classified_ = std::max(s.classified_, base + i);
          return i;
        }
        anomaly(Counter::kDataBareCr, base + i);
        emit_content("\r");
        dpos = DataPos::kMid;
        mid_prev_cr = true;
        seg = i;
        break;
      case DataPos::kBareLf:
        if (d[i] == '.') {
          dpos = DataPos::kBareLfDot;
          ++i;
        } else {
          dpos = DataPos::kMid;
          mid_prev_cr = false;
        }
        break;
      case DataPos::kBareLfDot:
        if (d[i] == '\r' || d[i] == '\n') {
          anomaly(Counter::kSmugglingSuspect, base + i);
        }
        dpos = DataPos::kMid;
        mid_prev_cr = false;
        break;
      case DataPos::kMid: {
        // Hot path: skip every ordinary line end (CRLF not followed by '.') without stopping.
        size_t j = next_line_event(d.data(), i, n, mid_prev_cr);
        if (j == n) {
          mid_prev_cr = d[n - 1] == '\r';
          i = n;
          break;
        }
        bool cr = j > i ? d[j - 1] == '\r' : mid_prev_cr;
        i = j + 1;
        mid_prev_cr = false;
        if (!cr) {
          anomaly(Counter::kDataBareLf, base + j);
          dpos = DataPos::kBareLf;
        } else {
          dpos = DataPos::kLineStart;  // the last byte of d, or a '.' follows
        }
        break;
      }
    }
  }
  flush(n);
  bool pending_dot = dpos == DataPos::kDot || dpos == DataPos::kDotCr;
  s.classified_ = std::max(s.classified_, pending_dot ? dot_off : base + n);
  return n;
}

void Session::Impl::emit_content(std::string_view chunk) {
  if (chunk.empty() || streaming == nullptr) {
    return;
  }
  streamed += chunk.size();
  count(Counter::kContentBytes, chunk.size());
  if (content != nullptr) {
    content->content(chunk);
  }
}

void Session::Impl::end_of_content(uint64_t end_offset, uint64_t hold_offset) {
  if (cur == kNoSlot) {
    return;
  }
  int slot = cur;
  Slot& sl = *slots[slot];
  sl.rec.client_offset_end = end_offset;
  if (streaming == &sl) {
    flush_size();
    streaming = nullptr;
    if (content != nullptr) {
      content->end_content();
    }
  }
  if (sl.fields_open) {
    sl.fields_open = false;
    if (fields != nullptr) {
      fields->end_message();  // the verdict exists when this returns
    }
  }
  sl.client_open = false;
  cur = kNoSlot;
  raise_hold(HoldKind::kEndOfData, hold_offset, slot);
  maybe_finish(slot);
}

}  // namespace smtpgw::smtp
