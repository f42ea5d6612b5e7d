// The `pools:` section: the egress (source NAT) addresses, normal, high-risk and the operator's
// named pools with the inside prefixes and organisations bound to them, and what a pool with no
// active address left does (`fallback`). Each address is checked against the ports (loader.cc)
// and against every address listed before it, in any pool. Organisations are resolved once
// `limits:` is read (bind_pool_organisations).
#include <algorithm>

#include "contract/ip_prefix.h"
#include "control/config/reader.h"

namespace smtpgw::config::detail {

namespace {

constexpr size_t kMaxPoolAddresses = 4'096;
constexpr size_t kMaxNamedPools = 30;   // with normal and high_risk: flow::kMaxPools
constexpr size_t kMaxBoundPrefixes = 256;  // flow::kMaxBindings

bool bind(Ctx& ctx, std::vector<BoundPrefix>& seen, const Ipv4Prefix& p, const std::string& pool,
          const YAML::Node& n, const std::string& path, const std::string& where) {
  for (const BoundPrefix& b : seen) {
    if (b.prefix == p) {
      ctx.error(n, path,
                to_string(p) + " is already bound to pool " + quote(b.pool) + " at " + b.where);
      return false;
    }
  }
  if (seen.size() >= kMaxBoundPrefixes) {
    ctx.error(n, path,
              "at most " + std::to_string(kMaxBoundPrefixes) + " prefixes are bound to pools");
    return false;
  }
  seen.push_back({p, pool, where});
  return true;
}

bool valid_pool_name(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

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

// `named:`: a list of {name, addresses, hosts, organisations}. Organisations are only noted in
// `pending`: limits.organisations is read later.
void read_named_pools(Ctx& ctx, const PortsSeen& ports_seen, const YAML::Node& node,
                      const std::string& path, std::vector<std::pair<Ipv4, std::string>>& all,
                      PoolsConfig& pools, PendingPoolOrgs& pending) {
  auto list = read_list(ctx, node, path);
  if (!list) {
    return;
  }
  if (list->size() > kMaxNamedPools) {
    ctx.error(node, path, "at most " + std::to_string(kMaxNamedPools) + " named pools");
    return;
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string ipath = index(path, i);
    MapReader m(ctx, (*list)[i], ipath);
    if (!m.valid()) {
      continue;
    }
    PoolsConfig::Named pool;
    if (auto n = m.require("name")) {
      if (auto s = read_string(ctx, *n, m.path("name"))) {
        if (!valid_pool_name(*s)) {
          ctx.error(*n, m.path("name"),
                    "a pool name is 1..32 characters of a-z, 0-9, '_' and '-'; got " + quote(*s));
        } else if (*s == "normal" || *s == "high_risk") {
          ctx.error(*n, m.path("name"), quote(*s) + " is a built-in pool; name yours otherwise");
        } else if (std::any_of(pools.named.begin(), pools.named.end(),
                               [&](const PoolsConfig::Named& o) { return o.name == *s; })) {
          ctx.error(*n, m.path("name"), "pool " + quote(*s) + " is named twice");
        } else {
          pool.name = *s;
        }
      }
    }
    if (auto n = m.require("addresses")) {
      const std::string apath = m.path("addresses");
      if (auto addrs = read_list(ctx, *n, apath)) {
        for (size_t k = 0; k < addrs->size(); ++k) {
          read_pool_entry(ctx, ports_seen, (*addrs)[k], index(apath, k), pool.addresses, all);
        }
        if (addrs->empty()) {
          ctx.error(*n, apath, "needs at least one egress address");
        }
      }
    }
    const std::string owner = pool.name.empty() ? ipath : pool.name;
    if (auto n = m.get("hosts")) {
      const std::string hpath = m.path("hosts");
      if (auto hosts = read_list(ctx, *n, hpath)) {
        for (size_t k = 0; k < hosts->size(); ++k) {
          const std::string kpath = index(hpath, k);
          auto pfx = read_ipv4_prefix(ctx, (*hosts)[k], kpath);
          if (!pfx) {
            continue;
          }
          if (pfx->address != pfx->network()) {
            ctx.error((*hosts)[k], kpath,
                      quote((*hosts)[k].Scalar()) + " has host bits set; did you mean " +
                          to_string(Ipv4Prefix{pfx->network(), pfx->length}) + "?");
            continue;
          }
          if (bind(ctx, pending.seen, *pfx, owner, (*hosts)[k], kpath, kpath)) {
            pool.hosts.push_back(*pfx);
            pool.bound.push_back(*pfx);
          }
        }
      }
    }
    if (auto n = m.get("organisations")) {
      const std::string opath = m.path("organisations");
      if (auto orgs = read_list(ctx, *n, opath)) {
        for (size_t k = 0; k < orgs->size(); ++k) {
          if (auto s = read_string(ctx, (*orgs)[k], index(opath, k))) {
            pool.organisations.push_back(*s);
            pending.refs.push_back({pools.named.size(), *s, (*orgs)[k], index(opath, k)});
          }
        }
      }
    }
    if (!m.get("hosts") && !m.get("organisations")) {
      ctx.error((*list)[i], ipath,
                "a named pool needs hosts or organisations bound to it (else nothing uses it)");
    }
    m.finish();
    pools.named.push_back(std::move(pool));  // also when bad: the indices in `pending` hold
  }
}

}  // namespace

void bind_pool_organisations(Ctx& ctx, const PendingPoolOrgs& pending,
                             const policy::Policy& limits, PoolsConfig& pools) {
  std::vector<BoundPrefix> seen = pending.seen;
  for (const PendingPoolOrgs::Ref& r : pending.refs) {
    PoolsConfig::Named& pool = pools.named[r.pool];
    const std::string owner = pool.name.empty() ? r.path : pool.name;
    size_t found = 0;
    for (const policy::OrgPrefix& op : limits.org_prefixes) {
      if (op.org != r.org) {
        continue;
      }
      ++found;
      ip::Prefix p;
      if (!p.parse(op.prefix) || p.v6) {
        continue;  // NAT is IPv4: an IPv6 prefix binds nothing
      }
      const Ipv4 a{uint32_t{p.addr[0]} << 24 | uint32_t{p.addr[1]} << 16 |
                   uint32_t{p.addr[2]} << 8 | p.addr[3]};
      const Ipv4Prefix v4{Ipv4{a.value & Ipv4Prefix{a, p.len}.mask()}, p.len};
      if (bind(ctx, seen, v4, owner, r.node, r.path,
               r.path + " (organisation " + quote(r.org) + ")")) {
        pool.bound.push_back(v4);
      }
    }
    if (found == 0) {
      ctx.error(r.node, r.path,
                "organisation " + quote(r.org) + " is not in limits.organisations");
    }
  }
}

void read_pools(Ctx& ctx, const YAML::Node& node, const PortsSeen& ports_seen, PoolsConfig& pools,
                PendingPoolOrgs& pending) {
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
  if (auto n = m.get("named")) {
    read_named_pools(ctx, ports_seen, *n, m.path("named"), all, pools, pending);
  }
  if (auto n = m.get("fallback")) {
    if (auto v = read_enum(ctx, *n, m.path("fallback"), {"use_listed", "refuse"})) {
      pools.refuse_when_none_active = *v == 1;
    }
  }
  m.finish();
}

}  // namespace smtpgw::config::detail
