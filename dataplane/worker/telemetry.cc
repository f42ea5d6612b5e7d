#include "dataplane/worker/telemetry.h"

#include <rte_telemetry.h>

#include <cstdio>

namespace smtpgw::worker {

namespace {

// Set once before the callbacks are registered; the telemetry thread only reads through it.
const WorkerStats* g_stats = nullptr;
uint16_t g_workers = 0;
std::span<const stats::Registry> g_pipelines;

// Sums over the workers (relaxed loads: a statistic may lag by a burst).
uint64_t parse_total(const WorkerStats* stats, uint16_t workers, int reason) {
  uint64_t s = 0;
  for (uint16_t w = 0; w < workers; ++w) {
    s += stats[w].get_parse(reason);
  }
  return s;
}

int cmd_counters(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (int c = 0; c < kCounterCount; ++c) {
    rte_tel_data_add_dict_u64(d, counter_name(static_cast<Counter>(c)),
                              total(g_stats, g_workers, static_cast<Counter>(c)));
  }
  uint64_t bindings = 0;
  for (uint16_t w = 0; w < g_workers; ++w) {
    bindings += g_stats[w].get_bindings();
  }
  rte_tel_data_add_dict_u64(d, "nat_bindings", bindings);
  return 0;
}

int cmd_parse(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (int r = 0; r < packet::kParseResultCount; ++r) {
    rte_tel_data_add_dict_u64(d, packet::parse_result_name(static_cast<packet::ParseResult>(r)),
                              parse_total(g_stats, g_workers, r));
  }
  return 0;
}

int cmd_pipeline(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  if (g_pipelines.empty()) {
    return 0;
  }
  // Every worker registered the same groups in the same order: sum counter i of group k.
  const stats::Registry& first = g_pipelines[0];
  for (size_t k = 0; k < first.groups().size(); ++k) {
    const stats::Group& g = first.groups()[k];
    for (size_t i = 0; i < g.size; ++i) {
      uint64_t sum = 0;
      for (const stats::Registry& r : g_pipelines) {
        sum += stats::load(r.groups()[k].values[i]);
      }
      char key[96];
      std::snprintf(key, sizeof key, "%.*s_%.*s", static_cast<int>(g.stage.size()),
                    g.stage.data(), static_cast<int>(g.name(i).size()), g.name(i).data());
      rte_tel_data_add_dict_u64(d, key, sum);
    }
  }
  return 0;
}

int cmd_workers(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (uint16_t w = 0; w < g_workers; ++w) {
    char key[32];
    std::snprintf(key, sizeof key, "worker%u_rx", w);
    rte_tel_data_add_dict_u64(d, key, g_stats[w].get(Counter::rx_packets));
    std::snprintf(key, sizeof key, "worker%u_tx", w);
    rte_tel_data_add_dict_u64(d, key, g_stats[w].get(Counter::tx_packets));
    std::snprintf(key, sizeof key, "worker%u_bindings", w);
    rte_tel_data_add_dict_u64(d, key, g_stats[w].get_bindings());
  }
  return 0;
}

}  // namespace

uint64_t total(const WorkerStats* stats, uint16_t worker_count, Counter c) {
  uint64_t s = 0;
  for (uint16_t w = 0; w < worker_count; ++w) {
    s += stats[w].get(c);
  }
  return s;
}

void register_telemetry(const WorkerStats* stats, uint16_t worker_count,
                        std::span<const stats::Registry> pipelines) {
  g_stats = stats;
  g_workers = worker_count;
  g_pipelines = pipelines;
  rte_telemetry_register_cmd("/smtpgw/counters", cmd_counters,
                             "Gateway counters summed over workers. No parameters.");
  rte_telemetry_register_cmd("/smtpgw/parse", cmd_parse,
                             "Frames by parse outcome (ok and each malformation). No parameters.");
  rte_telemetry_register_cmd("/smtpgw/workers", cmd_workers,
                             "Per-worker rx, tx and SNAT bindings. No parameters.");
  rte_telemetry_register_cmd("/smtpgw/pipeline", cmd_pipeline,
                             "Inspection pipeline counters (inspect, smtp, tcp, enforce) summed "
                             "over workers, as stage_name. No parameters.");
}

std::string format_report(const WorkerStats* stats, uint16_t worker_count) {
  std::string out;
  char line[256];
  for (int c = 0; c < kCounterCount; ++c) {
    const uint64_t v = total(stats, worker_count, static_cast<Counter>(c));
    if (v != 0) {
      std::snprintf(line, sizeof line, "  %-22s %12llu  %s\n", counter_name(static_cast<Counter>(c)),
                    static_cast<unsigned long long>(v), counter_text(static_cast<Counter>(c)));
      out += line;
    }
  }
  for (int r = 1; r < packet::kParseResultCount; ++r) {
    const uint64_t v = parse_total(stats, worker_count, r);
    if (v != 0) {
      const auto pr = static_cast<packet::ParseResult>(r);
      std::snprintf(line, sizeof line, "  parse.%-16s %12llu  dropped: %s\n",
                    packet::parse_result_name(pr), static_cast<unsigned long long>(v),
                    packet::parse_result_text(pr));
      out += line;
    }
  }
  return out;
}

}  // namespace smtpgw::worker
