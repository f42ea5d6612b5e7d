// One inspection pipeline, two drivers: every IPv4 Ethernet capture of tests/data is played
// through a real worker (net_ring ports, DPDK --no-huge) as the network would deliver it to the
// gateway — the client's frames on the inside port, the server's replies on the outside port
// addressed to the egress address and NAT port the worker chose — and through `smtpgw analyze`'s
// Analyzer, both with the shipped rule set. The message records both produce (verdicts
// included) must agree field by field (all but the file name,
// the flow number and the server's address, which the test moves out of the client's subnet so
// the gateway routes it). Then nothing may leak: after the worker closes its inspection, every
// mbuf is back in the pool and every pool of the pipeline has nothing lent.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/analyze/analyzer.h"
#include "control/analyze/record_json.h"
#include "control/app/gateway.h"
#include "control/rules/compiler.h"
#include "dataplane/count/key.h"
#include "dataplane/packet/checksum.h"
#include "dataplane/packet/parse.h"
#include "tools/smtpgen/generator.h"
#include "tools/smtpgen/smtp_script.h"
#include "tools/smtpgen/tcp_peer.h"

#if !defined(SMTPGW_TEST_DATA) || !defined(SMTPGW_SHIPPED_RULES)
#error "SMTPGW_TEST_DATA and SMTPGW_SHIPPED_RULES must name tests/data and rules/"
#endif

namespace smtpgw {
namespace {

using namespace packet;
using json = nlohmann::ordered_json;

rte_ring* rings[2][2];  // [port][rx=0/tx=1]
int port_ids[2];

constexpr uint32_t kClient = 0x0a630001;    // 10.99.0.1, as captured
constexpr uint32_t kServerCap = 0x0a630002; // 10.99.0.2, as captured
constexpr uint32_t kServer = 0xc0000202;    // 192.0.2.2: the server moved outside
constexpr uint32_t kEgress = 0xc000020a;    // 192.0.2.10: the normal pool
constexpr uint32_t kHighRisk = 0xc0000214;  // 192.0.2.20: the high-risk pool, where configured

// The worker's records, as analyze prints them.
class Recorder final : public inspect::Decisions {
 public:
  inspect::Decision on_hold(inspect::Flow&, const inspect::Hold&) override { return {}; }
  void on_record(inspect::Flow& f, const smtp::MessageRecord& r, inspect::Message* m) override {
    json j = analyze::record_to_json(r, m != nullptr && m->has_summary ? &m->summary : nullptr);
    j["evasions"] = f.tcp.evasions;
    analyze::add_verdict(j, m);
    records.push_back(std::move(j));
  }
  std::vector<json> records;
};

// The records of the gateway's own enforcement (the Enforcers pass them on), as analyze --config
// prints them.
class EnforcedRecorder final : public enforce::RecordSink {
 public:
  void on_record(inspect::Flow& f, const smtp::MessageRecord& r, inspect::Message* m) override {
    json j = analyze::record_to_json(r, m != nullptr && m->has_summary ? &m->summary : nullptr);
    j["evasions"] = f.tcp.evasions;
    if (scanning) {
      analyze::add_verdict(j, m);
    }
    analyze::add_enforcement(j, f, m);
    records.push_back(std::move(j));
  }
  bool scanning = true;
  std::vector<json> records;
};

// Recomputes the IPv4 header and TCP checksums from scratch (captures taken where the sender's
// checksum offload left them unfinished carry partial ones).
void fix_checksums(uint8_t* f, const ParsedPacket& p) { finish_ipv4_tcp_checksums(f + p.l3_offset); }

// The shipped rule set, compiled once for the whole test program (it takes seconds; a rule set
// is immutable once compiled, so the tests' gateways and analyzers share it). Null on an error.
std::shared_ptr<const scan::Ruleset> shipped_rules() {
  static const std::shared_ptr<const scan::Ruleset> rules = [] {
    rules::CompileResult compiled = rules::compile_directory(SMTPGW_SHIPPED_RULES, {});
    EXPECT_TRUE(compiled.ok()) << (compiled.errors.empty() ? "" : compiled.errors[0].to_string());
    return std::shared_ptr<const scan::Ruleset>(std::move(compiled.ruleset));
  }();
  return rules;
}

// The records analyze prints for `path` with `rules`, without what names the file or the flow.
std::vector<json> analyze_records(const std::string& path,
                                  std::shared_ptr<const scan::Ruleset> rules,
                                  const policy::Policy* policy = nullptr) {
  std::ostringstream out;
  std::ostringstream err;
  {
    analyze::Options o;
    o.tcp.gate_client = false;
    o.ruleset = std::move(rules);
    if (policy != nullptr) {
      o.policy = *policy;
      o.high_risk_pool = true;
    }
    analyze::Analyzer a(o, out, err);
    EXPECT_TRUE(a.process_file(path)) << err.str();
  }
  std::vector<json> records;
  std::istringstream lines(out.str());
  std::string line;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    j.erase("file");
    j.erase("flow");
    records.push_back(std::move(j));
  }
  return records;
}

// The worker's records equal analyze's field by field; the server's address differs (the test
// moved the server out of the client's subnet), its port does not.
void expect_same_records(const std::vector<json>& records, const std::vector<json>& want) {
  ASSERT_EQ(records.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    json got = records[i];
    EXPECT_EQ(got["server"]["port"], want[i]["server"]["port"]);
    got.erase("server");
    json expected = want[i];
    expected.erase("server");
    for (auto& [key, value] : expected.items()) {
      EXPECT_EQ(got[key], value) << "message " << i << " field " << key;
    }
    EXPECT_EQ(got.size(), expected.size()) << "message " << i;
  }
}

class InspectDrivers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static std::string prefix = "--file-prefix=inspect" + std::to_string(getpid());
    const char* argv[] = {"inspect_test", "--no-huge", "-m", "512", "--no-pci", "-l", "0",
                          prefix.c_str(), "--log-level=3", nullptr};
    ASSERT_GE(rte_eal_init(9, const_cast<char**>(argv)), 0);
  }
  // A fresh pair of net_ring ports (a gateway's teardown closes its ports).
  void SetUp() override {
    static int made = 0;
    for (int p = 0; p < 2; ++p) {
      for (int d = 0; d < 2; ++d) {
        char name[32];
        std::snprintf(name, sizeof name, "ir%d%d%d", made, p, d);
        rings[p][d] = rte_ring_create(name, 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
      }
      const std::string name = (p == 0 ? "ins_in" : "ins_out") + std::to_string(made);
      port_ids[p] = rte_eth_from_rings(name.c_str(), &rings[p][0], 1, &rings[p][1], 1, 0);
      ASSERT_GE(port_ids[p], 0);
    }
    ++made;
  }
  // A one-worker gateway on those ports: the client's subnet inside, the server outside.
  // `decisions` null: the gateway's own enforcement, its records to `records`.
  void build(app::Gateway& g, inspect::Decisions* decisions,
             std::shared_ptr<const scan::Ruleset> rules, const char* extra = "",
             enforce::RecordSink* records = nullptr,
             const char* pools = "pools: { normal: [192.0.2.10] }") {
    char text[1200];
    std::snprintf(text, sizeof text, R"(
eal: { lcores: [0, 1] }
ports:
  - { name: inside, device: %d, role: inside, address: 10.99.0.254/24 }
  - { name: outside, device: %d, role: outside, address: 192.0.2.1/24 }
neighbors:
  - { address: 10.99.0.1, mac: "02:00:00:00:01:01", port: inside }
  - { address: 192.0.2.2, mac: "02:00:00:00:02:02", port: outside }
smtp: { ports: [25, 587, 2525] }
%s
workers: { mbufs: 16383 }
telemetry: { enabled: false }
%s
)", port_ids[0], port_ids[1], pools, extra);
    config::Result r = config::load_string(text, "inspect.yaml");
    ASSERT_TRUE(r.ok()) << r.error_text();
    g.cfg = std::move(r.config());
    g.decisions = decisions;
    g.records = records;
    g.ruleset = std::move(rules);
    ASSERT_TRUE(app::build(g));
    ASSERT_EQ(g.workers.size(), 1u);
  }
};

