// An IPv4 or IPv6 prefix as the config spells it ("10.1.0.0/16", "2001:db8::/32", or an address
// alone for its /32 or /128), parsed once where a policy is compiled and matched against raw
// address bytes: shared by the workers' compiled policy and the control plane's reputation.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace smtpgw::ip {

struct Prefix {
  std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes
  bool v6 = false;
  uint8_t len = 0;

  // False when `text` is not an address with an optional /length (the loader validated it, so
  // false means a caller bypassed it). Any thread; allocates (inet_pton needs a C string).
  bool parse(std::string_view text) {
    const size_t slash = text.find('/');
    const std::string a(text.substr(0, slash));
    v6 = a.find(':') != std::string::npos;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, a.c_str(), addr.data()) != 1) {
      return false;
    }
    const unsigned max = v6 ? 128 : 32;
    unsigned n = max;
    if (slash != std::string_view::npos) {
      const std::string_view l = text.substr(slash + 1);
      if (l.empty() || l.size() > 3) {
        return false;
      }
      n = 0;
      for (char c : l) {
        if (c < '0' || c > '9') {
          return false;
        }
        n = n * 10 + static_cast<unsigned>(c - '0');
      }
      if (n > max) {
        return false;
      }
    }
    len = static_cast<uint8_t>(n);
    return true;
  }

  // Whether the address (16 bytes, IPv4 in the first 4) of that family is inside. Any thread;
  // no allocation; cost: one memcmp of len/8 bytes.
  bool contains(bool addr_v6, const uint8_t* a) const {
    if (addr_v6 != v6) {
      return false;
    }
    const unsigned bytes = len / 8;
    if (std::memcmp(a, addr.data(), bytes) != 0) {
      return false;
    }
    const unsigned bits = len % 8;
    const auto mask = static_cast<uint8_t>(0xff << (8 - bits));
    return bits == 0 || (a[bytes] & mask) == (addr[bytes] & mask);
  }
};

}  // namespace smtpgw::ip
