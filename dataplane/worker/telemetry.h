// Exposes the workers' counters as DPDK telemetry commands (read with dpdk-telemetry.py):
//   /smtpgw/counters   every counter summed over workers, by name
//   /smtpgw/workers    per worker: rx, tx, bindings
//   /smtpgw/parse      malformed frames by reason
//   /smtpgw/pipeline   every counter of the workers' inspection pipelines (stats::Registry:
//                      inspect, smtp, tcp, enforce), summed over workers, as "stage_name"
// and formats the same for the report printed on exit. Register once from the main lcore
// after the workers' stats exist; the callbacks run on DPDK's telemetry thread and only read.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "dataplane/stats/registry.h"
#include "dataplane/worker/counters.h"

namespace smtpgw::worker {

// `pipelines`: one registry per worker (may be empty: no inspection); must outlive the
// telemetry thread's use (the process).
void register_telemetry(const WorkerStats* stats, uint16_t worker_count,
                        std::span<const stats::Registry> pipelines = {});

// Sum of one counter over all workers.
uint64_t total(const WorkerStats* stats, uint16_t worker_count, Counter c);

// Human-readable report: non-zero counters with descriptions, then parse drops by reason.
// Reads with relaxed loads only; any thread, while the workers run or after.
std::string format_report(const WorkerStats* stats, uint16_t worker_count);

}  // namespace smtpgw::worker
