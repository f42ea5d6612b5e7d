#include "control/analyze/analyzer.h"

#include <pcap/pcap.h>

#include <bitset>
#include <chrono>
#include <cstring>
#include <ostream>
#include <unordered_map>

#include "control/analyze/capture_arena.h"
#include "control/analyze/pcap_reader.h"
#include "control/analyze/packet_decode.h"
#include "control/analyze/record_json.h"
#include "dataplane/count/accountant.h"
#include "dataplane/count/event_queue.h"
#include "dataplane/enforce/enforcer.h"
#include "dataplane/inspect/inspector.h"

namespace smtpgw::analyze {

namespace {

struct FlowKey {
  Address client;
  Address server;
  uint16_t client_port = 0;
  uint16_t server_port = 0;
  bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const {
    // Both addresses as 64-bit words (IPv4 is zero-padded to 16 bytes), the ports and the family
    // folded by multiplications: a few independent multiplies per packet, where a byte-wise
    // FNV-1a chained 36 dependent ones.
    uint64_t w[4];
    std::memcpy(w, k.client.bytes.data(), 16);
    std::memcpy(w + 2, k.server.bytes.data(), 16);
    uint64_t tail = (uint64_t{k.client_port} << 16 | k.server_port) |
                    (uint64_t{k.client.v6} << 32 | uint64_t{k.server.v6} << 33);
    uint64_t h = ((w[0] ^ tail) * 0x9e3779b97f4a7c15ull) ^ (w[1] * 0xc2b2ae3d27d4eb4full) ^
                 (w[2] * 0x165667b19e3779f9ull) ^ (w[3] * 0xd6e8feb86659fd93ull);
    h ^= h >> 32;
    h *= 0x9e3779b97f4a7c15ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

struct Totals {
  uint64_t files = 0;
  uint64_t file_errors = 0;      // files that could not be opened or read to the end
  uint64_t files_mapped = 0;     // read windows ran out: the rest walked in a mapping
  uint64_t packets = 0;
  uint64_t packets_tcp = 0;      // TCP segments of the analysed ports
  uint64_t packets_ignored = 0;  // not IP, not TCP, other ports, fragments, no flow
  uint64_t capture_errors = 0;   // malformed frames (each reported on stderr)
};

smtp::Endpoint endpoint(const Address& a, uint16_t port) {
  smtp::Endpoint e;
  e.addr = a.bytes;
  e.v6 = a.v6;
  e.port = port;
  return e;
}

}  // namespace

// The gateway's enforcement, offline: its own sender table on the capture's clock (the time of
// the packet being handled), one event queue drained after every record.
struct Enforcement {
  explicit Enforcement(const Options& o, enforce::RecordSink& sink)
      : policy(qsbr, std::make_shared<const enforce::CompiledPolicy>(*o.policy)),
        table(table_options(*o.policy, &now_ns)),
        accountant(table),
        events(kEventQueueCapacity),
        enforcer(accountant, policy, events, enforce::Options{o.high_risk_pool}, &sink) {}

  static constexpr size_t kEventQueueCapacity = 4'096;
  static count::SenderTable::Options table_options(const policy::Policy& p, const uint64_t* now) {
    count::SenderTable::Options so;
    so.capacity = p.sender_table_capacity;
    so.clock = count::Clock{[](const void* c) { return *static_cast<const uint64_t*>(c); }, now};
    return so;
  }
  void drain() {
    events::Event e;
    while (events.pop(e)) {
      ++drained[static_cast<size_t>(e.kind)];
    }
  }

  uint64_t now_ns = 0;
  publish::Qsbr qsbr;  // no reader: analyze publishes one policy, read by its only thread
  enforce::PolicySource policy;
  count::SenderTable table;
  count::Accountant accountant;
  count::EventQueue events;
  enforce::Enforcer enforcer;
  std::array<uint64_t, events::kEventKindCount> drained{};
};

// Offline, every hold point is allowed at once (the records are the same as with holds off),
// unless a policy is given: then the gateway's enforcement decides them. Each record is printed
// as JSON, with the scanner's verdict when a rule set is given and the enforcement's outcome
// with a policy.
struct Analyzer::Impl final : inspect::Decisions, enforce::RecordSink {
  Impl(Options o, std::ostream& out_, std::ostream& err_)
      : options(std::move(o)),
        out(out_),
        err(err_),
        arena(),
        enforcement(options.policy ? std::make_unique<Enforcement>(options, *this) : nullptr),
        inspector(inspector_config(options),
                  enforcement ? static_cast<inspect::Decisions&>(enforcement->enforcer) : *this,
                  CaptureArena::owner_ops(arena)) {
    for (uint16_t port : options.ports) {
      port_set.set(port);
    }
  }

