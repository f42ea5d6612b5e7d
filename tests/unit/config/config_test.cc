// The config loader: a valid file gives the typed Config; each kind of bad input gives its own
// positioned error (table-driven), and the shipped examples load.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "control/config/config.h"

namespace smtpgw::config {
namespace {

// A small valid configuration; the error cases below are edits of it. Line numbers matter to
// the table: keep the layout.
constexpr const char* kBase = R"(eal:
  lcores: [0, 1]
  no_huge: true
  devices: ["net_tap0,iface=a", "net_tap1,iface=b"]
ports:
  - name: inside
    device: net_tap0
    role: inside
    address: 10.99.1.1/24
  - name: outside
    device: net_tap1
    role: outside
    address: 10.99.2.1/24
routes:
  - prefix: 0.0.0.0/0
    via: 10.99.2.2
    port: outside
neighbors:
  - address: 10.99.2.2
    mac: 02:00:00:00:00:02
    port: outside
pools:
  normal: [10.99.2.10]
  high_risk: [10.99.2.20]
limits:
  spam: { action: block_user }
)";

// kBase with the first occurrence of `from` replaced by `to` (the test fails if absent).
std::string edit(const std::string& from, const std::string& to, std::string text = kBase) {
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "edit target not found: " << from;
  if (at != std::string::npos) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// kBase with `pools.named` holding `items` (YAML lines of the list), and `limits_extra` lines
// appended to the limits section.
std::string named(const std::string& items, const std::string& limits_extra = "") {
  return edit("  high_risk: [10.99.2.20]\n", "  high_risk: [10.99.2.20]\n  named:\n" + items) +
         limits_extra;
}

TEST(ConfigLoad, BaseIsValidAndTyped) {
  auto r = load_string(kBase, "base.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  const Config& c = r.config();
  EXPECT_EQ(c.source, "base.yaml");
  EXPECT_EQ(c.eal.lcores, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(c.worker_count(), 1u);
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[0].name, "inside");
  EXPECT_EQ(c.ports[0].role, PortRole::kInside);
  EXPECT_EQ(c.ports[1].role, PortRole::kOutside);
  EXPECT_EQ(c.ports[1].address.address, (Ipv4{0x0a630201}));
  EXPECT_EQ(c.ports[1].address.length, 24);
  EXPECT_FALSE(c.ports[0].mac.has_value());
  EXPECT_EQ(c.ports[0].rx_queues, 1);  // default: one per worker
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].port_idx, 1u);
  EXPECT_EQ(to_string(c.routes[0].via), "10.99.2.2");
  ASSERT_EQ(c.neighbors.size(), 1u);
  EXPECT_EQ(to_string(c.neighbors[0].mac), "02:00:00:00:00:02");
  EXPECT_EQ(c.pools.normal, (std::vector<Ipv4>{Ipv4{0x0a63020a}}));
  EXPECT_EQ(c.smtp.ports, (std::vector<uint16_t>{25}));  // default
  EXPECT_EQ(c.limits.spam.action, policy::LimitAction::kBlockUser);
  EXPECT_EQ(c.limits.sender.messages_per_minute.max, 30u);  // contract default kept
  EXPECT_EQ(c.flows.timeouts.established, 7'440u);
  EXPECT_FALSE(c.pools.refuse_when_none_active);  // default use_listed
  Result refuse = load_string(edit("  high_risk: [10.99.2.20]\n",
                                   "  high_risk: [10.99.2.20]\n  fallback: refuse\n"),
                              "t.yaml");
  ASSERT_TRUE(refuse.ok()) << refuse.error_text();
  EXPECT_TRUE(refuse.config().pools.refuse_when_none_active);
}

struct BadCase {
  const char* what;
  std::string text;
  std::string key;      // expected Error::key
  std::string message;  // expected substring of Error::message
  uint32_t line;        // expected Error::line (1-based; 0 = no position)
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.what; }

class ConfigBad : public testing::TestWithParam<BadCase> {};

TEST_P(ConfigBad, GivesItsSpecificError) {
  const BadCase& c = GetParam();
  auto r = load_string(c.text, "t.yaml");
  ASSERT_FALSE(r.ok()) << c.what;
  bool found = false;
  for (const auto& e : r.errors()) {
    if (e.key == c.key && e.message.find(c.message) != std::string::npos) {
      found = true;
      EXPECT_EQ(e.line, c.line) << e.to_string();
      EXPECT_EQ(e.file, "t.yaml");
      if (e.line != 0) {
        EXPECT_GT(e.column, 0u);
      }
    }
  }
  EXPECT_TRUE(found) << c.what << ": wanted " << c.key << ": ..." << c.message
                     << "... at line " << c.line << "; got:\n"
                     << r.error_text();
}

const BadCase kBadCases[] = {
    {"missing required key in a port", edit("    role: inside\n", ""), "ports[0].role",
     "missing required key", 6},
    {"missing required section", edit("pools:\n  normal: [10.99.2.10]\n  high_risk: [10.99.2.20]\n", ""),
     "pools", "missing required key", 1},
    {"unknown key in a port (typo)", edit("    address: 10.99.1.1/24\n", "    address: 10.99.1.1/24\n    vlna: 3\n"),
     "ports[0].vlna", "unknown key (did you mean 'vlan'?)", 10},
    {"unknown top-level section", std::string(kBase) + "telemetri:\n  enabled: true\n", "telemetri",
     "did you mean 'telemetry'", 27},
    {"unknown key far from any", std::string(kBase) + "zzzzzzzz: 1\n", "zzzzzzzz",
     "unknown key; expected one of: eal, ports", 27},
    {"duplicate key", edit("  no_huge: true\n", "  no_huge: true\n  no_huge: false\n"), "eal.no_huge",
     "duplicate key (first defined at line 3)", 4},
    {"wrong type: mapping for lcores", edit("lcores: [0, 1]", "lcores: {a: 1}"), "eal.lcores",
     "expected a list of lcore numbers", 2},
    {"wrong type: bool", edit("no_huge: true", "no_huge: 3"), "eal.no_huge", "expected true or false", 3},
    {"wrong type: list for integer", edit("  no_huge: true\n", "  memory_mb: [1]\n"), "eal.memory_mb",
     "expected an integer (1..1048576), got a list", 3},
    {"wrong type: ports is a mapping", edit("ports:\n  - name: inside", "ports:\n  x:\n  - name: inside"),
     "ports", "expected a list", 6},
    {"out of range vlan", edit("    address: 10.99.1.1/24\n", "    address: 10.99.1.1/24\n    vlan: 4095\n"),
     "ports[0].vlan", "out of range: '4095' is not in 0..4094", 10},
    {"out of range lcore", edit("lcores: [0, 1]", "lcores: [0, 128]"), "eal.lcores", "out of range 0..127", 2},
    {"negative number", std::string(kBase) + "workers: { burst: -1 }\n", "workers.burst",
     "expected an integer (1..512)", 27},
    {"event queue below its floor", std::string(kBase) + "workers: { event_queue: 8 }\n",
     "workers.event_queue", "'8' is not in 16..1048576", 27},
    {"inspection pool of zero", std::string(kBase) + "inspection: { decoders: 0 }\n",
     "inspection.decoders", "'0' is not in 1..1048576", 27},
    {"reassembly pool below its floor", std::string(kBase) + "inspection: { segments: 8 }\n",
     "inspection.segments", "'8' is not in 16..16777216", 27},
    {"bad uninspected outcome", std::string(kBase) + "inspection: { uninspected: drop }\n",
     "inspection.uninspected", "defer", 27},
    {"bad starttls policy", std::string(kBase) + "inspection: { starttls: strip }\n",
     "inspection.starttls", "inspect", 27},
    {"bad pool fallback", edit("  high_risk: [10.99.2.20]\n", "  high_risk: [10.99.2.20]\n  fallback: normal\n"),
     "pools.fallback", "use_listed", 25},
    {"starttls prefix without its policy",
     std::string(kBase) + "inspection: { starttls_prefixes: [{prefix: 10.1.0.0/16}] }\n",
     "inspection.starttls_prefixes[0].starttls", "missing required key", 27},
    {"starttls prefix listed twice",
     std::string(kBase) + "inspection: { starttls_prefixes: [{prefix: 10.1.0.0/16, starttls: allow}, "
                          "{prefix: 10.1.0.0/16, starttls: inspect}] }\n",
     "inspection.starttls_prefixes[1].prefix", "listed twice", 27},
    {"empty rules dir", std::string(kBase) + "rules: { dir: \"\" }\n", "rules.dir",
     "leave the key out", 27},
    {"one lcore only", edit("lcores: [0, 1]", "lcores: \"3\""), "eal.lcores", "at least two lcores", 2},
    {"duplicate lcore", edit("lcores: [0, 1]", "lcores: \"0-2,1\""), "eal.lcores", "lcore 1 is listed twice", 2},
    {"bad CIDR length", edit("10.99.1.1/24", "10.99.1.1/33"), "ports[0].address",
     "expected an IPv4 prefix in CIDR notation", 9},
    {"bad CIDR octet", edit("10.99.1.1/24", "10.99.1.300/24"), "ports[0].address",
     "expected an IPv4 prefix in CIDR notation", 9},
    {"CIDR without length", edit("10.99.1.1/24", "10.99.1.1"), "ports[0].address",
     "expected an IPv4 prefix in CIDR notation", 9},
    {"port address is the network address", edit("10.99.1.1/24", "10.99.1.0/24"), "ports[0].address",
     "network or broadcast address", 9},
    {"route prefix with host bits", edit("prefix: 0.0.0.0/0", "prefix: 10.1.2.3/8"), "routes[0].prefix",
     "has host bits set; did you mean 10.0.0.0/8?", 15},
    {"bad MAC", edit("mac: 02:00:00:00:00:02", "mac: 02:00:00:00:00"), "neighbors[0].mac",
     "expected a MAC address", 20},
    {"multicast MAC", edit("mac: 02:00:00:00:00:02", "mac: 01:00:5e:00:00:01"), "neighbors[0].mac",
     "multicast", 20},
    {"bad port MAC", edit("    address: 10.99.1.1/24\n", "    address: 10.99.1.1/24\n    mac: xx\n"),
     "ports[0].mac", "expected a MAC address (aa:bb:cc:dd:ee:ff), got 'xx'", 10},
    {"duplicate port names", edit("  - name: outside", "  - name: inside"), "ports[1].name",
     "duplicate port name 'inside'", 10},
    {"duplicate device", edit("    device: net_tap1", "    device: net_tap0"), "ports[1].device",
     "already used by port 'inside'", 11},
    {"undeclared virtual device", edit("    device: net_tap1", "    device: net_tap7"), "ports[1].device",
     "not declared in eal.devices", 11},
    {"device with arguments", edit("    device: net_tap1", "    device: \"net_tap1,iface=b\""),
     "ports[1].device", "put its arguments in eal.devices", 11},
    {"no outside port", edit("    role: outside", "    role: inside"), "ports", "there is no outside port", 6},
    {"bad role", edit("    role: outside", "    role: out"), "ports[1].role",
     "expected one of inside | outside, got 'out'", 12},
    {"overlapping port prefixes", edit("10.99.2.1/24", "10.99.1.129/25"), "ports[1].address",
     "overlaps the connected prefix of port 'inside' (10.99.1.1/24)", 13},
    {"route to unknown port", edit("    port: outside\nneighbors", "    port: outsid\nneighbors"),
     "routes[0].port", "unknown port 'outsid' (ports: inside, outside)", 17},
    {"route next hop off-link", edit("via: 10.99.2.2", "via: 10.99.3.2"), "routes[0].via",
     "is not in the connected prefix of port 'outside', 10.99.2.0/24", 16},
    {"route next hop is own address", edit("via: 10.99.2.2", "via: 10.99.2.1"), "routes[0].via",
     "own address", 16},
    {"duplicate route", edit("neighbors:", "  - { prefix: 0.0.0.0/0, via: 10.99.2.3 }\nneighbors:"),
     "routes[1].prefix", "duplicate route for 0.0.0.0/0", 18},
    {"neighbour without port, off every link",
     edit("  - address: 10.99.2.2\n    mac: 02:00:00:00:00:02\n    port: outside\n",
          "  - address: 10.98.0.2\n    mac: 02:00:00:00:00:02\n"),
     "neighbors[0].address", "not in any port's connected prefix", 19},
    {"pool address colliding with a port address", edit("normal: [10.99.2.10]", "normal: [10.99.2.1]"),
     "pools.normal[0]", "is the own address of port 'outside'", 23},
    {"pool address in an inside prefix", edit("normal: [10.99.2.10]", "normal: [10.99.1.7]"),
     "pools.normal[0]", "in the connected prefix of inside port 'inside'", 23},
    {"pool address in both pools", edit("high_risk: [10.99.2.20]", "high_risk: [10.99.2.10]"),
     "pools.high_risk[0]", "already in the pool at pools.normal[0]", 24},
    {"empty normal pool", edit("normal: [10.99.2.10]", "normal: []"), "pools.normal",
     "needs at least one egress address", 23},
    {"pool address not an address", edit("normal: [10.99.2.10]", "normal: [10.99.2]"), "pools.normal[0]",
     "expected an IPv4 address", 23},
    {"unknown pool", edit("  high_risk:", "  high_rsk:"), "pools.high_rsk", "did you mean 'high_risk'", 24},
    {"bad action name", edit("action: block_user", "action: block"), "limits.spam.action",
     "expected one of alert | throttle | block_user_for_today | block_user, got 'block'", 26},
    {"bad limit action", std::string(kBase) + "  sender: { messages_per_minute: { max: 5, action: ban } }\n",
     "limits.sender.messages_per_minute.action", "expected one of alert", 27},
    {"limit above ceiling", std::string(kBase) + "  host: { messages_per_minute: 10001 }\n",
     "limits.host.messages_per_minute", "out of range: '10001' is not in 0..10000", 27},
    {"spam window not a counter window", edit("{ action: block_user }", "{ window: 2h }"), "limits.spam.window",
     "one of the counter windows 1m, 1h or 1d", 26},
    {"bad duration", std::string(kBase) + "arp: { entry_ttl: 5x }\n", "arp.entry_ttl",
     "expected a duration (seconds, or 30s/5m/1h/1d), got '5x'", 27},
    {"bad timezone", std::string(kBase) + "  timezone: \"+15:00\"\n", "limits.timezone",
     "expected a fixed UTC offset", 27},
    {"bad internal domain", std::string(kBase) + "  internal_domains: [\"a..b\"]\n", "limits.internal_domains[0]",
     "expected a domain name", 27},
    {"bad organisation prefix", std::string(kBase) + "  organisations: [{prefix: \"2001:db8::1/32\", name: x}]\n",
     "limits.organisations[0].prefix", "has host bits set", 27},
    {"nat port range inverted", std::string(kBase) + "flows: { nat_port_min: 5000, nat_port_max: 4000 }\n",
     "flows.nat_port_min", "is above nat_port_max", 27},
    {"duplicate smtp port", std::string(kBase) + "smtp: { ports: [25, 587, 25] }\n", "smtp.ports[2]",
     "port 25 is listed twice", 27},
    {"bad other_traffic", std::string(kBase) + "smtp: { other_traffic: reject }\n", "smtp.other_traffic",
     "expected one of forward | nat | drop", 27},
    {"invalid YAML syntax", edit("    role: inside\n", "    role: [inside\n"), "", "invalid YAML", 9},
    {"invalid YAML: bad indentation", edit("    device: net_tap1\n", "      device: net_tap1\n"), "",
     "invalid YAML", 11},
    {"two documents", std::string(kBase) + "---\nports: []\n", "", "more than one YAML document", 27},
    // yaml-cpp 0.7 loops forever on LoadAll and silently drops the rest on Load for these.
    {"stray comma at the start", "," + std::string(kBase), "", "invalid YAML: unexpected ',' outside", 1},
    {"stray comma after a list", "- a\n,\n", "", "unexpected ','", 2},
    {"document is a list", "- a\n- b\n", "", "expected a mapping", 1},
    {"empty document", "# nothing\n", "", "the configuration is empty", 0},
    {"sender_domains server that is no address",
     std::string(kBase) + "sender_domains:\n  servers: [ns1.example]\n", "sender_domains.servers[0]",
     "expected a name server address", 28},
    {"sender_domains server port out of range",
     std::string(kBase) + "sender_domains:\n  servers: [\"127.0.0.1:70000\"]\n",
     "sender_domains.servers[0]", "expected a name server address", 28},
    {"sender_domains ttl too short", std::string(kBase) + "sender_domains:\n  missing_ttl: 10s\n",
     "sender_domains.missing_ttl", "", 28},
    {"dnsbl zone that is no name", std::string(kBase) + "dnsbl:\n  zones: [\"bl example\"]\n",
     "dnsbl.zones[0]", "expected a DNS zone", 28},
    {"dnsbl zone twice", std::string(kBase) + "dnsbl:\n  zones: [bl.test, BL.test]\n",
     "dnsbl.zones[1]", "listed twice", 28},
    {"dnsbl rate of zero", std::string(kBase) + "dnsbl:\n  zone_rate: 0\n", "dnsbl.zone_rate", "",
     28},
    {"store path empty", std::string(kBase) + "store:\n  path: \"\"\n", "store.path", "is empty",
     28},
    {"api token too short", std::string(kBase) + "api:\n  token: abc\n", "api.token",
     "must have 16 to 256 characters", 28},
    {"api address that is no address", std::string(kBase) + "api:\n  address: localhost\n",
     "api.address", "expected an IP address", 28},
    {"api token and token_file", std::string(kBase) +
         "api:\n  token: 0123456789abcdef\n  token_file: t\n", "api",
     "give token or token_file, not both", 28},
    {"alerts webhook over https", std::string(kBase) +
         "alerts:\n  webhook: { url: \"https://hooks.example.net/x\" }\n",
     "alerts.webhook.url", "https is not supported", 28},
    {"alerts webhook not a URL", std::string(kBase) + "alerts:\n  webhook:\n    url: /hook\n",
     "alerts.webhook.url", "expected an http:// URL", 29},
    {"alerts webhook port out of range", std::string(kBase) +
         "alerts:\n  webhook: { url: \"http://127.0.0.1:99999/x\" }\n",
     "alerts.webhook.url", "1..65535", 28},
    {"alerts webhook without url", std::string(kBase) + "alerts:\n  webhook: { timeout_ms: 500 }\n",
     "alerts.webhook.url", "missing required key", 28},
    {"alerts webhook timeout too short", std::string(kBase) +
         "alerts:\n  webhook: { url: \"http://h/\", timeout_ms: 5 }\n",
     "alerts.webhook.timeout_ms", "out of range", 28},
    {"alerts webhook unknown key", std::string(kBase) +
         "alerts:\n  webhook: { url: \"http://h/\", retries: 3 }\n",
     "alerts.webhook.retries", "unknown key", 28},
    {"alerts email admin that is no address", std::string(kBase) +
         "alerts:\n  email:\n    relay: 127.0.0.1:25\n    from: gw@example.net\n"
         "    to: [noc@example.net, \"noc example.net\"]\n",
     "alerts.email.to[1]", "expected a mail address such as noc@example.net", 31},
    {"alerts email admin twice", std::string(kBase) +
         "alerts:\n  email:\n    relay: 127.0.0.1\n    from: gw@example.net\n"
         "    to: [noc@example.net, noc@example.net]\n",
     "alerts.email.to[1]", "listed twice", 31},
    {"alerts email no admin", std::string(kBase) +
         "alerts:\n  email:\n    relay: 127.0.0.1\n    from: gw@example.net\n    to: []\n",
     "alerts.email.to", "needs at least one admin address", 31},
    {"alerts email relay port", std::string(kBase) +
         "alerts:\n  email:\n    relay: \"127.0.0.1:0\"\n    from: gw@example.net\n"
         "    to: [noc@example.net]\n",
     "alerts.email.relay", "expected host[:port]", 29},
    {"alerts email from with a header", std::string(kBase) +
         "alerts:\n  email:\n    relay: 127.0.0.1\n    from: \"gw@example.net\\r\\nBcc: x@y\"\n"
         "    to: [noc@example.net]\n",
     "alerts.email.from", "expected a mail address", 30},
    {"alerts email without relay", std::string(kBase) +
         "alerts:\n  email:\n    from: gw@example.net\n    to: [noc@example.net]\n",
     "alerts.email.relay", "missing required key", 29},
    {"alerts syslog facility", std::string(kBase) + "alerts:\n  syslog: { facility: kern }\n",
     "alerts.syslog.facility", "expected one of daemon | mail | user | local0", 28},
    {"reputation ratio above 1", std::string(kBase) + "reputation:\n  spam_ratio: 1.5\n",
     "reputation.spam_ratio", "out of range 0..1", 28},
    {"reputation percentage above 100", std::string(kBase) +
         "reputation:\n  enabled: true\n  rejection_ratio: 150%\n",
     "reputation.rejection_ratio", "out of range 0..1", 29},
    {"reputation negative share", std::string(kBase) +
         "reputation:\n  org_suspicious_share: -0.1\n",
     "reputation.org_suspicious_share", "out of range 0..1", 28},
    {"reputation ratio that is no number", std::string(kBase) +
         "reputation:\n  complaint_warn: high\n",
     "reputation.complaint_warn", "expected a ratio within 0..1", 28},
    {"reputation warn above restrict", std::string(kBase) +
         "reputation:\n  complaint_warn: 0.5%\n  complaint_restrict: 0.2%\n",
     "reputation.complaint_warn", "above complaint_restrict", 28},
    {"reputation restrict below the default warn", std::string(kBase) +
         "reputation:\n  window: 1d\n  complaint_restrict: 0.0005\n",
     "reputation.complaint_restrict", "above complaint_restrict", 29},
    {"reputation window not whole buckets", std::string(kBase) +
         "reputation:\n  window: 1h\n  buckets: 7\n",
     "reputation.window", "is not a whole number of 7 buckets", 28},
    {"reputation buckets that do not divide the default window", std::string(kBase) +
         "reputation:\n  buckets: 7\n",
     "reputation.buckets", "(86400 s) is not a whole number of 7 buckets", 28},
    {"reputation window too short", std::string(kBase) + "reputation:\n  window: 30s\n",
     "reputation.window", "out of range", 28},
    {"reputation clear factor too low", std::string(kBase) + "reputation:\n  clear_factor: 0.2\n",
     "reputation.clear_factor", "out of range 0.5..1", 28},
    {"reputation too few subjects", std::string(kBase) + "reputation:\n  max_subjects: 4\n",
     "reputation.max_subjects", "is not in 16..10000000", 28},
    {"reputation unknown key", std::string(kBase) + "reputation:\n  spam_ration: 0.1\n",
     "reputation.spam_ration", "did you mean 'spam_ratio'", 28},
    // Named pools: inserted after line 24 (high_risk), so "  named:" is line 25 and the first
    // pool's "- name:" line 26.
    {"named pool with a built-in name", named("    - name: normal\n      addresses: [10.99.2.30]\n      hosts: [10.99.1.0/24]\n"),
     "pools.named[0].name", "is a built-in pool", 26},
    {"named pool with a bad name", named("    - name: Tenant A\n      addresses: [10.99.2.30]\n      hosts: [10.99.1.0/24]\n"),
     "pools.named[0].name", "a pool name is 1..32 characters", 26},
    {"named pool address in another pool", named("    - name: a\n      addresses: [10.99.2.10]\n      hosts: [10.99.1.0/24]\n"),
     "pools.named[0].addresses[0]", "already in the pool at pools.normal[0]", 27},
    {"named pool bound to nothing", named("    - name: a\n      addresses: [10.99.2.30]\n"),
     "pools.named[0]", "needs hosts or organisations bound to it", 26},
    {"named pool with host bits", named("    - name: a\n      addresses: [10.99.2.30]\n      hosts: [10.99.1.1/24]\n"),
     "pools.named[0].hosts[0]", "has host bits set; did you mean 10.99.1.0/24?", 28},
    {"named pool organisation unknown", named("    - name: a\n      addresses: [10.99.2.30]\n      organisations: [nobody]\n"),
     "pools.named[0].organisations[0]", "organisation 'nobody' is not in limits.organisations", 28},
    {"prefix bound to two pools", named("    - name: a\n      addresses: [10.99.2.30]\n      hosts: [10.99.1.0/25]\n"
                                        "    - name: b\n      addresses: [10.99.2.31]\n      hosts: [10.99.1.0/25]\n"),
     "pools.named[1].hosts[0]", "10.99.1.0/25 is already bound to pool 'a' at pools.named[0].hosts[0]", 31},
    {"organisation prefix bound twice", named("    - name: a\n      addresses: [10.99.2.30]\n      hosts: [10.99.1.0/26]\n"
                                              "    - name: b\n      addresses: [10.99.2.31]\n      organisations: [acme]\n",
                                              "  organisations: [{prefix: 10.99.1.0/26, name: acme}]\n"),
     "pools.named[1].organisations[0]", "10.99.1.0/26 is already bound to pool 'a'", 31},
    {"named pools named twice", named("    - name: a\n      addresses: [10.99.2.30]\n      hosts: [10.99.1.0/25]\n"
                                      "    - name: a\n      addresses: [10.99.2.31]\n      hosts: [10.99.1.128/25]\n"),
     "pools.named[1].name", "pool 'a' is named twice", 29},
};

INSTANTIATE_TEST_SUITE_P(Table, ConfigBad, testing::ValuesIn(kBadCases),
                         [](const testing::TestParamInfo<BadCase>& info) {
                           std::string name;
                           for (const char* p = info.param.what; *p != '\0'; ++p) {
                             const char c = *p;
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           }
                           return name;
                         });

TEST(ConfigLoad, ErrorFormatIsFileLineColKeyMessage) {
  auto r = load_string(edit("    port: outside\nneighbors", "    port: outsid\nneighbors"), "gw.yaml");
  ASSERT_EQ(r.errors().size(), 1u) << r.error_text();
  EXPECT_EQ(r.errors()[0].to_string(),
            "gw.yaml:17:11: routes[0].port: unknown port 'outsid' (ports: inside, outside)");
  EXPECT_EQ(r.error_text(), r.errors()[0].to_string() + "\n");
}

TEST(ConfigLoad, ReportsEveryErrorAtOnceInFileOrder) {
  std::string text = edit("no_huge: true", "no_huge: maybe");
  text = edit("role: outside", "role: sideways", text);
  text = edit("normal: [10.99.2.10]", "normal: [10.99.2.10, bogus]", text);
  auto r = load_string(text, "t.yaml");
  ASSERT_FALSE(r.ok());
  std::vector<std::string> keys;
  for (const auto& e : r.errors()) {
    keys.push_back(e.key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"eal.no_huge", "ports[1].role", "pools.normal[1]"}))
      << r.error_text();
}

TEST(ConfigLoad, ErrorsAreCapped) {
  std::string text = kBase;
  text += "smtp:\n  ports: [";
  for (int i = 0; i < 300; ++i) {
    text += "x,";
  }
  text += "25]\n";
  auto r = load_string(text, "t.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors().size(), 101u);
  EXPECT_NE(r.errors().back().message.find("200 more not shown"), std::string::npos)
      << r.errors().back().message;
}

TEST(ConfigLoad, FileNotFound) {
  auto r = load_file("/nonexistent/smtpgw.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_EQ(r.errors()[0].line, 0u);
  EXPECT_EQ(r.errors()[0].to_string(),
            "/nonexistent/smtpgw.yaml: cannot open: No such file or directory");
}

TEST(ConfigLoad, DirectoryIsNotAFile) {
  auto r = load_file("/");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error_text().find("is a directory"), std::string::npos);
}

TEST(ConfigLoad, FileErrorsNameTheFile) {
  const std::string path = testing::TempDir() + "smtpgw_config_test.yaml";
  {
    std::ofstream out(path);
    out << kBase << "bogus: 1\n";
  }
  auto r = load_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors()[0].to_string(), path + ":27:1: bogus: unknown key; expected one of: eal, "
                                              "ports, routes, neighbors, smtp, pools, flows, arp, "
                                              "workers, inspection, rules, limits, sender_domains, dnsbl, store, api, alerts, "
                                              "reputation, telemetry");
}

TEST(ConfigLoad, SenderDomains) {
  auto defaults = load_string(kBase, "t.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.error_text();
  EXPECT_TRUE(defaults.config().sender_domains.check);
  EXPECT_EQ(defaults.config().sender_domains.servers, "");
  auto r = load_string(std::string(kBase) +
                           "sender_domains:\n"
                           "  check: true\n"
                           "  servers: [192.0.2.53, \"127.0.0.1:5353\", \"2001:db8::53\", "
                           "\"[::1]:5353\"]\n"
                           "  found_ttl: 2h\n  missing_ttl: 10m\n  timeout_ms: 500\n"
                           "  max_domains: 1024\n  max_pending: 8\n",
                       "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  const SenderDomainsConfig& d = r.config().sender_domains;
  EXPECT_EQ(d.servers, "192.0.2.53,127.0.0.1:5353,2001:db8::53,[::1]:5353");
  EXPECT_EQ(d.found_ttl, 7200u);
  EXPECT_EQ(d.missing_ttl, 600u);
  EXPECT_EQ(d.timeout_ms, 500u);
  EXPECT_EQ(d.max_domains, 1024u);
  EXPECT_EQ(d.max_pending, 8u);
}

TEST(ConfigLoad, Dnsbl) {
  auto r = load_string(std::string(kBase) +
                           "dnsbl:\n"
                           "  zones: [Zen.Spamhaus.ORG, bl.test]\n"
                           "  servers: [\"127.0.0.1:5353\"]\n"
                           "  interval: 5m\n  recheck_min: 30s\n  timeout_ms: 800\n"
                           "  max_pending: 8\n  zone_rate: 5\n",
                       "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  const DnsblConfig& d = r.config().dnsbl;
  EXPECT_EQ(d.zones, (std::vector<std::string>{"zen.spamhaus.org", "bl.test"}));
  EXPECT_EQ(d.servers, "127.0.0.1:5353");
  EXPECT_EQ(d.interval, 300u);
  EXPECT_EQ(d.recheck_min, 30u);
  EXPECT_EQ(d.timeout_ms, 800u);
  EXPECT_EQ(d.max_pending, 8u);
  EXPECT_EQ(d.zone_rate, 5u);
  auto none = load_string(kBase, "t.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.config().dnsbl.zones.empty());
}

TEST(ConfigLoad, NamedPoolsBindHostsAndOrganisations) {
  auto r = load_string(named("    - name: tenant-a\n"
                             "      addresses: [10.99.2.30, 10.99.2.32/31]\n"
                             "      hosts: [10.99.1.128/25]\n"
                             "      organisations: [acme]\n",
                             "  organisations: [{prefix: 10.99.1.0/26, name: acme},\n"
                             "                  {prefix: \"2001:db8::/32\", name: acme}]\n"),
                       "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  const PoolsConfig& p = r.config().pools;
  ASSERT_EQ(p.named.size(), 1u);
  const PoolsConfig::Named& a = p.named[0];
  EXPECT_EQ(a.name, "tenant-a");
  ASSERT_EQ(a.addresses.size(), 3u);
  EXPECT_EQ(to_string(a.addresses[2]), "10.99.2.33");
  ASSERT_EQ(a.bound.size(), 2u);  // the IPv6 prefix binds nothing: NAT is IPv4
  EXPECT_EQ(to_string(a.bound[0]), "10.99.1.128/25");
  EXPECT_EQ(to_string(a.bound[1]), "10.99.1.0/26");
  EXPECT_EQ(a.organisations, std::vector<std::string>{"acme"});
  EXPECT_TRUE(load_string(kBase, "t.yaml").config().pools.named.empty());
}

TEST(ConfigLoad, Reputation) {
  auto r = load_string(std::string(kBase) +
                           "reputation:\n"
                           "  enabled: false\n  window: 2h\n  buckets: 8\n  min_messages: 20\n"
                           "  spam_ratio: 20%\n  rejection_ratio: 0.02\n"
                           "  complaint_warn: 0.05%\n  complaint_restrict: 2e-3\n"
                           "  complaint_min_messages: 500\n  org_suspicious_share: 0.6\n"
                           "  org_min_messages: 100\n  clear_factor: 0.9\n"
                           "  max_subjects: 5000\n",
                       "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  const ReputationConfig& d = r.config().reputation;
  EXPECT_FALSE(d.enabled);
  EXPECT_EQ(d.window, 7'200u);
  EXPECT_EQ(d.buckets, 8u);
  EXPECT_EQ(d.min_messages, 20u);
  EXPECT_DOUBLE_EQ(d.spam_ratio, 0.2);
  EXPECT_DOUBLE_EQ(d.rejection_ratio, 0.02);
  EXPECT_DOUBLE_EQ(d.complaint_warn, 0.0005);
  EXPECT_DOUBLE_EQ(d.complaint_restrict, 0.002);
  EXPECT_EQ(d.complaint_min_messages, 500u);
  EXPECT_DOUBLE_EQ(d.org_suspicious_share, 0.6);
  EXPECT_EQ(d.org_min_messages, 100u);
  EXPECT_DOUBLE_EQ(d.clear_factor, 0.9);
  EXPECT_EQ(d.max_subjects, 5'000u);
  auto none = load_string(kBase, "t.yaml");
  ASSERT_TRUE(none.ok());
  const ReputationConfig& def = none.config().reputation;
  EXPECT_TRUE(def.enabled);
  EXPECT_EQ(def.window, 86'400u);
  EXPECT_EQ(def.buckets, 24u);
  EXPECT_EQ(def.min_messages, 50u);
  EXPECT_DOUBLE_EQ(def.spam_ratio, 0.10);
  EXPECT_DOUBLE_EQ(def.rejection_ratio, 0.05);
  EXPECT_DOUBLE_EQ(def.complaint_warn, 0.001);
  EXPECT_DOUBLE_EQ(def.complaint_restrict, 0.003);
  EXPECT_EQ(def.complaint_min_messages, 1'000u);
  EXPECT_DOUBLE_EQ(def.org_suspicious_share, 0.5);
  EXPECT_EQ(def.org_min_messages, 200u);
  EXPECT_EQ(def.max_subjects, 100'000u);
}

TEST(ConfigLoad, StoreAndApi) {
  auto r = load_string(std::string(kBase) +
                           "store:\n  path: /var/lib/smtpgw/gw.db\n  trace_days: 7\n"
                           "  trace_max_rows: 5000\n"
                           "api:\n  address: \"::1\"\n  port: 9025\n"
                           "  token: 0123456789abcdef-xyz\n  max_body: 2048\n",
                       "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  EXPECT_EQ(r.config().store.path, "/var/lib/smtpgw/gw.db");
  EXPECT_EQ(r.config().store.trace_days, 7u);
  EXPECT_EQ(r.config().store.trace_max_rows, 5000u);
  EXPECT_EQ(r.config().api.address, "::1");
  EXPECT_EQ(r.config().api.port, 9025);
  EXPECT_EQ(r.config().api.token, "0123456789abcdef-xyz");
  EXPECT_EQ(r.config().api.max_body, 2048u);
  auto d = load_string(kBase, "t.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d.config().store.enabled);
  EXPECT_EQ(d.config().store.path, "smtpgw.db");
  EXPECT_EQ(d.config().api.address, "127.0.0.1");
  EXPECT_EQ(d.config().api.token, "");
  // A token that is refused is never repeated in the error.
  auto bad = load_string(std::string(kBase) + "api:\n  token: \"secret with space\"\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error_text().find("secret with space"), std::string::npos) << bad.error_text();
}

TEST(ConfigLoad, AlertSinks) {
  auto r = load_string(std::string(kBase) +
                           "alerts:\n"
                           "  aggregate: 10m\n"
                           "  webhook: { url: \"http://127.0.0.1:9000/hook\", timeout_ms: 500,\n"
                           "             max_queue: 10, max_attempts: 3, token_file: hook.token }\n"
                           "  email:\n"
                           "    relay: \"[::1]:2525\"\n"
                           "    from: smtpgw@example.net\n"
                           "    to: [noc@example.net, ops@example.net]\n"
                           "    timeout_ms: 3000\n    max_queue: 7\n    max_attempts: 2\n"
                           "  syslog: { facility: local3 }\n",
                       "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  const AlertsConfig& a = r.config().alerts;
  EXPECT_EQ(a.aggregate, 600u);
  ASSERT_TRUE(a.webhook.has_value());
  EXPECT_EQ(a.webhook->url, "http://127.0.0.1:9000/hook");
  EXPECT_EQ(a.webhook->timeout_ms, 500u);
  EXPECT_EQ(a.webhook->max_queue, 10u);
  EXPECT_EQ(a.webhook->max_attempts, 3u);
  EXPECT_EQ(a.webhook->token_file, "hook.token");
  ASSERT_TRUE(a.email.has_value());
  EXPECT_EQ(a.email->relay_host, "::1");
  EXPECT_EQ(a.email->relay_port, 2525);
  EXPECT_EQ(a.email->from, "smtpgw@example.net");
  EXPECT_EQ(a.email->to, (std::vector<std::string>{"noc@example.net", "ops@example.net"}));
  EXPECT_EQ(a.email->timeout_ms, 3000u);
  EXPECT_EQ(a.email->max_queue, 7u);
  EXPECT_EQ(a.email->max_attempts, 2u);
  ASSERT_TRUE(a.syslog.has_value());
  EXPECT_EQ(a.syslog->facility, "local3");

  // Each sink is off unless its section is there; a section gets the documented defaults.
  auto d = load_string(std::string(kBase) +
                           "alerts:\n  webhook: { url: \"http://hooks.example.net\" }\n"
                           "  email: { relay: relay.example.net, from: gw@example.net, to: "
                           "[noc@example.net] }\n  syslog: {}\n",
                       "t.yaml");
  ASSERT_TRUE(d.ok()) << d.error_text();
  const AlertsConfig& b = d.config().alerts;
  EXPECT_EQ(b.webhook->timeout_ms, 2000u);
  EXPECT_EQ(b.webhook->max_queue, 1000u);
  EXPECT_EQ(b.webhook->max_attempts, 5u);
  EXPECT_EQ(b.webhook->token_file, "");
  EXPECT_EQ(b.email->relay_host, "relay.example.net");
  EXPECT_EQ(b.email->relay_port, 25);
  EXPECT_EQ(b.email->timeout_ms, 10000u);
  EXPECT_EQ(b.email->max_queue, 100u);
  EXPECT_EQ(b.syslog->facility, "daemon");
  auto none = load_string(kBase, "t.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none.config().alerts.webhook.has_value());
  EXPECT_FALSE(none.config().alerts.email.has_value());
  EXPECT_FALSE(none.config().alerts.syslog.has_value());
}

TEST(ConfigLoad, OptionalValuesAndShorthands) {
  std::string text = edit("lcores: [0, 1]", "lcores: \"2,4-5\"");
  text = edit("    address: 10.99.1.1/24\n",
              "    address: 10.99.1.1/24\n    mac: 02:AA:bb:cc:dd:ee\n    vlan: 100\n    rx_queues: 3\n",
              text);
  text = edit("normal: [10.99.2.10]", "normal: 10.99.2.8/30", text);
  text = edit("    port: outside\nneighbors", "neighbors", text);  // port inferred from via
  text += "  sender: { messages_per_minute: 10, recipients_per_day: { max: 0, action: alert } }\n"
          "  org: { recipients_per_day: { max: 0 }, recipients_per_day_factor: 4 }\n"
          "  timezone: \"-05:30\"\n"
          "  internal_domains: [Example.ORG]\n"
          "  organisations: [{prefix: 2001:db8::/32, name: v6}, {prefix: 10.99.1.0/24, name: acme}]\n"
          "smtp: { ports: 2525, other_traffic: nat }\n"
          "flows: { timeouts: { established: 2h, syn: 30s, udp: 1m, icmp: 1d } }\n"
          "telemetry: { enabled: false, stats_interval_s: 5m }\n"
          "inspection: { messages: 64, active_sessions: 32, decoders: 8, segments: 4096, scan_contexts: 16, uninspected: pass,\n"
          "  starttls: allow, starttls_prefixes: [{prefix: 10.99.1.0/24, starttls: inspect}] }\n"
          "rules: { dir: my-rules, lenient: true }\n";
  auto r = load_string(text, "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  const Config& c = r.config();
  EXPECT_EQ(c.eal.lcores, (std::vector<uint32_t>{2, 4, 5}));
  EXPECT_EQ(c.worker_count(), 2u);
  ASSERT_TRUE(c.ports[0].mac.has_value());
  EXPECT_EQ(to_string(*c.ports[0].mac), "02:aa:bb:cc:dd:ee");
  EXPECT_EQ(c.ports[0].vlan, 100);
  EXPECT_EQ(c.ports[0].rx_queues, 3);
  EXPECT_EQ(c.ports[1].rx_queues, 2);  // one per worker
  // 10.99.2.8/30 is four addresses; none is the network/broadcast of outside's /24.
  ASSERT_EQ(c.pools.normal.size(), 4u);
  EXPECT_EQ(to_string(c.pools.normal[3]), "10.99.2.11");
  EXPECT_EQ(c.routes[0].port, "outside");
  EXPECT_EQ(c.limits.sender.messages_per_minute.max, 10u);
  EXPECT_EQ(c.limits.sender.messages_per_minute.action, policy::LimitAction::kThrottle);
  EXPECT_EQ(c.limits.sender.recipients_per_day.max, 10'000u);  // 0 = the default, resolved
  EXPECT_EQ(c.limits.sender.recipients_per_day.action, policy::LimitAction::kAlert);
  EXPECT_EQ(c.limits.org.recipients_per_day.max, 0u);  // 0 keeps its "factor" meaning
  EXPECT_EQ(c.limits.org.org_recipients_per_day_factor, 4u);
  EXPECT_EQ(c.limits.day_boundary_utc_offset_min, -330);
  EXPECT_EQ(c.limits.internal_domains, (std::vector<std::string>{"example.org"}));
  ASSERT_EQ(c.limits.org_prefixes.size(), 2u);
  EXPECT_EQ(c.limits.org_prefixes[0].org, "v6");
  EXPECT_EQ(c.smtp.ports, (std::vector<uint16_t>{2525}));
  EXPECT_EQ(c.smtp.other_traffic, OtherTraffic::kNat);
  EXPECT_EQ(c.flows.timeouts.established, 7'200u);
  EXPECT_EQ(c.flows.timeouts.icmp, 86'400u);
  EXPECT_EQ(c.flows.timeouts.fin, 240u);  // default kept
  EXPECT_FALSE(c.telemetry.enabled);
  EXPECT_EQ(c.telemetry.stats_interval_s, 300u);
  EXPECT_TRUE(c.inspection.enabled);  // default kept
  EXPECT_EQ(c.inspection.messages, 64u);
  EXPECT_EQ(c.inspection.active_sessions, 32u);
  EXPECT_EQ(c.inspection.segments, 4096u);
  EXPECT_EQ(c.inspection.decoders, 8u);
  EXPECT_EQ(c.inspection.scan_contexts, 16u);
  EXPECT_TRUE(c.inspection.pass_uninspected);
  EXPECT_EQ(c.limits.starttls, policy::Starttls::kAllow);
  ASSERT_EQ(c.limits.starttls_prefixes.size(), 1u);
  EXPECT_EQ(c.limits.starttls_prefixes[0].prefix, "10.99.1.0/24");
  EXPECT_EQ(c.limits.starttls_prefixes[0].starttls, policy::Starttls::kInspect);
  EXPECT_TRUE(c.rules.enabled);
  EXPECT_EQ(c.rules.dir, "my-rules");
  EXPECT_TRUE(c.rules.lenient);
}

TEST(ConfigLoad, EalArguments) {
  std::string text = edit("devices: [\"net_tap0,iface=a\", \"net_tap1,iface=b\"]",
                          "devices: [\"net_tap0,iface=a\", \"0000:01:00.0\"]\n"
                          "  file_prefix: gw1\n  memory_mb: 64\n  extra_args: [--log-level, \"8\"]");
  text = edit("    device: net_tap1", "    device: \"0000:01:00.0\"", text);
  text += "telemetry: { enabled: false }\n";
  auto r = load_string(text, "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  EXPECT_EQ(eal_arguments(r.config(), "gw"),
            (std::vector<std::string>{"gw", "-l", "0,1", "--main-lcore", "0", "--no-huge", "-m", "64",
                                      "--file-prefix", "gw1", "--vdev", "net_tap0,iface=a", "-a",
                                      "0000:01:00.0", "--no-telemetry", "--log-level", "8"}));
}

TEST(ConfigLoad, PortIndexDevice) {
  auto r = load_string(edit("    device: net_tap1", "    device: 1"), "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  ASSERT_TRUE(r.config().ports[1].port_index.has_value());
  EXPECT_EQ(*r.config().ports[1].port_index, 1);
  auto bad = load_string(edit("    device: net_tap1", "    device: 32"), "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.errors()[0].key, "ports[1].device");
}

TEST(ConfigValues, Parsers) {
  EXPECT_EQ(parse_duration("30"), 30u);
  EXPECT_EQ(parse_duration("30s"), 30u);
  EXPECT_EQ(parse_duration("5m"), 300u);
  EXPECT_EQ(parse_duration("1h"), 3'600u);
  EXPECT_EQ(parse_duration("2d"), 172'800u);
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("h"));
  EXPECT_FALSE(parse_duration("-1"));
  EXPECT_FALSE(parse_duration("1.5h"));
  EXPECT_FALSE(parse_duration("49711d"));  // > 2^32-1 seconds
  EXPECT_EQ(parse_ipv4("192.0.2.1"), (Ipv4{0xc0000201}));
  EXPECT_FALSE(parse_ipv4("192.0.2"));
  EXPECT_FALSE(parse_ipv4("192.0.2.01"));
  EXPECT_FALSE(parse_ipv4(" 192.0.2.1"));
  auto p = parse_ipv4_prefix("10.1.2.3/8");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->length, 8);
  EXPECT_EQ(to_string(*p), "10.1.2.3/8");
  EXPECT_EQ(to_string(p->network()), "10.0.0.0");
  EXPECT_TRUE(p->contains(*parse_ipv4("10.255.0.1")));
  EXPECT_FALSE(p->contains(*parse_ipv4("11.0.0.1")));
  EXPECT_EQ(parse_ipv4_prefix("0.0.0.0/0")->mask(), 0u);
  EXPECT_FALSE(parse_ipv4_prefix("10.0.0.0/08"));
  EXPECT_FALSE(parse_ipv4_prefix("10.0.0.0/"));
  EXPECT_FALSE(parse_ipv4_prefix("10.0.0.0/33"));
  EXPECT_TRUE(parse_mac("AA-bb-cc-dd-ee-ff"));
  EXPECT_FALSE(parse_mac("aa:bb-cc:dd:ee:ff"));
  EXPECT_FALSE(parse_mac("aa:bb:cc:dd:ee:fg"));
}

TEST(ConfigExamples, AllLoad) {
  for (const char* name : {"net_tap.yaml", "net_pcap.yaml", "net_virtio_user.yaml"}) {
    const std::string path = std::string(SMTPGW_CONFIG_EXAMPLES) + "/" + name;
    auto r = load_file(path);
    ASSERT_TRUE(r.ok()) << r.error_text();
    EXPECT_GE(r.config().ports.size(), 2u) << name;
    EXPECT_FALSE(r.config().pools.normal.empty()) << name;
  }
}

// A policy pushed through the API: the `limits:` section alone, read with the loader's checks
// and its positions in the pushed text; the rest of the config (the STARTTLS policy among it)
// stays the base's.
TEST(PolicyPush, ReadsTheLimitsSectionAloneWithPositions) {
  Result base = load_string(std::string(kBase) + "inspection:\n  starttls: allow\n", "base.yaml");
  ASSERT_TRUE(base.ok()) << base.error_text();
  Result ok = load_policy("limits:\n  sender:\n    messages_per_minute: { max: 7, action: block_user }\n",
                          "policy", base.config());
  ASSERT_TRUE(ok.ok()) << ok.error_text();
  EXPECT_EQ(ok.config().limits.sender.messages_per_minute.max, 7u);
  EXPECT_EQ(ok.config().limits.sender.messages_per_minute.action, policy::LimitAction::kBlockUser);
  EXPECT_EQ(ok.config().limits.host.messages_per_minute.max, 120u);  // a default, not the base's
  EXPECT_EQ(ok.config().limits.starttls, policy::Starttls::kAllow);   // the base's
  EXPECT_EQ(ok.config().ports.size(), base.config().ports.size());

  Result bad = load_policy("limits:\n  sender:\n    messages_per_minute: { max: 7, action: throttel }\n",
                           "policy", base.config());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error_text().find("policy:3:"), std::string::npos) << bad.error_text();
  EXPECT_NE(bad.error_text().find("limits.sender.messages_per_minute"), std::string::npos)
      << bad.error_text();
  for (const char* text : {"sender: {}\n", "limits: {}\npools: {}\n", "[1, 2]\n", "", "{"}) {
    Result r = load_policy(text, "policy", base.config());
    EXPECT_FALSE(r.ok()) << text;
  }
}

}  // namespace
}  // namespace smtpgw::config