// What play() saw leave the gateway.
struct Played {
  std::vector<uint32_t> egress;  // the source address of each connection's SYN toward the server
  std::string to_client;         // every payload byte sent toward the client, in order
};

// Plays one capture through worker `w` as the network would deliver it (fatal failures end it).
void play(worker::Worker& w, app::Gateway& g, const std::string& path, Played* seen = nullptr) {
  const MacAddr in_mac = g.tables.ports[port_ids[0]].mac;
  const MacAddr out_mac = g.tables.ports[port_ids[1]].mac;
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), errbuf);
  ASSERT_NE(pc, nullptr) << errbuf;
  ASSERT_EQ(pcap_datalink(pc), DLT_EN10MB);
  uint16_t nat_port = 0;  // of the flow in progress (the captures hold one at a time)
  uint32_t egress = kEgress;
  static uint64_t now = 1;
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(pc, &h, &data) == 1) {
    ParsedPacket p;
    if (parse_frame(data, h->caplen, {true, true}, &p) != ParseResult::kOk ||
        p.l3 != L3::kIpv4 || p.l4_proto != kProtoTcp) {
      continue;  // ARP and the like: not part of the flows
    }
    rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
    ASSERT_NE(m, nullptr);
    uint8_t* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, h->caplen));
    ASSERT_NE(f, nullptr) << "frame of " << h->caplen << " bytes";
    std::memcpy(f, data, h->caplen);
    uint8_t* ip = f + p.l3_offset;
    if (p.src4 == kClient) {
      store_mac(f, in_mac);
      store_be32(ip + 16, kServer);
      m->port = port_ids[0];
    } else {
      ASSERT_EQ(p.src4, kServerCap);
      ASSERT_NE(nat_port, 0) << "a server frame before the client's SYN left the gateway";
      store_mac(f, out_mac);
      store_be32(ip + 12, kServer);
      store_be32(ip + 16, egress);
      store_be16(f + p.l4_offset + 2, nat_port);
      m->port = port_ids[1];
    }
    fix_checksums(f, p);
    w.process(m, ++now);
    w.poll_once(++now);  // flushes the TX buffers onto the rings
    void* out = nullptr;
    while (rte_ring_dequeue(rings[1][1], &out) == 0) {  // toward the server: learn the NAT port
      const uint8_t* o = rte_pktmbuf_mtod(static_cast<rte_mbuf*>(out), const uint8_t*);
      egress = load_be32(o + 26);
      nat_port = load_be16(o + 34);
      if (seen != nullptr && (o[47] & (kTcpSyn | kTcpAck)) == kTcpSyn) {
        seen->egress.push_back(egress);
      }
      rte_pktmbuf_free(static_cast<rte_mbuf*>(out));
    }
    while (rte_ring_dequeue(rings[0][1], &out) == 0) {  // toward the client
      auto* om = static_cast<rte_mbuf*>(out);
      ParsedPacket q;
      const uint8_t* o = rte_pktmbuf_mtod(om, const uint8_t*);
      if (seen != nullptr &&
          parse_frame(o, rte_pktmbuf_data_len(om), {}, &q) == ParseResult::kOk) {
        seen->to_client.append(reinterpret_cast<const char*>(o) + q.payload_offset,
                               q.payload_len);
      }
      rte_pktmbuf_free(om);
    }
  }
  pcap_close(pc);
}

TEST_F(InspectDrivers, WorkerAndAnalyzeAgreeRecordForRecord) {
  // One rule set for both drivers (the worker uses scratch 0).
  std::shared_ptr<const scan::Ruleset> ruleset = shipped_rules();
  ASSERT_TRUE(ruleset);
  Recorder recorder;
  app::Gateway g;
  build(g, &recorder, ruleset);
  if (HasFatalFailure()) {
    return;
  }
  worker::Worker& w = *g.workers[0];
  const inspect::Inspector* in = w.inspector();
  ASSERT_NE(in, nullptr);
  const unsigned in_use_at_start = rte_mempool_in_use_count(g.pool);
  size_t compared = 0;
  size_t spam = 0;
  for (const char* name : {"bdat.pcap", "multi.pcap", "pipelining.pcap", "large.pcap",
                           "starttls.pcap", "verdicts.pcap", "pipelined_rset.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = std::string(SMTPGW_TEST_DATA) + "/" + name;
    recorder.records.clear();
    play(w, g, path);
    if (HasFatalFailure()) {
      break;
    }
    w.close_inspection();  // flows still open end as the end of a capture ends them in analyze
    std::vector<json> want = analyze_records(path, ruleset);  // none for starttls.pcap
    ASSERT_EQ(recorder.records.size(), want.size());
    expect_same_records(recorder.records, want);
    for (const json& got : recorder.records) {
      spam += got["verdict"] == "spam" ? 1 : 0;
      ++compared;
    }
    EXPECT_EQ(in->messages().stats().lent, 0u);
    EXPECT_EQ(in->decoders().stats().lent, 0u);
    EXPECT_EQ(in->scans().stats().lent, 0u);
    EXPECT_EQ(in->reassembler().free_slots(), in->reassembler().config().pool_slots);
    EXPECT_EQ(in->sessions().pool().active, 0u);
    EXPECT_EQ(rte_mempool_in_use_count(g.pool), in_use_at_start) << "mbufs kept by the pipeline";
  }
  EXPECT_GE(compared, 10u);  // the captures hold 13 messages today: the comparison ran
  EXPECT_GE(spam, 2u);       // GTUBE and the phishing lure of verdicts.pcap, by both drivers
  app::teardown(g);
}

// The gateway's own enforcement and `analyze --config` decide alike, and spam is steered: in
// verdicts.pcap one inside host sends a clean message, GTUBE, and (on a new connection) a phishing
// lure. GTUBE on the normal flow is deferred (451 4.7.1 and 421 to the client, no end of data
// to the server); the host is steered, so its next connection leaves from the high-risk pool and
// its spam is delivered there.
TEST_F(InspectDrivers, SpamIsDeferredAndItsSenderSteeredAsAnalyzeSays) {
  std::shared_ptr<const scan::Ruleset> ruleset = shipped_rules();
  ASSERT_TRUE(ruleset);
  EnforcedRecorder recorder;
  app::Gateway g;
  build(g, nullptr, ruleset, "", &recorder,
        "pools: { normal: [192.0.2.10], high_risk: [192.0.2.20] }");
  if (HasFatalFailure()) {
    return;
  }
  const std::string path = std::string(SMTPGW_TEST_DATA) + "/verdicts.pcap";
  Played seen;
  play(*g.workers[0], g, path, &seen);
  g.workers[0]->close_inspection();
  const std::vector<json> want = analyze_records(path, ruleset, &g.cfg.limits);
  ASSERT_EQ(recorder.records.size(), want.size());
  ASSERT_EQ(want.size(), 3u);
  expect_same_records(recorder.records, want);
  const json& gtube = recorder.records[1];
  EXPECT_EQ(gtube["verdict"], "spam");
  EXPECT_EQ(gtube["action"], "defer");
  EXPECT_EQ(gtube["outcome"], "refused");
  EXPECT_EQ(gtube["pool"], "normal");
  EXPECT_NE(seen.to_client.find(std::string(enforce::kReplySpamDeferred) +
                                "\r\n421 4.7.0 Closing connection\r\n"),
            std::string::npos);
  EXPECT_EQ(recorder.records[0]["action"], "allow");
  EXPECT_EQ(recorder.records[2]["verdict"], "spam");
  EXPECT_EQ(recorder.records[2]["action"], "allow");
  EXPECT_EQ(recorder.records[2]["pool"], "high_risk");
  EXPECT_EQ(recorder.records[2]["outcome"], "delivered");
  ASSERT_EQ(seen.egress.size(), 3u) << "one SYN per connection";
  EXPECT_EQ(seen.egress[0], kEgress);
  EXPECT_EQ(seen.egress[1], kEgress);
  EXPECT_EQ(seen.egress[2], kHighRisk) << "the steered host's next connection";
  // The message trace names each message's egress address and what became of it.
  std::vector<events::Trace> traces;
  app::drain_events(g, [&](const events::Event& ev) {
    if (ev.kind == events::EventKind::kTrace) {
      traces.push_back(ev.u.trace);
    }
  });
  ASSERT_EQ(traces.size(), 3u);
  EXPECT_EQ(traces[0].egress_addr, kEgress);
  EXPECT_EQ(traces[1].egress_addr, kEgress);
  EXPECT_EQ(traces[1].action, static_cast<uint8_t>(inspect::Action::kDefer));
  EXPECT_EQ(traces[1].gateway_reply, 451);
  EXPECT_EQ(traces[2].egress_addr, kHighRisk);
  EXPECT_EQ(traces[2].pool, 1);
  EXPECT_EQ(traces[2].remote_reply, 250);
  EXPECT_NE(traces[2].egress_port, 0);
  const enforce::Enforcer& e = *g.enforcers[0];
  EXPECT_EQ(e.counter(enforce::Counter::kSpamDeferred), 1u);
  EXPECT_EQ(e.counter(enforce::Counter::kSpamReleased), 1u);
  EXPECT_EQ(e.counter(enforce::Counter::kSteeredFlows), 1u);
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_high_risk), 1u);
  app::teardown(g);
}

