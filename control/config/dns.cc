// The sections of what the control plane asks DNS: `sender_domains:` (control/dns/
// domain_checker.h) and `dnsbl:` (control/dns/dnsbl_monitor.h); see docs/config.md.
#include <arpa/inet.h>

#include <algorithm>

#include "control/config/reader.h"
#include "dataplane/text/ascii.h"

namespace smtpgw::config::detail {

namespace {

bool digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "192.0.2.53", "127.0.0.1:5353", "2001:db8::53", "[::1]:5353" -> c-ares' CSV entry.
std::optional<std::string> dns_server(const std::string& s) {
  std::string host = s;
  std::string port;
  bool v6 = false;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos) {
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    v6 = true;
    const std::string rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':' || rest.size() == 1) {
        return std::nullopt;
      }
      port = rest.substr(1);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    host = s.substr(0, s.find(':'));
    port = s.substr(s.find(':') + 1);
    if (port.empty()) {
      return std::nullopt;
    }
  } else {
    v6 = s.find(':') != std::string::npos;
  }
  unsigned char buf[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), buf) != 1) {
    return std::nullopt;
  }
  if (!port.empty() &&
      (port.size() > 5 || !digits(port) || std::stoul(port) == 0 || std::stoul(port) > 65'535)) {
    return std::nullopt;
  }
  if (port.empty()) {
    return host;
  }
  return (v6 ? "[" + host + "]" : host) + ":" + port;
}

// `servers: [...]` into c-ares' CSV.
void read_servers(Ctx& ctx, MapReader& m, std::string& out) {
  auto n = m.get("servers");
  if (!n) {
    return;
  }
  auto list = read_list(ctx, *n, m.path("servers"));
  if (!list) {
    return;
  }
  std::string csv;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = index(m.path("servers"), i);
    auto s = read_string(ctx, (*list)[i], path);
    if (!s) {
      continue;
    }
    auto entry = dns_server(*s);
    if (!entry) {
      ctx.error((*list)[i], path,
                "expected a name server address such as \"192.0.2.53\", \"127.0.0.1:5353\" or "
                "\"[2001:db8::53]:53\", got " + quote(*s));
      continue;
    }
    csv += (csv.empty() ? "" : ",") + *entry;
  }
  out = csv;
}

}  // namespace

void read_sender_domains(Ctx& ctx, const YAML::Node& node, SenderDomainsConfig& d) {
  MapReader m(ctx, node, "sender_domains");
  if (!m.valid()) {
    return;
  }
  read_bool_into(ctx, m, "check", d.check);
  read_servers(ctx, m, d.servers);
  read_duration_into(ctx, m, "found_ttl", d.found_ttl, 60, 604'800);
  read_duration_into(ctx, m, "missing_ttl", d.missing_ttl, 60, 604'800);
  read_uint_into(ctx, m, "timeout_ms", d.timeout_ms, 100, 30'000);
  read_uint_into(ctx, m, "max_domains", d.max_domains, 16, 1'048'576);
  read_uint_into(ctx, m, "max_pending", d.max_pending, 1, 4'096);
  m.finish();
}

void read_dnsbl(Ctx& ctx, const YAML::Node& node, DnsblConfig& d) {
  MapReader m(ctx, node, "dnsbl");
  if (!m.valid()) {
    return;
  }
  if (auto n = m.get("zones")) {
    if (auto list = read_list(ctx, *n, m.path("zones"))) {
      for (size_t i = 0; i < list->size(); ++i) {
        const std::string path = index(m.path("zones"), i);
        auto s = read_string(ctx, (*list)[i], path);
        if (!s) {
          continue;
        }
        std::string z = *s;
        std::transform(z.begin(), z.end(), z.begin(), text::ascii_lower);
        // At most 200 octets: room for the reversed address in front of it.
        if (!text::is_dns_name(z, 200)) {
          ctx.error((*list)[i], path, "expected a DNS zone such as \"zen.spamhaus.org\", got " +
                                          quote(*s));
        } else if (std::find(d.zones.begin(), d.zones.end(), z) != d.zones.end()) {
          ctx.error((*list)[i], path, "zone " + quote(z) + " is listed twice");
        } else {
          d.zones.push_back(z);
        }
      }
    }
  }
  read_servers(ctx, m, d.servers);
  read_duration_into(ctx, m, "interval", d.interval, 10, 86'400);
  read_duration_into(ctx, m, "recheck_min", d.recheck_min, 1, 86'400);
  read_duration_into(ctx, m, "blame_window", d.blame_window, 60, 30 * 86'400);
  read_uint_into(ctx, m, "timeout_ms", d.timeout_ms, 100, 30'000);
  read_uint_into(ctx, m, "max_pending", d.max_pending, 1, 1'024);
  read_uint_into(ctx, m, "zone_rate", d.zone_rate, 1, 10'000);
  m.finish();
}

}  // namespace smtpgw::config::detail
