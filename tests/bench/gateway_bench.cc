// Gateway benchmark: the full inline pipeline (NAT, reassembly, SMTP session, MIME decoder,
// scanner, enforcement) on one worker over net_ring ports, fed with a capture of many
// concurrent SMTP sessions (tools/gen_smtp_capture).
//
// The capture is read into memory first. Each frame is then copied into an mbuf, addressed as
// the network would deliver it (client frames on the inside port; server frames on the outside
// port, to the egress address and NAT port the client's SYN got), and handed to the worker's
// per-packet path (Worker::process), in capture order; poll_once runs every 32 frames and after
// each client SYN (its NAT binding must be known before the server answers), and what leaves is
// freed. The harness alone (copy, address, checksum, free: no worker) is timed in a second pass
// over the same frames and subtracted for the per-packet cycles.
//
// Enforcement runs with `limits.dry_run: true`: every message is counted in the sender table and
// decided, but nothing is refused (the capture cannot answer a refusal as a client would).
// In the same run, with the same rule set, the raw Hyperscan rate of the same client payload:
// every client segment's payload through hs_scan_stream of every stream database of the rule
// set (one stream per database per connection), in capture order.
//
// usage: gateway_bench traffic CAPTURE RULES_DIR|- IDLE_FLOWS [MESSAGES]  → one JSON object
//   IDLE_FLOWS connections are opened first (a SYN each: a binding and an inspection flow), so
//   the capture's sessions run with the flow table that full. MESSAGES sizes the worker's
//   message, decoder and scan-context pools (default 2,048); "uninspected" in the output counts
//   the messages they could not cover.
//        gateway_bench syn FLOWS                               → one JSON object
//   syn: new connections per second: FLOWS SYNs from distinct (host, port), each making a NAT
//   binding and an inspection flow, timed through the same path.
// GATEWAY_BENCH_MARK=1 prints "timed section starts" on stderr first, for `perf record -p` of
// the timed section alone (how the packet path's allocations were found).
#include <hs/hs.h>
#include <pcap/pcap.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/app/gateway.h"
#include "control/rules/compiler.h"
#include "dataplane/packet/checksum.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/wire.h"

namespace {

using namespace smtpgw;
using namespace smtpgw::packet;

constexpr uint32_t kServer = 0xc6336407;  // 198.51.100.7, as the generator writes it
constexpr uint32_t kHosts = 64;           // the generator's inside hosts: 10.0.0.1 ..
constexpr unsigned kFlushEvery = 32;
// Messages in flight at once the traffic mode provides for by default (message states, scan
// contexts, MIME decoders): the generator's sessions are always sending, so at least as many as
// it runs at once (tools/bench gateway passes MESSAGES for its larger captures).
constexpr uint32_t kMessagesInFlight = 2048;

struct Frame {
  uint32_t offset;  // into the capture's bytes
  uint16_t len;
  uint16_t l4_offset;
  uint16_t payload_offset;
  uint16_t payload_len;
  bool from_client;
  bool syn;  // a client SYN
  uint64_t key;  // client (address, port)
};

struct Capture {
  std::string bytes;
  std::vector<Frame> frames;
  uint64_t client_payload = 0;
  uint64_t wire_bytes = 0;
};

bool load(const char* path, Capture& c) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path, err);
  if (pc == nullptr) {
    std::fprintf(stderr, "gateway_bench: %s\n", err);
    return false;
  }
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(pc, &h, &data) == 1) {
    ParsedPacket p;
    if (parse_frame(data, h->caplen, {true, true}, &p) != ParseResult::kOk || p.l3 != L3::kIpv4 ||
        p.l4_proto != kProtoTcp) {
      continue;
    }
    Frame f;
    f.offset = static_cast<uint32_t>(c.bytes.size());
    f.len = static_cast<uint16_t>(h->caplen);
    f.l4_offset = static_cast<uint16_t>(p.l4_offset);
    f.payload_offset = static_cast<uint16_t>(p.payload_offset);
    f.payload_len = static_cast<uint16_t>(p.payload_len);
    f.from_client = p.dst4 == kServer;
    f.syn = f.from_client && (p.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn;
    const uint32_t host = f.from_client ? p.src4 : p.dst4;
    const uint16_t port = f.from_client ? p.sport : p.dport;
    f.key = (static_cast<uint64_t>(host) << 16) | port;
    c.bytes.append(reinterpret_cast<const char*>(data), h->caplen);
    c.frames.push_back(f);
    c.wire_bytes += h->caplen;
    if (f.from_client) {
      c.client_payload += p.payload_len;
    }
  }
  pcap_close(pc);
  return !c.frames.empty();
}