// A hand-made connection through one worker, one segment at a time; what leaves toward the
// server is collected.
class Wire {
 public:
  explicit Wire(app::Gateway& g) : g_(g), w_(*g.workers[0]) {}

  // A client segment (seq relative to the client's ISN 1000: 1 is the first byte after SYN).
  void client(uint32_t rel_seq, uint8_t flags, const std::string& payload = {}) {
    send(true, 1000 + rel_seq, 5000 + server_next_, flags, payload);
  }
  // A server segment carrying the next server bytes, acknowledging the client up to `ack_rel`.
  void server(uint8_t flags, const std::string& payload, uint32_t ack_rel) {
    send(false, 5000 + server_next_, 1000 + ack_rel, flags, payload);
    server_next_ += static_cast<uint32_t>(payload.size()) + ((flags & kTcpSyn) != 0 ? 1 : 0);
  }
  // A server segment at `rel_seq` (1 is the first byte after its SYN): a retransmission, or
  // bytes past a gap; the next server() still sends from where the stream had got to.
  void server_at(uint32_t rel_seq, const std::string& payload, uint32_t ack_rel,
                 uint8_t flags = kTcpAck | kTcpPsh) {
    send(false, 5000 + rel_seq, 1000 + ack_rel, flags, payload);
  }
  struct Out {
    uint32_t rel_seq;
    uint8_t flags;
    std::string payload;
  };
  // Segments that left toward the server (toward the client) since the last call.
  std::vector<Out> take() { return std::move(out_); }
  std::vector<Out> take_inside() { return std::move(in_); }
  uint16_t nat_port() const { return nat_port_; }

 private:
  void send(bool from_client, uint32_t seq, uint32_t ack, uint8_t flags,
            const std::string& payload) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_.pool);
    ASSERT_NE(m, nullptr);
    const uint32_t len = 54 + static_cast<uint32_t>(payload.size());
    uint8_t* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
    std::memset(f, 0, 54);
    const int port = from_client ? port_ids[0] : port_ids[1];
    store_mac(f, g_.tables.ports[port].mac);
    store_mac(f + 6, MacAddr{{2, 0, 0, 0, 0, 9}});
    store_be16(f + 12, kEtherTypeIpv4);
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    store_be16(ip + 2, static_cast<uint16_t>(len - 14));
    ip[8] = 64;
    ip[9] = kProtoTcp;
    store_be32(ip + 12, from_client ? kClient : kServer);
    store_be32(ip + 16, from_client ? kServer : kEgress);
    uint8_t* tcp = ip + 20;
    store_be16(tcp, from_client ? 40000 : 25);
    store_be16(tcp + 2, from_client ? 25 : nat_port_);
    store_be32(tcp + 4, seq);
    store_be32(tcp + 8, (flags & kTcpAck) != 0 ? ack : 0);
    tcp[12] = 0x50;
    tcp[13] = flags;
    store_be16(tcp + 14, 65535);
    std::memcpy(tcp + 20, payload.data(), payload.size());
    ParsedPacket p;
    p.l3_offset = 14;
    p.l4_offset = 34;
    fix_checksums(f, p);
    m->port = static_cast<uint16_t>(port);
    w_.process(m, ++now_);
    w_.poll_once(++now_);
    void* o = nullptr;
    while (rte_ring_dequeue(rings[1][1], &o) == 0) {
      auto* om = static_cast<rte_mbuf*>(o);
      const uint8_t* of = rte_pktmbuf_mtod(om, const uint8_t*);
      const uint32_t total = load_be16(of + 16);
      const uint32_t hl = (of[46] >> 4) * 4u;
      nat_port_ = load_be16(of + 34);
      out_.push_back({load_be32(of + 38) - 1000, of[47],
                      std::string(reinterpret_cast<const char*>(of) + 34 + hl, total - 20 - hl)});
      ParsedPacket q;
      EXPECT_EQ(parse_frame(of, rte_pktmbuf_data_len(om), {}, &q), ParseResult::kOk)
          << "a forwarded segment with bad lengths or checksums";
      rte_pktmbuf_free(om);
    }
    while (rte_ring_dequeue(rings[0][1], &o) == 0) {
      auto* im = static_cast<rte_mbuf*>(o);
      const uint8_t* f2 = rte_pktmbuf_mtod(im, const uint8_t*);
      ParsedPacket q;
      EXPECT_EQ(parse_frame(f2, rte_pktmbuf_data_len(im), {}, &q), ParseResult::kOk);
      in_.push_back({q.tcp_seq - 5000, q.tcp_flags,
                     std::string(reinterpret_cast<const char*>(f2) + q.payload_offset,
                                 q.payload_len)});
      in_acks_.push_back(q.tcp_ack);
      rte_pktmbuf_free(im);
    }
  }

 public:
  std::vector<uint32_t> in_acks_;  // the acknowledgement number of each segment toward the client

 private:
  app::Gateway& g_;
  worker::Worker& w_;
  uint16_t nat_port_ = 0;
  uint32_t server_next_ = 0;
  uint64_t now_ = 1;
  std::vector<Out> out_;
  std::vector<Out> in_;
};

