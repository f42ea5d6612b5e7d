#include "control/analyze/analyzer.h"

#include <pcap/pcap.h>

#include <bitset>
#include <chrono>
#include <cstring>
#include <map>
#include <ostream>
#include <unordered_map>

#include "control/analyze/capture_arena.h"
#include "control/analyze/pcap_reader.h"
#include "control/analyze/packet_decode.h"
#include "control/analyze/record_json.h"
#include "dataplane/mime/decoder.h"
#include "dataplane/smtp/session.h"

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

// MIME decoders are large (buffers for the configured limits) and only needed while a message's
// content streams, so flows borrow one from a pool for that time.
class DecoderPool {
 public:
  explicit DecoderPool(FieldSink& placeholder) : placeholder_(placeholder) {}
  mime::Decoder* acquire(FieldSink& sink) {
    if (free_.empty()) {
      all_.push_back(std::make_unique<mime::Decoder>(placeholder_, limits_));
      free_.push_back(all_.back().get());
    }
    mime::Decoder* d = free_.back();
    free_.pop_back();
    d->set_sink(sink);
    return d;
  }
  void give_back(mime::Decoder* d) {
    d->set_sink(placeholder_);
    free_.push_back(d);
  }
  mime::Stats stats() const {
    mime::Stats total;
    for (const auto& d : all_) {
      const mime::Stats& s = d->stats();
      total.messages += s.messages;
      total.bytes += s.bytes;
      for (size_t i = 0; i < mime::kNoteCount; ++i) {
        total.notes[i] += s.notes[i];
      }
    }
    return total;
  }
  size_t size() const { return all_.size(); }

 private:
  FieldSink& placeholder_;
  mime::Limits limits_;
  std::vector<std::unique_ptr<mime::Decoder>> all_;
  std::vector<mime::Decoder*> free_;
};

class NullSink final : public FieldSink {
 public:
  void begin_message() override {}
  void field(const Field&) override {}
  void end_message() override {}
  void abort_message() override {}
};

}  // namespace

// One TCP connection: the reassembler's state, the SMTP session, and the glue between them.
class Flow final : public tcp::StreamConsumer,
                   public smtp::SessionObserver,
                   public FieldSink,
                   public ContentSink {
 public:
  Flow(Analyzer::Impl& a, uint64_t number, const FlowKey& key);
  ~Flow() override = default;

  // StreamConsumer: reassembled bytes into the session.
  uint64_t on_data(tcp::Direction d, uint64_t offset, std::string_view bytes) override;
  void on_fin(tcp::Direction d) override;
  void on_reset() override;
  // SessionObserver: one record per transaction.
  void on_message(const smtp::MessageRecord& record) override;
  void on_anomaly(smtp::Counter c, uint64_t client_offset) override;
  // FieldSink: fan-out to the extensions (the rule engine's hook); keeps the message count.
  void begin_message() override;
  void field(const Field& f) override;
  void end_message() override;
  void abort_message() override;
  // ContentSink: borrows a MIME decoder for the message's content.
  void begin_content() override;
  void content(std::string_view chunk) override;
  void end_content() override;
  void abort_content() override;

  void close();  // the connection is over (FIN both ways, RST, end of capture)
  bool done() const { return done_; }

  tcp::FlowState tcp;
  uint64_t number;
  FlowKey key;

 private:
  void finish_content(bool ended);

  Analyzer::Impl& a_;
  smtp::Session session_;
  std::vector<std::unique_ptr<RecordExtension>> extensions_;
  mime::Decoder* decoder_ = nullptr;
  uint64_t begun_ = 0;  // begin_message calls so far
  // MIME summaries of messages whose record has not been printed yet, by message index.
  std::map<uint64_t, mime::Summary> summaries_;
  bool fin_[2] = {false, false};
  bool closed_ = false;
  bool done_ = false;
};

struct Analyzer::Impl {
  Impl(Options o, std::ostream& out_, std::ostream& err_)
      : options(std::move(o)),
        out(out_),
        err(err_),
        arena(),
        reasm(options.tcp, CaptureArena::owner_ops(arena)),
        decoders(null_sink),
        sessions(offline_limits()) {
    for (uint16_t port : options.ports) {
      port_set.set(port);
    }
  }

  static smtp::SessionLimits offline_limits() {
    smtp::SessionLimits l;
    l.hold_mask = 0;  // offline: nothing is held
    return l;
  }

