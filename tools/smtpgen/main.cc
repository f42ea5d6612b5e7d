// smtpgen: SMTP sessions through the gateway on two DPDK ports — the clients on the one facing
// the gateway's inside port, the server on the one facing its outside port — and a report of what
// arrived (tools/smtpgen/README.md). In the test bed its ports are net_vhost devices whose
// vhost-user sockets the gateway's net_virtio_user ports connect to.
//
//   smtpgen [EAL options] -- [--sessions N] [--concurrency N] [--messages N] [--size BYTES]
//           [--client-ip A] [--client-hosts N] [--inside-gateway A] [--server-ip A]
//           [--outside-gateway A] [--link-wait-s N] [--timeout-s N] [--no-bdat]
//
// Waits for both ports' links (the gateway connects), runs the sessions on the main lcore, and
// prints its report as one JSON line. Exit 0 when every session ended with QUIT answered and
// every message was delivered byte for byte; 1 otherwise; 2 on bad arguments or a port that
// would not start.
#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tools/smtpgen/generator.h"

namespace {

using smtpgw::smtpgen::Generator;
using smtpgw::smtpgen::GeneratorConfig;
using smtpgw::smtpgen::GeneratorReport;

bool start_port(uint16_t port, rte_mempool* pool) {
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
      rte_eth_rx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr) != 0 ||
      rte_eth_dev_start(port) != 0) {
    return false;
  }
  rte_eth_promiscuous_enable(port);  // the gateway's frames come to the addresses we answer for
  return true;
}

bool link_up(uint16_t port) {
  rte_eth_link link{};
  return rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

// Sends `frames` on `port` (what the port refuses is counted and dropped, as a NIC would).
uint64_t send(uint16_t port, rte_mempool* pool, std::vector<std::string>& frames) {
  uint64_t refused = 0;
  for (size_t at = 0; at < frames.size();) {
    rte_mbuf* burst[32];
    uint16_t n = 0;
    for (; n < 32 && at < frames.size(); ++at) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (m == nullptr) {
        ++refused;
        continue;
      }
      const std::string& f = frames[at];
      std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
      burst[n++] = m;
    }
    const uint16_t sent = rte_eth_tx_burst(port, 0, burst, n);
    for (uint16_t i = sent; i < n; ++i) {
      rte_pktmbuf_free(burst[i]);
      ++refused;
    }
  }
  frames.clear();
  return refused;
}