// The server receives only what was parsed and released, in order: a segment that ends inside a
// command line is cut at the line's start, content sent before the 354 is held until the client
// retransmits it after the 354, and a retransmission whose bytes differ is dropped.
TEST_F(InspectDrivers, ClientBytesReachTheServerOnlyOnceReleased) {
  Recorder recorder;
  app::Gateway g;
  build(g, &recorder, nullptr);
  if (HasFatalFailure()) {
    return;
  }
  Wire wire(g);
  const worker::WorkerStats& st = g.stats[0];
  wire.client(0, kTcpSyn);
  ASSERT_EQ(wire.take().size(), 1u);
  wire.server(kTcpSyn | kTcpAck, "", 1);
  wire.server(kTcpAck | kTcpPsh, "220 mx.example ESMTP\r\n", 1);
  const std::string ehlo = "EHLO client.example\r\n";
  wire.client(1, kTcpAck | kTcpPsh, ehlo);
  auto out = wire.take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, ehlo);
  wire.server(kTcpAck | kTcpPsh, "250-mx.example\r\n250 PIPELINING\r\n", 1 + ehlo.size());

  // MAIL FROM complete, RCPT TO cut mid-line: only the MAIL FROM line may pass.
  uint32_t at = 1 + static_cast<uint32_t>(ehlo.size());
  const std::string mail = "MAIL FROM:<a@example.org>\r\n";
  const std::string rcpt = "RCPT TO:<b@example.net>\r\n";
  wire.client(at, kTcpAck | kTcpPsh, mail + rcpt.substr(0, 12));
  out = wire.take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rel_seq, at);
  EXPECT_EQ(out[0].payload, mail);
  EXPECT_EQ(st.get(worker::Counter::inspect_cut), 1u);
  // The client retransmits from the RCPT line, now whole: it passes as sent.
  at += static_cast<uint32_t>(mail.size());
  wire.client(at, kTcpAck | kTcpPsh, rcpt + "DATA\r\n");
  out = wire.take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, rcpt + "DATA\r\n");
  at += static_cast<uint32_t>(rcpt.size() + 6);

  // Content before the 354: parsed, but not released (it would be commands if DATA failed).
  const std::string content = "Subject: held\r\n\r\nhello\r\n.\r\n";
  wire.client(at, kTcpAck | kTcpPsh, content);
  EXPECT_TRUE(wire.take().empty());
  EXPECT_EQ(st.get(worker::Counter::inspect_held), 1u);
  wire.server(kTcpAck | kTcpPsh, "250 ok\r\n250 ok\r\n354 go\r\n", at);
  // The client's retransmission after the 354 passes; one that differs from it does not.
  wire.client(at, kTcpAck | kTcpPsh, content);
  out = wire.take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, content);
  std::string altered = content;
  altered[9] = 'X';
  wire.client(at, kTcpAck | kTcpPsh, altered);
  EXPECT_TRUE(wire.take().empty());
  EXPECT_EQ(st.get(worker::Counter::inspect_evasion_dropped), 1u);

  wire.server(kTcpAck | kTcpPsh, "250 queued\r\n", at + content.size());
  ASSERT_EQ(recorder.records.size(), 1u);
  EXPECT_EQ(recorder.records[0]["outcome"], "delivered");
  EXPECT_EQ(recorder.records[0]["headers"]["subject"], "held");
  app::teardown(g);
}

// The reassembly's bound (inspection.segments): out-of-order server bytes past it are dropped
// (never forwarded uninspected) and counted; the server's retransmission of them, after the gap
// filled, passes and is parsed. Every mbuf comes back.
TEST_F(InspectDrivers, OutOfOrderSegmentsPastTheReassemblyBoundAreDroppedUntilResent) {
  Recorder recorder;
  app::Gateway g;
  build(g, &recorder, nullptr, "inspection: { segments: 16 }");
  if (HasFatalFailure()) {
    return;
  }
  const unsigned in_use_at_start = rte_mempool_in_use_count(g.pool);
  Wire wire(g);
  wire.client(0, kTcpSyn);
  ASSERT_EQ(wire.take().size(), 1u);
  wire.server(kTcpSyn | kTcpAck, "", 1);
  wire.take_inside();
  // The greeting one byte a segment, its first byte last: 16 pieces wait for the gap (the pool's
  // every slot), the 5 after them find none.
  const std::string greeting = "220 mx.example ESMTP\r\n";
  for (uint32_t i = 1; i < greeting.size(); ++i) {
    wire.server_at(1 + i, greeting.substr(i, 1), 1);
  }
  std::vector<Wire::Out> to_client = wire.take_inside();
  EXPECT_EQ(to_client.size(), 16u) << "the pieces past the bound are not forwarded";
  EXPECT_EQ(g.stats[0].get(worker::Counter::inspect_reassembly_full), 5u);
  const inspect::Inspector& in = *g.workers[0]->inspector();
  EXPECT_EQ(in.reassembler().counter(tcp::Counter::kDropPoolExhausted), 5u);
  // The gap fills, and the server resends what was never acknowledged.
  wire.server_at(1, greeting.substr(0, 1), 1);
  for (uint32_t i = 17; i < greeting.size(); ++i) {
    wire.server_at(1 + i, greeting.substr(i, 1), 1);
  }
  for (Wire::Out& o : wire.take_inside()) {
    to_client.push_back(o);
  }
  std::string seen(greeting.size(), '?');
  for (const Wire::Out& o : to_client) {
    ASSERT_EQ(o.payload.size(), 1u);
    seen[o.rel_seq - 1] = o.payload[0];
  }
  EXPECT_EQ(seen, greeting);
  EXPECT_EQ(to_client.size(), greeting.size()) << "each byte reached the client once";
  EXPECT_EQ(g.stats[0].get(worker::Counter::inspect_reassembly_full), 5u);
  // The session parsed the greeting: the client's EHLO is its next command, released at once.
  const std::string ehlo = "EHLO client.example\r\n";
  wire.client(1, kTcpAck | kTcpPsh, ehlo);
  const std::vector<Wire::Out> out = wire.take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, ehlo);
  EXPECT_EQ(in.sessions().counters()[smtp::Counter::kReplies], 1u) << "the greeting, whole";
  EXPECT_EQ(in.sessions().counters()[smtp::Counter::kDesync], 0u);
  EXPECT_EQ(in.sessions().counters()[smtp::Counter::kMalformedReply], 0u);
  g.workers[0]->close_inspection();
  EXPECT_EQ(in.reassembler().free_slots(), 16u);
  EXPECT_EQ(rte_mempool_in_use_count(g.pool), in_use_at_start) << "mbufs kept";
  app::teardown(g);
}

// One TCP state machine per connection: an inspected binding's state (its idle timeout) follows
// the reassembler's, so a blind RST from outside (outside the window) does not close it, and an
// in-window RST, or FIN both ways, does.
TEST_F(InspectDrivers, BindingStateFollowsTheInspectionsTcpState) {
  Recorder recorder;
  app::Gateway g;
  build(g, &recorder, nullptr);
  if (HasFatalFailure()) {
    return;
  }
  Wire wire(g);
  const flow::FlowKey key{kClient, kServer, 40000, 25, kProtoTcp};
  auto state = [&] { return g.workers[0]->nat().lookup_inside(key)->state; };
  wire.client(0, kTcpSyn);
  ASSERT_NE(g.workers[0]->nat().lookup_inside(key), nullptr);
  EXPECT_EQ(state(), flow::State::kSynSent);
  wire.server(kTcpSyn | kTcpAck, "", 1);
  wire.client(1, kTcpAck);
  EXPECT_EQ(state(), flow::State::kEstablished);
  wire.server_at(1'000'000, "", 1, kTcpRst | kTcpAck);  // far outside the window
  EXPECT_EQ(state(), flow::State::kEstablished) << "a blind RST must not close the binding";
  wire.client(1, kTcpAck | kTcpFin);
  EXPECT_EQ(state(), flow::State::kClosing);
  wire.server_at(1, "", 2, kTcpRst | kTcpAck);  // at the expected sequence number
  EXPECT_EQ(state(), flow::State::kClosed);
  app::teardown(g);
}

