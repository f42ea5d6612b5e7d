// The e-mail sink: the message format (RFC 5322 headers, RFC 2047 subject, 7bit or
// quoted-printable body) and a small SMTP client over a plain TCP socket.
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "control/alerts/sinks.h"
#include "control/alerts/sinks_internal.h"
#include "control/codec/base64.h"

namespace smtpgw::alerts {
namespace {

constexpr size_t kMaxLine = 998;  // RFC 5322 2.1.1, CRLF excluded

bool is_ascii_text(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u >= 0x7f) {
      return false;
    }
  }
  return true;
}

// Control characters, CR and LF first among them, become spaces: a header value built from an
// alert (a sender address off the wire) can never start a header or a body of its own.
std::string header_text(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      c = ' ';
    }
  }
  return out;
}

// The longest prefix of `s` of at most `max` bytes that does not cut a UTF-8 sequence.
size_t utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) {
    return s.size();
  }
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
    --n;
  }
  return n;
}

// A header value as is when it is printable ASCII; otherwise RFC 2047 encoded-words of whole
// UTF-8 characters, each within the 75-character limit, folded onto continuation lines.
std::string encode_header_value(std::string_view s) {
  if (is_ascii_text(s)) {
    return std::string(s);
  }
  std::string out;
  while (!s.empty()) {
    // 39 bytes -> 52 base64 characters + 12 of framing: the first line, after "Subject: ",
    // stays within 76.
    size_t n = utf8_prefix(s, 39);
    if (n == 0) {
      n = 1;  // not UTF-8 at all: go on byte by byte rather than loop
    }
    if (!out.empty()) {
      out += "\r\n ";
    }
    out += "=?utf-8?B?" + codec::base64_encode(s.substr(0, n)) + "?=";
    s.remove_prefix(n);
  }
  return out;
}

// RFC 2045 6.7: every byte but printable ASCII (and space or tab not at a line's end) as =XX,
// '=' included; soft line breaks keep lines within 76 characters. `text` has CRLF line ends.
std::string quoted_printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find("\r\n", start);
    const bool last = end == std::string_view::npos;
    if (last) {
      end = text.size();
    }
    const std::string_view line = text.substr(start, end - start);
    size_t col = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      const auto u = static_cast<unsigned char>(line[i]);
      const bool at_end = i + 1 == line.size();
      std::string piece;
      if ((u >= 33 && u <= 126 && u != '=') || ((u == ' ' || u == '\t') && !at_end)) {
        piece.assign(1, static_cast<char>(u));
      } else {
        piece = {'=', kHex[u >> 4], kHex[u & 15]};
      }
      if (col + piece.size() > 75) {
        out += "=\r\n";
        col = 0;
      }
      out += piece;
      col += piece.size();
    }
    if (last) {
      break;
    }
    out += "\r\n";
    start = end + 2;
  }
  return out;
}

// Any of CRLF, CR, LF becomes CRLF.
std::string crlf_lines(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 < s.size() && s[i + 1] == '\n') {
        ++i;
      }
      out += "\r\n";
    } else if (s[i] == '\n') {
      out += "\r\n";
    } else {
      out += s[i];
    }
  }
  return out;
}

bool lines_fit(std::string_view text) {
  size_t start = 0;
  for (;;) {
    const size_t end = text.find("\r\n", start);
    const size_t len = (end == std::string_view::npos ? text.size() : end) - start;
    if (len > kMaxLine) {
      return false;
    }
    if (end == std::string_view::npos) {
      return true;
    }
    start = end + 2;
  }
}

// Printable ASCII, tab and CRLF only, every line within the limit: sendable as it is.
bool is_7bit(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\r' && c != '\n') || u >= 0x7f) {
      return false;
    }
  }
  return lines_fit(text);
}

std::string domain_of(std::string_view address) {
  const size_t at = address.rfind('@');
  return std::string(at == std::string_view::npos ? "localhost" : address.substr(at + 1));
}

}  // namespace

