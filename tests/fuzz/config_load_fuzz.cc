// Fuzz target: the config loader on arbitrary bytes. Every input must give either a Config that
// keeps the loader's promises (config.h) or a non-empty list of positioned errors; never a crash,
// a hang or an escaped exception.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "control/config/config.h"

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void check_invariants(const smtpgw::config::Config& c) {
  using smtpgw::config::PortRole;
  check(c.eal.lcores.size() >= 2);
  check(c.worker_count() >= 1);
  check(!c.pools.normal.empty());
  check(!c.smtp.ports.empty());
  check(c.flows.nat_port_min <= c.flows.nat_port_max);
  bool inside = false;
  bool outside = false;
  for (const auto& p : c.ports) {
    check(!p.name.empty());
    check(p.address.length >= 1 && p.address.length <= 32);
    check(p.rx_queues >= 1);
    inside = inside || p.role == PortRole::kInside;
    outside = outside || p.role == PortRole::kOutside;
  }
  check(inside && outside);
  for (const auto& r : c.routes) {
    check(r.port_idx < c.ports.size());
    check(c.ports[r.port_idx].name == r.port);
    check(c.ports[r.port_idx].address.contains(r.via));
    check(r.prefix.address == r.prefix.network());
  }
  for (const auto& n : c.neighbors) {
    check(n.port_idx < c.ports.size());
    check(c.ports[n.port_idx].address.contains(n.address));
  }
  for (const auto& a : c.pools.normal) {
    for (const auto& p : c.ports) {
      check(!(p.address.address == a));
    }
  }
  check(!smtpgw::config::eal_arguments(c).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = smtpgw::config::load_string(text, "fuzz.yaml");
  if (r.ok()) {
    check_invariants(r.config());
  } else {
    check(!r.errors().empty());
    check(!r.error_text().empty());
  }
  return 0;
}