// A refused MAIL FROM ends the session at the gateway: the command never reaches the server, the
// client gets the refusal and a 421 with FIN right after the server's last byte (acknowledging
// everything it sent), the server an RST at the first byte it was not sent; later segments of
// either side are not forwarded, the client's FIN is acknowledged.
// A restricted sender's MAIL FROM is refused by the gateway's enforcement: the client gets
// 550 5.1.8 and 421 (its MTA writes the non-delivery report), the server an RST.
TEST_F(InspectDrivers, RestrictedSenderIsRefusedAndBothSidesClosed) {
  EnforcedRecorder recorder;
  recorder.scanning = false;
  app::Gateway g;
  build(g, nullptr, nullptr, "", &recorder);
  if (HasFatalFailure()) {
    return;
  }
  count::KeyBytes key;
  ASSERT_EQ(count::sender_key("spammer@example.org", key), count::KeyStatus::kOk);
  ASSERT_EQ(g.senders->restrict(key, events::LimitId::kNone, events::ActionTaken::kBlocked, 0),
            count::FindOutcome::kInserted);
  Wire wire(g);
  const worker::WorkerStats& st = g.stats[0];
  wire.client(0, kTcpSyn);
  wire.server(kTcpSyn | kTcpAck, "", 1);
  const std::string greeting = "220 mx.example ESMTP\r\n";
  wire.server(kTcpAck | kTcpPsh, greeting, 1);
  const std::string ehlo = "EHLO client.example\r\n";
  wire.client(1, kTcpAck | kTcpPsh, ehlo);
  const std::string ehlo_reply = "250 mx.example\r\n";
  wire.server(kTcpAck | kTcpPsh, ehlo_reply, 1 + ehlo.size());
  wire.take();
  wire.take_inside();
  wire.in_acks_.clear();
  const uint32_t mail_at = 1 + static_cast<uint32_t>(ehlo.size());
  const std::string mail = "MAIL FROM:<spammer@example.org>\r\n";
  wire.client(mail_at, kTcpAck | kTcpPsh, mail);
  auto out = wire.take();
  ASSERT_EQ(out.size(), 1u) << "only the server's reset";
  EXPECT_EQ(out[0].flags, kTcpRst);
  EXPECT_EQ(out[0].rel_seq, mail_at) << "at the first byte the server was not sent";
  auto in = wire.take_inside();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].payload,
            "550 5.1.8 Access denied, bad outbound sender\r\n421 4.7.0 Closing connection\r\n");
  EXPECT_EQ(in[0].flags, kTcpAck | kTcpPsh | kTcpFin);
  EXPECT_EQ(in[0].rel_seq, 1 + greeting.size() + ehlo_reply.size()) << "after the server's bytes";
  EXPECT_EQ(wire.in_acks_[0], 1000 + mail_at + mail.size()) << "acknowledges the refused command";
  ASSERT_EQ(recorder.records.size(), 1u);
  EXPECT_EQ(recorder.records[0]["outcome"], "refused");
  EXPECT_EQ(recorder.records[0]["action"], "refuse");
  EXPECT_EQ(recorder.records[0]["reply"], "550 5.1.8 Access denied, bad outbound sender");
  EXPECT_EQ(g.enforcers[0]->counter(enforce::Counter::kRefusedRestricted), 1u);
  EXPECT_EQ(st.get(worker::Counter::inspect_refusals_answered), 1u);
  EXPECT_EQ(st.get(worker::Counter::injected), 2u);

  // A late server reply is not forwarded; the client's FIN is acknowledged by the gateway.
  wire.server(kTcpAck | kTcpPsh, "250 late\r\n", mail_at);
  EXPECT_TRUE(wire.take_inside().empty());
  const uint32_t fin_at = mail_at + static_cast<uint32_t>(mail.size());
  wire.client(fin_at, kTcpAck | kTcpFin);
  EXPECT_TRUE(wire.take().empty()) << "nothing more reaches the server";
  in = wire.take_inside();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].flags, kTcpAck);
  EXPECT_EQ(wire.in_acks_.back(), 1000 + fin_at + 1);
  EXPECT_EQ(st.get(worker::Counter::inspect_after_refusal), 2u);
  app::teardown(g);
}

// STARTTLS inspected (the default policy): the client never sees the server offer STARTTLS,
// in whatever segments the EHLO reply comes. A segment that ends inside a line that may still
// become STARTTLS is cut before that line, a segment past a gap is not forwarded, and each
// segment carrying the keyword leaves as a copy with it overwritten (same length, valid
// checksums). The client's STARTTLS anyway is answered 502 5.5.1 and never reaches the server.
TEST_F(InspectDrivers, StarttlsNeverReachesTheClient) {
  EnforcedRecorder recorder;
  recorder.scanning = false;
  app::Gateway g;
  build(g, nullptr, nullptr, "", &recorder);
  if (HasFatalFailure()) {
    return;
  }
  const unsigned in_use_at_start = rte_mempool_in_use_count(g.pool);
  Wire wire(g);
  const worker::WorkerStats& st = g.stats[0];
  wire.client(0, kTcpSyn);
  wire.server(kTcpSyn | kTcpAck, "", 1);
  const std::string greeting = "220 mx.example ESMTP\r\n";
  wire.server(kTcpAck | kTcpPsh, greeting, 1);
  const std::string ehlo = "EHLO client.example\r\n";
  wire.client(1, kTcpAck | kTcpPsh, ehlo);
  const uint32_t acked = 1 + static_cast<uint32_t>(ehlo.size());
  wire.take();
  wire.take_inside();
  const uint32_t reply_at = 1 + static_cast<uint32_t>(greeting.size());
  const std::string a = "250-mx.example\r\n250-STAR";
  wire.server(kTcpAck | kTcpPsh, a, acked);
  auto in = wire.take_inside();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].payload, "250-mx.example\r\n") << "cut before the line that may be STARTTLS";
  EXPECT_EQ(st.get(worker::Counter::inspect_server_cut), 1u);
  // Bytes past a gap wait for the server's retransmission.
  wire.server_at(reply_at + static_cast<uint32_t>(a.size()) + 40, "250 SMTPUTF8\r\n", acked);
  EXPECT_TRUE(wire.take_inside().empty());
  EXPECT_EQ(st.get(worker::Counter::inspect_server_held), 1u);
  const std::string b = "TTLS\r\n250 SIZE 1000000\r\n";
  wire.server(kTcpAck | kTcpPsh, b, acked);
  in = wire.take_inside();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].payload, "XXXX\r\n250 SIZE 1000000\r\n");
  EXPECT_EQ(in[0].rel_seq, reply_at + a.size());
  // The server retransmits what the client has not acknowledged: masked again.
  const std::string whole = "250-STARTTLS\r\n250 SIZE 1000000\r\n";
  wire.server_at(reply_at + 16, whole, acked);
  in = wire.take_inside();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].payload, "250-XXXXXXXX\r\n250 SIZE 1000000\r\n");
  EXPECT_EQ(st.get(worker::Counter::inspect_starttls_masked), 2u);
  EXPECT_EQ(g.workers[0]->inspector()->counter(inspect::Counter::kEvasions), 0u);

  // The client asks anyway (it never saw it offered): the gateway answers, the server is reset.
  wire.client(acked, kTcpAck | kTcpPsh, "STARTTLS\r\n");
  auto out = wire.take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpRst);
  EXPECT_EQ(out[0].rel_seq, acked) << "STARTTLS never reached the server";
  in = wire.take_inside();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].payload, std::string(inspect::kReplyStarttlsNotOffered) +
                               "\r\n421 4.7.0 Closing connection\r\n");
  EXPECT_EQ(g.workers[0]->inspector()->counter(inspect::Counter::kStarttlsRefused), 1u);
  g.workers[0]->close_inspection();
  EXPECT_EQ(rte_mempool_in_use_count(g.pool), in_use_at_start) << "mbufs kept by the pipeline";
  app::teardown(g);
}

