// The values an alert sink is configured with, and their validation: header-only, so the config
// loader (control/config/) checks a webhook URL, a relay, an admin address or a syslog facility
// with the very code the sinks use, without linking the sinks (cpp-httplib, threads).
//
// All functions are pure, allocate only their results, and may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtpgw::alerts {

// An http:// URL split for a client: host without brackets (a name, an IPv4 or an IPv6
// address), port (80 when absent) and the request target (path and query, "/" when absent).
struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string target = "/";
};

namespace detail {

inline bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// "1".."65535" into `port`.
inline bool parse_port(std::string_view s, uint16_t* port) {
  if (s.empty() || s.size() > 5) {
    return false;
  }
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65'535) {
    return false;
  }
  *port = static_cast<uint16_t>(v);
  return true;
}

}  // namespace detail

// "host", "host:port", "[v6]" or "[v6]:port" (port `default_port` when absent). The host is a
// DNS name, an IPv4 address or a bracketed IPv6 address. False with `error` (a sentence without
// the input, for the caller to prefix) otherwise.
inline bool parse_host_port(std::string_view s, uint16_t default_port, std::string* host,
                            uint16_t* port, std::string* error) {
  std::string_view h;
  std::string_view p;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) {
      *error = "an IPv6 address opened with '[' has no ']'";
      return false;
    }
    h = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        *error = "expected ':port' after ']'";
        return false;
      }
      p = rest.substr(1);
      if (p.empty()) {
        *error = "the port after ':' is empty";
        return false;
      }
    }
    if (h.empty() || h.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
      *error = "expected an IPv6 address between '[' and ']'";
      return false;
    }
  } else {
    const size_t colon = s.find(':');
    h = s.substr(0, colon);
    if (colon != std::string_view::npos) {
      p = s.substr(colon + 1);
      if (p.empty()) {
        *error = "the port after ':' is empty";
        return false;
      }
    }
    if (h.empty()) {
      *error = "the host is empty";
      return false;
    }
    for (char c : h) {
      if (!detail::is_host_char(c)) {
        *error =
            "expected a host name or address (letters, digits, '-', '.'), an IPv6 address "
            "in brackets, and an optional :port";
        return false;
      }
    }
    if (h.front() == '.' || h.back() == '.' || h.find("..") != std::string_view::npos) {
      *error = "the host has an empty label";
      return false;
    }
  }
  uint16_t v = default_port;
  if (!p.empty() && !detail::parse_port(p, &v)) {
    *error = "the port must be a number in 1..65535";
    return false;
  }
  *host = std::string(h);
  *port = v;
  return true;
}

// An http:// URL: http://host[:port][/path][?query]. Refused, with `error`: any other scheme
// (https included: the webhook sink speaks plain HTTP, so TLS belongs to a local relay),
// user:password@ (use a bearer token), a fragment, white space or control characters.
inline bool parse_http_url(std::string_view url, HttpUrl* out, std::string* error) {
  constexpr std::string_view kScheme = "http://";
  auto lower_prefix = [&](std::string_view prefix) {
    if (url.size() < prefix.size()) {
      return false;
    }
    for (size_t i = 0; i < prefix.size(); ++i) {
      char c = url[i];
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
      if (c != prefix[i]) {
        return false;
      }
    }
    return true;
  };
  if (lower_prefix("https://")) {
    *error =
        "https is not supported (the webhook speaks plain HTTP); use an http:// URL, "
        "through a local TLS relay if the receiver is remote";
    return false;
  }
  if (!lower_prefix(kScheme)) {
    *error = "expected an http:// URL such as http://127.0.0.1:9000/hook";
    return false;
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      *error = "the URL contains white space or a control character";
      return false;
    }
  }
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find('#') != std::string_view::npos) {
    *error = "a URL fragment ('#') is never sent to the server; remove it";
    return false;
  }
  const size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) {
    *error = "user:password@ in the URL is not supported; use a bearer token";
    return false;
  }
  HttpUrl u;
  std::string why;
  if (!parse_host_port(authority, 80, &u.host, &u.port, &why)) {
    *error = "bad host in the URL: " + why;
    return false;
  }
  if (end != std::string_view::npos) {
    u.target = std::string(rest.substr(end));
    if (u.target.front() == '?') {
      u.target.insert(u.target.begin(), '/');
    }
  }
  *out = std::move(u);
  return true;
}

// A mail address as the sinks put it in MAIL FROM, RCPT TO and the headers: local@domain in
// printable ASCII, no white space, quotes, brackets or other specials (so it can never break a
// command or a header line), a local part of 1..64 and a domain of letters, digits, '-' and
// non-empty labels (a single label such as "localhost" is allowed), 254 characters in all.
inline bool looks_like_address(std::string_view a) {
  const size_t at = a.find('@');
  if (a.size() > 254 || at == std::string_view::npos || at == 0 || at > 64 ||
      a.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  for (char c : a.substr(0, at)) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u >= 0x7f ||
        std::string_view("<>()[]\\,;:\"").find(c) != std::string_view::npos) {
      return false;
    }
  }
  std::string_view domain = a.substr(at + 1);
  if (domain.empty() || domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return false;
  }
  for (char c : domain) {
    if (!detail::is_host_char(c) || c == '_') {
      return false;
    }
  }
  return true;
}

// The syslog facilities an operator may choose (the sinks map them to LOG_*; the loader lists
// the names in its error).
enum class SyslogFacility : uint8_t {
  kDaemon,
  kMail,
  kUser,
  kLocal0,
  kLocal1,
  kLocal2,
  kLocal3,
  kLocal4,
  kLocal5,
  kLocal6,
  kLocal7
};
inline constexpr std::array<std::string_view, 11> kSyslogFacilityNames = {
    "daemon", "mail",   "user",   "local0", "local1", "local2",
    "local3", "local4", "local5", "local6", "local7"};

// The facility of that exact (lower-case) name, or nullopt.
inline std::optional<SyslogFacility> parse_syslog_facility(std::string_view name) {
  for (size_t i = 0; i < kSyslogFacilityNames.size(); ++i) {
    if (kSyslogFacilityNames[i] == name) {
      return static_cast<SyslogFacility>(i);
    }
  }
  return std::nullopt;
}

}  // namespace smtpgw::alerts
