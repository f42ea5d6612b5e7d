#include "control/app/gateway.h"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "dataplane/port/port.h"
#include "dataplane/worker/telemetry.h"

namespace smtpgw::app {

namespace {

packet::MacAddr to_mac(const config::MacAddress& m) {
  packet::MacAddr out;
  std::memcpy(out.b, m.data(), 6);
  return out;
}

std::string mac_text(const packet::MacAddr& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m.b[0], m.b[1], m.b[2], m.b[3],
                m.b[4], m.b[5]);
  return buf;
}

// Worker `w`'s inspection pipeline: pools made at start (reserve == max), every hold point on,
// the rule set's scratch `w`.
inspect::Config inspect_config(const config::Config& cfg, const scan::ScanContext::Source* rules,
                               unsigned w) {
  inspect::Config c;
  c.rules_source = rules;
  c.worker = w;
  c.session.hold_mask = smtp::kHoldAll;
  c.tcp.pool_slots = cfg.inspection.segments;
  c.reserve_active_sessions = c.max_active_sessions = cfg.inspection.active_sessions;
  c.reserve_messages = c.max_messages = cfg.inspection.messages;
  c.reserve_decoders = c.max_decoders = cfg.inspection.decoders;
  c.reserve_scans = c.max_scans = cfg.inspection.scan_contexts;
  c.fail_open = cfg.inspection.pass_uninspected;
  c.prefault = true;
  return c;
}

flow::NoActiveFallback fallback_of(const config::Config& cfg) {
  return cfg.pools.refuse_when_none_active ? flow::NoActiveFallback::kRefuse
                                           : flow::NoActiveFallback::kUseListed;
}

uint64_t tsc_unix_ns(const void* ctx) {
  const auto* c = static_cast<const Gateway::TscClock*>(ctx);
  const uint64_t ticks = rte_rdtsc() - c->tsc0;
  return c->unix_ns0 + static_cast<uint64_t>(static_cast<unsigned __int128>(ticks) *
                                             1'000'000'000u / c->hz);
}

// The sender table and one Enforcer per worker (docs/gateway.md, "Enforcement").
void build_enforcement(Gateway& g, uint16_t nworkers) {
  const config::Config& cfg = g.cfg;
  g.clock = std::make_unique<Gateway::TscClock>();
  g.clock->hz = rte_get_tsc_hz();
  g.clock->tsc0 = rte_rdtsc();
  g.clock->unix_ns0 = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  count::SenderTable::Options so;
  so.capacity = cfg.limits.sender_table_capacity;
  so.clock = count::Clock{tsc_unix_ns, g.clock.get()};
  g.senders = std::make_unique<count::SenderTable>(so);
  g.accountant = std::make_unique<count::Accountant>(*g.senders);
  policy::Policy first = cfg.limits;
  first.version = 1;
  g.policy = std::make_unique<enforce::PolicySource>(
      *g.qsbr, std::make_shared<const enforce::CompiledPolicy>(std::move(first)));
  g.domain_marks = std::make_unique<enforce::DomainMarksSource>(
      *g.qsbr, std::make_shared<const enforce::DomainMarks>());
  enforce::Options eo;
  eo.high_risk_pool = !cfg.pools.high_risk.empty();
  eo.domain_marks = g.domain_marks.get();
  for (uint16_t w = 0; w < nworkers; ++w) {
    g.events.push_back(std::make_unique<count::EventQueue>(cfg.workers.event_queue, w));
    g.enforcers.push_back(std::make_unique<enforce::Enforcer>(*g.accountant, *g.policy,
                                                              *g.events.back(), eo, g.records));
  }
}

}  // namespace

void drain_events(Gateway& g, const std::function<void(const events::Event&)>& each) {
  events::Event e;
  for (auto& q : g.events) {
    while (q->pop(e)) {
      ++g.events_drained[static_cast<size_t>(e.kind)];
      if (each) {
        each(e);
      }
    }
  }
}

bool publish_domain_marks(Gateway& g, const std::vector<std::string>& domains) {
  return g.domain_marks != nullptr &&
         g.domain_marks->publish(std::make_shared<const enforce::DomainMarks>(domains)) ==
             publish::PublishOutcome::kPublished;
}

std::vector<std::string> pool_names(const config::PoolsConfig& pools) {
  std::vector<std::string> names = {"normal", "high_risk"};
  for (const config::PoolsConfig::Named& n : pools.named) {
    names.push_back(n.name);
  }
  return names;
}

bool build(Gateway& g) {
  const config::Config& cfg = g.cfg;
  const uint16_t nworkers = static_cast<uint16_t>(cfg.worker_count());
  g.pool = rte_pktmbuf_pool_create("smtpgw_mbufs", cfg.workers.mbufs, 256, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (g.pool == nullptr) {
    std::fprintf(stderr, "smtpgw: cannot create the mbuf pool (%u mbufs): %s\n", cfg.workers.mbufs,
                 rte_strerror(rte_errno));
    return false;
  }
  worker::Tables& t = g.tables;
  t.worker_count = nworkers;
  t.burst = cfg.workers.burst > worker::kMaxBurst ? worker::kMaxBurst : cfg.workers.burst;
  for (const config::PortConfig& pc : cfg.ports) {
    const auto id = port::find_port(pc.device, pc.port_index);
    if (!id || *id >= worker::kMaxPorts) {
      std::fprintf(stderr,
                   "smtpgw: %s: ports[%s].device: no DPDK port named '%s' (is it listed in "
                   "eal.devices?)\n",
                   cfg.source.c_str(), pc.name.c_str(), pc.device.c_str());
      return false;
    }
    port::PortSetup s;
    s.port_id = *id;
    s.rx_queues = pc.rx_queues ? pc.rx_queues : nworkers;
    s.tx_queues = nworkers;
    s.rx_descriptors = pc.rx_descriptors;
    s.tx_descriptors = pc.tx_descriptors;
    s.pool = g.pool;
    if (pc.mac) {
      s.mac = to_mac(*pc.mac);
    }
    std::string err;
    const auto info = port::start_port(s, &err);
    if (!info) {
      std::fprintf(stderr, "smtpgw: port %s (%s): %s\n", pc.name.c_str(), pc.device.c_str(),
                   err.c_str());
      return false;
    }
    g.started_ports.push_back(*id);
    worker::PortRuntime& pr = t.ports[*id];
    pr.role = pc.role == config::PortRole::kInside ? worker::Role::kInside : worker::Role::kOutside;
    pr.mac = info->mac;
    pr.address = pc.address.address.value;
    pr.prefix = pc.address.network().value;
    pr.prefix_len = pc.address.length;
    pr.vlan = pc.vlan;
    pr.rx_queues = info->rx_queues;
    t.port_ids.push_back(*id);
    t.routes.add(pr.prefix, pr.prefix_len, *id, 0);
    std::printf("smtpgw: port %s = %s (port %u, %s) %s/%u mac %s, %u rx queue(s)\n",
                pc.name.c_str(), pc.device.c_str(), *id, info->driver.c_str(),
                config::to_string(pc.address.address).c_str(), pc.address.length,
                mac_text(info->mac).c_str(), info->rx_queues);
  }
  for (const config::RouteConfig& r : cfg.routes) {
    const uint16_t id = g.started_ports[r.port_idx];
    if (!t.routes.add(r.prefix.network().value, r.prefix.length, id, r.via.value)) {
      std::fprintf(stderr, "smtpgw: %s: routes: more than %u routes\n", cfg.source.c_str(),
                   route::kMaxRoutes);
      return false;
    }
  }
  const uint64_t hz = rte_get_tsc_hz();
  t.tsc_hz = hz;
  g.neighbors = std::make_unique<arp::NeighborTable>(4096);
  t.neighbors = g.neighbors.get();
  for (const config::NeighborConfig& n : cfg.neighbors) {
    g.neighbors->learn(n.address.value, g.started_ports[n.port_idx], to_mac(n.mac), 0, true);
  }
  t.arp_ttl = hz * cfg.arp.entry_ttl;
  t.arp_retry = hz / 1000 * cfg.arp.retry_ms;
  t.arp_give_up = t.arp_retry * 3;  // three unanswered requests
  t.arp_pending_max = cfg.arp.pending_max ? cfg.arp.pending_max : 1;
  std::vector<flow::PoolState::Pool> pools;
  for (std::string& name : pool_names(cfg.pools)) {
    pools.push_back({std::move(name), {}});
  }
  std::vector<flow::PoolState::Binding> bindings;
  auto add_pool = [&](flow::PoolState::Pool& pool, const std::vector<config::Ipv4>& addrs) {
    for (const config::Ipv4& a : addrs) {
      pool.addresses.push_back({a.value, flow::AddressState::kActive});
      t.all_pool.push_back(a.value);
    }
  };
  add_pool(pools[flow::kNormalPool], cfg.pools.normal);
  add_pool(pools[flow::kHighRiskPool], cfg.pools.high_risk);
  for (size_t i = 0; i < cfg.pools.named.size(); ++i) {
    const config::PoolsConfig::Named& n = cfg.pools.named[i];
    const auto id = static_cast<flow::PoolId>(flow::kHighRiskPool + 1 + i);
    add_pool(pools[id], n.addresses);
    for (const config::Ipv4Prefix& p : n.bound) {
      bindings.push_back({p.network().value, p.length, id});
    }
  }
  t.pool_index = flow::AddressIndex(t.all_pool);
  g.qsbr = std::make_unique<publish::Qsbr>();
  if (g.ruleset) {
    g.rules = std::make_unique<scan::ScanContext::Source>(*g.qsbr, g.ruleset);
  }
  g.pool_states = std::make_unique<publish::Publisher<flow::PoolState>>(
      *g.qsbr, std::make_unique<flow::PoolState>(std::move(pools), std::move(bindings),
                                                 fallback_of(cfg)));
  t.pools = g.pool_states.get();
  t.qsbr = g.qsbr.get();
  for (uint16_t p : cfg.smtp.ports) {
    t.smtp_ports.set(p);
  }
  switch (cfg.smtp.other_traffic) {
    case config::OtherTraffic::kForward:
      t.other_traffic = worker::OtherTraffic::kForward;
      break;
    case config::OtherTraffic::kNat:
      t.other_traffic = worker::OtherTraffic::kNat;
      break;
    case config::OtherTraffic::kDrop:
      t.other_traffic = worker::OtherTraffic::kDrop;
      break;
  }
  if (nworkers > 1) {
    for (uint16_t w = 0; w < nworkers; ++w) {
      char name[32];
      std::snprintf(name, sizeof name, "smtpgw_handoff%u", w);
      rte_ring* r = rte_ring_create(name, 4096, rte_socket_id(), RING_F_SC_DEQ);
      if (r == nullptr) {
        std::fprintf(stderr, "smtpgw: cannot create handoff ring: %s\n", rte_strerror(rte_errno));
        return false;
      }
      t.handoff.push_back(r);
    }
  }
  if (cfg.inspection.enabled && g.decisions == nullptr) {
    build_enforcement(g, nworkers);
  }
  g.stats = static_cast<worker::WorkerStats*>(
      rte_zmalloc("smtpgw_stats", sizeof(worker::WorkerStats) * nworkers, 64));
  const config::FlowTimeouts& to = cfg.flows.timeouts;
  for (uint16_t w = 0; w < nworkers; ++w) {
    worker::WorkerConfig wc;
    wc.index = w;
    const std::optional<unsigned> reader = g.qsbr->register_reader();
    if (!reader) {
      std::fprintf(stderr, "smtpgw: more than %u workers\n", publish::Qsbr::kMaxReaders);
      return false;
    }
    wc.qsbr_reader = *reader;
    wc.expire_sweep = hz;
    wc.nat.max_bindings = cfg.flows.max_per_worker;
    wc.nat.port_min = cfg.flows.nat_port_min;
    wc.nat.port_max = cfg.flows.nat_port_max;
    wc.nat.worker_index = w;
    wc.nat.worker_count = nworkers;
    wc.nat.egress_addresses = t.all_pool;
    wc.nat.timeouts = {hz * to.syn, hz * to.established, hz * to.fin,
                       hz * to.closed, hz * to.udp,         hz * to.icmp};
    wc.inspect = cfg.inspection.enabled;
    wc.inspect_config = inspect_config(cfg, g.rules.get(), w);
    wc.decisions = g.decisions != nullptr ? g.decisions
                   : g.enforcers.empty()   ? nullptr
                                           : g.enforcers[w].get();
    g.workers.push_back(std::make_unique<worker::Worker>(t, wc, g.pool, &g.stats[w]));
  }
  for (uint16_t w = 0; w < nworkers && cfg.inspection.enabled; ++w) {
    stats::Registry& r = g.pipelines.emplace_back();
    g.workers[w]->inspector()->register_counters(r);
    if (w < g.enforcers.size()) {
      g.enforcers[w]->register_counters(r);
    }
  }
  worker::register_telemetry(g.stats, nworkers, g.pipelines);
  return true;
}

bool publish_pool_states(Gateway& g,
                         const std::vector<std::pair<uint32_t, flow::AddressState>>& states) {
  const flow::PoolState* now = g.pool_states->read();  // this thread is the only writer
  std::unique_ptr<flow::PoolState> next = now->with_states(states);
  return next != nullptr &&
         g.pool_states->publish(std::move(next)) == publish::PublishOutcome::kPublished;
}

bool publish_ruleset(Gateway& g, std::shared_ptr<const scan::Ruleset> next) {
  return g.rules != nullptr &&
         g.rules->publish(std::move(next)) == publish::PublishOutcome::kPublished;
}

bool publish_policy(Gateway& g, policy::Policy next) {
  if (g.policy == nullptr) {
    return false;
  }
  next.version = g.policy->read()->policy().version + 1;  // this thread is the only writer
  return g.policy->publish(std::make_shared<const enforce::CompiledPolicy>(std::move(next))) ==
         publish::PublishOutcome::kPublished;
}

void teardown(Gateway& g) {
  g.pipelines.clear();
  g.workers.clear();
  for (uint16_t id : g.started_ports) {
    port::stop_port(id);
  }
  for (rte_ring* r : g.tables.handoff) {
    rte_ring_free(r);
  }
  rte_free(g.stats);
  rte_mempool_free(g.pool);
}


}  // namespace smtpgw::app