// The same through a capture of real programs (starttls.pcap: swaks asks for TLS against
// aiosmtpd): what reaches the client holds no STARTTLS, the client's STARTTLS is answered.
TEST_F(InspectDrivers, StarttlsIsMaskedInARealCapture) {
  EnforcedRecorder recorder;
  recorder.scanning = false;
  app::Gateway g;
  build(g, nullptr, nullptr, "", &recorder);
  if (HasFatalFailure()) {
    return;
  }
  Played seen;
  play(*g.workers[0], g, std::string(SMTPGW_TEST_DATA) + "/starttls.pcap", &seen);
  g.workers[0]->close_inspection();
  EXPECT_NE(seen.to_client.find("250-XXXXXXXX\r\n"), std::string::npos) << seen.to_client;
  EXPECT_EQ(seen.to_client.find("STARTTLS\r\n"), std::string::npos) << seen.to_client;
  EXPECT_NE(seen.to_client.find(std::string(inspect::kReplyStarttlsNotOffered)), std::string::npos);
  EXPECT_EQ(g.stats[0].get(worker::Counter::inspect_starttls_masked), 1u);
  app::teardown(g);
}

// At the binding table's bound a new connection is refused at once: its SYN is answered with an
// RST|ACK to the client (valid checksums, ports swapped, acknowledging the SYN), counted.
// A client SYN frame, 10.99.0.1:sport → the server's port 25, as the inside port receives it
// (nullptr when the pool is empty).
rte_mbuf* make_syn(app::Gateway& g, uint16_t sport) {
  rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
  if (m == nullptr) {
    return nullptr;
  }
  uint8_t* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 54));
  std::memset(f, 0, 54);
  store_mac(f, g.tables.ports[port_ids[0]].mac);
  store_mac(f + 6, MacAddr{{2, 0, 0, 0, 1, 1}});
  store_be16(f + 12, kEtherTypeIpv4);
  f[14] = 0x45;
  store_be16(f + 16, 40);
  f[22] = 64;
  f[23] = kProtoTcp;
  store_be32(f + 26, kClient);
  store_be32(f + 30, kServer);
  store_be16(f + 34, sport);
  store_be16(f + 36, 25);
  store_be32(f + 38, 777);
  f[46] = 0x50;
  f[47] = kTcpSyn;
  store_be16(f + 48, 65535);
  ParsedPacket p;
  p.l3_offset = 14;
  p.l4_offset = 34;
  fix_checksums(f, p);
  m->port = static_cast<uint16_t>(port_ids[0]);
  return m;
}

// A client SYN into the worker, then one poll loop.
void send_syn(app::Gateway& g, uint16_t sport) {
  rte_mbuf* m = make_syn(g, sport);
  ASSERT_NE(m, nullptr);
  g.workers[0]->process(m, 100);
  g.workers[0]->poll_once(101);
}

// The source address of the SYN that left toward the server after send_syn(sport), or 0 when
// nothing left that way.
uint32_t syn_leaves_from(app::Gateway& g, uint16_t sport) {
  send_syn(g, sport);
  void* o = nullptr;
  if (rte_ring_dequeue(rings[1][1], &o) != 0) {
    return 0;
  }
  auto* om = static_cast<rte_mbuf*>(o);
  ParsedPacket q;
  uint32_t src = 0;
  if (parse_frame(rte_pktmbuf_mtod(om, const uint8_t*), rte_pktmbuf_data_len(om), {}, &q) ==
          ParseResult::kOk &&
      q.tcp_flags == kTcpSyn) {
    src = q.src4;
  }
  rte_pktmbuf_free(om);
  return src;
}

// The RST|ACK the gateway answered the client's SYN from `sport` with (RFC 9293: it
// acknowledges the SYN, sequence 777).
void expect_rst(uint16_t sport) {
  void* o = nullptr;
  ASSERT_EQ(rte_ring_dequeue(rings[0][1], &o), 0) << "an answer goes back inside";
  auto* om = static_cast<rte_mbuf*>(o);
  const uint8_t* r = rte_pktmbuf_mtod(om, const uint8_t*);
  ParsedPacket q;
  ASSERT_EQ(parse_frame(r, rte_pktmbuf_data_len(om), {}, &q), ParseResult::kOk);
  EXPECT_EQ(q.src4, kServer);
  EXPECT_EQ(q.dst4, kClient);
  EXPECT_EQ(q.sport, 25);
  EXPECT_EQ(q.dport, sport);
  EXPECT_EQ(q.tcp_flags, kTcpRst | kTcpAck);
  EXPECT_EQ(q.tcp_ack, 778u);
  EXPECT_EQ(q.payload_len, 0);
  EXPECT_TRUE(load_mac(r) == (MacAddr{{2, 0, 0, 0, 1, 1}}));
  rte_pktmbuf_free(om);
}

TEST_F(InspectDrivers, SynBeyondTheFlowBoundIsAnsweredWithRst) {
  Recorder recorder;
  app::Gateway g;
  build(g, &recorder, nullptr, "flows: { max_per_worker: 1 }");
  if (HasFatalFailure()) {
    return;
  }
  Wire wire(g);
  wire.client(0, kTcpSyn);
  ASSERT_EQ(wire.take().size(), 1u) << "the first connection gets the one binding";
  // A second connection from another port of the same host.
  send_syn(g, 40001);
  EXPECT_EQ(rte_ring_count(rings[1][1]), 0u) << "nothing reaches the server";
  expect_rst(40001);
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_table_full), 1u);
  app::teardown(g);
}

// The pools' states are published while the worker runs: a new flow takes an active address,
// a bound flow keeps its own, and with none active the fallback applies (listed addresses, or
// an RST), each counted.
TEST_F(InspectDrivers, PublishedPoolStatesChooseEachNewFlowsAddress) {
  Recorder recorder;
  app::Gateway g;
  build(g, &recorder, nullptr, "", nullptr, "pools: { normal: [192.0.2.10, 192.0.2.11] }");
  if (HasFatalFailure()) {
    return;
  }
  using flow::AddressState;
  const uint32_t first = syn_leaves_from(g, 40001);
  ASSERT_TRUE(first == 0xc000020a || first == 0xc000020b) << first;
  const uint32_t other = first ^ 1;
  ASSERT_TRUE(app::publish_pool_states(g, {{first, AddressState::kListed}}));
  EXPECT_EQ(syn_leaves_from(g, 40002), other) << "a listed address takes no new flow";
  EXPECT_EQ(syn_leaves_from(g, 40001), first) << "a bound flow keeps its address";
  ASSERT_TRUE(app::publish_pool_states(g, {{other, AddressState::kDraining}}));
  EXPECT_EQ(syn_leaves_from(g, 40003), first) << "no active address: the listed one (fallback)";
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_fallback_listed), 1u);
  ASSERT_TRUE(app::publish_pool_states(g, {{first, AddressState::kDraining}}));
  EXPECT_EQ(syn_leaves_from(g, 40004), 0u);
  expect_rst(40004);
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_no_active_address), 1u);
  ASSERT_TRUE(app::publish_pool_states(g, {{other, AddressState::kActive}}));
  EXPECT_EQ(syn_leaves_from(g, 40005), other) << "back in service";
  EXPECT_FALSE(app::publish_pool_states(g, {{0xc0000299, AddressState::kListed}}))
      << "an address in no pool is refused";
  app::teardown(g);
}

