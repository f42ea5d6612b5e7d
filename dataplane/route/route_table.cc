#include "dataplane/route/route_table.h"

namespace smtpgw::route {

bool RouteTable::add(uint32_t prefix, uint8_t length, uint16_t port, uint32_t via) {
  if (count_ == kMaxRoutes || length > 32) {
    return false;
  }
  const Route r{prefix & prefix_mask(length), length, port, via};
  // Keep the array sorted by length, longest first, so the first match is the best one.
  uint32_t i = count_++;
  while (i > 0 && routes_[i - 1].length < r.length) {
    routes_[i] = routes_[i - 1];
    --i;
  }
  routes_[i] = r;
  return true;
}

bool RouteTable::lookup(uint32_t dst, NextHop* out) const {
  for (uint32_t i = 0; i < count_; ++i) {
    const Route& r = routes_[i];
    if ((dst & prefix_mask(r.length)) == r.prefix) {
      out->port = r.port;
      out->ip = r.via != 0 ? r.via : dst;
      return true;
    }
  }
  return false;
}

}  // namespace smtpgw::route