  // Where the frame's bytes live decides how a payload is kept: in a PcapReader window
  // (`window`: a reference is taken), in its mapping (`stable`: they outlive the file's flows),
  // or in libpcap's reused buffer (neither: copied into the arena).
  void handle_packet(const std::string& path, uint64_t number, int link, uint32_t caplen,
                     uint32_t wire_len, const uint8_t* frame, CaptureArena::Chunk* window,
                     bool stable);
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
  tcp::Reassembler reasm;
  NullSink null_sink;
  DecoderPool decoders;
  smtp::SessionContext sessions;  // no bound on busy sessions offline; counters of all flows
  std::unordered_map<FlowKey, std::unique_ptr<Flow>, FlowKeyHash> flows;
  std::string current_file;
  Totals totals;
  uint64_t next_flow = 0;
};

Flow::Flow(Analyzer::Impl& a, uint64_t n, const FlowKey& k)
    : number(n), key(k), a_(a), session_(a.sessions, this, this, this) {
  smtp::Endpoint c;
  smtp::Endpoint s;
  c.addr = k.client.bytes;
  c.v6 = k.client.v6;
  c.port = k.client_port;
  s.addr = k.server.bytes;
  s.v6 = k.server.v6;
  s.port = k.server_port;
  session_.set_endpoints(c, s);
  for (const auto& make : a.options.extensions) {
    extensions_.push_back(make());
  }
}

uint64_t Flow::on_data(tcp::Direction d, uint64_t offset, std::string_view bytes) {
  if (d == tcp::Direction::kClientToServer) {
    a_.totals.client_bytes += bytes.size();
    session_.on_client_data(bytes);
  } else {
    a_.totals.server_bytes += bytes.size();
    session_.on_server_data(bytes);
  }
  return offset + bytes.size();
}

void Flow::on_fin(tcp::Direction d) {
  fin_[static_cast<int>(d)] = true;
  if (fin_[0] && fin_[1]) {
    close();
  }
}

void Flow::on_reset() { close(); }

void Flow::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  session_.on_close();
  if (decoder_ != nullptr) {  // the session should have aborted the content; be sure
    decoder_->abort_content();
    finish_content(false);
  }
  if (session_.opaque()) {
    ++a_.totals.flows_opaque;
  }
  a_.totals.evasions += tcp.evasions;
  done_ = true;
}

void Flow::on_message(const smtp::MessageRecord& record) {
  ++a_.totals.messages;
  a_.totals.content_bytes += record.size;
  const mime::Summary* summary = nullptr;
  auto it = summaries_.find(record.index);
  if (it != summaries_.end()) {
    summary = &it->second;
  }
  if (a_.options.print_messages || !extensions_.empty()) {
    nlohmann::ordered_json j = record_to_json(record, summary);
    j["flow"] = number;
    j["file"] = a_.current_file;
    j["evasions"] = tcp.evasions;
    for (auto& e : extensions_) {
      e->annotate(record.index, j);
    }
    if (a_.options.print_messages) {
      a_.out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    }
  }
  if (it != summaries_.end()) {
    summaries_.erase(it);
  }
}

void Flow::on_anomaly(smtp::Counter, uint64_t) {}

void Flow::begin_message() {
  ++begun_;
  for (auto& e : extensions_) {
    e->begin_message();
  }
}

void Flow::field(const Field& f) {
  for (auto& e : extensions_) {
    e->field(f);
  }
}

void Flow::end_message() {
  for (auto& e : extensions_) {
    e->end_message();
  }
}

void Flow::abort_message() {
  for (auto& e : extensions_) {
    e->abort_message();
  }
}

void Flow::begin_content() {
  if (decoder_ != nullptr) {
    decoder_->abort_content();
    finish_content(false);
  }
  decoder_ = a_.decoders.acquire(*this);
  decoder_->begin_content();
}

void Flow::content(std::string_view chunk) {
  if (decoder_ != nullptr) {
    decoder_->content(chunk);
  }
}

void Flow::end_content() {
  if (decoder_ != nullptr) {
    decoder_->end_content();
    finish_content(true);
  }
}

void Flow::abort_content() {
  if (decoder_ != nullptr) {
    decoder_->abort_content();
    finish_content(false);
  }
}

void Flow::finish_content(bool ended) {
  (void)ended;
  // The record of this message comes later (after the server's reply): keep its summary, if a
  // record will be made of it (not with --summary-only: copying a Summary costs more than the
  // decoding of a small message).
  if (a_.options.print_messages || !extensions_.empty()) {
    uint64_t index = begun_ > 0 ? begun_ - 1 : 0;
    summaries_[index] = decoder_->summary();
  }
  a_.decoders.give_back(decoder_);
  decoder_ = nullptr;
}