// The worker runs on its own thread (Worker::run, as on an lcore) while another thread publishes
// pool states as fast as it can: every SYN leaves from a configured address, and every old
// snapshot is freed once the worker passed a poll loop (under ASan, a snapshot freed while the
// worker still read it would be a use after free).
TEST_F(InspectDrivers, PoolStatesPublishedWhileTheWorkerRuns) {
  Recorder recorder;
  app::Gateway g;
  build(g, &recorder, nullptr, "", nullptr, "pools: { normal: [192.0.2.10, 192.0.2.11] }");
  if (HasFatalFailure()) {
    return;
  }
  constexpr uint16_t kSyns = 3000;
  std::atomic<bool> stop{false}, done_sending{false};
  std::thread worker([&] { g.workers[0]->run(stop); });
  uint64_t published = 0;
  std::thread control([&] {
    // At least 200 versions, however the threads are scheduled.
    for (uint64_t i = 0; !done_sending.load() || published < 200; ++i) {
      // .10 goes listed and back; .11 stays active, so every flow has an active address.
      const auto state = i % 2 ? flow::AddressState::kActive : flow::AddressState::kListed;
      if (app::publish_pool_states(g, {{0xc000020a, state}})) {
        ++published;
      } else {
        std::this_thread::yield();  // the worker has not released enough old versions yet
      }
    }
  });
  for (uint16_t i = 0; i < kSyns; ++i) {
    rte_mbuf* m = make_syn(g, static_cast<uint16_t>(20'000 + i));
    ASSERT_NE(m, nullptr);
    while (rte_ring_enqueue(rings[0][0], m) != 0) {
      std::this_thread::yield();  // the worker's RX ring is full
    }
  }
  // Every SYN is through once the worker made its binding.
  while (g.workers[0]->nat().size() < kSyns) {
    std::this_thread::yield();
  }
  done_sending = true;
  control.join();
  stop = true;
  worker.join();
  RecordProperty("versions_published", static_cast<int>(published));
  g.pool_states->synchronize();  // the worker is offline: nothing holds an old version
  EXPECT_EQ(g.pool_states->retired_count(), 0u);
  unsigned left = 0;
  void* o = nullptr;
  while (rte_ring_dequeue(rings[1][1], &o) == 0) {
    auto* om = static_cast<rte_mbuf*>(o);
    ParsedPacket q;
    ASSERT_EQ(parse_frame(rte_pktmbuf_mtod(om, const uint8_t*), rte_pktmbuf_data_len(om), {}, &q),
              ParseResult::kOk);
    EXPECT_TRUE(q.src4 == 0xc000020a || q.src4 == 0xc000020b) << q.src4;
    ++left;
    rte_pktmbuf_free(om);
  }
  EXPECT_EQ(left, kSyns);
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_created), kSyns);
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_no_active_address), 0u);
  app::teardown(g);
}

TEST_F(InspectDrivers, RefuseFallbackAnswersRstWhenNoAddressIsActive) {
  Recorder recorder;
  app::Gateway g;
  build(g, &recorder, nullptr, "", nullptr,
        "pools: { normal: [192.0.2.10], fallback: refuse }");
  if (HasFatalFailure()) {
    return;
  }
  ASSERT_TRUE(app::publish_pool_states(g, {{0xc000020a, flow::AddressState::kListed}}));
  EXPECT_EQ(syn_leaves_from(g, 40001), 0u);
  expect_rst(40001);
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_no_active_address), 1u);
  EXPECT_EQ(g.stats[0].get(worker::Counter::nat_fallback_listed), 0u);
  app::teardown(g);
}

