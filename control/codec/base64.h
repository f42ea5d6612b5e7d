// Base64 (RFC 4648, the standard alphabet, padded), for the control plane's own formats: rule
// files of any bytes carried in JSON (the API, the store), RFC 2047 words in alert mail. The
// lenient decoder of received mail (RFC 2045: ignores what is not in the alphabet) is
// control/feedback's; the workers' streaming one is dataplane/mime's.
//
// Threads: any (pure functions). Cost: linear, one allocation for the result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtpgw::codec {

inline std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(in[i + 2])};
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    const bool two = i + 1 < in.size();
    const uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                       (two ? uint32_t{static_cast<unsigned char>(in[i + 1])} << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Strict: only the alphabet, padded to a multiple of 4, '=' only at the end. nullopt otherwise.
inline std::optional<std::string> base64_decode(std::string_view in) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=' ? (in[i + 2] == '=' ? 2 : 1) : 0) : 0;
    int v[4];
    for (int k = 0; k < 4 - pad; ++k) {
      if ((v[k] = value(in[i + k])) < 0) {
        return std::nullopt;
      }
    }
    for (int k = 4 - pad; k < 4; ++k) {
      v[k] = 0;
    }
    const uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) |
                       uint32_t(v[3]);
    out += static_cast<char>(w >> 16);
    if (pad < 2) out += static_cast<char>((w >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(w & 0xff);
  }
  return out;
}

}  // namespace smtpgw::codec
