// ASCII text helpers for the protocol parsers: case folding, case-insensitive comparison, hex
// and base64 digit values. SMTP verbs and keywords, MIME header and parameter names, charset
// names and domains are ASCII and case-insensitive on the wire (RFC 5321 2.4, RFC 2045 5.1), so
// only A-Z fold: any other byte, UTF-8 included, compares as itself. The C library's tolower
// would depend on the locale and take an int, which is neither wanted here nor constexpr.
//
// Everything here is constexpr, header-only, allocation-free and reentrant: any thread may call
// it. Costs are per byte and branch-light, the same code the parsers used to carry each.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smtpgw::text {

// c with A-Z mapped to a-z; every other byte unchanged.
constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// a and b have the same length and are equal once A-Z are folded to a-z. O(length).
constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

// s begins with prefix, A-Z folded to a-z. O(prefix length).
constexpr bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Strict weak order for sorting and binary search by case-insensitive name: bytes compare as
// unsigned once A-Z are folded to a-z, and a proper prefix sorts first. iless(a, b) and
// iless(b, a) are both false exactly when iequals(a, b). O(shorter length).
constexpr bool iless(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(ascii_lower(a[i]));
    const auto y = static_cast<unsigned char>(ascii_lower(b[i]));
    if (x != y) {
      return x < y;
    }
  }
  return a.size() < b.size();
}

// A lower-case DNS name worth a query: 1..max octets of labels of a-z, 0-9, '-' and '_' (seen
// in the wild) joined by single dots, no leading or trailing dot. Domain literals
// ("[192.0.2.1]") and IDNA U-labels are not. O(length).
constexpr bool is_dns_name(std::string_view d, size_t max) {
  if (d.empty() || d.size() > max || d.front() == '.' || d.back() == '.') {
    return false;
  }
  char prev = '.';
  for (char c : d) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.';
    if (!ok || (c == '.' && prev == '.')) {
      return false;
    }
    prev = c;
  }
  return true;
}

// The value of hex digit c (0-9, A-F, a-f), or -1 for any other byte.
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

// Base64 (RFC 4648 section 4 alphabet) by byte: 0..63 for an alphabet character, else one of
// the three classes below, all >= 64 so a decoder tests four lookups at once with
// (a | b | c | d) >= 64.
inline constexpr uint8_t kBase64Pad = 64;      // '='
inline constexpr uint8_t kBase64Space = 65;    // SP, HT, CR, LF: skipped inside MIME bodies
inline constexpr uint8_t kBase64Invalid = 66;  // anything else

inline constexpr std::array<uint8_t, 256> kBase64Values = [] {
  std::array<uint8_t, 256> v{};
  v.fill(kBase64Invalid);
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    v[static_cast<unsigned char>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  v[static_cast<unsigned char>('=')] = kBase64Pad;
  for (char c : {' ', '\t', '\r', '\n'}) {
    v[static_cast<unsigned char>(c)] = kBase64Space;
  }
  return v;
}();

// The value 0..63 of base64 character c, or -1 for any other byte ('=' and blanks included).
// One table lookup.
constexpr int base64_value(char c) {
  const uint8_t v = kBase64Values[static_cast<unsigned char>(c)];
  return v < 64 ? v : -1;
}

}  // namespace smtpgw::text