// smtpgen's TCP peers and SMTP scripts (tools/smtpgen) through a real worker with the shipped
// rules and the gateway's own enforcement: four clients inside, each with three messages
// (PIPELINING and BDAT, an unknown recipient, dot lines, a null sender); a server peer is made
// for each connection the gateway opens from its egress address. Every session ends with QUIT
// answered, every message arrives byte for byte, the gateway traced each one, and nothing leaks.
TEST_F(InspectDrivers, SmtpgenSessionsThroughTheWorker) {
  EnforcedRecorder records;
  app::Gateway g;
  build(g, nullptr, shipped_rules(), "", &records);
  if (HasFatalFailure()) {
    return;
  }
  worker::Worker& w = *g.workers[0];
  const unsigned in_use_at_start = rte_mempool_in_use_count(g.pool);
  const MacAddr in_mac = g.tables.ports[port_ids[0]].mac;
  const MacAddr out_mac = g.tables.ports[port_ids[1]].mac;
  const smtpgen::Endpoint server_at{{{2, 0, 0, 0, 2, 2}}, kServer, 25};
  struct Client {
    smtpgen::TcpPeer tcp;
    smtpgen::SmtpClient smtp;
  };
  struct Server {
    smtpgen::TcpPeer tcp;
    smtpgen::SmtpServer smtp;
  };
  std::vector<Client> clients;
  std::vector<std::vector<smtpgen::MessageSpec>> sent;
  for (uint16_t i = 0; i < 4; ++i) {
    const std::string from = "user" + std::to_string(i) + "@inside.test";
    std::vector<smtpgen::MessageSpec> m = {
        {from, {"b@outside.test"}, "Subject: one\r\n\r\nHello.\r\n"},
        {from, {"c@outside.test", "unknown@outside.test"},
         "Subject: two\r\n\r\n.a dot line\r\n..two dots\r\n.\r\nend\r\n"},
        {"", {"d@outside.test"}, "Subject: bounce\r\n\r\n" + std::string(30'000, 'x') + "\r\n"}};
    sent.push_back(m);
    clients.push_back({smtpgen::TcpPeer::client({{{2, 0, 0, 0, 1, 1}}, kClient,
                                                 static_cast<uint16_t>(41000 + i)},
                                                {in_mac, kServer, 25}, 7000u * (i + 1), {}),
                       smtpgen::SmtpClient("inside-host.test", m, i % 2 == 0)});
  }
  std::map<uint32_t, Server> servers;  // by the gateway's (egress address << 16 | NAT port)
  uint64_t now_ns = 1'000'000, tsc = 1;
  auto inject = [&](const std::string& f, int port) {
    rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
    m->port = port_ids[port];
    w.process(m, ++tsc);
  };
  auto all_done = [&] {
    for (const Client& c : clients) {
      if (!c.smtp.done() || !c.tcp.fin_acked()) {
        return false;
      }
    }
    return true;
  };
  for (int step = 0; step < 20'000 && !all_done(); ++step) {
    now_ns += 1'000'000;
    std::vector<std::string> out;
    for (Client& c : clients) {
      std::string bytes;
      c.smtp.on_bytes(c.tcp.received(), bytes);
      c.tcp.received().clear();
      c.tcp.send(bytes);
      if (c.smtp.done()) {
        c.tcp.close();
      }
      c.tcp.poll(now_ns, out);
    }
    for (const std::string& f : out) {
      inject(f, 0);
    }
    out.clear();
    for (auto& [key, s] : servers) {
      std::string bytes;
      s.smtp.on_bytes(s.tcp.received(), bytes);
      s.tcp.received().clear();
      s.tcp.send(bytes);
      if (s.smtp.quit()) {
        s.tcp.close();
      }
      s.tcp.poll(now_ns, out);
    }
    for (const std::string& f : out) {
      inject(f, 1);
    }
    if (HasFatalFailure()) {
      return;
    }
    w.poll_once(++tsc);
    void* o = nullptr;
    while (rte_ring_dequeue(rings[1][1], &o) == 0) {  // toward the servers
      auto* m = static_cast<rte_mbuf*>(o);
      const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
      ParsedPacket p;
      ASSERT_EQ(parse_frame(f, rte_pktmbuf_data_len(m), {}, &p), ParseResult::kOk);
      const uint32_t key = (p.src4 - kEgress) << 16 | p.sport;
      auto it = servers.find(key);
      if (it == servers.end() && (p.tcp_flags & kTcpSyn)) {
        EXPECT_EQ(p.src4, kEgress) << "clean mail leaves from the normal pool";
        it = servers.emplace(key, Server{smtpgen::TcpPeer::server(server_at, {out_mac, p.src4, p.sport},
                                                                  900'000u + key, {}),
                                         smtpgen::SmtpServer()}).first;
        std::string greeting;
        it->second.smtp.open(greeting);
        it->second.tcp.send(greeting);
      }
      if (it != servers.end()) {
        it->second.tcp.receive(p, f);
      }
      rte_pktmbuf_free(m);
    }
    while (rte_ring_dequeue(rings[0][1], &o) == 0) {  // toward the clients
      auto* m = static_cast<rte_mbuf*>(o);
      const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
      ParsedPacket p;
      ASSERT_EQ(parse_frame(f, rte_pktmbuf_data_len(m), {}, &p), ParseResult::kOk);
      for (Client& c : clients) {
        c.tcp.receive(p, f);  // false unless the ports are its own
      }
      rte_pktmbuf_free(m);
    }
  }
  ASSERT_TRUE(all_done());
  uint64_t resent = 0;
  for (const Client& c : clients) {
    resent += c.tcp.retransmissions();
  }
  for (const auto& [key, s] : servers) {
    resent += s.tcp.retransmissions();
  }
  std::printf("smtpgen through the worker: %.0f ms of simulated time, %lu retransmissions\n",
              (now_ns - 1'000'000) / 1e6, static_cast<unsigned long>(resent));
  ASSERT_EQ(servers.size(), clients.size());
  size_t delivered = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    SCOPED_TRACE("client " + std::to_string(i));
    EXPECT_TRUE(clients[i].smtp.quit_answered());
    const auto& r = clients[i].smtp.results();
    ASSERT_EQ(r.size(), 3u);
    for (const smtpgen::MessageResult& m : r) {
      EXPECT_EQ(m.end, 250) << m.end_text;
    }
    EXPECT_EQ(r[1].rcpts, std::vector<int>({250, 550}));
  }
  for (auto& [key, s] : servers) {
    const auto& kept = s.smtp.messages();
    ASSERT_EQ(kept.size(), 3u);
    // Which client this was: its first message's sender.
    const size_t i = std::stoul(kept[0].from.substr(4, 1));
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(kept[k].content, sent[i][k].content) << "client " << i << " message " << k;
      ++delivered;
    }
  }
  EXPECT_EQ(delivered, 12u);
  EXPECT_EQ(records.records.size(), 12u) << "the gateway's records: one per message";
  for (const json& r : records.records) {
    EXPECT_EQ(r["action"], "allow");
  }
  w.close_inspection();
  EXPECT_EQ(rte_mempool_in_use_count(g.pool), in_use_at_start) << "every mbuf back";
  app::teardown(g);
}

// smtpgen's generator through a real worker: 40 sessions of two 5 kB messages, 8 at a time, the
// clients first asking the gateway's inside MAC by ARP; about one session in five carries GTUBE
// instead. Every session ends with QUIT answered, every message is delivered byte for byte, and
// each spam message was deferred on its normal flow, then delivered from the high-risk address
// when sent again (the generator's own report).
TEST_F(InspectDrivers, SmtpgenGeneratorThroughTheWorker) {
  EnforcedRecorder records;
  app::Gateway g;
  build(g, nullptr, shipped_rules(), "", &records,
        "pools: { normal: [192.0.2.10], high_risk: [192.0.2.20] }");
  if (HasFatalFailure()) {
    return;
  }
  worker::Worker& w = *g.workers[0];
  const unsigned in_use_at_start = rte_mempool_in_use_count(g.pool);
  smtpgen::GeneratorConfig c;
  c.inside_mac = MacAddr{{2, 0, 0, 0, 1, 1}};
  c.client_ip = kClient;
  c.inside_gateway_ip = 0x0a6300fe;  // 10.99.0.254
  c.outside_mac = MacAddr{{2, 0, 0, 0, 2, 2}};
  c.server_ip = kServer;
  c.outside_gateway_ip = 0xc0000201;  // 192.0.2.1
  c.sessions = 40;
  c.concurrency = 8;
  c.messages_per_session = 2;
  c.message_bytes = 5'000;
  c.spam_per_mille = 200;
  c.high_risk_ip = kHighRisk;
  smtpgen::Generator gen(c);
  uint64_t now_ns = 1'000'000, tsc = 1;
  for (int step = 0; step < 20'000 && !gen.done(); ++step) {
    now_ns += 1'000'000;
    std::vector<std::string> in, out;
    gen.poll(now_ns, in, out);
    for (int side = 0; side < 2; ++side) {
      for (const std::string& f : side == 0 ? in : out) {
        rte_mbuf* m = rte_pktmbuf_alloc(g.pool);
        ASSERT_NE(m, nullptr);
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
        m->port = port_ids[side];
        w.process(m, ++tsc);
      }
    }
    w.poll_once(++tsc);
    void* o = nullptr;
    for (int side = 0; side < 2; ++side) {
      while (rte_ring_dequeue(rings[side][1], &o) == 0) {
        auto* m = static_cast<rte_mbuf*>(o);
        const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
        if (side == 0) {
          gen.from_inside(f, rte_pktmbuf_data_len(m));
        } else {
          gen.from_outside(f, rte_pktmbuf_data_len(m));
        }
        rte_pktmbuf_free(m);
      }
    }
  }
  const smtpgen::GeneratorReport r = gen.report();
  std::printf("smtpgen generator through the worker: %.0f ms simulated, %lu sessions, %lu messages "
              "delivered (%lu spam), %lu retransmissions, %lu frames in, %lu out\n",
              (now_ns - 1'000'000) / 1e6, static_cast<unsigned long>(r.sessions_done),
              static_cast<unsigned long>(r.messages_delivered),
              static_cast<unsigned long>(r.spam_delivered_high_risk),
              static_cast<unsigned long>(r.retransmissions), static_cast<unsigned long>(r.frames_in),
              static_cast<unsigned long>(r.frames_out));
  ASSERT_TRUE(gen.done());
  EXPECT_TRUE(gen.passed());
  ASSERT_GT(r.spam_sent, 0u) << "the seed gives spam sessions";
  const uint64_t clean = 2 * (40 - r.spam_sent);
  EXPECT_GE(r.spam_deferred, 1u) << "the first spam is on a normal flow";
  EXPECT_EQ(r.sessions_done, 40u + r.spam_deferred) << "each deferred message sent again";
  EXPECT_EQ(r.sessions_ended_by_gateway, r.spam_deferred) << "451, then the gateway's 421";
  EXPECT_EQ(r.sessions_failed, 0u);
  EXPECT_EQ(r.messages_expected, clean + r.spam_sent);
  EXPECT_EQ(r.messages_delivered, r.messages_expected);
  EXPECT_EQ(r.content_mismatches, 0u);
  EXPECT_EQ(r.spam_delivered_high_risk, r.spam_sent);
  EXPECT_EQ(r.wrong_decisions, 0u);
  EXPECT_EQ(records.records.size(), clean + r.spam_sent + r.spam_deferred) << "a record per attempt";
  EXPECT_EQ(g.stats[0].get(worker::Counter::arp_request_answered), 1u) << "the clients asked once";
  w.close_inspection();
  EXPECT_EQ(rte_mempool_in_use_count(g.pool), in_use_at_start) << "every mbuf back";
  app::teardown(g);
}

}  // namespace
}  // namespace smtpgw