std::string rfc5322_date(uint64_t unix_ns) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const time_t t = static_cast<time_t>(unix_ns / 1'000'000'000ull);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string email_message(const Alert& a, const EmailOptions& o, std::string_view message_id) {
  // 200 bytes of subject keep the header readable and far from the line limit.
  std::string subject = header_text(std::string("[smtpgw] ") + severity(a.kind) + ": " +
                                    kind_name(a.kind) + " " + a.subject);
  if (subject.size() > 200) {
    subject.resize(utf8_prefix(subject, 197));
    subject += "...";
  }
  std::string body = crlf_lines(a.message) + "\r\n\r\n";
  body += std::string("kind:     ") + kind_name(a.kind) + "\r\n";
  body += std::string("severity: ") + severity(a.kind) + "\r\n";
  body += "subject:  " + header_text(a.subject) + "\r\n";
  body +=
      "raised:   " + rfc5322_date(a.unix_ns) + " (unix_ns " + std::to_string(a.unix_ns) + ")\r\n";
  if (!a.details.is_null()) {
    body += "\r\ndetails:\r\n" +
            crlf_lines(a.details.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) +
            "\r\n";
  }
  std::string text_body;
  const char* encoding;
  if (is_7bit(body)) {
    encoding = "7bit";
    text_body = std::move(body);
  } else {
    encoding = "quoted-printable";
    text_body = quoted_printable(body);
  }
  std::string m;
  m += "Date: " + rfc5322_date(a.unix_ns) + "\r\n";
  m += "From: " + o.from + "\r\n";
  m += "To: ";
  for (size_t i = 0; i < o.to.size(); ++i) {
    m += (i == 0 ? "" : ",\r\n    ") + o.to[i];
  }
  m += "\r\n";
  m += "Subject: " + encode_header_value(subject) + "\r\n";
  m += "Message-ID: " + header_text(message_id) + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += std::string("Content-Transfer-Encoding: ") + encoding + "\r\n";
  m += "Auto-Submitted: auto-generated\r\n";  // RFC 3834: no vacation replies to the gateway
  m += "\r\n";
  m += text_body;
  return m;
}

