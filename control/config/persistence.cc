// The `store:`, `api:` and `alerts:` sections: where the control plane keeps its SQLite database
// (control/store/), where its operator API listens (control/api/) and where alerts go
// (control/alerts/).
#include <arpa/inet.h>

#include "control/alerts/sink_values.h"
#include "control/config/reader.h"

namespace smtpgw::config::detail {

void read_store(Ctx& ctx, const YAML::Node& node, StoreConfig& d) {
  MapReader m(ctx, node, "store");
  if (!m.valid()) {
    return;
  }
  read_bool_into(ctx, m, "enabled", d.enabled);
  if (auto n = m.get("path")) {
    if (auto s = read_string(ctx, *n, m.path("path"))) {
      if (s->empty()) {
        ctx.error(*n, m.path("path"), "is empty; leave the key out for smtpgw.db beside this file");
      } else {
        d.path = *s;
      }
    }
  }
  read_uint_into(ctx, m, "trace_days", d.trace_days, 1, 3'650);
  read_uint_into(ctx, m, "trace_max_rows", d.trace_max_rows, 1'000, 1'000'000'000);
  m.finish();
}

void read_api(Ctx& ctx, const YAML::Node& node, ApiConfig& d) {
  MapReader m(ctx, node, "api");
  if (!m.valid()) {
    return;
  }
  read_bool_into(ctx, m, "enabled", d.enabled);
  if (auto n = m.get("address")) {
    if (auto s = read_string(ctx, *n, m.path("address"))) {
      unsigned char b[16];
      if (inet_pton(AF_INET, s->c_str(), b) != 1 && inet_pton(AF_INET6, s->c_str(), b) != 1) {
        ctx.error(*n, m.path("address"), "expected an IP address such as 127.0.0.1, got " +
                                             quote(*s));
      } else {
        d.address = *s;
      }
    }
  }
  read_uint_into(ctx, m, "port", d.port, 1, 65'535);
  if (auto n = m.get("token")) {
    if (auto s = read_string(ctx, *n, m.path("token"))) {
      // The token itself is never repeated in an error.
      if (s->size() < 16 || s->size() > 256) {
        ctx.error(*n, m.path("token"), "must have 16 to 256 characters");
      } else if (s->find_first_of(" \t\r\n") != std::string::npos) {
        ctx.error(*n, m.path("token"), "must not contain white space");
      } else {
        d.token = *s;
      }
    }
  }
  if (auto n = m.get("token_file")) {
    if (auto s = read_string(ctx, *n, m.path("token_file"))) {
      if (s->empty()) {
        ctx.error(*n, m.path("token_file"), "is empty");
      } else {
        d.token_file = *s;
      }
    }
  }
  if (!d.token.empty() && !d.token_file.empty()) {
    ctx.error(node, "api", "give token or token_file, not both");
  }
  read_uint_into(ctx, m, "max_body", d.max_body, 1'024, 16'777'216);
  m.finish();
}

namespace {

// A non-empty string under `key`, or nullopt (reported).
std::optional<std::string> read_nonempty(Ctx& ctx, MapReader& m, std::string_view key,
                                         bool required) {
  auto n = required ? m.require(key) : m.get(key);
  if (!n) {
    return std::nullopt;
  }
  auto s = read_string(ctx, *n, m.path(key));
  if (s && s->empty()) {
    ctx.error(*n, m.path(key), "is empty");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> read_address(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  auto s = read_string(ctx, n, path);
  if (s && !alerts::looks_like_address(*s)) {
    ctx.error(n, path, "expected a mail address such as noc@example.net, got " + quote(*s));
    return std::nullopt;
  }
  return s;
}

void read_alert_webhook(Ctx& ctx, const YAML::Node& node, AlertWebhookConfig& d) {
  MapReader m(ctx, node, "alerts.webhook");
  if (!m.valid()) {
    return;
  }
  if (auto n = m.require("url")) {
    if (auto s = read_string(ctx, *n, m.path("url"))) {
      alerts::HttpUrl u;
      std::string why;
      if (!alerts::parse_http_url(*s, &u, &why)) {
        ctx.error(*n, m.path("url"), why + ", got " + quote(*s));
      } else {
        d.url = *s;
      }
    }
  }
  read_uint_into(ctx, m, "timeout_ms", d.timeout_ms, 100, 60'000);
  read_uint_into(ctx, m, "max_queue", d.max_queue, 1, 100'000);
  read_uint_into(ctx, m, "max_attempts", d.max_attempts, 1, 20);
  if (auto s = read_nonempty(ctx, m, "token_file", false)) {
    d.token_file = *s;
  }
  m.finish();
}

void read_alert_email(Ctx& ctx, const YAML::Node& node, AlertEmailConfig& d) {
  MapReader m(ctx, node, "alerts.email");
  if (!m.valid()) {
    return;
  }
  if (auto n = m.require("relay")) {
    if (auto s = read_string(ctx, *n, m.path("relay"))) {
      std::string why;
      if (!alerts::parse_host_port(*s, 25, &d.relay_host, &d.relay_port, &why)) {
        ctx.error(*n, m.path("relay"),
                  "expected host[:port] such as 127.0.0.1:25: " + why + ", got " + quote(*s));
      }
    }
  }
  if (auto n = m.require("from")) {
    if (auto s = read_address(ctx, *n, m.path("from"))) {
      d.from = *s;
    }
  }
  if (auto n = m.require("to")) {
    if (auto list = read_list(ctx, *n, m.path("to"))) {
      if (list->empty()) {
        ctx.error(*n, m.path("to"), "needs at least one admin address");
      }
      for (size_t i = 0; i < list->size(); ++i) {
        const std::string path = index(m.path("to"), i);
        if (auto s = read_address(ctx, (*list)[i], path)) {
          bool seen = false;
          for (const std::string& t : d.to) {
            seen = seen || t == *s;
          }
          if (seen) {
            ctx.error((*list)[i], path, quote(*s) + " is listed twice");
          } else {
            d.to.push_back(*s);
          }
        }
      }
    }
  }
  read_uint_into(ctx, m, "timeout_ms", d.timeout_ms, 100, 120'000);
  read_uint_into(ctx, m, "max_queue", d.max_queue, 1, 100'000);
  read_uint_into(ctx, m, "max_attempts", d.max_attempts, 1, 20);
  m.finish();
}

void read_alert_syslog(Ctx& ctx, const YAML::Node& node, AlertSyslogConfig& d) {
  MapReader m(ctx, node, "alerts.syslog");
  if (!m.valid()) {
    return;
  }
  if (auto n = m.get("facility")) {
    const std::vector<std::string_view> names(alerts::kSyslogFacilityNames.begin(),
                                              alerts::kSyslogFacilityNames.end());
    if (auto i = read_enum(ctx, *n, m.path("facility"), names)) {
      d.facility = std::string(names[*i]);
    }
  }
  m.finish();
}

}  // namespace

void read_alerts(Ctx& ctx, const YAML::Node& node, AlertsConfig& d) {
  MapReader m(ctx, node, "alerts");
  if (!m.valid()) {
    return;
  }
  read_duration_into(ctx, m, "aggregate", d.aggregate, 1, 86'400);
  if (auto n = m.get("file")) {
    if (auto s = read_string(ctx, *n, m.path("file"))) {
      if (s->empty()) {
        ctx.error(*n, m.path("file"), "is empty; leave the key out for no alert file");
      } else {
        d.file = *s;
      }
    }
  }
  // A section present turns its sink on (`syslog: {}` for the defaults).
  if (auto n = m.get("webhook")) {
    read_alert_webhook(ctx, *n, d.webhook.emplace());
  }
  if (auto n = m.get("email")) {
    read_alert_email(ctx, *n, d.email.emplace());
  }
  if (auto n = m.get("syslog")) {
    read_alert_syslog(ctx, *n, d.syslog.emplace());
  }
  m.finish();
}

}  // namespace smtpgw::config::detail