struct Bed {
  app::Gateway g;
  rte_ring* tx[2] = {nullptr, nullptr};  // what the worker sends: inside, outside
  int ports[2] = {-1, -1};
  MacAddr mac[2];
};

// Mbufs a traffic run needs: what the reassembler keeps per streaming connection
// (unacknowledged server bytes, out-of-order pieces) plus the frames in flight.
constexpr uint32_t kTrafficMbufs = 262'143;

// `messages`: messages in flight at once (message states, scan contexts, MIME decoders), made at
// start: about 180 KB each (a decoder's buffers, 160 KB; a scan context, 9.5 KB; a message
// state with its MIME summary, 6.4 KB).
bool make_bed(Bed& b, uint32_t max_flows, std::shared_ptr<const scan::Ruleset> rules,
              uint32_t mbufs, uint32_t messages) {
  rte_ring* rx[2];
  for (int p = 0; p < 2; ++p) {
    char name[32];
    std::snprintf(name, sizeof name, "gb_rx%d", p);
    rx[p] = rte_ring_create(name, 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    std::snprintf(name, sizeof name, "gb_tx%d", p);
    b.tx[p] = rte_ring_create(name, 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    std::snprintf(name, sizeof name, "gb_port%d", p);
    b.ports[p] = rte_eth_from_rings(name, &rx[p], 1, &b.tx[p], 1, 0);
    if (b.ports[p] < 0) {
      return false;
    }
  }
  std::string neighbors;
  for (uint32_t h = 1; h <= kHosts; ++h) {
    char n[128];
    std::snprintf(n, sizeof n, "  - { address: 10.0.0.%u, mac: \"02:00:00:00:01:%02x\", port: inside }\n",
                  h, h);
    neighbors += n;
  }
  // One egress address per 30,000 flows: an address has 64,512 NAT ports, and rendezvous
  // hashing spreads the hosts over the addresses unevenly.
  std::string pool = "[";
  const uint32_t addresses = std::max<uint32_t>(2, max_flows / 30'000 + 2);
  for (uint32_t a = 0; a < addresses; ++a) {
    pool += (a ? ", " : "") + std::string("198.51.100.") + std::to_string(10 + a);
  }
  pool += "]";
  char text[16384];
  std::snprintf(text, sizeof text, R"(
eal: { lcores: [0, 1] }
ports:
  - { name: inside, device: %d, role: inside, address: 10.0.0.254/24 }
  - { name: outside, device: %d, role: outside, address: 198.51.100.1/24 }
neighbors:
%s  - { address: 198.51.100.7, mac: "02:00:00:00:02:02", port: outside }
smtp: { ports: [25] }
pools: { normal: %s }
flows: { max_per_worker: %u }
workers: { mbufs: %u }
inspection: { messages: %u, active_sessions: %u, decoders: %u, scan_contexts: %u }
limits: { dry_run: true, sender_table_capacity: 1048576 }
telemetry: { enabled: false }
)",
                b.ports[0], b.ports[1], neighbors.c_str(), pool.c_str(), max_flows, mbufs,
                messages, messages, messages, messages);
  config::Result r = config::load_string(text, "gateway_bench.yaml");
  if (!r.ok()) {
    std::fprintf(stderr, "%s", r.error_text().c_str());
    return false;
  }
  b.g.cfg = std::move(r.config());
  b.g.cfg.rules.enabled = rules != nullptr;
  b.g.ruleset = std::move(rules);
  if (!app::build(b.g)) {
    return false;
  }
  b.mac[0] = b.g.tables.ports[b.ports[0]].mac;
  b.mac[1] = b.g.tables.ports[b.ports[1]].mac;
  return true;
}

// Takes what the worker sent and frees it. Returns the (egress address, NAT port) of the last
// SYN that left toward the server, or 0.
uint64_t drain(Bed& b) {
  uint64_t syn = 0;
  rte_mbuf* out[64];
  for (int p = 0; p < 2; ++p) {
    unsigned n;
    while ((n = rte_ring_dequeue_burst(b.tx[p], reinterpret_cast<void**>(out), 64, nullptr)) > 0) {
      for (unsigned i = 0; p == 1 && i < n; ++i) {
        const uint8_t* o = rte_pktmbuf_mtod(out[i], const uint8_t*);
        if ((o[47] & (kTcpSyn | kTcpAck)) == kTcpSyn) {
          syn = (static_cast<uint64_t>(load_be32(o + 26)) << 16) | load_be16(o + 34);
        }
      }
      rte_pktmbuf_free_bulk(out, n);
    }
  }
  return syn;
}

// One frame into an mbuf, addressed as the network delivers it: a client frame to the inside
// port's MAC; a server frame to the outside port's MAC, the egress address and NAT port of its
// connection. Null when the pool is empty.
rte_mbuf* prepare(Bed& b, const Capture& c, const Frame& f, uint64_t binding) {
  rte_mbuf* m = rte_pktmbuf_alloc(b.g.pool);
  if (m == nullptr) {
    return nullptr;
  }
  auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, f.len));
  std::memcpy(d, c.bytes.data() + f.offset, f.len);
  uint8_t* ip = d + kEthHeaderLen;
  if (f.from_client) {
    store_mac(d, b.mac[0]);
    m->port = static_cast<uint16_t>(b.ports[0]);
  } else {
    store_mac(d, b.mac[1]);
    store_be32(ip + 16, static_cast<uint32_t>(binding >> 16));
    store_be16(d + f.l4_offset + 2, static_cast<uint16_t>(binding));
    m->port = static_cast<uint16_t>(b.ports[1]);
  }
  finish_ipv4_tcp_checksums(ip);
  return m;
}

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// What one message holds while its content streams: a MIME decoder, a scan context and its
// Hyperscan streams (one per stream database), the message state.
size_t message_bytes(const scan::Ruleset* rules) {
  size_t n = mime::Decoder::memory_bytes(mime::Limits{}) + sizeof(inspect::Message);
  if (rules != nullptr) {
    n += sizeof(scan::ScanContext);
    for (int k = 0; k < scan::kStreamClassCount; ++k) {
      size_t sz = 0;
      if (const scan::Database& db = rules->stream(static_cast<scan::StreamClass>(k));
          db && hs_stream_size(db.get(), &sz) == HS_SUCCESS) {
        n += sz;
      }
    }
  }
  return n;
}

