// The `pools:` section: the egress (source NAT) addresses, normal and high-risk, and what a pool
// with no active address left does (`fallback`). Each address is checked against the ports
// (loader.cc) and against every address listed before it, in either pool.
#include "control/config/reader.h"

namespace smtpgw::config::detail {

namespace {

constexpr size_t kMaxPoolAddresses = 4'096;

// One pool entry: an address, or a prefix standing for all of its addresses.
void read_pool_entry(Ctx& ctx, const PortsSeen& ports_seen, const YAML::Node& n,
                     const std::string& path, std::vector<Ipv4>& out,
                     std::vector<std::pair<Ipv4, std::string>>& all) {
  std::vector<Ipv4> addrs;
  if (n.IsScalar() && n.Scalar().find('/') != std::string::npos) {
    auto pfx = read_ipv4_prefix(ctx, n, path);
    if (!pfx) {
      return;
    }
    if (pfx->length < 20) {
      ctx.error(n, path, "a pool prefix must be /20 or longer (at most 4096 addresses)");
      return;
    }
    if (pfx->address != pfx->network()) {
      ctx.error(n, path,
                quote(n.Scalar()) + " has host bits set; did you mean " +
                    to_string(Ipv4Prefix{pfx->network(), pfx->length}) + "?");
      return;
    }
    const uint64_t count = uint64_t{1} << (32 - pfx->length);
    for (uint64_t k = 0; k < count; ++k) {
      addrs.push_back(Ipv4{pfx->network().value + static_cast<uint32_t>(k)});
    }
  } else if (auto a = read_ipv4(ctx, n, path)) {
    addrs.push_back(*a);
  } else {
    return;
  }
  for (Ipv4 a : addrs) {
    const std::string text = to_string(a);
    if (!is_unicast(a)) {
      ctx.error(n, path, text + " is not a unicast address");
      return;
    }
    for (const auto& [other, where] : all) {
      if (other == a) {
        ctx.error(n, path, text + " is already in the pool at " + where);
        return;
      }
    }
    if (!check_egress_address(ctx, ports_seen, a, n, path)) {
      return;
    }
    if (out.size() >= kMaxPoolAddresses) {
      ctx.error(n, path,
                "a pool holds at most " + std::to_string(kMaxPoolAddresses) + " addresses");
      return;
    }
    out.push_back(a);
    all.emplace_back(a, path);
  }
}

}  // namespace

void read_pools(Ctx& ctx, const YAML::Node& node, const PortsSeen& ports_seen, PoolsConfig& pools) {
  MapReader m(ctx, node, "pools");
  if (!m.valid()) {
    return;
  }
  std::vector<std::pair<Ipv4, std::string>> all;
  auto read_pool = [&](std::string_view key, std::vector<Ipv4>& out, bool required) {
    auto n = required ? m.require(key) : m.get(key);
    if (!n) {
      return;
    }
    const std::string path = m.path(key);
    auto list =
        n->IsScalar() ? std::optional(std::vector<YAML::Node>{*n}) : read_list(ctx, *n, path);
    if (!list) {
      return;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      read_pool_entry(ctx, ports_seen, (*list)[i], n->IsScalar() ? path : index(path, i), out, all);
    }
    if (required && list->empty()) {
      ctx.error(*n, path, "needs at least one egress address");
    }
  };
  read_pool("normal", pools.normal, true);
  read_pool("high_risk", pools.high_risk, false);
  if (auto n = m.get("fallback")) {
    if (auto v = read_enum(ctx, *n, m.path("fallback"), {"use_listed", "refuse"})) {
      pools.refuse_when_none_active = *v == 1;
    }
  }
  m.finish();
}

}  // namespace smtpgw::config::detail