bool ipv4(const std::string& text, uint32_t* out) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) {
    return false;
  }
  *out = ntohl(a.s_addr);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int eal = rte_eal_init(argc, argv);
  if (eal < 0) {
    std::fprintf(stderr, "smtpgen: EAL initialisation failed\n");
    return 2;
  }
  argc -= eal;
  argv += eal;
  GeneratorConfig c;
  std::string client_ip = "10.99.1.2", inside_gw = "10.99.1.1", server_ip = "10.99.2.2",
              outside_gw = "10.99.2.1";
  uint32_t link_wait_s = 90, timeout_s = 120;
  bool no_bdat = false;
  CLI::App app("smtpgen: SMTP sessions through the gateway, checked");
  app.add_option("--sessions", c.sessions, "sessions in all")->check(CLI::Range(1u, 10'000'000u));
  app.add_option("--concurrency", c.concurrency, "sessions open at once")->check(CLI::Range(1u, 100'000u));
  app.add_option("--messages", c.messages_per_session, "messages per session")->check(CLI::Range(1u, 1'000u));
  app.add_option("--size", c.message_bytes, "body bytes per message")->check(CLI::Range(1u, 50'000'000u));
  app.add_option("--client-ip", client_ip, "the first client host");
  app.add_option("--client-hosts", c.client_hosts, "client hosts")->check(CLI::Range(1u, 65'000u));
  app.add_option("--inside-gateway", inside_gw, "the gateway's inside address");
  app.add_option("--server-ip", server_ip, "the server's address");
  app.add_option("--outside-gateway", outside_gw, "the gateway's outside address");
  app.add_option("--link-wait-s", link_wait_s, "how long to wait for both links");
  app.add_option("--timeout-s", timeout_s, "how long the sessions may take");
  app.add_flag("--no-bdat", no_bdat, "DATA even where the server offers CHUNKING");
  std::string high_risk_ip;
  app.add_option("--spam-per-mille", c.spam_per_mille, "sessions carrying one GTUBE message")
      ->check(CLI::Range(0u, 1000u));
  app.add_option("--high-risk-ip", high_risk_ip,
                 "the gateway's high-risk egress address: spam must arrive from it, clean mail never");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  c.bdat = !no_bdat;
  if (!ipv4(client_ip, &c.client_ip) || !ipv4(inside_gw, &c.inside_gateway_ip) ||
      !ipv4(server_ip, &c.server_ip) || !ipv4(outside_gw, &c.outside_gateway_ip) ||
      (!high_risk_ip.empty() && !ipv4(high_risk_ip, &c.high_risk_ip))) {
    std::fprintf(stderr, "smtpgen: an address is not IPv4\n");
    return 2;
  }
  if (rte_eth_dev_count_avail() != 2) {
    std::fprintf(stderr, "smtpgen: needs exactly two ports (inside, outside), has %u\n",
                 rte_eth_dev_count_avail());
    return 2;
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("smtpgen", 16383, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool == nullptr || !start_port(0, pool) || !start_port(1, pool)) {
    std::fprintf(stderr, "smtpgen: the ports would not start\n");
    return 2;
  }
  rte_ether_addr mac;
  rte_eth_macaddr_get(0, &mac);
  std::memcpy(c.inside_mac.b, mac.addr_bytes, 6);
  rte_eth_macaddr_get(1, &mac);
  std::memcpy(c.outside_mac.b, mac.addr_bytes, 6);

  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t wait_end = rte_rdtsc() + link_wait_s * hz;
  while (!(link_up(0) && link_up(1))) {
    if (rte_rdtsc() > wait_end) {
      std::fprintf(stderr, "smtpgen: the links did not come up within %u s\n", link_wait_s);
      return 2;
    }
    rte_delay_ms(50);
  }
  std::printf("smtpgen: both links up; %u sessions, %u at a time, %u messages of %u bytes\n",
              c.sessions, c.concurrency, c.messages_per_session, c.message_bytes);
  std::fflush(stdout);

  Generator gen(c);
  const uint64_t start = rte_rdtsc();
  const uint64_t end = start + timeout_s * hz;
  uint64_t refused = 0;
  std::vector<std::string> to_inside, to_outside;
  while (!gen.done() && rte_rdtsc() < end) {
    rte_mbuf* burst[32];
    for (uint16_t port = 0; port < 2; ++port) {
      const uint16_t n = rte_eth_rx_burst(port, 0, burst, 32);
      for (uint16_t i = 0; i < n; ++i) {
        const auto* f = rte_pktmbuf_mtod(burst[i], const uint8_t*);
        if (port == 0) {
          gen.from_inside(f, rte_pktmbuf_data_len(burst[i]));
        } else {
          gen.from_outside(f, rte_pktmbuf_data_len(burst[i]));
        }
        rte_pktmbuf_free(burst[i]);
      }
    }
    const uint64_t now_ns = (rte_rdtsc() - start) * 1'000'000'000ull / hz + 1;
    gen.poll(now_ns, to_inside, to_outside);
    refused += send(0, pool, to_inside);
    refused += send(1, pool, to_outside);
  }
  const double seconds = static_cast<double>(rte_rdtsc() - start) / static_cast<double>(hz);
  const GeneratorReport r = gen.report();
  std::printf("{\"done\": %s, \"passed\": %s, \"seconds\": %.3f, \"sessions_done\": %lu, "
              "\"sessions_ended_by_gateway\": %lu, \"sessions_failed\": %lu, \"messages_expected\": %lu, \"messages_sent\": %lu, "
              "\"messages_accepted\": %lu, \"messages_delivered\": %lu, \"content_mismatches\": %lu, "
              "\"spam_sent\": %lu, \"spam_deferred\": %lu, \"spam_delivered_high_risk\": %lu, "
              "\"wrong_decisions\": %lu, \"retransmissions\": %lu, \"frames_in\": %lu, "
              "\"frames_out\": %lu, \"frames_not_ours\": %lu, \"tx_refused\": %lu, "
              "\"messages_per_second\": %.1f}\n",
              gen.done() ? "true" : "false", gen.passed() ? "true" : "false", seconds,
              r.sessions_done, r.sessions_ended_by_gateway, r.sessions_failed, r.messages_expected, r.messages_sent,
              r.messages_accepted, r.messages_delivered, r.content_mismatches, r.spam_sent,
              r.spam_deferred, r.spam_delivered_high_risk, r.wrong_decisions, r.retransmissions,
              r.frames_in, r.frames_out, r.frames_not_ours, refused,
              seconds > 0 ? static_cast<double>(r.messages_delivered) / seconds : 0.0);
  const bool ok = gen.passed();
  for (uint16_t port = 0; port < 2; ++port) {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
  }
  rte_eal_cleanup();
  return ok ? 0 : 1;
}
