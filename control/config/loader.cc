// The YAML loader: document → sections → Config, with every error positioned. The sections are
// read in a fixed order (eal, ports, routes, neighbors, smtp, pools, ...) whatever their order in
// the file, so that references (a route's port, a pool address against the port addresses) are
// checked against sections already read; errors are sorted by position at the end. The sections'
// readers live in files by topic (declared in reader.h); this file holds the top level and the
// references between sections.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

#include "control/config/reader.h"

namespace smtpgw::config {

namespace detail {

// ---------------------------------------------------------------------------------------------
// References between sections: what the ports section left (PortsSeen), as routes, neighbours
// and pools refer to it.

namespace {

// Whether `has` holds for every port. When it does not, a reference that does not resolve may be
// to that port: it is not reported (the port's own error is).
template <typename F>
bool all_ports(const PortsSeen& seen, F has) {
  if (!seen.clean) {
    return false;
  }
  for (const auto& p : seen.list) {
    if (!has(p)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool PortsSeen::names_known() const {
  return all_ports(*this, [](const PortSeen& p) { return !p.name.empty(); });
}
bool PortsSeen::prefixes_known() const {
  return all_ports(*this, [](const PortSeen& p) { return p.prefix.has_value(); });
}
bool PortsSeen::roles_known() const {
  return all_ports(*this, [](const PortSeen& p) { return p.role.has_value(); });
}

std::optional<size_t> resolve_port(Ctx& ctx, const PortsSeen& ports_seen, MapReader& m,
                                   std::optional<Ipv4> addr, const YAML::Node& addr_node,
                                   const char* what) {
  if (auto n = m.get("port")) {
    auto s = read_string(ctx, *n, m.path("port"));
    if (!s) {
      return std::nullopt;
    }
    for (size_t i = 0; i < ports_seen.list.size(); ++i) {
      if (ports_seen.list[i].name == *s) {
        return i;
      }
    }
    if (ports_seen.names_known()) {
      std::string names;
      for (const auto& p : ports_seen.list) {
        names += names.empty() ? "" : ", ";
        names += p.name;
      }
      ctx.error(*n, m.path("port"), "unknown port " + quote(*s) + " (ports: " + names + ")");
    }
    return std::nullopt;
  }
  if (!addr || !ports_seen.prefixes_known()) {
    return std::nullopt;
  }
  for (size_t i = 0; i < ports_seen.list.size(); ++i) {
    if (ports_seen.list[i].prefix && ports_seen.list[i].prefix->contains(*addr)) {
      return i;
    }
  }
  ctx.error(addr_node, m.path(what),
            to_string(*addr) + " is not in any port's connected prefix, so no port can reach it");
  return std::nullopt;
}

bool check_on_link(Ctx& ctx, const PortsSeen& ports_seen, size_t pi, Ipv4 addr, const YAML::Node& n,
                   const std::string& path) {
  const auto& port = ports_seen.list[pi];
  if (!port.prefix) {
    return false;
  }
  if (!port.prefix->contains(addr)) {
    ctx.error(n, path,
              to_string(addr) + " is not in the connected prefix of port " + quote(port.name) +
                  ", " + to_string(Ipv4Prefix{port.prefix->network(), port.prefix->length}));
    return false;
  }
  if (port.prefix->address == addr) {
    ctx.error(n, path, to_string(addr) + " is the own address of port " + quote(port.name));
    return false;
  }
  return true;
}

bool check_egress_address(Ctx& ctx, const PortsSeen& ports_seen, Ipv4 a, const YAML::Node& n,
                          const std::string& path) {
  const std::string text = to_string(a);
  for (const auto& p : ports_seen.list) {
    if (!p.prefix) {
      continue;
    }
    if (p.prefix->address == a) {
      ctx.error(n, path,
                text + " is the own address of port " + quote(p.name) +
                    "; egress addresses must be distinct from it");
      return false;
    }
    if (!p.prefix->contains(a)) {
      continue;
    }
    if (p.role == PortRole::kInside) {
      ctx.error(n, path,
                text + " is in the connected prefix of inside port " + quote(p.name) +
                    "; egress addresses belong on the outside");
      return false;
    }
    const Ipv4Prefix& pp = *p.prefix;
    if (pp.length <= 30 && (a == pp.network() || a.value == (pp.network().value | ~pp.mask()))) {
      ctx.error(n, path,
                text + " is the network or broadcast address of the connected prefix of port " +
                    quote(p.name));
      return false;
    }
  }
  return true;
}

}  // namespace detail

namespace {

using detail::Ctx;
using detail::MapReader;
using detail::quote;

constexpr size_t kMaxFileBytes = 4 << 20;

// The top level: each key to its section reader (one file per topic, declared in reader.h).
struct Loader {
  Ctx& ctx;
  Config& cfg;
  detail::PortsSeen ports_seen;

  void read_root(const YAML::Node& root) {
    MapReader top(ctx, root, "");
    if (!top.valid()) {
      return;
    }
    // Sections in dependency order; each is read whatever its position in the file.
    if (auto n = top.get("eal")) {
      detail::read_eal(ctx, *n, cfg.eal);
    } else {
      cfg.eal.lcores = {0, 1};
    }
    if (auto n = top.require("ports")) {
      detail::read_ports(ctx, *n, cfg, ports_seen);
    } else {
      ports_seen.clean = false;
    }
    if (auto n = top.get("routes")) {
      detail::read_routes(ctx, *n, ports_seen, cfg.routes);
    }
    if (auto n = top.get("neighbors")) {
      detail::read_neighbors(ctx, *n, ports_seen, cfg.neighbors);
    }
    if (auto n = top.get("smtp")) {
      detail::read_smtp(ctx, *n, cfg.smtp);
    }
    detail::PendingPoolOrgs pool_orgs;
    if (auto n = top.require("pools")) {
      detail::read_pools(ctx, *n, ports_seen, cfg.pools, pool_orgs);
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
    detail::bind_pool_organisations(ctx, pool_orgs, cfg.limits, cfg.pools);
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
    if (auto n = top.get("reputation")) {
      detail::read_reputation(ctx, *n, cfg.reputation);
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

// One YAML document of at most kMaxFileBytes into `root`; false with the error in ctx.
bool parse_document(Ctx& ctx, std::string_view text, YAML::Node& root) {
  if (text.size() > kMaxFileBytes) {
    ctx.error(YAML::Mark::null_mark(), "",
              "the file is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
    return false;
  }
  const std::string copy(text);
  try {
    if (!check_documents(ctx, copy)) {
      return false;
    }
    root = YAML::Load(copy);
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "", "invalid YAML: " + e.msg);
    return false;
  }
  return true;
}

}  // namespace

Result load_policy(std::string_view text, const std::string& name, const Config& base) {
  Ctx ctx(name);
  YAML::Node root;
  if (!parse_document(ctx, text, root)) {
    return Result(ctx.take_errors());
  }
  if (!root.IsMap() || root.size() != 1 || !root["limits"]) {
    ctx.error(root.Mark(), "",
              "a policy is a mapping with one key, limits (the section as in the config file)");
    return Result(ctx.take_errors());
  }
  Config cfg = base;
  cfg.limits = policy::Policy{};
  try {
    detail::read_limits(ctx, root["limits"], cfg.limits);
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "", std::string("cannot read the policy: ") + e.what());
  }
  if (ctx.failed()) {
    return Result(ctx.take_errors());
  }
  // What the config file's other sections put into the policy stays theirs.
  cfg.limits.starttls = base.limits.starttls;
  cfg.limits.starttls_prefixes = base.limits.starttls_prefixes;
  return Result(std::move(cfg));
}

Result load_string(std::string_view text, const std::string& name) {
  Ctx ctx(name);
  YAML::Node root;
  if (!parse_document(ctx, text, root)) {
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
    Loader loader{ctx, cfg, {}};
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
