// The gateway's start-up configuration: the typed result of loading the YAML file given to
// `smtpgw run --config FILE` (and `smtpgw analyze --config FILE`).
//
// Everything here is validated by the loader (control/config/loader.cc): once a Config exists,
// every value is in range, every cross-reference between sections resolves (routes and
// neighbours name an existing port, pool addresses do not collide with port addresses, ...),
// and the consumer does not need to re-check. The schema and the defaults are documented in
// docs/config.md.
//
// No DPDK dependency: addresses are plain integers, devices are strings; the integrator maps
// them onto rte_* calls (see eal_arguments()).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "contract/policy.h"

namespace smtpgw::config {

// An IPv4 address in HOST byte order (10.0.0.1 == 0x0a000001). Convert with htonl/rte_cpu_to_be_32
// before putting it into a packet.
struct Ipv4 {
  uint32_t value = 0;
  friend bool operator==(Ipv4, Ipv4) = default;
  friend auto operator<=>(Ipv4, Ipv4) = default;
};

// An IPv4 prefix. For a port's `address` the host bits are the gateway's own address
// (10.99.1.1/24); for a route's `prefix` the loader guarantees the host bits are zero.
struct Ipv4Prefix {
  Ipv4 address;
  uint8_t length = 0;  // 0..32

  // Network mask in host byte order (length 0 -> 0, 32 -> 0xffffffff).
  uint32_t mask() const { return length == 0 ? 0u : ~uint32_t{0} << (32 - length); }
  // The network address (host bits cleared).
  Ipv4 network() const { return Ipv4{address.value & mask()}; }
  // True if `a` lies in this prefix.
  bool contains(Ipv4 a) const { return (a.value & mask()) == (address.value & mask()); }
  friend bool operator==(const Ipv4Prefix&, const Ipv4Prefix&) = default;
};

using MacAddress = std::array<uint8_t, 6>;

// "10.0.0.1", "10.0.0.0/8", "02:00:00:00:00:01" (for logs and error messages).
std::string to_string(Ipv4 a);
std::string to_string(const Ipv4Prefix& p);
std::string to_string(const MacAddress& m);

// ---------------------------------------------------------------------------------------------
// eal:
struct EalConfig {
  // Logical cores. lcores[0] is the main lcore (control plane); lcores[1..] are the workers, in
  // this order (worker i runs on lcores[i + 1]). At least two, all distinct, each < 128
  // (RTE_MAX_LCORE of Debian's DPDK).
  std::vector<uint32_t> lcores;
  bool no_huge = true;                 // --no-huge
  uint32_t memory_mb = 256;            // -m (1..1048576)
  std::string file_prefix = "smtpgw";  // --file-prefix ([A-Za-z0-9_-]{1,64})
  // Device arguments as written ("net_tap0,iface=sgw-in", "0000:01:00.0"). A device whose name
  // starts with "net_" becomes --vdev, anything else -a (PCI allow-list).
  std::vector<std::string> devices;
  std::vector<std::string> extra_args;  // appended verbatim after the generated ones
};

// ---------------------------------------------------------------------------------------------
// ports:
enum class PortRole : uint8_t { kInside, kOutside };

struct PortConfig {
  std::string name;  // unique among ports; [A-Za-z0-9_-]{1,32}
  // DPDK ethdev name for rte_eth_dev_get_port_by_name() ("net_tap0", "0000:01:00.0"), unless
  // port_index is set (the YAML value was a plain number).
  std::string device;
  std::optional<uint16_t> port_index;  // `device: 0` -> 0 (< 32, RTE_MAX_ETHPORTS)
  PortRole role = PortRole::kInside;
  Ipv4Prefix address;               // own address + connected prefix (length 1..32)
  std::optional<MacAddress> mac;    // nullopt = "auto": keep the port's own MAC; else unicast
  uint16_t vlan = 0;                // 0 = untagged, 1..4094 = 802.1Q VID
  uint16_t rx_queues = 0;           // 1..64; default (after loading): one per worker
  uint16_t rx_descriptors = 1024;   // RX ring size, 64..16384
  uint16_t tx_descriptors = 1024;   // TX ring size, 64..16384
};

// ---------------------------------------------------------------------------------------------
// routes: / neighbors:
struct RouteConfig {
  Ipv4Prefix prefix;  // host bits zero; unique among routes
  Ipv4 via;           // next hop; lies in the connected prefix of `port`
  std::string port;   // port name
  size_t port_idx = 0;  // index into Config::ports (resolved by the loader)
};

struct NeighborConfig {
  Ipv4 address;       // lies in the connected prefix of `port`; unique
  MacAddress mac{};   // unicast
  std::string port;
  size_t port_idx = 0;  // index into Config::ports
};

// ---------------------------------------------------------------------------------------------
// smtp:
enum class OtherTraffic : uint8_t {
  kForward,  // "forward": routed unchanged (the inside addresses must be routable outside)
  kNat,      // "nat": source-NATed onto the host's pool like SMTP, but not inspected
  kDrop,     // "drop": dropped and counted
};

struct SmtpConfig {
  std::vector<uint16_t> ports{25};  // destination TCP ports treated as SMTP; unique, 1..65535
  OtherTraffic other_traffic = OtherTraffic::kForward;
};

// ---------------------------------------------------------------------------------------------
// pools:
struct PoolsConfig {
  // Egress (SNAT source) addresses. normal has at least one address. high_risk may be empty
  // (see docs/config.md: then there is no separate pool to steer to). No address appears twice
  // (within or across pools), none is a port address or inside an inside port's prefix.
  std::vector<Ipv4> normal;
  std::vector<Ipv4> high_risk;
  // "named": the operator's pools (at most 30), each bound to inside IPv4 prefixes ("hosts")
  // and to organisations of limits.organisations (their IPv4 prefixes, resolved at load). A
  // host's new flows leave from the pool of the longest bound prefix holding it; mail steered
  // to high risk still leaves from high_risk. No prefix is bound twice (at most 256 in all).
  struct Named {
    std::string name;  // [a-z0-9_-], 1..32 characters; not "normal" nor "high_risk"
    std::vector<Ipv4> addresses;
    std::vector<Ipv4Prefix> hosts;            // as written under "hosts"
    std::vector<std::string> organisations;   // as written under "organisations"
    std::vector<Ipv4Prefix> bound;            // hosts, then the organisations' IPv4 prefixes
  };
  std::vector<Named> named;
  // "fallback": what a pool with no active address left gives a new flow: its listed addresses
  // (use_listed, the default) or nothing, the SYN refused with an RST (refuse).
  bool refuse_when_none_active = false;
};

// ---------------------------------------------------------------------------------------------
// flows:
struct FlowTimeouts {  // seconds, each 1..604800
  uint32_t syn = 30;
  uint32_t established = 7'440;
  uint32_t fin = 240;
  uint32_t closed = 10;
  uint32_t udp = 60;
  uint32_t icmp = 30;
};

struct FlowsConfig {
  uint32_t max_per_worker = 65'536;  // 1..16777216
  uint16_t nat_port_min = 1'024;     // 1..65535, nat_port_min <= nat_port_max
  uint16_t nat_port_max = 65'535;
  FlowTimeouts timeouts;
};

// arp:
struct ArpConfig {
  uint32_t pending_max = 256;  // packets waiting on resolution per worker, 0..65536
  uint32_t entry_ttl = 300;    // seconds, 1..86400
  uint32_t retry_ms = 1'000;   // 10..60000
};

// workers:
struct WorkersConfig {
  uint16_t burst = 32;    // 1..512
  uint32_t mbufs = 8'191; // mbufs in the pool (per port/socket, as the integrator decides), 512..16777215
  // Events a worker may queue between two drains of the control plane (every 100 ms), 16..1048576;
  // 256 bytes each. A full queue drops events (counted); the control plane reconciles.
  uint32_t event_queue = 65'536;
};

// inspection:
struct InspectionConfig {
  bool enabled = true;            // reassemble and inspect SMTP flows on the workers
  // Per-worker pools, made at start (docs/config.md): messages in flight (MAIL FROM to the
  // record), messages whose content streams at once, scan contexts (with a rule set).
  uint32_t messages = 1'024;       // 1..1048576
  uint32_t active_sessions = 2'048;  // 1..1048576: sessions parsing at once (smtp::SessionContext)
  uint32_t decoders = 256;         // 1..1048576
  uint32_t segments = 65'536;      // 16..16777216: out-of-order and unacknowledged pieces held
  uint32_t scan_contexts = 1'024;  // 1..1048576
  bool pass_uninspected = false;   // "uninspected: pass"; default "defer" (451 4.3.2)
};

// rules:
struct RulesConfig {
  bool enabled = true;   // compile a rule set at start; every message is scanned with it
  std::string dir;       // empty: the shipped rule set; relative: to the config file's folder
  bool lenient = false;  // skip bad rules (each listed) instead of refusing to start
};

// sender_domains: the control plane looks up each sender domain seen in traffic and marks the
// ones without a mail exchanger (docs/config.md, "sender_domains").
struct SenderDomainsConfig {
  bool check = true;             // look up MX, then A and AAAA, of each new sender domain
  std::string servers;           // c-ares "IP[:port],..." (IPv6 as [IP]:port); empty: the system's
  uint32_t found_ttl = 86'400;   // seconds a domain with mail exchangers is trusted, 60..604800
  uint32_t missing_ttl = 3'600;  // seconds a domain without one stays marked, 60..604800
  uint32_t timeout_ms = 2'000;   // per query try, 100..30000 (two tries)
  uint32_t max_domains = 65'536; // domains remembered, 16..1048576
  uint32_t max_pending = 256;    // lookups in flight, 1..4096
};

// dnsbl: the pools' addresses watched on DNS blocklists (docs/config.md, "dnsbl").
struct DnsblConfig {
  std::vector<std::string> zones;  // lower case; empty: no monitoring
  std::string servers;             // c-ares "IP[:port],..."; empty: the system's resolver
  uint32_t interval = 900;         // seconds between two checks of an address, 10..86400
  uint32_t recheck_min = 60;       // a listed address: first re-check, then doubling, 1..86400
  uint32_t timeout_ms = 2'000;     // per try (two tries), 100..30000
  uint32_t max_pending = 32;       // queries in flight, 1..1024
  uint32_t zone_rate = 20;         // queries a second to one zone, 1..10000
  uint32_t blame_window = 86'400;  // seconds of trace before a listing its alert ranks, 60..30d
};

// store: the control plane's SQLite database (docs/config.md, "store").
struct StoreConfig {
  bool enabled = true;
  std::string path = "smtpgw.db";  // relative: to the config file's folder
  uint32_t trace_days = 30;         // 1..3650
  uint64_t trace_max_rows = 10'000'000;  // 1000..1000000000
};

// api: the operator API (docs/config.md, "api").
struct ApiConfig {
  bool enabled = true;               // on when a token is configured
  std::string address = "127.0.0.1"; // the management address to listen on
  uint16_t port = 8025;              // 1..65535
  std::string token;                 // bearer token, 16..256 characters; or:
  std::string token_file;            // a file holding it (relative: to the config's folder)
  uint32_t max_body = 65'536;        // bytes, 1024..16777216
};

// alerts.webhook: POST each alert as JSON (control/alerts/sinks.h, WebhookSink).
struct AlertWebhookConfig {
  std::string url;                // http:// only (alerts::parse_http_url)
  uint32_t timeout_ms = 2'000;    // connect, each write, each read; 100..60000
  uint32_t max_queue = 1'000;     // alerts held; 1..100000
  uint32_t max_attempts = 5;      // per alert; 1..20
  std::string token_file;         // bearer token's file (relative: to the config's folder)
};

// alerts.email: mail each alert to the admins through an SMTP relay (EmailSink).
struct AlertEmailConfig {
  std::string relay_host;         // name or address (IPv6 without brackets)
  uint16_t relay_port = 25;
  std::string from;
  std::vector<std::string> to;    // at least one, no duplicates
  uint32_t timeout_ms = 10'000;   // connect, each read and write; 100..120000
  uint32_t max_queue = 100;       // 1..100000
  uint32_t max_attempts = 5;      // 1..20
};

// alerts.syslog (SyslogSink).
struct AlertSyslogConfig {
  std::string facility = "daemon";  // one of alerts::kSyslogFacilityNames
};

// alerts: what the control plane tells operators (docs/config.md, "alerts").
struct AlertsConfig {
  uint32_t aggregate = 300;  // seconds: repeats of one alert within this are folded, 1..86400
  std::string file;          // a JSON-lines file (relative: to the config's folder); empty: none
  std::optional<AlertWebhookConfig> webhook;  // each sink is on when its section is present
  std::optional<AlertEmailConfig> email;
  std::optional<AlertSyslogConfig> syslog;
};

// reputation: each sender's ratios over a sliding window (control/reputation/reputation.h;
// docs/config.md, "reputation"). Organisations are those of limits.organisations.
struct ReputationConfig {
  bool enabled = true;
  uint32_t window = 86'400;          // seconds, 60..2592000; a whole number of buckets
  uint32_t buckets = 24;             // 1..1440
  uint64_t min_messages = 50;        // before spam_ratio and rejection_ratio are judged
  double spam_ratio = 0.10;          // 0..1: spam verdicts / messages
  double rejection_ratio = 0.05;     // 0..1: 5.1.x (unknown user) rejections / answered recipients
  double complaint_warn = 0.001;     // 0..1, <= complaint_restrict: complaints / messages
  double complaint_restrict = 0.003;
  uint64_t complaint_min_messages = 1'000;
  double org_suspicious_share = 0.5; // 0..1: suspicious members' messages / the org's messages
  uint64_t org_min_messages = 200;
  double clear_factor = 0.8;         // 0.5..1: an episode ends below clear_factor x threshold
  uint32_t max_subjects = 100'000;   // 16..10000000
};

// telemetry:
struct TelemetryConfig {
  bool enabled = true;            // false -> --no-telemetry
  uint32_t stats_interval_s = 0;  // 0 = never; otherwise print counters every N s (<= 86400)
};

// ---------------------------------------------------------------------------------------------
struct Config {
  std::string source;  // the file name (or the name given to load_string)
  EalConfig eal;
  std::vector<PortConfig> ports;  // at least one inside and one outside port
  std::vector<RouteConfig> routes;
  std::vector<NeighborConfig> neighbors;
  SmtpConfig smtp;
  PoolsConfig pools;
  FlowsConfig flows;
  ArpConfig arp;
  WorkersConfig workers;
  InspectionConfig inspection;
  RulesConfig rules;
  policy::Policy limits;  // version stays 0: the control plane sets it at publication
  SenderDomainsConfig sender_domains;
  DnsblConfig dnsbl;
  StoreConfig store;
  ApiConfig api;
  AlertsConfig alerts;
  ReputationConfig reputation;
  TelemetryConfig telemetry;