  static inspect::Config inspector_config(const Options& o) {
    inspect::Config c;
    c.tcp = o.tcp;
    c.session.hold_mask = smtp::kHoldAll;
    c.ruleset = o.ruleset.get();
    c.keep_summaries = o.print_messages;
    return c;
  }

  inspect::Decision on_hold(inspect::Flow&, const inspect::Hold&) override { return {}; }
  void on_record(inspect::Flow& f, const smtp::MessageRecord& record,
                 inspect::Message* m) override;

  // Where the frame's bytes live decides how a payload is kept: in a PcapReader window
  // (`window`: a reference is taken), in its mapping (`stable`: they outlive the file's flows),
  // or in libpcap's reused buffer (neither: copied into the arena).
  void handle_packet(const std::string& path, uint64_t number, int link, uint32_t caplen,
                     uint32_t wire_len, uint64_t ts_ns, const uint8_t* frame,
                     CaptureArena::Chunk* window, bool stable);
  bool read_with_libpcap(const std::string& path, uint64_t offset, uint64_t& number);
  void close_all();

  Options options;
  std::bitset<65536> port_set;  // options.ports, tested twice per packet
  std::ostream& out;
  std::ostream& err;
  CaptureArena arena;
  // Readers whose mapping the reassembler might still reference (never, once close_all has
  // freed every slot; kept to the end otherwise, rather than unmapped under it).
  std::vector<std::unique_ptr<PcapReader>> retired_readers;
  std::unique_ptr<Enforcement> enforcement;  // with a policy
  inspect::Inspector inspector;
  std::unordered_map<FlowKey, std::unique_ptr<inspect::Flow>, FlowKeyHash> flows;
  std::string current_file;
  Totals totals;
  uint64_t next_flow = 0;
};

void Analyzer::Impl::on_record(inspect::Flow& f, const smtp::MessageRecord& record,
                               inspect::Message* m) {
  if (!options.print_messages) {
    if (enforcement) {
      enforcement->drain();
    }
    return;
  }
  nlohmann::ordered_json j = record_to_json(record, m != nullptr && m->has_summary ? &m->summary
                                                                                   : nullptr);
  j["flow"] = f.id();
  j["file"] = current_file;
  j["evasions"] = f.tcp.evasions;
  if (inspector.scanning()) {
    add_verdict(j, m);
  }
  if (enforcement) {
    add_enforcement(j, f, m);
    enforcement->drain();
  }
  out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

void Analyzer::Impl::handle_packet(const std::string& path, uint64_t number, int link,
                                   uint32_t caplen, uint32_t wire_len, uint64_t ts_ns,
                                   const uint8_t* frame, CaptureArena::Chunk* window,
                                   bool stable) {
  if (enforcement) {
    enforcement->now_ns = ts_ns;
  }
  DecodedTcp p;
  DecodeResult r = decode_frame(link, frame, caplen, wire_len, p);
  if (r != DecodeResult::kOk) {
    if (decode_result_is_error(r)) {
      ++totals.capture_errors;
      err << path << ": packet " << number << ": " << decode_result_text(r) << '\n';
    } else {
      ++totals.packets_ignored;
    }
    return;
  }
  bool to_server = port_set.test(p.dport);
  bool from_server = port_set.test(p.sport);
  if (!to_server && !from_server) {
    ++totals.packets_ignored;
    return;
  }
  bool syn = (p.seg.flags & tcp::kSyn) != 0 && (p.seg.flags & tcp::kAck) == 0;
  FlowKey c2s{p.src, p.dst, p.sport, p.dport};
  FlowKey s2c{p.dst, p.src, p.dport, p.sport};
  tcp::Direction dir = tcp::Direction::kClientToServer;
  auto it = flows.end();
  if (to_server) {
    it = flows.find(c2s);
  }
  if (it == flows.end() && from_server && !syn) {
    it = flows.find(s2c);
    dir = tcp::Direction::kServerToClient;
  }
  if (syn && to_server &&
      inspect::Inspector::starts_new_flow(it == flows.end() ? nullptr : it->second.get())) {
    // A new connection (or the reuse of a finished one's ports).
    if (it != flows.end()) {
      inspector.close(*it->second);
      flows.erase(it);
    }
    it = flows
             .emplace(c2s, std::make_unique<inspect::Flow>(inspector, next_flow++,
                                                           endpoint(c2s.client, c2s.client_port),
                                                           endpoint(c2s.server, c2s.server_port)))
             .first;
    if (enforcement) {
      it->second->set_pool(enforcement->enforcer.pool_for(endpoint(c2s.client, c2s.client_port),
                                                          endpoint(c2s.server, c2s.server_port)));
    }
    dir = tcp::Direction::kClientToServer;
  }
  if (it == flows.end()) {
    ++totals.packets_ignored;  // no SYN seen: started before the capture
    return;
  }
  ++totals.packets_tcp;
  inspect::Flow& f = *it->second;
  // A payload in a reader window takes a reference to it; mapped bytes need no owner (a null
  // owner is never retained or released); libpcap's buffer is reused by the next record, so its
  // payloads are copied into the arena.
  if (p.seg.len > 0) {
    if (window != nullptr) {
      CaptureArena::retain_chunk(window);
      p.seg.owner = window;
    } else if (!stable) {
      p.seg.owner = arena.copy(p.seg.data, p.seg.len, &p.seg.data);
    }
  }
  inspector.on_segment(f, dir, p.seg);
  if (f.done()) {
    inspector.close(f);
    flows.erase(it);
  }
}

void Analyzer::Impl::close_all() {
  for (auto& [k, f] : flows) {
    inspector.close(*f);
  }
  flows.clear();
}

Analyzer::Analyzer(Options options, std::ostream& out, std::ostream& err)
    : impl_(std::make_unique<Impl>(std::move(options), out, err)) {}

Analyzer::~Analyzer() { impl_->close_all(); }

bool Analyzer::process_file(const std::string& path) {
  Impl& a = *impl_;
  ++a.totals.files;
  a.current_file = path;
  // Classic pcap is walked in the reader's windows; libpcap reads what the reader does not
  // take, from the start (another format) or from the first record it hands over.
  auto reader = std::make_unique<PcapReader>(a.arena);
  uint64_t number = 0;
  bool ok = true;
  if (reader->open(path)) {
    PcapRecord rec;
    PcapReader::Next n;
    int link = reader->link_type();
    while ((n = reader->next(rec)) == PcapReader::Next::kRecord) {
      ++number;
      ++a.totals.packets;
      a.handle_packet(path, number, link, rec.caplen, rec.len, rec.ts_ns, rec.data, rec.window,
                      true);
    }
    if (n == PcapReader::Next::kHandOver) {
      ok = a.read_with_libpcap(path, reader->offset(), number);
    }
    a.totals.files_mapped += reader->fell_back() ? 1 : 0;
  } else {
    reader.reset();
    ok = a.read_with_libpcap(path, 0, number);
  }
  a.close_all();
  if (reader != nullptr && reader->fell_back() &&
      a.inspector.reassembler().free_slots() != a.options.tcp.pool_slots) {
    a.retired_readers.push_back(std::move(reader));
  }
  return ok;
}

// Reads `path` with libpcap from file offset `offset` (0: the first record), numbering records
// after `number`. Returns false on a file error (reported).
bool Analyzer::Impl::read_with_libpcap(const std::string& path, uint64_t offset, uint64_t& number) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pc = pcap_open_offline(path.c_str(), errbuf);
  if (pc == nullptr) {
    ++totals.file_errors;
    err << path << ": cannot read capture: " << errbuf << '\n';
    return false;
  }
  int link = pcap_datalink(pc);
  bool ok = true;
  if (!link_type_supported(link)) {
    err << path << ": unsupported link type " << link << " ("
        << (pcap_datalink_val_to_name(link) ? pcap_datalink_val_to_name(link) : "?") << ")\n";
    ++totals.file_errors;
    ok = false;
  }
  // Classic pcap reads records straight from the FILE, so seeking it skips records.
  if (ok && offset > 0 && fseeko(pcap_file(pc), static_cast<off_t>(offset), SEEK_SET) != 0) {
    err << path << ": packet " << number + 1 << ": cannot seek to offset " << offset
        << " (the rest of the file is skipped)\n";
    ++totals.file_errors;
    ok = false;
  }
  while (ok) {
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc = pcap_next_ex(pc, &h, &data);
    if (rc == PCAP_ERROR_BREAK) {
      break;  // end of file
    }
    ++number;
    if (rc != 1) {
      err << path << ": packet " << number << ": " << pcap_geterr(pc)
          << " (the rest of the file is skipped)\n";
      ++totals.file_errors;
      ok = false;
      break;
    }
    ++totals.packets;
    const uint64_t ts_ns = static_cast<uint64_t>(h->ts.tv_sec) * 1'000'000'000u +
                           static_cast<uint64_t>(h->ts.tv_usec) * 1'000u;
    handle_packet(path, number, link, h->caplen, h->len, ts_ns, data, nullptr, false);
  }
  pcap_close(pc);
  return ok;
}

nlohmann::ordered_json Analyzer::summary(double seconds) const {
  const Impl& a = *impl_;
  const Totals& t = a.totals;
  nlohmann::ordered_json j;
  j["type"] = "summary";
  j["files"] = t.files;
  j["file_errors"] = t.file_errors;
  j["packets"] = t.packets;
  j["files_mapped"] = t.files_mapped;
  const inspect::Inspector& in = a.inspector;
  using inspect::Counter;
  j["flows"] = in.counter(Counter::kFlows);
  j["flows_opaque"] = in.counter(Counter::kFlowsOpaque);
  j["messages"] = in.counter(Counter::kMessages);
  j["bytes"] = in.counter(Counter::kClientBytes);
  j["server_bytes"] = in.counter(Counter::kServerBytes);
  j["content_bytes"] = in.counter(Counter::kContentBytes);
  j["evasions"] = in.counter(Counter::kEvasions);
  // The pipeline's counters, as the workers' telemetry and exit report walk them.
  stats::Registry reg;
  in.register_counters(reg);
  if (a.enforcement) {
    a.enforcement->enforcer.register_counters(reg);
  }
  // Non-zero counters of one stage, from its `from`-th on.
  auto stage_json = [&reg](std::string_view stage, size_t from = 0) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const stats::Group& g : reg.groups()) {
      for (size_t i = from; g.stage == stage && i < g.size; ++i) {
        if (const uint64_t v = stats::load(g.values[i]); v != 0) {
          o[std::string(g.name(i))] = v;
        }
      }
    }
    return o;
  };
  uint64_t anomalies = 0;
  const smtp::SessionCounters& sc = in.sessions().counters();
  for (size_t i = 0; i < smtp::kCounterCount; ++i) {
    const auto c = static_cast<smtp::Counter>(i);
    anomalies += smtp::counter_is_anomaly(c) ? sc[c] : 0;
  }
  j["parse_errors"] = t.capture_errors + anomalies;
  j["capture_errors"] = t.capture_errors;
  j["smtp_anomalies"] = anomalies;
  mime::Stats ms = in.mime_stats();
  nlohmann::ordered_json mime_j = nlohmann::ordered_json::object();
  uint64_t notes = 0;
  for (size_t i = 0; i < mime::kNoteCount; ++i) {
    notes += ms.notes[i];
    if (ms.notes[i] != 0) {
      mime_j[std::string(mime::note_name(static_cast<mime::Note>(i)))] = ms.notes[i];
    }
  }
  j["mime_notes"] = notes;
  j["seconds"] = seconds;
  j["mb_per_s"] = seconds > 0 ? static_cast<double>(in.counter(Counter::kClientBytes)) / 1e6 / seconds
                              : 0.0;
  j["tcp"] = stage_json("tcp");
  j["smtp"] = stage_json("smtp");
  // Busy sessions' parser state (line buffers, rings, records) comes from a pool; idle flows
  // hold none (docs/smtp.md "Memory").
  j["smtp_active_parts"] = {{"peak", in.sessions().pool().peak},
                            {"made", in.sessions().pool().parts},
                            {"taken", in.sessions().pool().taken}};
  j["mime"] = mime_j;
  // What the inspection pipeline decided and lent (the workers' per-message pools). Its
  // counters before kHoldsAllowed are the summary's own fields above.
  j["inspect"] = stage_json("inspect", static_cast<size_t>(Counter::kHoldsAllowed));
  auto pool_json = [](const inspect::PoolStats& p) {
    return nlohmann::ordered_json{{"made", p.made}, {"peak", p.peak}, {"taken", p.taken}};
  };
  j["pools"] = {{"messages", pool_json(in.messages().stats())},
                {"decoders", pool_json(in.decoders().stats())},
                {"scan_contexts", pool_json(in.scans().stats())}};
  if (a.enforcement) {
    nlohmann::ordered_json e = stage_json("enforce");
    nlohmann::ordered_json ev = nlohmann::ordered_json::object();
    for (size_t i = 0; i < events::kEventKindCount; ++i) {
      if (a.enforcement->drained[i] != 0) {
        ev[events::event_kind_name(static_cast<events::EventKind>(i))] = a.enforcement->drained[i];
      }
    }
    e["events"] = ev;
    j["enforce"] = e;
  }
  j["packets_ignored"] = t.packets_ignored;
  return j;
}

}  // namespace smtpgw::analyze
