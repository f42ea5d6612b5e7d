// Internal to the loader: error collection and typed access to yaml-cpp nodes, so each section
// reader states its schema (keys, types, ranges) and nothing else. Not a public header.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/config/config.h"

namespace smtpgw::config::detail {

inline constexpr size_t kMaxErrors = 100;

// Collects errors with their positions. Positions come from yaml-cpp marks (0-based), stored
// 1-based. A null mark (nodes yaml-cpp made up) falls back to the position given by the caller.
class Ctx {
 public:
  explicit Ctx(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Mark& mark, const std::string& key, std::string message);
  void error(const YAML::Node& node, const std::string& key, std::string message) {
    error(node.Mark(), key, std::move(message));
  }
  bool failed() const { return !errors_.empty(); }
  size_t error_count() const { return errors_.size(); }
  // The errors sorted by position (stable), capped at kMaxErrors.
  std::vector<Error> take_errors();
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<Error> errors_;
  size_t dropped_ = 0;
};

// "a" + "b" -> "a.b"; "" + "b" -> "b".
std::string join(const std::string& path, std::string_view key);
// "a" + 3 -> "a[3]".
std::string index(const std::string& path, size_t i);
// "a list", "a mapping", "'text'" — what the operator wrote, for "expected X, got Y".
std::string describe(const YAML::Node& n);
// The text of a scalar for messages, shortened and with control characters escaped.
std::string quote(std::string_view text);

// A mapping whose keys are checked against the schema. The constructor reports a node that is
// not a mapping, non-scalar keys and duplicate keys; finish() reports every key nobody asked for
// ("unknown key", with a suggestion when one is close). A null node (an empty section such as
// `routes:` with nothing under it) reads as an empty mapping.
class MapReader {
 public:
  MapReader(Ctx& ctx, const YAML::Node& node, std::string path);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  bool valid() const { return valid_; }
  // The value under `key`, if present (and marks `key` known).
  std::optional<YAML::Node> get(std::string_view key);
  // Same, but reports "missing required key" (at this mapping's position) when absent.
  std::optional<YAML::Node> require(std::string_view key);
  // Marks a key as known without reading it.
  void allow(std::string_view key) { known_.emplace_back(key); }
  void finish();

  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return join(path_, key); }
  const YAML::Node& node() const { return node_; }

 private:
  Ctx& ctx_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = false;
  std::vector<std::pair<std::string, YAML::Node>> entries_;  // key text, value
  std::vector<std::pair<std::string, YAML::Mark>> key_marks_;
  std::vector<std::string> known_;
};

// Scalar readers: each reports its own error (with `path` as the key) and returns nullopt.
std::optional<std::string> read_string(Ctx& ctx, const YAML::Node& n, const std::string& path);
std::optional<uint64_t> read_uint(Ctx& ctx, const YAML::Node& n, const std::string& path,
                                  uint64_t min, uint64_t max);
std::optional<bool> read_bool(Ctx& ctx, const YAML::Node& n, const std::string& path);
// Seconds, as an integer or with an s/m/h/d suffix, within [min, max].
std::optional<uint32_t> read_duration(Ctx& ctx, const YAML::Node& n, const std::string& path,
                                      uint32_t min, uint32_t max);
std::optional<Ipv4> read_ipv4(Ctx& ctx, const YAML::Node& n, const std::string& path);
std::optional<Ipv4Prefix> read_ipv4_prefix(Ctx& ctx, const YAML::Node& n,
                                           const std::string& path);
std::optional<MacAddress> read_mac(Ctx& ctx, const YAML::Node& n, const std::string& path);
// One of `names` (exact spelling); the message lists them all.
std::optional<size_t> read_enum(Ctx& ctx, const YAML::Node& n, const std::string& path,
                                const std::vector<std::string_view>& names);
// A sequence (or null = empty). Reports "expected a list" otherwise.
std::optional<std::vector<YAML::Node>> read_list(Ctx& ctx, const YAML::Node& n,
                                                 const std::string& path);

// Generic helper: read an optional unsigned field into `out` (any integer type) if present.
template <typename T>
void read_uint_into(Ctx& ctx, MapReader& m, std::string_view key, T& out, uint64_t min,
                    uint64_t max) {
  if (auto n = m.get(key)) {
    if (auto v = read_uint(ctx, *n, m.path(key), min, max)) {
      out = static_cast<T>(*v);
    }
  }
}

inline void read_duration_into(Ctx& ctx, MapReader& m, std::string_view key, uint32_t& out,
                               uint32_t min, uint32_t max) {
  if (auto n = m.get(key)) {
    if (auto v = read_duration(ctx, *n, m.path(key), min, max)) {
      out = *v;
    }
  }
}

inline void read_bool_into(Ctx& ctx, MapReader& m, std::string_view key, bool& out) {
  if (auto n = m.get(key)) {
    if (auto v = read_bool(ctx, *n, m.path(key))) {
      out = *v;
    }
  }
}

// Unicast, usable as a host address: not 0.0.0.0/8, 127/8, 224/4 (multicast), 240/4, broadcast.
bool is_unicast(Ipv4 a);
// The line (1-based) of a mark, for "first defined at line N" notes.
inline uint32_t line_of(const YAML::Mark& m) { return m.is_null() ? 0 : m.line + 1; }

