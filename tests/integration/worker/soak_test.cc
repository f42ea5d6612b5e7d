// Soak: thousands of SMTP sessions through two workers, then the books must balance exactly and
// nothing may leak. The traffic is tools/gen_smtp_capture's (many sessions interleaved packet by
// packet, 4 messages each, every message accepted by the server), played as the network would
// deliver it: each client's segments on the inside port of the worker RSS would pick, the
// server's replies on the outside port of the *other* worker, so every reply goes through the
// handoff ring to the binding's owner. Afterwards: one record per message, every one delivered,
// the messages the generator wrote, less those of sessions the decisions ended (refused at MAIL
// FROM, deferred at the end of data: see Counting); every mbuf back in the pool; no message
// state, decoder, scan context, reassembly slot or session part still lent, and no pool made
// past its start size; every binding's inspection flow closed.
// usage: worker_soak_test GEN_SMTP_CAPTURE   (suite 'stress')
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "control/app/gateway.h"
#include "control/rules/compiler.h"
#include "dataplane/packet/checksum.h"
#include "dataplane/packet/parse.h"

namespace smtpgw {
namespace {

using namespace packet;

const char* g_generator = nullptr;
constexpr uint32_t kServer = 0xc6336407;  // 198.51.100.7, as the generator writes it
constexpr uint32_t kHosts = 16;           // inside hosts (the generator's --hosts)

// Decides as an enforcer would, from a hash of (flow, message index), so that every outcome
// occurs thousands of sessions deep: about one message in 23 refused at MAIL FROM (550 5.1.8),
// one in 17 deferred at its end of data (451 4.7.1); every other hold allowed. Either ends the
// session (reply, 421, RST to the server), so that session's later messages are never seen.
class Counting final : public inspect::Decisions {
 public:
  static constexpr uint64_t kMessagesPerSession = 4;  // the generator's default

  inspect::Decision on_hold(inspect::Flow& f, const inspect::Hold& h) override {
    if (h.record == nullptr) {
      return {};
    }
    const uint64_t x = (f.id() * 0x9e3779b97f4a7c15ull + h.record->index * 0xbf58476d1ce4e5b9ull) >> 33;
    if (h.point.kind == smtp::HoldKind::kMailFrom && x % 23 == 0) {
      end(h.record->index);
      ++refused_decided;
      return {inspect::Action::kRefuse, "550 5.1.8 Access denied, bad outbound sender"};
    }
    if (h.point.kind == smtp::HoldKind::kEndOfData && x % 17 == 5) {
      end(h.record->index);
      ++deferred_decided;
      return {inspect::Action::kDefer, "451 4.7.1 Deferred by the soak test"};
    }
    return {};
  }
  void on_record(inspect::Flow&, const smtp::MessageRecord& r, inspect::Message*) override {
    ++records;
    delivered += r.outcome == smtp::MessageOutcome::kDelivered ? 1 : 0;
    rejected += r.outcome == smtp::MessageOutcome::kRejected ? 1 : 0;
    aborted += r.outcome == smtp::MessageOutcome::kAborted ? 1 : 0;
    if (r.outcome == smtp::MessageOutcome::kRefused) {
      (r.final_reply.code == 451 ? refused_451 : r.final_reply.code == 550 ? refused_550
                                                                            : refused_other)++;
    }
  }
  // A session ended at its message `index`: that message and the ones after it are not
  // delivered.
  void end(uint64_t index) { never_delivered += kMessagesPerSession - index; }