std::string dot_stuff(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  bool line_start = true;
  for (size_t i = 0; i < data.size(); ++i) {
    if (line_start && data[i] == '.') {
      out += '.';
    }
    out += data[i];
    line_start = data[i] == '\n';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
namespace {

using std::chrono::milliseconds;

// One SMTP conversation on a plain TCP socket. Every wait polls the socket together with
// `wake_fd`, so interrupt() (an eventfd written once) ends any of them at once.
class SmtpConversation {
 public:
  SmtpConversation(int wake_fd, milliseconds timeout) : wake_fd_(wake_fd), timeout_(timeout) {}
  ~SmtpConversation() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  SmtpConversation(const SmtpConversation&) = delete;
  SmtpConversation& operator=(const SmtpConversation&) = delete;

  // Tries each address of host:port in turn. The name lookup itself is not interruptible
  // (getaddrinfo); a relay given as an address needs none.
  bool connect(const std::string& host, uint16_t port, std::string* error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
    if (rc != 0) {
      *error = "relay " + host + ": " + gai_strerror(rc);
      return false;
    }
    std::string why = "no address";
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
      fd_ =
          ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd_ < 0) {
        why = std::strerror(errno);
        continue;
      }
      if (::connect(fd_, ai->ai_addr, ai->ai_addrlen) == 0) {
        ::freeaddrinfo(list);
        return true;
      }
      if (errno != EINPROGRESS) {
        why = std::strerror(errno);
      } else if (wait(POLLOUT, &why) && connected(&why)) {
        ::freeaddrinfo(list);
        return true;
      }
      ::close(fd_);
      fd_ = -1;
    }
    ::freeaddrinfo(list);
    *error = "connect to " + host + ":" + std::to_string(port) + ": " + why;
    return false;
  }

  bool send(std::string_view data, std::string* error) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLOUT, error)) {
          *error = "send: " + *error;
          return false;
        }
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        *error = std::string("send: ") + std::strerror(errno);
        return false;
      }
    }
    return true;
  }

  // One reply, multi-line ones whole. Returns its code (200..599 as sent), or 0 with `error`
  // for a closed connection, a timeout or a reply that is not SMTP. `text` is its last line.
  int reply(std::string* text, std::string* error) {
    int code = 0;
    for (int lines = 0; lines < 100; ++lines) {
      std::string line;
      if (!read_line(&line, error)) {
        return 0;
      }
      if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
          !std::isdigit(static_cast<unsigned char>(line[1])) ||
          !std::isdigit(static_cast<unsigned char>(line[2])) ||
          (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        *error = "not an SMTP reply: " + header_text(line.substr(0, 80));
        return 0;
      }
      const int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
      if (code != 0 && c != code) {
        *error = "a multi-line reply changed its code";
        return 0;
      }
      code = c;
      if (line.size() == 3 || line[3] == ' ') {
        *text = header_text(line);
        return code;
      }
    }
    *error = "a reply of more than 100 lines";
    return 0;
  }

 private:
  bool wait(short events, std::string* error) {
    pollfd p[2] = {{fd_, events, 0}, {wake_fd_, POLLIN, 0}};
    for (;;) {
      const int n = ::poll(p, 2, static_cast<int>(timeout_.count()));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        *error = std::strerror(errno);
        return false;
      }
      if (n == 0) {
        *error = "timed out after " + std::to_string(timeout_.count()) + " ms";
        return false;
      }
      if (p[1].revents != 0) {
        *error = "stopped";
        return false;
      }
      return true;  // ready, or an error the next call on the socket reports
    }
  }

  bool connected(std::string* error) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = errno;
    }
    if (err != 0) {
      *error = std::strerror(err);
      return false;
    }
    return true;
  }

  // A line without its CRLF (a bare LF is taken too). 4096 bytes at most: RFC 5321 allows 512.
  bool read_line(std::string* line, std::string* error) {
    for (;;) {
      const size_t lf = buf_.find('\n');
      if (lf != std::string::npos) {
        *line = buf_.substr(0, lf > 0 && buf_[lf - 1] == '\r' ? lf - 1 : lf);
        buf_.erase(0, lf + 1);
        return true;
      }
      if (buf_.size() > 4096) {
        *error = "a reply line longer than 4096 bytes";
        return false;
      }
      char chunk[1024];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
      } else if (n == 0) {
        *error = "the relay closed the connection";
        return false;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait(POLLIN, error)) {
          *error = "waiting for a reply: " + *error;
          return false;
        }
      } else if (errno != EINTR) {
        *error = std::string("recv: ") + std::strerror(errno);
        return false;
      }
    }
  }

  int fd_ = -1;
  int wake_fd_;
  milliseconds timeout_;
  std::string buf_;
};

