// The `store:`, `api:` and `alerts:` sections: where the control plane keeps its SQLite database
// (control/store/) and where its operator API listens (control/api/).
#include <arpa/inet.h>

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
  m.finish();
}

}  // namespace smtpgw::config::detail
