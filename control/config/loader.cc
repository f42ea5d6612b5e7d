// The YAML loader: document → sections → Config, with every error positioned. The sections are
// read in a fixed order (eal, ports, routes, neighbors, smtp, pools, ...) whatever their order in
// the file, so that references (a route's port, a pool address against the port addresses) are
// checked against sections already read; errors are sorted by position at the end.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

#include "control/config/reader.h"

namespace smtpgw::config {

namespace {

using detail::Ctx;
using detail::describe;
using detail::index;
using detail::MapReader;
using detail::quote;

constexpr size_t kMaxFileBytes = 4 << 20;
constexpr uint32_t kMaxLcore = 127;       // RTE_MAX_LCORE (128) - 1 in Debian's DPDK 22.11
constexpr uint32_t kMaxEthPorts = 32;     // RTE_MAX_ETHPORTS in Debian's DPDK 22.11
constexpr size_t kMaxPoolAddresses = 4'096;

bool is_name(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool all_digits(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

// What the port section left for the later sections to check against. A port whose address did
// not parse has no prefix: references to it are accepted silently (its own error is enough).
struct PortSeen {
  std::string name;
  std::optional<Ipv4Prefix> prefix;
  std::optional<PortRole> role;
};

struct Loader {
  Ctx& ctx;
  Config& cfg;
  std::vector<PortSeen> ports_seen;
  bool ports_clean = true;  // the ports list itself was readable (each item may still be bad)

  // Whether every port's name / prefix / role is known. When one is not, a reference that
  // does not resolve may be to that port: it is not reported (the port's own error is).
  template <typename F>
  bool all_ports(F has) const {
    if (!ports_clean) {
      return false;
    }
    for (const auto& p : ports_seen) {
      if (!has(p)) {
        return false;
      }
    }
    return true;
  }
  bool names_known() const { return all_ports([](const PortSeen& p) { return !p.name.empty(); }); }
  bool prefixes_known() const { return all_ports([](const PortSeen& p) { return p.prefix.has_value(); }); }
  bool roles_known() const { return all_ports([](const PortSeen& p) { return p.role.has_value(); }); }

  // ---------------------------------------------------------------------------------------
  // "0-3", "0,2,4-5", 7
  bool parse_lcore_spec(std::string_view spec, std::vector<uint32_t>& out) {
    while (!spec.empty()) {
      auto comma = spec.find(',');
      std::string_view part = spec.substr(0, comma);
      spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
      while (!part.empty() && part.front() == ' ') {
        part.remove_prefix(1);
      }
      while (!part.empty() && part.back() == ' ') {
        part.remove_suffix(1);
      }
      auto dash = part.find('-');
      std::string_view lo_s = part.substr(0, dash);
      std::string_view hi_s = dash == std::string_view::npos ? lo_s : part.substr(dash + 1);
      if (!all_digits(lo_s) || !all_digits(hi_s) || lo_s.size() > 4 || hi_s.size() > 4) {
        return false;
      }
      const uint32_t lo = static_cast<uint32_t>(std::stoul(std::string(lo_s)));
      const uint32_t hi = static_cast<uint32_t>(std::stoul(std::string(hi_s)));
      if (lo > hi || hi > 9'999) {
        return false;
      }
      if (out.size() + (hi - lo) >= 1'024) {
        return false;  // far beyond RTE_MAX_LCORE: no need to spell them out
      }
      for (uint32_t l = lo; l <= hi; ++l) {
        out.push_back(l);
      }
    }
    return true;
  }

  void read_eal(const YAML::Node& node) {
    MapReader m(ctx, node, "eal");
    if (!m.valid()) {
      return;
    }
    EalConfig& eal = cfg.eal;
    eal.lcores = {0, 1};
    if (auto n = m.get("lcores")) {
      const std::string path = m.path("lcores");
      std::vector<uint32_t> lcores;
      bool ok = true;
      const char* kWhat = "expected a list of lcore numbers or a string such as \"0-3\" or "
                          "\"0,2-3\", got ";
      if (n->IsScalar()) {
        ok = parse_lcore_spec(n->Scalar(), lcores);
        if (!ok) {
          ctx.error(*n, path, kWhat + describe(*n));
        }
      } else if (n->IsSequence()) {
        size_t i = 0;
        for (auto it = n->begin(); it != n->end(); ++it, ++i) {
          if (!it->IsScalar() || !parse_lcore_spec(it->Scalar(), lcores)) {
            ctx.error(*it, index(path, i), "expected an lcore number or range, got " +
                                               describe(*it));
            ok = false;
          }
        }
      } else {
        ctx.error(*n, path, kWhat + describe(*n));
        ok = false;
      }
      if (ok) {
        for (size_t i = 0; i < lcores.size() && ok; ++i) {
          if (lcores[i] > kMaxLcore) {
            ctx.error(*n, path, "lcore " + std::to_string(lcores[i]) + " is out of range 0.." +
                                    std::to_string(kMaxLcore));
            ok = false;
          }
          for (size_t j = 0; j < i && ok; ++j) {
            if (lcores[j] == lcores[i]) {
              ctx.error(*n, path, "lcore " + std::to_string(lcores[i]) + " is listed twice");
              ok = false;
            }
          }
        }
      }
      if (ok && lcores.size() < 2) {
        ctx.error(*n, path, "needs at least two lcores: the first runs the control plane, the "
                            "others are workers");
        ok = false;
      }
      if (ok) {
        eal.lcores = std::move(lcores);
      } else {
        eal.lcores.clear();
      }
    }
    detail::read_bool_into(ctx, m, "no_huge", eal.no_huge);
    detail::read_uint_into(ctx, m, "memory_mb", eal.memory_mb, 1, 1 << 20);
    if (auto n = m.get("file_prefix")) {
      if (auto s = detail::read_string(ctx, *n, m.path("file_prefix"))) {
        if (is_name(*s, 64)) {
          eal.file_prefix = *s;
        } else {
          ctx.error(*n, m.path("file_prefix"),
                    "must be 1..64 characters of A-Z a-z 0-9 _ -, got " + quote(*s));
        }
      }
    }
    if (auto n = m.get("devices")) {
      if (auto list = detail::read_list(ctx, *n, m.path("devices"))) {
        std::vector<std::string> names;
        for (size_t i = 0; i < list->size(); ++i) {
          const std::string path = index(m.path("devices"), i);
          auto s = detail::read_string(ctx, (*list)[i], path);
          if (!s) {
            continue;
          }
          const std::string name = s->substr(0, s->find(','));
          if (name.empty() || s->find_first_of(" \t\r\n") != std::string::npos) {
            ctx.error((*list)[i], path,
                      "expected a device such as \"net_tap0,iface=x\" or a PCI address, got " +
                          quote(*s));
            continue;
          }
          bool dup = false;
          for (const auto& seen : names) {
            dup = dup || seen == name;
          }
          if (dup) {
            ctx.error((*list)[i], path, "device " + quote(name) + " is listed twice");
            continue;
          }
          names.push_back(name);
          eal.devices.push_back(*s);
        }
      }
    }
    if (auto n = m.get("extra_args")) {
      if (auto list = detail::read_list(ctx, *n, m.path("extra_args"))) {
        for (size_t i = 0; i < list->size(); ++i) {
          if (auto s = detail::read_string(ctx, (*list)[i], index(m.path("extra_args"), i))) {
            eal.extra_args.push_back(*s);
          }
        }
      }
    }
    m.finish();
  }

  bool device_declared(std::string_view device) const {
    for (const auto& d : cfg.eal.devices) {
      if (std::string_view(d).substr(0, d.find(',')) == device) {
        return true;
      }
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------
  void read_port(const YAML::Node& node, const std::string& path) {
    PortSeen seen;
    PortConfig p;
    if (node.IsNull()) {
      ctx.error(node, path, "expected a port (name, device, role, address), got nothing");
      ports_seen.push_back(seen);
      return;
    }
    MapReader m(ctx, node, path);
    if (!m.valid()) {
      ports_seen.push_back(seen);
      return;
    }
    if (auto n = m.require("name")) {
      if (auto s = detail::read_string(ctx, *n, m.path("name"))) {
        if (!is_name(*s, 32)) {
          ctx.error(*n, m.path("name"),
                    "must be 1..32 characters of A-Z a-z 0-9 _ -, got " + quote(*s));
        } else {
          for (const auto& other : ports_seen) {
            if (other.name == *s) {
              ctx.error(*n, m.path("name"), "duplicate port name " + quote(*s));
            }
          }
          seen.name = *s;
          p.name = *s;
        }
      }
    }
    if (auto n = m.require("device")) {
      const std::string dpath = m.path("device");
      if (auto s = detail::read_string(ctx, *n, dpath)) {
        if (all_digits(*s)) {
          if (auto v = detail::read_uint(ctx, *n, dpath, 0, kMaxEthPorts - 1)) {
            p.port_index = static_cast<uint16_t>(*v);
            p.device = *s;
          }
        } else if (s->find(',') != std::string::npos) {
          ctx.error(*n, dpath, "is the DPDK device name only (e.g. net_tap0); put its arguments "
                               "in eal.devices");
        } else if (s->empty() || s->size() > 63 ||
                   s->find_first_of(" \t\r\n") != std::string::npos) {
          ctx.error(*n, dpath, "expected a DPDK device name or a port index, got " + quote(*s));
        } else if (s->rfind("net_", 0) == 0 && !device_declared(*s)) {
          ctx.error(*n, dpath, "virtual device " + quote(*s) +
                                   " is not declared in eal.devices (add \"" + *s + ",...\")");
        } else {
          p.device = *s;
        }
        if (!p.device.empty()) {
          for (const auto& other : cfg.ports) {
            if (other.device == p.device) {
              ctx.error(*n, dpath, "device " + quote(p.device) + " is already used by port " +
                                       quote(other.name));
            }
          }
        }
      }
    }
    if (auto n = m.require("role")) {
      if (auto v = detail::read_enum(ctx, *n, m.path("role"), {"inside", "outside"})) {
        p.role = *v == 0 ? PortRole::kInside : PortRole::kOutside;
        seen.role = p.role;
      }
    }
    if (auto n = m.require("address")) {
      const std::string apath = m.path("address");
      if (auto pfx = detail::read_ipv4_prefix(ctx, *n, apath)) {
        const std::string text = n->Scalar();
        if (pfx->length == 0) {
          ctx.error(*n, apath, "the prefix length must be 1..32 (the connected network)");
        } else if (!detail::is_unicast(pfx->address)) {
          ctx.error(*n, apath, quote(text) + " is not a unicast host address");
        } else if (pfx->length <= 30 && (pfx->address == pfx->network() ||
                                         pfx->address.value == (pfx->network().value | ~pfx->mask()))) {
          ctx.error(*n, apath, quote(text) +
                                   " is the network or broadcast address of its prefix; give the "
                                   "gateway's own address, e.g. " +
                                   to_string(Ipv4{pfx->network().value + 1}) + "/" +
                                   std::to_string(pfx->length));
        } else {
          bool clash = false;
          for (const auto& other : ports_seen) {
            if (other.prefix && (other.prefix->contains(pfx->address) ||
                                 pfx->contains(other.prefix->address))) {
              ctx.error(*n, apath, "connected prefix " + to_string(Ipv4Prefix{pfx->network(), pfx->length}) +
                                       " overlaps the connected prefix of port " + quote(other.name) +
                                       " (" + to_string(*other.prefix) + ")");
              clash = true;
            }
          }
          if (!clash) {
            p.address = *pfx;
            seen.prefix = *pfx;
          }
        }
      }
    }
    if (auto n = m.get("mac")) {
      if (!(n->IsScalar() && n->Scalar() == "auto")) {
        p.mac = detail::read_mac(ctx, *n, m.path("mac"));
      }
    }
    detail::read_uint_into(ctx, m, "vlan", p.vlan, 0, 4'094);
    detail::read_uint_into(ctx, m, "rx_queues", p.rx_queues, 1, 64);
    detail::read_uint_into(ctx, m, "rx_descriptors", p.rx_descriptors, 64, 16'384);
    detail::read_uint_into(ctx, m, "tx_descriptors", p.tx_descriptors, 64, 16'384);
    m.finish();
    if (p.rx_queues == 0) {
      p.rx_queues = static_cast<uint16_t>(std::max<size_t>(1, std::min<size_t>(64, cfg.worker_count())));
    }
    ports_seen.push_back(seen);
    cfg.ports.push_back(std::move(p));
  }

  void read_ports(const YAML::Node& node) {
    auto list = detail::read_list(ctx, node, "ports");
    if (!list) {
      ports_clean = false;
      return;
    }
    if (list->size() > kMaxEthPorts) {
      ctx.error(node, "ports", "at most " + std::to_string(kMaxEthPorts) + " ports");
      ports_clean = false;
      return;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      read_port((*list)[i], index("ports", i));
    }
    if (roles_known()) {
      bool inside = false;
      bool outside = false;
      for (const auto& p : cfg.ports) {
        inside = inside || p.role == PortRole::kInside;
        outside = outside || p.role == PortRole::kOutside;
      }
      if (!inside || !outside) {
        ctx.error(node, "ports", std::string("needs at least one port with role inside and one "
                                             "with role outside; there is no ") +
                                     (inside ? "outside port" : outside ? "inside port" : "port at all"));
      }
    }
  }

  // Resolves the `port:` of a route or neighbour. With a name: it must exist. Without: the
  // port whose connected prefix holds `addr`. Returns the index into ports_seen, or nullopt when
  // the reference is broken (reported) or cannot be checked (a port had errors; not reported).
  std::optional<size_t> resolve_port(MapReader& m, std::optional<Ipv4> addr,
                                     const YAML::Node& addr_node, const char* what) {
    if (auto n = m.get("port")) {
      auto s = detail::read_string(ctx, *n, m.path("port"));
      if (!s) {
        return std::nullopt;
      }
      for (size_t i = 0; i < ports_seen.size(); ++i) {
        if (ports_seen[i].name == *s) {
          return i;
        }
      }
      if (names_known()) {
        std::string names;
        for (const auto& p : ports_seen) {
          names += names.empty() ? "" : ", ";
          names += p.name;
        }
        ctx.error(*n, m.path("port"), "unknown port " + quote(*s) + " (ports: " + names + ")");
      }
      return std::nullopt;
    }
    if (!addr || !prefixes_known()) {
      return std::nullopt;
    }
    for (size_t i = 0; i < ports_seen.size(); ++i) {
      if (ports_seen[i].prefix && ports_seen[i].prefix->contains(*addr)) {
        return i;
      }
    }
    ctx.error(addr_node, m.path(what), to_string(*addr) +
                                           " is not in any port's connected prefix, so no port "
                                           "can reach it");
    return std::nullopt;
  }

  // addr must be a neighbour on port `pi`: inside its connected prefix, not the port's own.
  bool check_on_link(size_t pi, Ipv4 addr, const YAML::Node& n, const std::string& path) {
    const auto& port = ports_seen[pi];
    if (!port.prefix) {
      return false;
    }
    if (!port.prefix->contains(addr)) {
      ctx.error(n, path, to_string(addr) + " is not in the connected prefix of port " +
                             quote(port.name) + ", " +
                             to_string(Ipv4Prefix{port.prefix->network(), port.prefix->length}));
      return false;
    }
    if (port.prefix->address == addr) {
      ctx.error(n, path, to_string(addr) + " is the own address of port " + quote(port.name));
      return false;
    }
    return true;
  }

  void read_routes(const YAML::Node& node) {
    auto list = detail::read_list(ctx, node, "routes");
    if (!list) {
      return;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string path = index("routes", i);
      MapReader m(ctx, (*list)[i], path);
      if (!m.valid()) {
        continue;
      }
      RouteConfig r;
      bool ok = true;
      auto pn = m.require("prefix");
      std::optional<Ipv4Prefix> prefix;
      if (pn) {
        prefix = detail::read_ipv4_prefix(ctx, *pn, m.path("prefix"));
        if (prefix && prefix->address != prefix->network()) {
          ctx.error(*pn, m.path("prefix"),
                    quote(pn->Scalar()) + " has host bits set; did you mean " +
                        to_string(Ipv4Prefix{prefix->network(), prefix->length}) + "?");
          prefix.reset();
        }
        if (prefix) {
          for (const auto& other : cfg.routes) {
            if (other.prefix == *prefix) {
              ctx.error(*pn, m.path("prefix"), "duplicate route for " + to_string(*prefix));
              prefix.reset();
              break;
            }
          }
        }
      }
      ok = ok && prefix.has_value();
      auto vn = m.require("via");
      std::optional<Ipv4> via;
      if (vn) {
        via = detail::read_ipv4(ctx, *vn, m.path("via"));
      }
      auto pi = resolve_port(m, via, vn ? *vn : (*list)[i], "via");
      if (pi && via && !check_on_link(*pi, *via, *vn, m.path("via"))) {
        ok = false;
      }
      m.finish();
      if (ok && via && pi) {
        r.prefix = *prefix;
        r.via = *via;
        r.port = ports_seen[*pi].name;
        r.port_idx = *pi;
        cfg.routes.push_back(std::move(r));
      }
    }
  }

  void read_neighbors(const YAML::Node& node) {
    auto list = detail::read_list(ctx, node, "neighbors");
    if (!list) {
      return;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string path = index("neighbors", i);
      MapReader m(ctx, (*list)[i], path);
      if (!m.valid()) {
        continue;
      }
      auto an = m.require("address");
      std::optional<Ipv4> addr;
      if (an) {
        addr = detail::read_ipv4(ctx, *an, m.path("address"));
      }
      std::optional<MacAddress> mac;
      if (auto n = m.require("mac")) {
        mac = detail::read_mac(ctx, *n, m.path("mac"));
      }
      auto pi = resolve_port(m, addr, an ? *an : (*list)[i], "address");
      bool ok = addr && mac && pi && check_on_link(*pi, *addr, *an, m.path("address"));
      if (ok) {
        for (const auto& other : cfg.neighbors) {
          if (other.address == *addr && other.port_idx == *pi) {
            ctx.error(*an, m.path("address"), "duplicate neighbor " + to_string(*addr));
            ok = false;
          }
        }
      }
      m.finish();
      if (ok) {
        cfg.neighbors.push_back(NeighborConfig{*addr, *mac, ports_seen[*pi].name, *pi});
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // One pool entry: an address, or a prefix standing for all of its addresses.
  void read_pool_entry(const YAML::Node& n, const std::string& path, std::vector<Ipv4>& out,
                       std::vector<std::pair<Ipv4, std::string>>& all) {
    std::vector<Ipv4> addrs;
    if (n.IsScalar() && n.Scalar().find('/') != std::string::npos) {
      auto pfx = detail::read_ipv4_prefix(ctx, n, path);
      if (!pfx) {
        return;
      }
      if (pfx->length < 20) {
        ctx.error(n, path, "a pool prefix must be /20 or longer (at most 4096 addresses)");
        return;
      }
      if (pfx->address != pfx->network()) {
        ctx.error(n, path, quote(n.Scalar()) + " has host bits set; did you mean " +
                               to_string(Ipv4Prefix{pfx->network(), pfx->length}) + "?");
        return;
      }
      const uint64_t count = uint64_t{1} << (32 - pfx->length);
      for (uint64_t k = 0; k < count; ++k) {
        addrs.push_back(Ipv4{pfx->network().value + static_cast<uint32_t>(k)});
      }
    } else if (auto a = detail::read_ipv4(ctx, n, path)) {
      addrs.push_back(*a);
    } else {
      return;
    }
    for (Ipv4 a : addrs) {
      const std::string text = to_string(a);
      if (!detail::is_unicast(a)) {
        ctx.error(n, path, text + " is not a unicast address");
        return;
      }
      for (const auto& [other, where] : all) {
        if (other == a) {
          ctx.error(n, path, text + " is already in the pool at " + where);
          return;
        }
      }
      for (const auto& p : ports_seen) {
        if (!p.prefix) {
          continue;
        }
        if (p.prefix->address == a) {
          ctx.error(n, path, text + " is the own address of port " + quote(p.name) +
                                 "; egress addresses must be distinct from it");
          return;
        }
        if (!p.prefix->contains(a)) {
          continue;
        }
        if (p.role == PortRole::kInside) {
          ctx.error(n, path, text + " is in the connected prefix of inside port " + quote(p.name) +
                                 "; egress addresses belong on the outside");
          return;
        }
        const Ipv4Prefix& pp = *p.prefix;
        if (pp.length <= 30 &&
            (a == pp.network() || a.value == (pp.network().value | ~pp.mask()))) {
          ctx.error(n, path, text + " is the network or broadcast address of the connected prefix of port " +
                                 quote(p.name));
          return;
        }
      }
      if (out.size() >= kMaxPoolAddresses) {
        ctx.error(n, path, "a pool holds at most " + std::to_string(kMaxPoolAddresses) + " addresses");
        return;
      }
      out.push_back(a);
      all.emplace_back(a, path);
    }
  }

  void read_pools(const YAML::Node& node) {
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
      auto list = n->IsScalar() ? std::optional(std::vector<YAML::Node>{*n})
                                : detail::read_list(ctx, *n, path);
      if (!list) {
        return;
      }
      for (size_t i = 0; i < list->size(); ++i) {
        read_pool_entry((*list)[i], n->IsScalar() ? path : index(path, i), out, all);
      }
      if (required && list->empty()) {
        ctx.error(*n, path, "needs at least one egress address");
      }
    };
    read_pool("normal", cfg.pools.normal, true);
    read_pool("high_risk", cfg.pools.high_risk, false);
    if (auto n = m.get("fallback")) {
      if (auto v = detail::read_enum(ctx, *n, m.path("fallback"), {"use_listed", "refuse"})) {
        cfg.pools.refuse_when_none_active = *v == 1;
      }
    }
    m.finish();
  }

  void read_root(const YAML::Node& root) {
    MapReader top(ctx, root, "");
    if (!top.valid()) {
      return;
    }
    // Sections in dependency order; each is read whatever its position in the file.
    if (auto n = top.get("eal")) {
      read_eal(*n);
    } else {
      cfg.eal.lcores = {0, 1};
    }
    if (auto n = top.require("ports")) {
      read_ports(*n);
    } else {
      ports_clean = false;
    }
    if (auto n = top.get("routes")) {
      read_routes(*n);
    }
    if (auto n = top.get("neighbors")) {
      read_neighbors(*n);
    }
    if (auto n = top.get("smtp")) {
      detail::read_smtp(ctx, *n, cfg.smtp);
    }
    if (auto n = top.require("pools")) {
      read_pools(*n);
    }
    if (auto n = top.get("flows")) {
      detail::read_flows(ctx, *n, cfg.flows);
    }
    if (auto n = top.get("arp")) {
      detail::read_arp(ctx, *n, cfg.arp);
    }
    if (auto n = top.get("workers")) {
      detail::read_workers(ctx, *n, cfg.workers);
    }
    if (auto n = top.get("inspection")) {
      detail::read_inspection(ctx, *n, cfg.inspection, cfg.limits);
    }
    if (auto n = top.get("rules")) {
      detail::read_rules(ctx, *n, cfg.rules);
    }
    if (auto n = top.get("limits")) {
      detail::read_limits(ctx, *n, cfg.limits);
    }
    if (auto n = top.get("sender_domains")) {
      detail::read_sender_domains(ctx, *n, cfg.sender_domains);
    }
    if (auto n = top.get("dnsbl")) {
      detail::read_dnsbl(ctx, *n, cfg.dnsbl);
    }
    if (auto n = top.get("store")) {
      detail::read_store(ctx, *n, cfg.store);
    }
    if (auto n = top.get("api")) {
      detail::read_api(ctx, *n, cfg.api);
    }
    if (auto n = top.get("alerts")) {
      detail::read_alerts(ctx, *n, cfg.alerts);
    }
    if (auto n = top.get("telemetry")) {
      detail::read_telemetry(ctx, *n, cfg.telemetry);
    }
    top.finish();
  }
};

// Counts the documents without building nodes. yaml-cpp 0.7 cannot consume a ',' outside a flow
// collection at block level: LoadAll then returns empty documents forever (found by fuzzing) and
// Load silently ignores the rest of the file. Both are caught here: a document that starts where
// the previous one started means the parser is stuck. Throws YAML::ParserException on syntax
// errors. Returns false when it reported an error.
class DocumentCounter : public YAML::EventHandler {
 public:
  YAML::Mark start;
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

bool check_documents(Ctx& ctx, const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  std::vector<YAML::Mark> starts;
  // Each real document consumes input, so a file of n bytes has at most n + 1 of them; the
  // bound only matters if the parser misbehaves in a way the stuck check below does not see.
  while (starts.size() <= text.size() + 1) {
    DocumentCounter doc;
    if (!parser.HandleNextDocument(doc)) {
      break;
    }
    if (!starts.empty() && doc.start.pos == starts.back().pos) {
      const auto at = static_cast<size_t>(std::max(doc.start.pos, 0));
      const std::string what = at < text.size() ? quote(text.substr(at, 1)) : "end of file";
      ctx.error(doc.start, "", "invalid YAML: unexpected " + what +
                                   (what == "','" ? " outside a [ ] or { } collection" : ""));
      return false;
    }
    starts.push_back(doc.start);
  }
  if (starts.size() > 1) {
    ctx.error(starts[1], "", "more than one YAML document; put the whole configuration in one");
    return false;
  }
  return true;
}

}  // namespace

Result load_string(std::string_view text, const std::string& name) {
  Ctx ctx(name);
  if (text.size() > kMaxFileBytes) {
    ctx.error(YAML::Mark::null_mark(), "",
              "the file is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
    return Result(ctx.take_errors());
  }
  const std::string copy(text);
  YAML::Node root;
  try {
    if (!check_documents(ctx, copy)) {
      return Result(ctx.take_errors());
    }
    root = YAML::Load(copy);
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "", "invalid YAML: " + e.msg);
    return Result(ctx.take_errors());
  }
  if (root.IsNull()) {
    ctx.error(YAML::Mark::null_mark(), "",
              "the configuration is empty (at least 'ports' and 'pools' are required)");
    return Result(ctx.take_errors());
  }
  Config cfg;
  cfg.source = name;
  try {
    Loader loader{ctx, cfg, {}, true};
    loader.read_root(root);
  } catch (const YAML::Exception& e) {
    // The readers only use non-throwing node accessors; this is a safety net, not a path.
    ctx.error(e.mark, "", std::string("cannot read the configuration: ") + e.what());
  }
  if (ctx.failed()) {
    return Result(ctx.take_errors());
  }
  return Result(std::move(cfg));
}

Result load_file(const std::string& path) {
  Ctx ctx(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    ctx.error(YAML::Mark::null_mark(), "", std::string("cannot open: ") + std::strerror(errno));
    return Result(ctx.take_errors());
  }
  if (S_ISDIR(st.st_mode)) {
    ctx.error(YAML::Mark::null_mark(), "", "cannot open: is a directory");
    return Result(ctx.take_errors());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ctx.error(YAML::Mark::null_mark(), "", std::string("cannot open: ") + std::strerror(errno));
    return Result(ctx.take_errors());
  }
  std::string text;
  text.resize(kMaxFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    ctx.error(YAML::Mark::null_mark(), "", "read error");
    return Result(ctx.take_errors());
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return load_string(text, path);
}

}  // namespace smtpgw::config