double seconds(uint64_t cycles) { return static_cast<double>(cycles) / static_cast<double>(rte_get_tsc_hz()); }

// New connections per second: SYNs from distinct (host, port), each a NAT binding and an
// inspection flow (the SYN is forwarded; nobody answers it).
// SYNs from `flows` distinct connections of hosts 10.0.0.100.. (not the capture's hosts, and
// nothing answers them, so they need no neighbour entry), 150 hosts: rendezvous hashing then
// spreads them evenly enough that no egress address runs out of ports.
Capture syn_frames(uint32_t flows) {
  constexpr uint32_t kSynHosts = 150;
  Capture c;
  c.bytes.reserve(static_cast<size_t>(flows) * 54);
  uint8_t d[54];
  for (uint32_t i = 0; i < flows; ++i) {
    std::memset(d, 0, sizeof d);
    store_mac(d + 6, MacAddr{{2, 0, 0, 0, 1, static_cast<uint8_t>(100 + i % kSynHosts)}});
    store_be16(d + 12, kEtherTypeIpv4);
    uint8_t* ip = d + kEthHeaderLen;
    ip[0] = 0x45;
    store_be16(ip + 2, 40);
    ip[8] = 64;
    ip[9] = kProtoTcp;
    store_be32(ip + 12, 0x0a000064 + i % kSynHosts);
    store_be32(ip + 16, kServer);
    uint8_t* tcp = ip + 20;
    store_be16(tcp, static_cast<uint16_t>(1024 + (i / kSynHosts) % 64'000));
    store_be16(tcp + 2, 25);
    store_be32(tcp + 4, i * 2654435761u);
    tcp[12] = 0x50;
    tcp[13] = kTcpSyn;
    store_be16(tcp + 14, 65535);
    Frame f{};
    f.offset = static_cast<uint32_t>(c.bytes.size());
    f.len = 54;
    f.l4_offset = 34;
    f.payload_offset = 54;
    f.from_client = true;
    c.bytes.append(reinterpret_cast<const char*>(d), 54);
    c.frames.push_back(f);
  }
  return c;
}

// Plays SYN-only frames through the worker (gateway) or the harness alone; returns the cycles.
uint64_t play_syns(Bed& b, const Capture& c, bool gateway) {
  worker::Worker& w = *b.g.workers[0];
  const uint64_t t0 = rte_rdtsc();
  rte_mbuf* batch[kFlushEvery];
  unsigned n = 0;
  for (const Frame& f : c.frames) {
    rte_mbuf* m = prepare(b, c, f, 0);
    if (gateway) {
      w.process(m, rte_rdtsc());
      if (++n == kFlushEvery) {
        w.poll_once(rte_rdtsc());
        drain(b);
        n = 0;
      }
    } else {
      batch[n++] = m;
      if (n == kFlushEvery) {
        rte_pktmbuf_free_bulk(batch, n);
        n = 0;
      }
    }
  }
  if (gateway) {
    w.poll_once(rte_rdtsc());
    drain(b);
  } else {
    rte_pktmbuf_free_bulk(batch, n);
  }
  return rte_rdtsc() - t0;
}

int traffic(const char* path, const char* rules_dir, uint32_t idle_flows, uint32_t messages) {
  Capture c;
  if (!load(path, c)) {
    std::fprintf(stderr, "gateway_bench: no TCP frames in %s\n", path);
    return 1;
  }
  uint32_t sessions = 0;
  for (const Frame& f : c.frames) {
    sessions += f.syn ? 1 : 0;
  }
  const uint32_t max_flows = idle_flows + sessions;
  std::shared_ptr<const scan::Ruleset> rules;
  uint32_t rule_count = 0;
  if (std::strcmp(rules_dir, "-") != 0) {
    rules::CompileOptions o;
    o.mode = rules::Mode::kLenient;  // Debian's SpamAssassin rules: what compiles
    rules::CompileResult r = rules::compile_directory(rules_dir, o);
    if (!r.ruleset) {
      std::fprintf(stderr, "gateway_bench: %s does not compile\n", rules_dir);
      return 1;
    }
    rule_count = static_cast<uint32_t>(r.ruleset->rules().size());
    rules = std::move(r.ruleset);
  }
  Bed b;
  if (!make_bed(b, max_flows, rules, kTrafficMbufs, messages)) {
    return 1;
  }
  worker::Worker& w = *b.g.workers[0];
  // The idle connections first (each a binding and an inspection flow), so the traffic runs
  // with the flow table at that size.
  play_syns(b, syn_frames(idle_flows), true);
  const unsigned in_use_at_start = rte_mempool_in_use_count(b.g.pool);

  // The gateway: every frame through the worker's per-packet path.
  std::unordered_map<uint64_t, uint64_t> nat;  // client (address, port) → (egress, NAT port)
  nat.reserve(sessions * 2);
  uint64_t dropped_by_harness = 0;
  if (std::getenv("GATEWAY_BENCH_MARK") != nullptr) {
    std::fprintf(stderr, "gateway_bench: timed section starts\n");  // for perf -p
  }
  const long faults0 = minor_faults();
  const uint64_t t0 = rte_rdtsc();
  unsigned since_flush = 0;
  for (const Frame& f : c.frames) {
    uint64_t binding = 0;
    if (!f.from_client) {
      auto it = nat.find(f.key);
      if (it == nat.end()) {
        ++dropped_by_harness;  // its SYN was refused (flow bound): nothing to address it to
        continue;
      }
      binding = it->second;
    }
    rte_mbuf* m = prepare(b, c, f, binding);
    if (m == nullptr) {
      std::fprintf(stderr, "gateway_bench: the mbuf pool ran dry\n");
      return 1;
    }
    w.process(m, rte_rdtsc());
    if (f.syn || ++since_flush == kFlushEvery) {
      w.poll_once(rte_rdtsc());
      const uint64_t syn = drain(b);
      if (f.syn && syn != 0) {
        nat[f.key] = syn;
      }
      since_flush = 0;
    }
  }
  w.poll_once(rte_rdtsc());
  drain(b);
  const uint64_t gateway_cycles = rte_rdtsc() - t0;
  const long faults = minor_faults() - faults0;

  // The harness alone, over the same frames and bindings.
  const uint64_t h0 = rte_rdtsc();
  rte_mbuf* batch[kFlushEvery];
  unsigned n = 0;
  for (const Frame& f : c.frames) {
    auto it = f.from_client ? nat.end() : nat.find(f.key);
    if (!f.from_client && it == nat.end()) {
      continue;
    }
    batch[n++] = prepare(b, c, f, f.from_client ? 0 : it->second);
    if (n == kFlushEvery) {
      rte_pktmbuf_free_bulk(batch, n);
      n = 0;
    }
  }
  rte_pktmbuf_free_bulk(batch, n);
  const uint64_t harness_cycles = rte_rdtsc() - h0;

  // Raw Hyperscan over the same client payload with the same stream databases.
  double raw_seconds = 0;
  uint32_t raw_dbs = 0;
  if (rules) {
    std::vector<hs_database_t*> dbs;
    for (int k = 0; k < scan::kStreamClassCount; ++k) {
      if (const scan::Database& db = rules->stream(static_cast<scan::StreamClass>(k))) {
        dbs.push_back(db.get());
      }
    }
    raw_dbs = static_cast<uint32_t>(dbs.size());
    hs_scratch_t* scratch = rules->scratch(0);
    auto on_match = [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) -> int {
      ++*static_cast<uint64_t*>(ctx);
      return 0;
    };
    uint64_t matches = 0;
    std::unordered_map<uint64_t, std::vector<hs_stream_t*>> streams;
    streams.reserve(sessions * 2);
    const uint64_t r0 = rte_rdtsc();
    for (const Frame& f : c.frames) {
      if (!f.from_client || f.payload_len == 0) {
        continue;
      }
      std::vector<hs_stream_t*>& s = streams[f.key];
      if (s.empty()) {
        s.resize(dbs.size());
        for (size_t k = 0; k < dbs.size(); ++k) {
          hs_open_stream(dbs[k], 0, &s[k]);
        }
      }
      const char* payload = c.bytes.data() + f.offset + f.payload_offset;
      for (size_t k = 0; k < dbs.size(); ++k) {
        hs_scan_stream(s[k], payload, f.payload_len, 0, scratch, on_match, &matches);
      }
    }
    for (auto& [key, s] : streams) {
      for (hs_stream_t* st : s) {
        hs_close_stream(st, scratch, on_match, &matches);
      }
    }
    raw_seconds = seconds(rte_rdtsc() - r0);
  }

  w.close_inspection();
  const inspect::Inspector& in = *w.inspector();
  const worker::WorkerStats& st = b.g.stats[0];
  const double gw_s = seconds(gateway_cycles);
  const double harness_s = seconds(harness_cycles);
  const double pipeline_s = gw_s - harness_s;
  const uint64_t frames = c.frames.size() - dropped_by_harness;
  const double payload = static_cast<double>(c.client_payload);
  std::printf(
      "{\"mode\": \"traffic\", \"frames\": %llu, \"client_payload_bytes\": %llu, "
      "\"wire_bytes\": %llu, \"flows\": %llu, \"messages\": %llu, \"idle_flows\": %u, "
      "\"rules\": %u, \"seconds\": %.4f, \"harness_seconds\": %.4f, "
      "\"cycles_per_packet\": %.1f, \"mpps\": %.3f, \"client_gbps\": %.3f, \"wire_gbps\": %.3f, "
      "\"messages_per_s\": %.0f, \"raw_hs_databases\": %u, \"raw_hs_gbps\": %.3f, "
      "\"vs_raw_hs\": %.3f, \"bindings_at_end\": %u, \"syn_refused\": %llu, \"harness_skipped\": %llu, "
      "\"inspect_held\": %llu, \"mbufs_kept\": %d, \"minor_faults\": %ld, "
      "\"bytes_per_message_in_flight\": %zu, \"uninspected\": %llu}\n",
      static_cast<unsigned long long>(frames), static_cast<unsigned long long>(c.client_payload),
      static_cast<unsigned long long>(c.wire_bytes),
      static_cast<unsigned long long>(in.counter(inspect::Counter::kFlows)),
      static_cast<unsigned long long>(in.counter(inspect::Counter::kMessages)), idle_flows,
      rule_count, pipeline_s, harness_s,
      static_cast<double>(gateway_cycles - harness_cycles) / static_cast<double>(frames),
      static_cast<double>(frames) / pipeline_s / 1e6, payload * 8 / pipeline_s / 1e9,
      static_cast<double>(c.wire_bytes) * 8 / pipeline_s / 1e9,
      static_cast<double>(in.counter(inspect::Counter::kMessages)) / pipeline_s, raw_dbs,
      raw_seconds > 0 ? payload * 8 / raw_seconds / 1e9 : 0.0,
      raw_seconds > 0 ? raw_seconds / pipeline_s : 0.0, b.g.workers[0]->nat().size(),
      static_cast<unsigned long long>(st.get(worker::Counter::nat_table_full)),
      static_cast<unsigned long long>(dropped_by_harness),
      static_cast<unsigned long long>(st.get(worker::Counter::inspect_held)),
      static_cast<int>(rte_mempool_in_use_count(b.g.pool)) - static_cast<int>(in_use_at_start),
      faults, message_bytes(rules.get()),
      static_cast<unsigned long long>(in.counter(inspect::Counter::kUninspectedDeferred) +
                                      in.counter(inspect::Counter::kUninspectedPassed)));
  app::teardown(b.g);
  return 0;
}

int syn(uint32_t flows) {
  Bed b;
  if (!make_bed(b, flows, nullptr, 65'535, 1024)) {
    return 1;
  }
  const Capture c = syn_frames(flows);
  const uint64_t gateway_cycles = play_syns(b, c, true);
  const uint32_t bindings = b.g.workers[0]->nat().size();
  const uint64_t harness_cycles = play_syns(b, c, false);
  const double s = seconds(gateway_cycles - harness_cycles);
  std::printf("{\"mode\": \"syn\", \"flows\": %u, \"bindings\": %u, \"seconds\": %.4f, "
              "\"new_flows_per_s\": %.0f, \"cycles_per_syn\": %.1f, "
              "\"bytes_per_idle_flow\": %zu, \"inspect_flow_bytes\": %zu, \"binding_bytes\": %zu}\n",
              flows, bindings, s, static_cast<double>(bindings) / s,
              static_cast<double>(gateway_cycles - harness_cycles) / flows,
              b.g.workers[0]->bytes_per_flow(), sizeof(inspect::Flow), sizeof(flow::Binding));
  app::teardown(b.g);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "traffic" && (argc == 5 || argc == 6)) || (mode == "syn" && argc == 3))) {
    std::fprintf(stderr,
                 "usage: gateway_bench traffic CAPTURE RULES_DIR|- IDLE_FLOWS [MESSAGES]\n"
                 "       gateway_bench syn FLOWS\n");
    return 2;
  }
  std::string prefix = "--file-prefix=gwbench" + std::to_string(getpid());
  // DPDK's memory: the mbuf pool (about 2.3 KB an mbuf) and 1 GiB for the rest.
  const uint32_t mbufs = mode == "traffic" ? kTrafficMbufs : 65'535;
  const std::string memory = std::to_string(1024 + static_cast<uint64_t>(mbufs) * 2304 / (1 << 20));
  // The worker runs on the main lcore: the first CPU this process may use (taskset -c N picks
  // it; EAL would otherwise move the thread to the lcore it is given).
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  int cpu = 0;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &allowed)) {
      ++cpu;
    }
  }
  const std::string lcore = std::to_string(cpu);
  const char* eal[] = {"gateway_bench", "--no-huge", "-m", memory.c_str(), "--no-pci", "-l", lcore.c_str(),
                       prefix.c_str(), "--log-level=4", nullptr};
  if (rte_eal_init(9, const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr, "gateway_bench: EAL init failed\n");
    return 1;
  }
  const int rc = mode == "traffic"
                     ? traffic(argv[2], argv[3], static_cast<uint32_t>(std::atoi(argv[4])),
                               argc == 6 ? static_cast<uint32_t>(std::atoi(argv[5]))
                                         : kMessagesInFlight)
                     : syn(static_cast<uint32_t>(std::atoi(argv[2])));
  rte_eal_cleanup();
  return rc;
}
