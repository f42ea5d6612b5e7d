// IPv4 routing for the gateway: connected prefixes (one per port) and static routes, longest
// prefix first. Built once by the control plane before the workers start and read-only after,
// so workers read it without synchronisation. A handful of routes is the expected size: lookup
// is a linear scan of at most kMaxRoutes entries sorted by prefix length (a DIR-24-8 table
// would be the next step for full tables).
#pragma once

#include <array>
#include <cstdint>

namespace smtpgw::route {

inline constexpr uint32_t kMaxRoutes = 64;

struct Route {
  uint32_t prefix = 0;   // host order, already masked
  uint8_t length = 0;    // 0..32
  uint16_t port = 0;     // DPDK port id to leave by
  uint32_t via = 0;      // next hop; 0 = connected (the destination itself is the next hop)
};

struct NextHop {
  uint16_t port = 0;
  uint32_t ip = 0;  // the address to resolve by ARP
};

class RouteTable {
 public:
  // Adds a route; returns false (and changes nothing) when the table is full or the length
  // exceeds 32. Bits of `prefix` past `length` are ignored. Among routes of the same length the
  // first added is tried first, so a second route for the same prefix and length never matches
  // (the gateway adds its connected prefixes before the static routes). O(number of routes).
  bool add(uint32_t prefix, uint8_t length, uint16_t port, uint32_t via);
  // Longest-prefix match. Returns false when nothing matches. O(number of routes).
  bool lookup(uint32_t dst, NextHop* out) const;
  uint32_t size() const { return count_; }

 private:
  std::array<Route, kMaxRoutes> routes_{};
  uint32_t count_ = 0;
};

inline uint32_t prefix_mask(uint8_t length) {
  return length == 0 ? 0 : ~uint32_t{0} << (32 - length);
}

}  // namespace smtpgw::route
