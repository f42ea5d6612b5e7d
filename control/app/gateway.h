// The running gateway's state, built from a loaded Config: mbuf pool, started ports, the
// tables workers read, per-worker stats and the workers themselves. Shared by `smtpgw run` and
// the forwarding benchmark so both run exactly the same set-up. Call on the main lcore after
// rte_eal_init; not thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "control/config/config.h"
#include "dataplane/arp/neighbor_table.h"
#include "dataplane/worker/worker.h"

struct rte_mempool;

namespace smtpgw::app {

struct Gateway {
  config::Config cfg;
  rte_mempool* pool = nullptr;
  std::unique_ptr<arp::NeighborTable> neighbors;
  worker::Tables tables;
  worker::WorkerStats* stats = nullptr;
  std::vector<std::unique_ptr<worker::Worker>> workers;
  std::vector<uint16_t> started_ports;
  // The rule set the workers scan with (its scratch count covers every worker); null: no scan.
  // Set before build(); `smtpgw run` compiles rules.dir (load_rules in run_command.cc).
  std::shared_ptr<const scan::Ruleset> ruleset;
  // Where the workers' inspection decides holds and sends records; nullptr: each worker's own.
  // Set before build() (tests inject theirs); must outlive the workers.
  inspect::Decisions* decisions = nullptr;
};

// Creates the pool, starts every configured port, builds routes, neighbours, pools and the
// workers, and registers telemetry. On failure prints the reason (naming the config key) on
// stderr and returns false; teardown() then releases what was built.
bool build(Gateway& g);

// Destroys the workers, stops and closes the ports, frees rings, stats and pool.
void teardown(Gateway& g);

}  // namespace smtpgw::app