  uint64_t records = 0, delivered = 0, rejected = 0, aborted = 0;
  uint64_t refused_451 = 0, refused_550 = 0, refused_other = 0;
  uint64_t refused_decided = 0, deferred_decided = 0, never_delivered = 0;
};

TEST(Soak, ThousandsOfSessionsThroughTwoWorkersBalanceAndLeakNothing) {
  // The traffic: about 2,000 sessions of 4 messages of 2-20 KB, 256 at a time.
  char path[] = "/tmp/smtpgw-soak-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  const std::string cmd = std::string(g_generator) + " " + path +
                          " --bytes 60000000 --concurrent 256 --max-size 20000 --hosts " +
                          std::to_string(kHosts);
  FILE* gen = popen(cmd.c_str(), "r");
  ASSERT_NE(gen, nullptr);
  char line[1024] = {};
  ASSERT_NE(std::fgets(line, sizeof line, gen), nullptr);
  ASSERT_EQ(pclose(gen), 0);
  const nlohmann::json meta = nlohmann::json::parse(line);
  const uint64_t sessions = meta["sessions"];
  const uint64_t messages = meta["messages"];
  ASSERT_GE(sessions, 1000u);

  static std::string prefix = "--file-prefix=soak" + std::to_string(getpid());
  const char* argv[] = {"soak_test", "--no-huge", "-m", "1024", "--no-pci", "-l", "0",
                        prefix.c_str(), "--log-level=3", nullptr};
  ASSERT_GE(rte_eal_init(9, const_cast<char**>(argv)), 0);
  rte_ring* rings[2][2][2];  // [port][rx/tx][queue]
  int ports[2];
  for (int p = 0; p < 2; ++p) {
    for (int d = 0; d < 2; ++d) {
      for (int q = 0; q < 2; ++q) {
        char name[32];
        std::snprintf(name, sizeof name, "soak%d%d%d", p, d, q);
        rings[p][d][q] = rte_ring_create(name, 8192, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
      }
    }
    ports[p] = rte_eth_from_rings(p == 0 ? "soak_in" : "soak_out", rings[p][0], 2, rings[p][1],
                                  2, 0);
    ASSERT_GE(ports[p], 0);
  }
  std::string neighbors;
  for (uint32_t h = 0; h < kHosts; ++h) {
    char n[128];
    std::snprintf(n, sizeof n, "  - { address: 10.0.0.%u, mac: \"02:00:00:00:01:%02x\", port: inside }\n",
                  h + 1, h + 1);
    neighbors += n;
  }
  char text[4096];
  std::snprintf(text, sizeof text, R"(
eal: { lcores: [0, 1, 2] }
ports:
  - { name: inside, device: %d, role: inside, address: 10.0.0.254/24 }
  - { name: outside, device: %d, role: outside, address: 198.51.100.1/24 }
neighbors:
%s  - { address: 198.51.100.7, mac: "02:00:00:00:02:02", port: outside }
smtp: { ports: [25] }
pools: { normal: [198.51.100.10, 198.51.100.11] }
workers: { mbufs: 32767 }
telemetry: { enabled: false }
rules: { enabled: false }
)", ports[0], ports[1], neighbors.c_str());
  config::Result r = config::load_string(text, "soak.yaml");
  ASSERT_TRUE(r.ok()) << r.error_text();
  Counting counting;
  app::Gateway g;
  g.cfg = std::move(r.config());
  g.decisions = &counting;
  // The shipped rules: every message also borrows a scan context (and its Hyperscan streams).
  rules::CompileOptions co;
  co.worker_count = 2;
  rules::CompileResult compiled = rules::compile_directory(SMTPGW_SHIPPED_RULES, co);
  ASSERT_TRUE(compiled.ok());
  g.ruleset = std::move(compiled.ruleset);
  ASSERT_TRUE(app::build(g));
  ASSERT_EQ(g.workers.size(), 2u);
  const unsigned in_use_at_start = rte_mempool_in_use_count(g.pool);
  const MacAddr in_mac = g.tables.ports[ports[0]].mac;
  const MacAddr out_mac = g.tables.ports[ports[1]].mac;

  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path, errbuf);
  ASSERT_NE(pc, nullptr) << errbuf;
  // client (address, port) → (egress, NAT port)
  std::map<std::pair<uint32_t, uint16_t>, std::pair<uint32_t, uint16_t>> nat;
  uint64_t now = 1;
  uint64_t frames = 0;
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(pc, &h, &data) == 1) {
    ParsedPacket p;
    ASSERT_EQ(parse_frame(data, h->caplen, {true, true}, &p), ParseResult::kOk);
    rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
    ASSERT_NE(m, nullptr) << "the pool ran dry at frame " << frames;
    uint8_t* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, h->caplen));
    std::memcpy(f, data, h->caplen);
    uint8_t* ip = f + p.l3_offset;
    const bool from_client = p.dst4 == kServer;
    const uint16_t client_port = from_client ? p.sport : p.dport;
    const std::pair<uint32_t, uint16_t> client{from_client ? p.src4 : p.dst4, client_port};
    unsigned worker;
    if (from_client) {
      store_mac(f, in_mac);
      m->port = static_cast<uint16_t>(ports[0]);
      worker = (client.first + client_port) % 2;
    } else {
      auto it = nat.find(client);
      ASSERT_NE(it, nat.end()) << "a server frame before its client's SYN left the gateway";
      store_mac(f, out_mac);
      store_be32(ip + 16, it->second.first);
      store_be16(f + p.l4_offset + 2, it->second.second);
      m->port = static_cast<uint16_t>(ports[1]);
      worker = 1 - (client.first + client_port) % 2;  // RSS "got it wrong": handed to the owner
    }
    finish_ipv4_tcp_checksums(ip);
    g.workers[worker]->process(m, ++now);
    for (auto& w : g.workers) {
      w->poll_once(++now);  // TX flush and the handoff ring
    }
    for (int q = 0; q < 2; ++q) {
      void* o = nullptr;
      while (rte_ring_dequeue(rings[1][1][q], &o) == 0) {
        auto* om = static_cast<rte_mbuf*>(o);
        const uint8_t* of = rte_pktmbuf_mtod(om, const uint8_t*);
        if (from_client && (of[47] & (kTcpSyn | kTcpAck)) == kTcpSyn) {
          nat[client] = {load_be32(of + 26), load_be16(of + 34)};
        }
        rte_pktmbuf_free(om);
      }
      while (rte_ring_dequeue(rings[0][1][q], &o) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(o));
      }
    }
    ++frames;
  }
  pcap_close(pc);
  std::remove(path);
  for (auto& w : g.workers) {
    w->close_inspection();
  }

  // The books: every message the sessions reached has one record, and each record one outcome:
  // delivered unless a decision ended its session there; the ended sessions' later messages
  // were never sent on (the client's bytes after a refusal are dropped, never parsed).
  const uint64_t ended = counting.refused_decided + counting.deferred_decided;
  EXPECT_GT(counting.refused_decided, 50u);
  EXPECT_GT(counting.deferred_decided, 50u);
  EXPECT_EQ(counting.refused_550, counting.refused_decided);
  EXPECT_EQ(counting.refused_451, counting.deferred_decided);
  EXPECT_EQ(counting.refused_other, 0u);
  EXPECT_EQ(counting.rejected, 0u) << "the generator's server accepts every message";
  EXPECT_EQ(counting.aborted, 0u);
  EXPECT_EQ(counting.delivered, messages - counting.never_delivered);
  EXPECT_EQ(counting.records, counting.delivered + ended);
  EXPECT_EQ(counting.delivered + counting.rejected + counting.aborted + counting.refused_451 +
                counting.refused_550 + counting.refused_other,
            counting.records);
  uint64_t flows = 0, held = 0, answered = 0;
  for (unsigned i = 0; i < 2; ++i) {
    const inspect::Inspector* in = g.workers[i]->inspector();
    ASSERT_NE(in, nullptr);
    flows += in->counter(inspect::Counter::kFlows);
    EXPECT_EQ(in->counter(inspect::Counter::kFlows), in->counter(inspect::Counter::kFlowsClosed));
    EXPECT_EQ(in->messages().stats().lent, 0u);
    EXPECT_EQ(in->decoders().stats().lent, 0u);
    EXPECT_EQ(in->scans().stats().lent, 0u);
    EXPECT_GT(in->scans().stats().taken, 0u);
    EXPECT_EQ(in->scans().stats().made, g.cfg.inspection.scan_contexts) << "made at start only";
    EXPECT_EQ(in->sessions().pool().parts, g.cfg.inspection.active_sessions);
    EXPECT_EQ(in->sessions().pool().active, 0u);
    EXPECT_EQ(in->reassembler().free_slots(), in->reassembler().config().pool_slots);
    held += g.stats[i].get(worker::Counter::inspect_held);
    answered += g.stats[i].get(worker::Counter::inspect_refusals_answered);
  }
  // In order, nothing waits for bytes before it: the only segments held are those that carried
  // a refused MAIL FROM (never released; a deferred end of data is cut before its ".").
  EXPECT_EQ(held, counting.refused_decided);
  EXPECT_EQ(answered, ended) << "every decision that ended a session answered the client";
  EXPECT_EQ(flows, sessions);
  std::printf("soak: %llu frames, %llu sessions, %llu messages, %llu records (%llu delivered, "
              "%llu refused at MAIL FROM, %llu deferred at the end of data)\n",
              static_cast<unsigned long long>(frames), static_cast<unsigned long long>(sessions),
              static_cast<unsigned long long>(messages),
              static_cast<unsigned long long>(counting.records),
              static_cast<unsigned long long>(counting.delivered),
              static_cast<unsigned long long>(counting.refused_550),
              static_cast<unsigned long long>(counting.refused_451));
  EXPECT_GT(g.stats[0].get(worker::Counter::handoff_received) +
                g.stats[1].get(worker::Counter::handoff_received),
            0u);
  EXPECT_EQ(rte_mempool_in_use_count(g.pool), in_use_at_start) << "mbufs kept after the end";
  app::teardown(g);
}

}  // namespace
}  // namespace smtpgw

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: worker_soak_test GEN_SMTP_CAPTURE\n");
    return 2;
  }
  smtpgw::g_generator = argv[1];
  return RUN_ALL_TESTS();
}
