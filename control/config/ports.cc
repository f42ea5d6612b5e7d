// The `eal:`, `ports:`, `routes:` and `neighbors:` sections: the DPDK environment and the networks
// the gateway sits between. The ports section leaves a PortsSeen behind; routes and neighbours
// resolve their port through it (loader.cc).
#include <algorithm>

#include "control/config/reader.h"

namespace smtpgw::config::detail {

namespace {

constexpr uint32_t kMaxLcore = 127;    // RTE_MAX_LCORE (128) - 1 in Debian's DPDK 22.11
constexpr uint32_t kMaxEthPorts = 32;  // RTE_MAX_ETHPORTS in Debian's DPDK 22.11

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

bool device_declared(const EalConfig& eal, std::string_view device) {
  for (const auto& d : eal.devices) {
    if (std::string_view(d).substr(0, d.find(',')) == device) {
      return true;
    }
  }
  return false;
}

// One item of `ports:`. Every item leaves an entry in ports_seen, also one with errors, so that
// indexes into it are indexes into the list as written.
void read_port(Ctx& ctx, const YAML::Node& node, const std::string& path, Config& cfg,
               PortsSeen& ports_seen) {
  PortSeen seen;
  PortConfig p;
  if (node.IsNull()) {
    ctx.error(node, path, "expected a port (name, device, role, address), got nothing");
    ports_seen.list.push_back(seen);
    return;
  }
  MapReader m(ctx, node, path);
  if (!m.valid()) {
    ports_seen.list.push_back(seen);
    return;
  }
  if (auto n = m.require("name")) {
    if (auto s = read_string(ctx, *n, m.path("name"))) {
      if (!is_name(*s, 32)) {
        ctx.error(*n, m.path("name"),
                  "must be 1..32 characters of A-Z a-z 0-9 _ -, got " + quote(*s));
      } else {
        for (const auto& other : ports_seen.list) {
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
    if (auto s = read_string(ctx, *n, dpath)) {
      if (all_digits(*s)) {
        if (auto v = read_uint(ctx, *n, dpath, 0, kMaxEthPorts - 1)) {
          p.port_index = static_cast<uint16_t>(*v);
          p.device = *s;
        }
      } else if (s->find(',') != std::string::npos) {
        ctx.error(*n, dpath,
                  "is the DPDK device name only (e.g. net_tap0); put its arguments "
                  "in eal.devices");
      } else if (s->empty() || s->size() > 63 || s->find_first_of(" \t\r\n") != std::string::npos) {
        ctx.error(*n, dpath, "expected a DPDK device name or a port index, got " + quote(*s));
      } else if (s->rfind("net_", 0) == 0 && !device_declared(cfg.eal, *s)) {
        ctx.error(*n, dpath,
                  "virtual device " + quote(*s) + " is not declared in eal.devices (add \"" + *s +
                      ",...\")");
      } else {
        p.device = *s;
      }
      if (!p.device.empty()) {
        for (const auto& other : cfg.ports) {
          if (other.device == p.device) {
            ctx.error(
                *n, dpath,
                "device " + quote(p.device) + " is already used by port " + quote(other.name));
          }
        }
      }
    }
  }
  if (auto n = m.require("role")) {
    if (auto v = read_enum(ctx, *n, m.path("role"), {"inside", "outside"})) {
      p.role = *v == 0 ? PortRole::kInside : PortRole::kOutside;
      seen.role = p.role;
    }
  }
  if (auto n = m.require("address")) {
    const std::string apath = m.path("address");
    if (auto pfx = read_ipv4_prefix(ctx, *n, apath)) {
      const std::string text = n->Scalar();
      if (pfx->length == 0) {
        ctx.error(*n, apath, "the prefix length must be 1..32 (the connected network)");
      } else if (!is_unicast(pfx->address)) {
        ctx.error(*n, apath, quote(text) + " is not a unicast host address");
      } else if (pfx->length <= 30 &&
                 (pfx->address == pfx->network() ||
                  pfx->address.value == (pfx->network().value | ~pfx->mask()))) {
        ctx.error(*n, apath,
                  quote(text) +
                      " is the network or broadcast address of its prefix; give the "
                      "gateway's own address, e.g. " +
                      to_string(Ipv4{pfx->network().value + 1}) + "/" +
                      std::to_string(pfx->length));
      } else {
        bool clash = false;
        for (const auto& other : ports_seen.list) {
          if (other.prefix &&
              (other.prefix->contains(pfx->address) || pfx->contains(other.prefix->address))) {
            ctx.error(*n, apath,
                      "connected prefix " + to_string(Ipv4Prefix{pfx->network(), pfx->length}) +
                          " overlaps the connected prefix of port " + quote(other.name) + " (" +
                          to_string(*other.prefix) + ")");
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
      p.mac = read_mac(ctx, *n, m.path("mac"));
    }
  }
  read_uint_into(ctx, m, "vlan", p.vlan, 0, 4'094);
  read_uint_into(ctx, m, "rx_queues", p.rx_queues, 1, 64);
  read_uint_into(ctx, m, "rx_descriptors", p.rx_descriptors, 64, 16'384);
  read_uint_into(ctx, m, "tx_descriptors", p.tx_descriptors, 64, 16'384);
  m.finish();
  if (p.rx_queues == 0) {
    p.rx_queues =
        static_cast<uint16_t>(std::max<size_t>(1, std::min<size_t>(64, cfg.worker_count())));
  }
  ports_seen.list.push_back(seen);
  cfg.ports.push_back(std::move(p));
}

}  // namespace

void read_eal(Ctx& ctx, const YAML::Node& node, EalConfig& eal) {
  MapReader m(ctx, node, "eal");
  if (!m.valid()) {
    return;
  }
  eal.lcores = {0, 1};
  if (auto n = m.get("lcores")) {
    const std::string path = m.path("lcores");
    std::vector<uint32_t> lcores;
    bool ok = true;
    const char* kWhat =
        "expected a list of lcore numbers or a string such as \"0-3\" or "
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
          ctx.error(*it, index(path, i), "expected an lcore number or range, got " + describe(*it));
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
          ctx.error(*n, path,
                    "lcore " + std::to_string(lcores[i]) + " is out of range 0.." +
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
      ctx.error(*n, path,
                "needs at least two lcores: the first runs the control plane, the "
                "others are workers");
      ok = false;
    }
    if (ok) {
      eal.lcores = std::move(lcores);
    } else {
      eal.lcores.clear();
    }
  }
  read_bool_into(ctx, m, "no_huge", eal.no_huge);
  read_uint_into(ctx, m, "memory_mb", eal.memory_mb, 1, 1 << 20);
  if (auto n = m.get("file_prefix")) {
    if (auto s = read_string(ctx, *n, m.path("file_prefix"))) {
      if (is_name(*s, 64)) {
        eal.file_prefix = *s;
      } else {
        ctx.error(*n, m.path("file_prefix"),
                  "must be 1..64 characters of A-Z a-z 0-9 _ -, got " + quote(*s));
      }
    }
  }
  if (auto n = m.get("devices")) {
    if (auto list = read_list(ctx, *n, m.path("devices"))) {
      std::vector<std::string> names;
      for (size_t i = 0; i < list->size(); ++i) {
        const std::string path = index(m.path("devices"), i);
        auto s = read_string(ctx, (*list)[i], path);
        if (!s) {
          continue;
        }
        const std::string name = s->substr(0, s->find(','));
        if (name.empty() || s->find_first_of(" \t\r\n") != std::string::npos) {
          ctx.error(
              (*list)[i], path,
              "expected a device such as \"net_tap0,iface=x\" or a PCI address, got " + quote(*s));
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
    if (auto list = read_list(ctx, *n, m.path("extra_args"))) {
      for (size_t i = 0; i < list->size(); ++i) {
        if (auto s = read_string(ctx, (*list)[i], index(m.path("extra_args"), i))) {
          eal.extra_args.push_back(*s);
        }
      }
    }
  }
  m.finish();
}

void read_ports(Ctx& ctx, const YAML::Node& node, Config& cfg, PortsSeen& ports_seen) {
  auto list = read_list(ctx, node, "ports");
  if (!list) {
    ports_seen.clean = false;
    return;
  }
  if (list->size() > kMaxEthPorts) {
    ctx.error(node, "ports", "at most " + std::to_string(kMaxEthPorts) + " ports");
    ports_seen.clean = false;
    return;
  }
  for (size_t i = 0; i < list->size(); ++i) {
    read_port(ctx, (*list)[i], index("ports", i), cfg, ports_seen);
  }
  if (ports_seen.roles_known()) {
    bool inside = false;
    bool outside = false;
    for (const auto& p : cfg.ports) {
      inside = inside || p.role == PortRole::kInside;
      outside = outside || p.role == PortRole::kOutside;
    }
    if (!inside || !outside) {
      ctx.error(node, "ports",
                std::string("needs at least one port with role inside and one "
                            "with role outside; there is no ") +
                    (inside    ? "outside port"
                     : outside ? "inside port"
                               : "port at all"));
    }
  }
}

void read_routes(Ctx& ctx, const YAML::Node& node, const PortsSeen& ports_seen,
                 std::vector<RouteConfig>& out) {
  auto list = read_list(ctx, node, "routes");
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
      prefix = read_ipv4_prefix(ctx, *pn, m.path("prefix"));
      if (prefix && prefix->address != prefix->network()) {
        ctx.error(*pn, m.path("prefix"),
                  quote(pn->Scalar()) + " has host bits set; did you mean " +
                      to_string(Ipv4Prefix{prefix->network(), prefix->length}) + "?");
        prefix.reset();
      }
      if (prefix) {
        for (const auto& other : out) {
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
      via = read_ipv4(ctx, *vn, m.path("via"));
    }
    auto pi = resolve_port(ctx, ports_seen, m, via, vn ? *vn : (*list)[i], "via");
    if (pi && via && !check_on_link(ctx, ports_seen, *pi, *via, *vn, m.path("via"))) {
      ok = false;
    }
    m.finish();
    if (ok && via && pi) {
      r.prefix = *prefix;
      r.via = *via;
      r.port = ports_seen.list[*pi].name;
      r.port_idx = *pi;
      out.push_back(std::move(r));
    }
  }
}

void read_neighbors(Ctx& ctx, const YAML::Node& node, const PortsSeen& ports_seen,
                    std::vector<NeighborConfig>& out) {
  auto list = read_list(ctx, node, "neighbors");
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
      addr = read_ipv4(ctx, *an, m.path("address"));
    }
    std::optional<MacAddress> mac;
    if (auto n = m.require("mac")) {
      mac = read_mac(ctx, *n, m.path("mac"));
    }
    auto pi = resolve_port(ctx, ports_seen, m, addr, an ? *an : (*list)[i], "address");
    bool ok =
        addr && mac && pi && check_on_link(ctx, ports_seen, *pi, *addr, *an, m.path("address"));
    if (ok) {
      for (const auto& other : out) {
        if (other.address == *addr && other.port_idx == *pi) {
          ctx.error(*an, m.path("address"), "duplicate neighbor " + to_string(*addr));
          ok = false;
        }
      }
    }
    m.finish();
    if (ok) {
      out.push_back(NeighborConfig{*addr, *mac, ports_seen.list[*pi].name, *pi});
    }
  }
}

}  // namespace smtpgw::config::detail