  // Number of worker lcores (eal.lcores.size() - 1, always >= 1).
  size_t worker_count() const { return eal.lcores.empty() ? 0 : eal.lcores.size() - 1; }
  // Index into ports of the port with this name, or nullopt.
  std::optional<size_t> find_port(std::string_view name) const;
};

// One thing wrong with a configuration.
struct Error {
  std::string file;     // as given to load_file / load_string
  uint32_t line = 0;    // 1-based; 0 when the error has no position (file not found)
  uint32_t column = 0;  // 1-based; 0 when line is 0
  std::string key;      // key path, e.g. "ports[1].address"; empty for whole-document errors
  std::string message;  // what is wrong, in words an operator can act on

  // "FILE:LINE:COL: KEY: message"; the ":LINE:COL" part is left out when line == 0 and the
  // "KEY: " part when key is empty.
  std::string to_string() const;
};

// Either a valid Config or the list of everything wrong with the input (never both, never an
// empty list of errors).
class Result {
 public:
  explicit Result(Config c) : v_(std::move(c)) {}
  explicit Result(std::vector<Error> e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  // Precondition: ok().
  const Config& config() const { return std::get<Config>(v_); }
  Config& config() { return std::get<Config>(v_); }
  // Empty when ok().
  const std::vector<Error>& errors() const;
  // All errors, one per line (Error::to_string), each ending in '\n'; empty when ok().
  std::string error_text() const;

 private:
  std::variant<Config, std::vector<Error>> v_;
};

// Loads and validates a configuration file. Reports, all at once: file-not-found/unreadable
// (line 0), YAML syntax errors (with line/column; parsing stops there), and then every schema
// error — missing required key, unknown key (typos are never ignored), duplicate key, wrong type,
// out-of-range number, bad address/CIDR/MAC/duration/action, duplicates, broken references
// between sections. At most 100 errors are reported (the last one says that more were cut).
// Files larger than 4 MiB are refused.
// Cost: linear in the file size. Never throws (except std::bad_alloc). Thread-safe: may be called
// from any thread; it shares no state.
Result load_file(const std::string& path);

// Same, from text already in memory; `name` stands for the file name in errors.
Result load_string(std::string_view text, const std::string& name = "<string>");

// A policy pushed through the API: `text` is one YAML mapping with the single key `limits`,
// written as in the config file, read with the same checks and positioned errors (`name` as
// the file). The result is `base` with its limits replaced; the STARTTLS policy (which the
// `inspection:` section writes into the limits) stays base's. Any thread; shares no state.
Result load_policy(std::string_view text, const std::string& name, const Config& base);

// The EAL argv for rte_eal_init, derived from cfg.eal and cfg.telemetry, starting with
// `program` (argv[0]): -l LCORES --main-lcore FIRST, --no-huge, -m, --file-prefix, --vdev/-a
// per device, --no-telemetry when disabled, then extra_args. Never fails for a loaded Config.
std::vector<std::string> eal_arguments(const Config& cfg, const std::string& program = "smtpgw");

// Parses a duration as the loader does: an unsigned integer (seconds) or an integer with one
// suffix s/m/h/d ("30s", "5m", "1h", "1d"). nullopt if malformed or above 2^32-1 seconds.
std::optional<uint32_t> parse_duration(std::string_view text);

// Parses "a.b.c.d" (inet_pton rules: exactly four decimal octets) and "a.b.c.d/len".
std::optional<Ipv4> parse_ipv4(std::string_view text);
std::optional<Ipv4Prefix> parse_ipv4_prefix(std::string_view text);
// Parses "aa:bb:cc:dd:ee:ff" (hex, case-insensitive; '-' also accepted as separator).
std::optional<MacAddress> parse_mac(std::string_view text);

}  // namespace smtpgw::config