void Analyzer::Impl::handle_packet(const std::string& path, uint64_t number, int link,
                                   uint32_t caplen, uint32_t wire_len, const uint8_t* frame,
                                   CaptureArena::Chunk* window, bool stable) {
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
  if (syn && to_server && (it == flows.end() || it->second->done() ||
                           (it->second->tcp.of(dir).flags & tcp::kDirIsnKnown) == 0 ||
                           it->second->tcp.of(dir).next > 0)) {
    // A new connection (or the reuse of a finished one's ports).
    if (it != flows.end()) {
      it->second->close();
      reasm.close_flow(it->second->tcp);
      flows.erase(it);
    }
    ++totals.flows;
    it = flows.emplace(c2s, std::make_unique<Flow>(*this, next_flow++, c2s)).first;
    dir = tcp::Direction::kClientToServer;
  }
  if (it == flows.end()) {
    ++totals.packets_ignored;  // no SYN seen: started before the capture
    return;
  }
  ++totals.packets_tcp;
  Flow& f = *it->second;
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
  reasm.on_segment(f.tcp, dir, p.seg, f);
  if (f.done()) {
    reasm.close_flow(f.tcp);
    flows.erase(it);
  }
}

void Analyzer::Impl::close_all() {
  for (auto& [k, f] : flows) {
    f->close();
    reasm.close_flow(f->tcp);
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
      a.handle_packet(path, number, link, rec.caplen, rec.len, rec.data, rec.window, true);
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
      a.reasm.free_slots() != a.options.tcp.pool_slots) {
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
    handle_packet(path, number, link, h->caplen, h->len, data, nullptr, false);
  }
  pcap_close(pc);
  return ok;
}

const Totals& Analyzer::totals() const { return impl_->totals; }

nlohmann::ordered_json Analyzer::summary(double seconds) const {
  const Impl& a = *impl_;
  const Totals& t = a.totals;
  nlohmann::ordered_json j;
  j["type"] = "summary";
  j["files"] = t.files;
  j["file_errors"] = t.file_errors;
  j["packets"] = t.packets;
  j["files_mapped"] = t.files_mapped;
  j["flows"] = t.flows;
  j["flows_opaque"] = t.flows_opaque;
  j["messages"] = t.messages;
  j["bytes"] = t.client_bytes;
  j["server_bytes"] = t.server_bytes;
  j["content_bytes"] = t.content_bytes;
  j["evasions"] = t.evasions;
  uint64_t anomalies = 0;
  nlohmann::ordered_json smtp_j = nlohmann::ordered_json::object();
  const smtp::SessionCounters& sc = a.sessions.counters();
  for (size_t i = 0; i < smtp::kCounterCount; ++i) {
    auto c = static_cast<smtp::Counter>(i);
    if (smtp::counter_is_anomaly(c)) {
      anomalies += sc.value[i];
    }
    if (sc.value[i] != 0) {
      smtp_j[std::string(smtp::counter_name(c))] = sc.value[i];
    }
  }
  j["parse_errors"] = t.capture_errors + anomalies;
  j["capture_errors"] = t.capture_errors;
  j["smtp_anomalies"] = anomalies;
  mime::Stats ms = a.decoders.stats();
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
  j["mb_per_s"] = seconds > 0 ? static_cast<double>(t.client_bytes) / 1e6 / seconds : 0.0;
  nlohmann::ordered_json tcp_j = nlohmann::ordered_json::object();
  for (size_t i = 0; i < tcp::kCounterCount; ++i) {
    uint64_t v = a.reasm.counters()[i];
    if (v != 0) {
      tcp_j[std::string(tcp::counter_name(static_cast<tcp::Counter>(i)))] = v;
    }
  }
  j["tcp"] = tcp_j;
  j["smtp"] = smtp_j;
  // Busy sessions' parser state (line buffers, rings, records) comes from a pool; idle flows
  // hold none (docs/smtp.md "Memory").
  j["smtp_active_parts"] = {{"peak", a.sessions.pool().peak},
                            {"made", a.sessions.pool().parts},
                            {"taken", a.sessions.pool().taken}};
  j["mime"] = mime_j;
  j["packets_ignored"] = t.packets_ignored;
  return j;
}

}  // namespace smtpgw::analyze