class EmailDeliverer : public detail::Deliverer {
 public:
  explicit EmailDeliverer(EmailOptions o) : o_(std::move(o)) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      throw std::runtime_error(std::string("email: eventfd: ") + std::strerror(errno));
    }
    if (o_.helo.empty()) {
      char name[256] = {};
      ::gethostname(name, sizeof name - 1);
      o_.helo = name;
    }
    std::string helo;  // only what a host name may hold: nothing can break the command line
    for (char c : o_.helo) {
      if (detail::is_host_char(c)) {
        helo += c;
      }
    }
    o_.helo = helo.empty() ? "localhost" : helo;
  }
  ~EmailDeliverer() override { ::close(wake_fd_); }

  detail::Outcome deliver(const Alert& a, milliseconds timeout, std::string* error) override {
    SmtpConversation c(wake_fd_, timeout);
    if (!c.connect(o_.relay_host, o_.relay_port, error)) {
      return detail::Outcome::kRetry;
    }
    std::string text;
    // Each step: what it is (for errors), the command sent (none for the greeting and after
    // the message), the codes that mean go on.
    auto step = [&](const std::string& what, const std::string& command, int ok1, int ok2,
                    int* code) {
      *code = 0;
      if (!command.empty() && !c.send(command + "\r\n", error)) {
        *error = what + ": " + *error;
        return false;
      }
      *code = c.reply(&text, error);
      if (*code == 0) {
        *error = what + ": " + *error;
        return false;
      }
      if (*code != ok1 && *code != ok2) {
        *error = what + ": the relay answered " + text;
        return false;
      }
      return true;
    };
    // A reply code's class decides: 5xx is final, anything else (4xx, the unexpected, no
    // answer) may pass on a later attempt.
    auto failed = [&](int code) {
      if (code != 0) {
        c.send("QUIT\r\n", &text);  // polite; its answer does not matter
      }
      return code >= 500 ? detail::Outcome::kRefused : detail::Outcome::kRetry;
    };
    int code = 0;
    if (!step("greeting", "", 220, 220, &code)) {
      return failed(code);
    }
    if (!step("EHLO", "EHLO " + o_.helo, 250, 250, &code)) {
      if (code < 500 || !step("HELO", "HELO " + o_.helo, 250, 250, &code)) {
        return failed(code);
      }
    }
    if (!step("MAIL FROM", "MAIL FROM:<" + o_.from + ">", 250, 250, &code)) {
      return failed(code);
    }
    size_t accepted = 0;
    std::string refused;
    for (const std::string& to : o_.to) {
      if (step("RCPT TO " + to, "RCPT TO:<" + to + ">", 250, 251, &code)) {
        ++accepted;
        continue;
      }
      if (code < 500) {
        return failed(code);  // a 4xx for one admin: the whole message again later
      }
      recipients_refused.fetch_add(1, std::memory_order_relaxed);
      refused = *error;
    }
    if (accepted == 0) {
      *error = "every admin address was refused; last: " + refused;
      return failed(550);
    }
    if (!step("DATA", "DATA", 354, 354, &code)) {
      return failed(code);
    }
    const std::string id = "<" + std::to_string(a.unix_ns) + "." + std::to_string(++sequence_) +
                           "." + std::to_string(::getpid()) + ".alert@" + domain_of(o_.from) + ">";
    std::string data = dot_stuff(email_message(a, o_, id));
    data += data.ends_with("\r\n") ? ".\r\n" : "\r\n.\r\n";
    if (!c.send(data, error)) {
      *error = "message: " + *error;
      return failed(0);
    }
    if (!step("end of data", "", 250, 250, &code)) {
      return failed(code);
    }
    c.send("QUIT\r\n", &text);
    if (!refused.empty()) {
      *error = "delivered, but " + refused;
    }
    return detail::Outcome::kDelivered;
  }

  void interrupt() override {
    const uint64_t one = 1;
    // The eventfd stays readable from now on: this transport is never used again.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  milliseconds timeout() const override { return o_.timeout; }

 private:
  EmailOptions o_;
  int wake_fd_ = -1;
  uint64_t sequence_ = 0;
};

std::unique_ptr<detail::Deliverer> make_email(const EmailOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("email: " + what); };
  if (o.relay_host.empty()) {
    fail("the relay host is empty");
  }
  for (char c : o.relay_host) {
    if (!detail::is_host_char(c) && c != ':') {
      fail("relay host '" + header_text(o.relay_host) + "' is not a host name or address");
    }
  }
  if (o.relay_port == 0) {
    fail("the relay port must be 1..65535");
  }
  if (!looks_like_address(o.from)) {
    fail("from '" + header_text(o.from) + "' is not a mail address");
  }
  if (o.to.empty()) {
    fail("no admin address to send to");
  }
  for (const std::string& to : o.to) {
    if (!looks_like_address(to)) {
      fail("to '" + header_text(to) + "' is not a mail address");
    }
  }
  if (o.timeout.count() < 1) {
    fail("timeout must be at least 1 ms");
  }
  detail::check_delivery(o.delivery, "email");
  return std::make_unique<EmailDeliverer>(o);
}

}  // namespace

EmailSink::EmailSink(EmailOptions o) : QueuedSink(make_email(o), o.delivery) {}

}  // namespace smtpgw::alerts
