// smtpgw run --config FILE: loads the config, starts EAL and the ports, builds the tables the
// workers read, launches one worker per worker lcore, and runs the control plane
// (control_plane.h) on the main lcore until SIGINT or SIGTERM; then stops the workers, prints
// the counters and closes the ports.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "control/app/commands.h"
#include "control/app/control_plane.h"
#include "control/app/gateway.h"
#include "control/config/config.h"
#include "dataplane/worker/telemetry.h"
#include "dataplane/worker/worker.h"

namespace smtpgw::app {

namespace {

std::atomic<bool> g_stop{false};  // relaxed: a flag, no data published through it
std::atomic<bool> g_reload{false};  // SIGHUP: read the config again, publish what may change

void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }
void on_hup(int) { g_reload.store(true, std::memory_order_relaxed); }

int launch_worker(void* arg) {
  static_cast<worker::Worker*>(arg)->run(g_stop);
  return 0;
}

}  // namespace

int run_main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if (std::strncmp(argv[i], "--config=", 9) == 0) {
      config_path = argv[i] + 9;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("usage: smtpgw run --config FILE\n");
      return 0;
    } else {
      std::fprintf(stderr, "smtpgw run: unexpected argument '%s'\nusage: smtpgw run --config FILE\n",
                   argv[i]);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "usage: smtpgw run --config FILE\n");
    return 2;
  }
  // From here on SIGINT/SIGTERM stop the gateway cleanly, even while it is still starting
  // (compiling a large rule set takes seconds).
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // A peer that went away (a vhost-user server, an API client, an alert webhook) is a failed
  // write with EPIPE to handle where it happens, never the end of the gateway.
  std::signal(SIGPIPE, SIG_IGN);
  config::Result loaded = config::load_file(config_path);
  if (!loaded) {
    std::fprintf(stderr, "%s", loaded.error_text().c_str());
    std::fprintf(stderr, "smtpgw: %s: configuration rejected, not starting\n", config_path.c_str());
    return 2;
  }
  Gateway g;
  g.cfg = std::move(loaded.config());
  ControlPlane control(g, config_path);
  if (!control.open_store()) {
    return 1;
  }
  if (!control.load_versions()) {
    return 2;
  }

  std::vector<std::string> eal_args = config::eal_arguments(g.cfg, "smtpgw");
  // Without a PCI device in the config, keep EAL away from the machine's own NICs: probing
  // them is slow and may touch a device the host is using.
  bool any_pci = false;
  for (const std::string& a : eal_args) {
    any_pci = any_pci || a == "-a" || a == "--allow" || a == "-b" || a == "--block";
  }
  if (!any_pci) {
    eal_args.insert(eal_args.begin() + 1, "--no-pci");
  }
  std::vector<char*> eal_argv;
  for (std::string& a : eal_args) {
    eal_argv.push_back(a.data());
  }
  eal_argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(eal_args.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "smtpgw: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }

  int status = 0;
  if (!build(g)) {
    status = 1;
  } else {
    control.restore_restrictions();
    unsigned w = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
      if (w < g.workers.size()) {
        rte_eal_remote_launch(launch_worker, g.workers[w++].get(), lcore);
      }
    }
    std::signal(SIGHUP, on_hup);
    if (!control.start()) {
      g_stop.store(true, std::memory_order_relaxed);
      status = 1;
    }
    std::printf("smtpgw: running with %zu worker(s); SIGINT or SIGTERM stops, SIGHUP reloads "
                "limits and rules\n",
                g.workers.size());
    std::fflush(stdout);
    const uint32_t interval = g.cfg.telemetry.stats_interval_s;
    uint64_t ticks = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      control.tick(g_reload.exchange(false, std::memory_order_relaxed));
      if (interval != 0 && ++ticks % (interval * 10) == 0) {
        std::printf("smtpgw: counters\n%s",
                    worker::format_report(g.stats, static_cast<uint16_t>(g.workers.size())).c_str());
        std::fflush(stdout);
      }
    }
    control.close_api();
    rte_eal_mp_wait_lcore();
    std::printf("smtpgw: stopped; counters:\n%s",
                worker::format_report(g.stats, static_cast<uint16_t>(g.workers.size())).c_str());
    for (size_t i = 0; i < g.workers.size(); ++i) {
      worker::Worker& w = *g.workers[i];
      std::printf("  worker%zu nat_bindings %u\n", i, w.nat().size());
      w.close_inspection();  // transactions still open are reported, as at a flow's end
      if (i < g.pipelines.size()) {
        // Every non-zero counter of the pipeline (inspect, smtp, tcp, enforce), as telemetry's
        // /smtpgw/pipeline names them.
        g.pipelines[i].for_each([i](std::string_view stage, std::string_view name, uint64_t v) {
          if (v != 0) {
            std::printf("  worker%zu %.*s_%.*s %llu\n", i, static_cast<int>(stage.size()),
                        stage.data(), static_cast<int>(name.size()), name.data(),
                        static_cast<unsigned long long>(v));
          }
        });
      }
      if (const inspect::Inspector* in = w.inspector()) {
        // Each pool made at start: how much of it the traffic used, and how often it ran out
        // (what an operator sizes the inspection keys from).
        const auto pool = [i](const char* name, uint32_t made, uint32_t peak, uint64_t out) {
          std::printf("  worker%zu pool_%s made %u peak %u exhausted %llu\n", i, name, made, peak,
                      static_cast<unsigned long long>(out));
        };
        const smtp::SessionContext::PoolStats& s = in->sessions().pool();
        pool("active_sessions", s.parts, s.peak, s.exhausted);
        for (const auto& [name, p] : {std::pair{"messages", &in->messages().stats()},
                                      std::pair{"decoders", &in->decoders().stats()},
                                      std::pair{"scan_contexts", &in->scans().stats()}}) {
          pool(name, p->made, p->peak, p->exhausted);
        }
        const tcp::Reassembler& r = in->reassembler();
        std::printf("  worker%zu pool_segments made %u in_use %u exhausted %llu\n", i,
                    r.config().pool_slots, r.config().pool_slots - r.free_slots(),
                    static_cast<unsigned long long>(r.counter(tcp::Counter::kDropPoolExhausted)));
      }
      if (i < g.enforcers.size()) {
        std::printf("  worker%zu events_overflow %llu\n", i,
                    static_cast<unsigned long long>(g.events[i]->overflow_total()));
      }
    }
    control.finish();
    for (size_t k = 0; k < events::kEventKindCount; ++k) {
      std::printf("  events_%s %llu\n", events::event_kind_name(static_cast<events::EventKind>(k)),
                  static_cast<unsigned long long>(g.events_drained[k]));
    }
    std::fflush(stdout);
  }
  teardown(g);
  rte_eal_cleanup();
  return status;
}

}  // namespace smtpgw::app
