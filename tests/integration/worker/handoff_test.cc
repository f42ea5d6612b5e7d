// Two workers, one thread: the SYN enters on worker 0's inside queue, the server's SYN-ACK on
// worker 1's outside queue. Worker 1 must hand the reply to worker 0 (the owner of the NAT
// port's slice), which translates it back. Ports are multi-queue net_ring devices, so RSS is
// played by the test: it chooses the queue each packet arrives on.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#include "control/app/gateway.h"
#include "dataplane/packet/checksum.h"
#include "dataplane/packet/parse.h"
#include "dataplane/worker/telemetry.h"

namespace smtpgw {
namespace {

using namespace packet;

rte_ring* rings[2][2][2];  // [port][rx=0/tx=1][queue]
int port_ids[2];

void make_tcp(uint8_t* f, const MacAddr& dst_mac, uint32_t src, uint32_t dst, uint16_t sport,
              uint16_t dport, uint8_t flags) {
  std::memset(f, 0, 54);
  store_mac(f, dst_mac);
  store_mac(f + 6, MacAddr{{2, 0, 0, 0, 0, 9}});
  store_be16(f + 12, kEtherTypeIpv4);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  store_be16(ip + 2, 40);
  ip[8] = 64;
  ip[9] = kProtoTcp;
  store_be32(ip + 12, src);
  store_be32(ip + 16, dst);
  store_be16(ip + 10, checksum_finish(checksum_add(ip, 20)));
  uint8_t* tcp = ip + 20;
  store_be16(tcp, sport);
  store_be16(tcp + 2, dport);
  tcp[12] = 0x50;
  tcp[13] = flags;
  store_be16(tcp + 14, 1000);
  const uint32_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + kProtoTcp + 20;
  store_be16(tcp + 16, checksum_finish(checksum_add(tcp, 20, sum)));
}

class Handoff : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static std::string prefix = "--file-prefix=handoff" + std::to_string(getpid());
    const char* argv[] = {"handoff_test", "--no-huge", "-m", "256", "--no-pci", "-l", "0",
                          prefix.c_str(), "--log-level=3", nullptr};
    ASSERT_GE(rte_eal_init(9, const_cast<char**>(argv)), 0);
    for (int p = 0; p < 2; ++p) {
      for (int d = 0; d < 2; ++d) {
        for (int q = 0; q < 2; ++q) {
          char name[32];
          std::snprintf(name, sizeof name, "r%d%d%d", p, d, q);
          rings[p][d][q] = rte_ring_create(name, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        }
      }
      port_ids[p] = rte_eth_from_rings(p == 0 ? "ho_in" : "ho_out", rings[p][0], 2, rings[p][1], 2, 0);
      ASSERT_GE(port_ids[p], 0);
    }
  }
};

TEST_F(Handoff, ReplyOnTheOtherWorkersQueueIsHandedToTheOwner) {
  char text[1024];
  std::snprintf(text, sizeof text, R"(
eal: { lcores: [0, 1, 2] }
ports:
  - { name: inside, device: %d, role: inside, address: 10.95.1.1/24 }
  - { name: outside, device: %d, role: outside, address: 10.95.2.1/24 }
routes: [ { prefix: 0.0.0.0/0, via: 10.95.2.2, port: outside } ]
neighbors:
  - { address: 10.95.2.2, mac: "02:00:00:00:02:02", port: outside }
  - { address: 10.95.1.2, mac: "02:00:00:00:01:02", port: inside }
smtp: { ports: [25] }
pools: { normal: [10.95.2.10] }
flows: { nat_port_min: 1024, nat_port_max: 65535 }
telemetry: { enabled: false }
)", port_ids[0], port_ids[1]);
  config::Result r = config::load_string(text, "handoff.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  app::Gateway g;
  g.cfg = std::move(r.config());
  ASSERT_TRUE(app::build(g));
  ASSERT_EQ(g.workers.size(), 2u);
  ASSERT_EQ(g.tables.handoff.size(), 2u);
  const MacAddr in_mac = g.tables.ports[port_ids[0]].mac;
  const MacAddr out_mac = g.tables.ports[port_ids[1]].mac;

  // SYN from the inside host arrives on queue 0: worker 0 binds it in its own port slice.
  rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
  make_tcp(reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 54)), in_mac, 0x0a5f0102, 0xc0000219,
           40000, 25, kTcpSyn);
  ASSERT_EQ(rte_ring_enqueue(rings[0][0][0], m), 0);
  g.workers[0]->poll_once(1);
  EXPECT_EQ(g.stats[0].get(worker::Counter::rx_bytes), 54u);
  EXPECT_EQ(g.stats[0].get(worker::Counter::tx_bytes), 54u);
  rte_mbuf* out = nullptr;
  ASSERT_EQ(rte_ring_dequeue(rings[1][1][0], reinterpret_cast<void**>(&out)), 0)
      << "the SYN leaves on the outside port from worker 0's TX queue";
  const uint16_t nat_port = load_be16(rte_pktmbuf_mtod(out, uint8_t*) + 34);
  EXPECT_EQ(load_be32(rte_pktmbuf_mtod(out, uint8_t*) + 26), 0x0a5f020au);
  EXPECT_EQ(g.workers[0]->nat().owner_of_port(nat_port), 0);
  rte_pktmbuf_free(out);

