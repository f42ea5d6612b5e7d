// Forwarding benchmark: packets per second through one worker over net_ring ports.
//
// Two ports are made from rte_rings (rte_eth_from_rings): "bench_in" (inside) and "bench_out"
// (outside). The gateway is built by the same code as `smtpgw run` (control/app/gateway.h)
// from a config naming those ports. One thread alternates: the harness puts a burst of
// prepared frames on the inside RX ring, the worker runs poll_once(), and the harness takes
// the translated frames off the outside TX ring, restores their headers from the template and
// recycles them. Modes:
//   snat     TCP data segments to port 25 on established bindings (1024 flows, 64 hosts)
//   forward  the same segments to port 80 with other_traffic: forward (no NAT)
//   null     the harness alone: RX burst straight to TX burst, no gateway (its own cost)
// The harness cost is included in snat/forward; `null` shows how much of it there is.
// Inspection is off: the harness replays one segment per flow over and over, which a
// reassembler sees as duplicates; the inspecting pipeline is measured by tools/bench stream
// (and the gateway benchmark) over real sessions.
//
// usage: forward_bench MODE FRAME_BYTES SECONDS   → prints one JSON object
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "control/app/gateway.h"
#include "dataplane/packet/checksum.h"
#include "dataplane/packet/wire.h"
#include "dataplane/worker/telemetry.h"

namespace {

using namespace smtpgw;

constexpr unsigned kRingSize = 4096;
constexpr unsigned kBurst = 32;
constexpr unsigned kInFlight = 1024;
constexpr unsigned kFlows = 1024;

const char* kConfig = R"(
eal: { lcores: [0, 1], no_huge: true, memory_mb: 512, file_prefix: bench }
ports:
  - { name: inside, device: %d, role: inside, address: 10.97.0.1/16 }
  - { name: outside, device: %d, role: outside, address: 10.96.2.1/24 }
routes:
  - { prefix: 0.0.0.0/0, via: 10.96.2.2, port: outside }
neighbors:
  - { address: 10.96.2.2, mac: "02:00:00:00:02:02", port: outside }
smtp: { ports: [25], other_traffic: forward }
pools: { normal: [10.96.2.10, 10.96.2.11, 10.96.2.12, 10.96.2.13] }
flows: { max_per_worker: 65536 }
inspection: { enabled: false }
telemetry: { enabled: false }
)";

struct Template {
  uint8_t bytes[64];  // headers (54 bytes) padded
};