// What the `ports:` section leaves for the sections that refer to a port (routes, neighbors,
// pools). A port whose address did not parse has no prefix: references to it are accepted
// silently (its own error is enough).
struct PortSeen {
  std::string name;
  std::optional<Ipv4Prefix> prefix;
  std::optional<PortRole> role;
};
struct PortsSeen {
  std::vector<PortSeen> list;  // one per item of `ports:`, in order, also for items with errors
  bool clean = true;           // the ports list itself was readable (each item may still be bad)

  // Whether every port's name / prefix / role is known. When one is not, a reference that
  // does not resolve may be to that port: it is not reported (the port's own error is).
  bool names_known() const;
  bool prefixes_known() const;
  bool roles_known() const;
};

// References between sections (loader.cc).
// Resolves the `port:` of a route or neighbour. With a name: it must exist. Without: the
// port whose connected prefix holds `addr`. Returns the index into ports_seen.list, or nullopt
// when the reference is broken (reported) or cannot be checked (a port had errors; not reported).
std::optional<size_t> resolve_port(Ctx& ctx, const PortsSeen& ports_seen, MapReader& m,
                                   std::optional<Ipv4> addr, const YAML::Node& addr_node,
                                   const char* what);
// addr must be a neighbour on port `pi`: inside its connected prefix, not the port's own.
bool check_on_link(Ctx& ctx, const PortsSeen& ports_seen, size_t pi, Ipv4 addr, const YAML::Node& n,
                   const std::string& path);
// An egress (pool) address against the ports: not a port's own address, not in an inside
// port's prefix, not the network or broadcast address of a connected prefix. Reports the first
// problem and returns false.
bool check_egress_address(Ctx& ctx, const PortsSeen& ports_seen, Ipv4 a, const YAML::Node& n,
                          const std::string& path);

// The section readers, called by loader.cc in dependency order. Each fills its part of the
// config and reports into ctx.
// `eal:`, `ports:`, `routes:`, `neighbors:` (ports.cc). read_ports uses cfg.eal (declared
// devices, worker count), fills cfg.ports and leaves ports_seen for the later sections.
void read_eal(Ctx& ctx, const YAML::Node& node, EalConfig& out);
void read_ports(Ctx& ctx, const YAML::Node& node, Config& cfg, PortsSeen& ports_seen);
void read_routes(Ctx& ctx, const YAML::Node& node, const PortsSeen& ports_seen,
                 std::vector<RouteConfig>& out);
void read_neighbors(Ctx& ctx, const YAML::Node& node, const PortsSeen& ports_seen,
                    std::vector<NeighborConfig>& out);
// `pools:` (pools.cc). The organisations named pools are bound to wait in PendingPoolOrgs
// until `limits:` is read; bind_pool_organisations then resolves them to their IPv4 prefixes.
struct BoundPrefix {  // a prefix bound to a named pool, by which pool and where
  Ipv4Prefix prefix;
  std::string pool, where;
};
struct PendingPoolOrgs {
  struct Ref {
    size_t pool;  // index into PoolsConfig::named
    std::string org;
    YAML::Node node;
    std::string path;
  };
  std::vector<Ref> refs;
  std::vector<BoundPrefix> seen;  // the prefixes bound under "hosts", for duplicates
};
void read_pools(Ctx& ctx, const YAML::Node& node, const PortsSeen& ports_seen, PoolsConfig& out,
                PendingPoolOrgs& pending);
void bind_pool_organisations(Ctx& ctx, const PendingPoolOrgs& pending,
                             const policy::Policy& limits, PoolsConfig& pools);
// `smtp:`, `inspection:` (with its STARTTLS keys into `limits`), `rules:` (inspection.cc).
void read_smtp(Ctx& ctx, const YAML::Node& node, SmtpConfig& out);
void read_inspection(Ctx& ctx, const YAML::Node& node, InspectionConfig& out,
                     policy::Policy& limits);
void read_rules(Ctx& ctx, const YAML::Node& node, RulesConfig& out);
// `workers:`, `flows:`, `arp:`, `telemetry:` (workers.cc).
void read_workers(Ctx& ctx, const YAML::Node& node, WorkersConfig& out);
void read_flows(Ctx& ctx, const YAML::Node& node, FlowsConfig& out);
void read_arp(Ctx& ctx, const YAML::Node& node, ArpConfig& out);
void read_telemetry(Ctx& ctx, const YAML::Node& node, TelemetryConfig& out);
// `limits:` (limits.cc).
void read_limits(Ctx& ctx, const YAML::Node& node, policy::Policy& out);
// The STARTTLS keys of the `inspection:` section ("starttls", "starttls_prefixes"), into the
// policy the workers are given.
void read_starttls(Ctx& ctx, MapReader& m, policy::Policy& out);
// The sections of what the control plane asks DNS (dns.cc): `sender_domains:` and `dnsbl:`.
void read_sender_domains(Ctx& ctx, const YAML::Node& node, SenderDomainsConfig& out);
void read_dnsbl(Ctx& ctx, const YAML::Node& node, DnsblConfig& out);
// `store:` (persistence.cc).
void read_store(Ctx& ctx, const YAML::Node& node, StoreConfig& out);
// `api:` (persistence.cc, with the store it serves).
void read_api(Ctx& ctx, const YAML::Node& node, ApiConfig& out);
// `alerts:` (persistence.cc).
void read_alerts(Ctx& ctx, const YAML::Node& node, AlertsConfig& out);
// `reputation:` (reputation.cc).
void read_reputation(Ctx& ctx, const YAML::Node& node, ReputationConfig& out);

}  // namespace smtpgw::config::detail