  // The SYN-ACK lands on queue 1 (worker 1).
  m = rte_pktmbuf_alloc(g.pool);
  make_tcp(reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 54)), out_mac, 0xc0000219, 0x0a5f020a,
           25, nat_port, kTcpSyn | kTcpAck);
  ASSERT_EQ(rte_ring_enqueue(rings[1][0][1], m), 0);
  g.workers[1]->poll_once(2);
  EXPECT_EQ(g.stats[1].get(worker::Counter::rx_bytes), 54u);
  EXPECT_EQ(g.stats[1].get(worker::Counter::tx_bytes), 0u) << "handed over, not sent";
  EXPECT_EQ(g.stats[1].get(worker::Counter::handoff_sent), 1u);
  EXPECT_EQ(g.stats[1].get(worker::Counter::nat_no_binding_in), 0u);
  EXPECT_EQ(rte_ring_count(rings[0][1][1]), 0u) << "worker 1 must not translate it";

  g.workers[0]->poll_once(3);
  EXPECT_EQ(g.stats[0].get(worker::Counter::rx_bytes), 54u) << "a handed packet was counted once";
  EXPECT_EQ(g.stats[0].get(worker::Counter::tx_bytes), 108u);
  EXPECT_EQ(g.stats[0].get(worker::Counter::handoff_received), 1u);
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_translated_in), 1u);
  ASSERT_EQ(rte_ring_dequeue(rings[0][1][0], reinterpret_cast<void**>(&out)), 0)
      << "the translated reply leaves on the inside port from worker 0's TX queue";
  const uint8_t* f = rte_pktmbuf_mtod(out, uint8_t*);
  EXPECT_EQ(load_be32(f + 30), 0x0a5f0102u);
  EXPECT_EQ(load_be16(f + 36), 40000);
  ParsedPacket p;
  EXPECT_EQ(parse_frame(f, rte_pktmbuf_data_len(out), {}, &p), ParseResult::kOk)
      << "checksums valid after translation";
  rte_pktmbuf_free(out);

  // A full TX ring refuses the next SYN: its bytes are not counted as sent.
  static int filler;
  while (rte_ring_enqueue(rings[1][1][0], &filler) == 0) {
  }
  m = rte_pktmbuf_alloc(g.pool);
  make_tcp(reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 54)), in_mac, 0x0a5f0102, 0xc0000219,
           40001, 25, kTcpSyn);
  ASSERT_EQ(rte_ring_enqueue(rings[0][0][0], m), 0);
  g.workers[0]->poll_once(4);
  EXPECT_EQ(g.stats[0].get(worker::Counter::tx_refused), 1u);
  EXPECT_EQ(g.stats[0].get(worker::Counter::tx_bytes), 108u);
  EXPECT_EQ(g.stats[0].get(worker::Counter::rx_bytes), 108u);
  void* drained = nullptr;
  while (rte_ring_dequeue(rings[1][1][0], &drained) == 0) {
  }
  app::teardown(g);
}

}  // namespace
}  // namespace smtpgw