// Writes Ethernet/IPv4/TCP with valid checksums for flow `i` into `frame` (len bytes total).
void make_frame(uint8_t* frame, uint32_t len, uint32_t i, uint16_t dport, const packet::MacAddr& gw,
                uint8_t flags) {
  using namespace packet;
  std::memset(frame, 0, len);
  store_mac(frame, gw);
  const MacAddr host{{2, 0, 0, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}};
  store_mac(frame + 6, host);
  store_be16(frame + 12, kEtherTypeIpv4);
  uint8_t* ip = frame + 14;
  ip[0] = 0x45;
  store_be16(ip + 2, static_cast<uint16_t>(len - 14));
  ip[8] = 64;
  ip[9] = kProtoTcp;
  const uint32_t src = 0x0a610000 + 2 + (i % 64);   // 64 hosts in 10.97.0.0/16
  const uint32_t dst = 0xc6336400 + 1 + (i % 200);  // 198.51.100.x
  store_be32(ip + 12, src);
  store_be32(ip + 16, dst);
  store_be16(ip + 10, checksum_finish(checksum_add(ip, 20)));
  uint8_t* tcp = ip + 20;
  store_be16(tcp, static_cast<uint16_t>(20000 + i));
  store_be16(tcp + 2, dport);
  store_be32(tcp + 4, 1000);
  store_be32(tcp + 8, 1);
  tcp[12] = 0x50;
  tcp[13] = flags;
  store_be16(tcp + 14, 65535);
  const uint32_t l4_len = len - 34;
  for (uint32_t k = 20; k < l4_len; ++k) {
    tcp[k] = static_cast<uint8_t>('a' + k % 26);
  }
  const uint32_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + kProtoTcp + l4_len;
  store_be16(tcp + 16, checksum_finish(checksum_add(tcp, l4_len, sum)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: forward_bench snat|forward|null FRAME_BYTES SECONDS\n");
    return 2;
  }
  const std::string mode = argv[1];
  const uint32_t frame_len = static_cast<uint32_t>(std::atoi(argv[2]));
  const double seconds = std::atof(argv[3]);
  if ((mode != "snat" && mode != "forward" && mode != "null") || frame_len < 64 || frame_len > 1514) {
    std::fprintf(stderr, "forward_bench: bad arguments\n");
    return 2;
  }
  std::string prefix = "--file-prefix=fwdbench" + std::to_string(getpid());
  const char* eal[] = {"forward_bench", "--no-huge", "-m", "512", "--no-pci", "-l", "0",
                       prefix.c_str(), "--log-level=4", nullptr};
  if (rte_eal_init(9, const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr, "forward_bench: EAL init failed\n");
    return 1;
  }
  rte_ring* in_rx = rte_ring_create("in_rx", kRingSize, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* in_tx = rte_ring_create("in_tx", kRingSize, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* out_rx = rte_ring_create("out_rx", kRingSize, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* out_tx = rte_ring_create("out_tx", kRingSize, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  const int in_port = rte_eth_from_rings("bench_in", &in_rx, 1, &in_tx, 1, 0);
  const int out_port_id = rte_eth_from_rings("bench_out", &out_rx, 1, &out_tx, 1, 0);
  if (in_port < 0 || out_port_id < 0) {
    std::fprintf(stderr, "forward_bench: cannot create ring ports\n");
    return 1;
  }
  app::Gateway g;
  char text[2048];
  std::snprintf(text, sizeof text, kConfig, in_port, out_port_id);
  config::Result loaded = config::load_string(text, "forward_bench.yaml");
  if (!loaded) {
    std::fprintf(stderr, "%s", loaded.error_text().c_str());
    return 1;
  }
  g.cfg = std::move(loaded.config());
  g.cfg.workers.mbufs = 8191;
  if (!app::build(g)) {
    return 1;
  }
  worker::Worker& w = *g.workers[0];
  const packet::MacAddr gw_mac = g.tables.ports[g.started_ports[0]].mac;
  const uint16_t dport = mode == "forward" ? 80 : 25;
  const uint16_t out_port = g.started_ports[1];

  // Establish the bindings: a SYN per flow from inside, a SYN-ACK per flow from outside.
  if (mode == "snat") {
    for (uint32_t i = 0; i < kFlows; ++i) {
      rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
      rte_pktmbuf_append(m, 64);
      make_frame(rte_pktmbuf_mtod(m, uint8_t*), 54, i, dport, gw_mac, 0x02);
      rte_pktmbuf_trim(m, 10);
      m->port = g.started_ports[0];
      w.process(m, rte_rdtsc());
    }
    w.poll_once(rte_rdtsc());
    rte_mbuf* out[kBurst];
    unsigned n;
    while ((n = rte_ring_dequeue_burst(out_tx, reinterpret_cast<void**>(out), kBurst, nullptr)) > 0) {
      rte_pktmbuf_free_bulk(out, n);
    }
  }
  // Templates for the measured traffic: data segments (ACK|PSH).
  std::vector<std::vector<uint8_t>> templates(kFlows, std::vector<uint8_t>(frame_len));
  for (uint32_t i = 0; i < kFlows; ++i) {
    make_frame(templates[i].data(), frame_len, i, dport, gw_mac, 0x18);
  }
  std::vector<rte_mbuf*> all(kInFlight);
  for (uint32_t i = 0; i < kInFlight; ++i) {
    rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
    rte_pktmbuf_append(m, static_cast<uint16_t>(frame_len));
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), templates[i % kFlows].data(), frame_len);
    m->hash.usr = i % kFlows;  // which template restores it (ring PMDs leave it alone)
    all[i] = m;
  }
  rte_ring_enqueue_bulk(in_rx, reinterpret_cast<void**>(all.data()), kInFlight, nullptr);

  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t start = rte_rdtsc();
  const uint64_t end = start + static_cast<uint64_t>(seconds * hz);
  uint64_t forwarded = 0;
  rte_mbuf* out[kBurst];
  uint64_t now = start;
  while (now < end) {
    if (mode == "null") {
      rte_mbuf* in[kBurst];
      const uint16_t n = rte_eth_rx_burst(g.started_ports[0], 0, in, kBurst);
      const uint16_t s = rte_eth_tx_burst(out_port, 0, in, n);
      rte_pktmbuf_free_bulk(in + s, n - s);
    } else {
      w.poll_once(now);
    }
    const unsigned n = rte_ring_dequeue_burst(out_tx, reinterpret_cast<void**>(out), kBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
      // Restore what the gateway rewrote (MACs, TTL, addresses, ports, checksums): 54 bytes.
      std::memcpy(rte_pktmbuf_mtod(out[i], uint8_t*), templates[out[i]->hash.usr].data(), 54);
    }
    rte_ring_enqueue_burst(in_rx, reinterpret_cast<void**>(out), n, nullptr);
    forwarded += n;
    now = rte_rdtsc();
  }
  const double elapsed = static_cast<double>(now - start) / hz;
  const double mpps = forwarded / elapsed / 1e6;
  const uint64_t drops = worker::total(g.stats, 1, worker::Counter::nat_no_binding_out) +
                         worker::total(g.stats, 1, worker::Counter::no_route) +
                         worker::total(g.stats, 1, worker::Counter::tx_refused);
  std::printf(
      "{\"mode\": \"%s\", \"frame_bytes\": %u, \"seconds\": %.3f, \"packets\": %llu, "
      "\"mpps\": %.3f, \"gbps\": %.3f, \"bindings\": %u, \"drops\": %llu}\n",
      mode.c_str(), frame_len, elapsed, static_cast<unsigned long long>(forwarded), mpps,
      mpps * frame_len * 8 / 1000.0, w.nat().size(), static_cast<unsigned long long>(drops));
  app::teardown(g);
  rte_eal_cleanup();
  return forwarded > 0 && drops == 0 ? 0 : 1;
}
