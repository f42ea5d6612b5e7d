// The `workers:`, `flows:` and `arp:` sections: what each worker sizes its tables by (burst,
// mbufs, flows, NAT ports, pending ARP) and their timeouts; and `telemetry:`, how the workers'
// counters are read out.
#include "control/config/reader.h"

namespace smtpgw::config::detail {

void read_workers(Ctx& ctx, const YAML::Node& node, WorkersConfig& workers) {
  MapReader m(ctx, node, "workers");
  if (!m.valid()) {
    return;
  }
  read_uint_into(ctx, m, "burst", workers.burst, 1, 512);
  read_uint_into(ctx, m, "mbufs", workers.mbufs, 512, (1 << 24) - 1);
  read_uint_into(ctx, m, "event_queue", workers.event_queue, 16, 1 << 20);
  m.finish();
}

void read_flows(Ctx& ctx, const YAML::Node& node, FlowsConfig& f) {
  MapReader m(ctx, node, "flows");
  if (!m.valid()) {
    return;
  }
  read_uint_into(ctx, m, "max_per_worker", f.max_per_worker, 1, 1 << 24);
  read_uint_into(ctx, m, "nat_port_min", f.nat_port_min, 1, 65'535);
  read_uint_into(ctx, m, "nat_port_max", f.nat_port_max, 1, 65'535);
  if (f.nat_port_min > f.nat_port_max) {
    auto n = m.get("nat_port_min");
    ctx.error(n ? *n : node, m.path("nat_port_min"),
              "nat_port_min (" + std::to_string(f.nat_port_min) + ") is above nat_port_max (" +
                  std::to_string(f.nat_port_max) + ")");
  }
  if (auto n = m.get("timeouts")) {
    MapReader t(ctx, *n, m.path("timeouts"));
    if (t.valid()) {
      constexpr uint32_t kWeek = 604'800;
      FlowTimeouts& to = f.timeouts;
      read_duration_into(ctx, t, "syn", to.syn, 1, kWeek);
      read_duration_into(ctx, t, "established", to.established, 1, kWeek);
      read_duration_into(ctx, t, "fin", to.fin, 1, kWeek);
      read_duration_into(ctx, t, "closed", to.closed, 1, kWeek);
      read_duration_into(ctx, t, "udp", to.udp, 1, kWeek);
      read_duration_into(ctx, t, "icmp", to.icmp, 1, kWeek);
      t.finish();
    }
  }
  m.finish();
}

void read_arp(Ctx& ctx, const YAML::Node& node, ArpConfig& arp) {
  MapReader m(ctx, node, "arp");
  if (!m.valid()) {
    return;
  }
  read_uint_into(ctx, m, "pending_max", arp.pending_max, 0, 65'536);
  read_duration_into(ctx, m, "entry_ttl", arp.entry_ttl, 1, 86'400);
  read_uint_into(ctx, m, "retry_ms", arp.retry_ms, 10, 60'000);
  m.finish();
}

void read_telemetry(Ctx& ctx, const YAML::Node& node, TelemetryConfig& telemetry) {
  MapReader m(ctx, node, "telemetry");
  if (!m.valid()) {
    return;
  }
  read_bool_into(ctx, m, "enabled", telemetry.enabled);
  read_duration_into(ctx, m, "stats_interval_s", telemetry.stats_interval_s, 0, 86'400);
  m.finish();
}

}  // namespace smtpgw::config::detail
