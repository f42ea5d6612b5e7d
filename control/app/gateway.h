// The running gateway's state, built from a loaded Config: mbuf pool, started ports, the
// tables workers read, per-worker stats and the workers themselves. Shared by `smtpgw run` and
// the forwarding benchmark so both run exactly the same set-up. Call on the main lcore after
// rte_eal_init; not thread-safe.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control/config/config.h"
#include "dataplane/arp/neighbor_table.h"
#include "dataplane/count/accountant.h"
#include "dataplane/count/event_queue.h"
#include "dataplane/enforce/enforcer.h"
#include "dataplane/worker/worker.h"

struct rte_mempool;

namespace smtpgw::app {

struct Gateway {
  config::Config cfg;
  rte_mempool* pool = nullptr;
  std::unique_ptr<arp::NeighborTable> neighbors;
  worker::Tables tables;
  // The workers' QSBR domain (one reader each, registered by build) and the pools' states they
  // read at each SYN: build publishes every configured address active; the control plane
  // publishes changes (publish_pool_states). Must outlive the workers.
  std::unique_ptr<publish::Qsbr> qsbr;
  std::unique_ptr<publish::Publisher<flow::PoolState>> pool_states;
  // The rule set the workers scan with, published in the same domain: build publishes
  // `ruleset` (below); publish_ruleset replaces it while they run. Null without a rule set.
  // Declared before the workers, whose scan contexts pin its versions, so it outlives them.
  std::unique_ptr<scan::ScanContext::Source> rules;
  worker::WorkerStats* stats = nullptr;
  std::vector<std::unique_ptr<worker::Worker>> workers;
  // Per worker (with inspection): its pipeline's counter groups (inspect, smtp, tcp, and
  // enforce with the gateway's own enforcement), read by telemetry and the exit report.
  std::vector<stats::Registry> pipelines;
  std::vector<uint16_t> started_ports;
  // The rule set the workers scan with (its scratch count covers every worker); null: no scan.
  // Set before build(); `smtpgw run` compiles rules.dir (load_rules in run_command.cc).
  std::shared_ptr<const scan::Ruleset> ruleset;
  // Where the workers' inspection decides holds and sends records; nullptr: the enforcement
  // below. Set before build() (tests inject theirs); must outlive the workers.
  inspect::Decisions* decisions = nullptr;

  // The enforcement of the policy (cfg.limits), built with inspection: one sender table shared
  // by the workers, read on a clock from the TSC; per worker an event queue (drained by
  // drain_events until the control plane consumes them) and an Enforcer.
  struct TscClock {
    uint64_t tsc0 = 0, unix_ns0 = 0, hz = 1;
  };
  enforce::RecordSink* records = nullptr;  // where the Enforcers pass each record (tests)
  std::unique_ptr<TscClock> clock;
  // The policy the Enforcers read (cfg.limits at build; publish_policy replaces it), in the
  // workers' Qsbr domain. Version 1 at build, one more at each publication.
  std::unique_ptr<enforce::PolicySource> policy;
  // Sender domains marked as having no mail exchanger (empty at build; publish_domain_marks
  // replaces it as the control plane's checker finds them), read by the Enforcers at MAIL FROM.
  std::unique_ptr<enforce::DomainMarksSource> domain_marks;
  std::unique_ptr<count::SenderTable> senders;
  std::unique_ptr<count::Accountant> accountant;
  std::vector<std::unique_ptr<count::EventQueue>> events;
  std::vector<std::unique_ptr<enforce::Enforcer>> enforcers;
  std::array<uint64_t, events::kEventKindCount> events_drained{};
};

// The pools' addresses with `state` each (addresses not in `states` stay as they are), published
// to the workers; new flows see it at their SYN, bound flows keep their address. Returns false
// (nothing published) for an address that is in no pool, or when the workers have not yet
// released enough older versions. Control thread.
bool publish_pool_states(Gateway& g,
                         const std::vector<std::pair<uint32_t, flow::AddressState>>& states);

// Publishes `next` (compiled with a scratch per worker) to the running workers: each message
// already in flight finishes with the rule set it began with, every later one uses `next`; the
// old set is freed once no message uses it. False when the gateway was built without a rule
// set, or the workers have not released enough older versions yet. Control thread.
bool publish_ruleset(Gateway& g, std::shared_ptr<const scan::Ruleset> next);

// Publishes `next` to the running Enforcers: every hold point from then on is decided by it (a
// message in flight meets the new limits at its next command). Its version is set here (one more
// than the active one). The sender table's capacity is fixed at build: a different
// `sender_table_capacity` is ignored. False when the gateway was built without enforcement, or
// the workers have not released enough older versions yet. Control thread.
bool publish_policy(Gateway& g, policy::Policy next);

// Publishes the sender domains without a mail exchanger (control/domains/) to the Enforcers:
// from their next MAIL FROM on, such a sender's mail on a normal flow is deferred and its pair
// steered. False without enforcement, or when the workers have not released enough older
// versions yet. Control thread.
bool publish_domain_marks(Gateway& g, const std::vector<std::string>& domains);

// Pops every worker's queued events, counts them by kind (events_drained) and hands each to
// `each` (may be empty). The control plane will consume them; until then they must not fill
// the queues. Main lcore only.
void drain_events(Gateway& g, const std::function<void(const events::Event&)>& each = {});

// Creates the pool, starts every configured port, builds routes, neighbours, pools and the
// workers, and registers telemetry. On failure prints the reason (naming the config key) on
// stderr and returns false; teardown() then releases what was built.
bool build(Gateway& g);

// The pools' names in PoolId order: normal, high_risk, then pools.named as configured. They are
// fixed for the gateway's life (a reload does not change the pools). Any thread.
std::vector<std::string> pool_names(const config::PoolsConfig& pools);

// Destroys the workers, stops and closes the ports, frees rings, stats and pool.
void teardown(Gateway& g);

}  // namespace smtpgw::app
