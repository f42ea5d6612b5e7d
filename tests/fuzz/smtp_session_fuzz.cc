// Fuzzes the SMTP session with interleaved client/server bytes. Input format:
//   byte 0: flags  bit0 hold everything (decisions from the input), bit1 small limits,
//                  bit2 close at the end
//   then chunks:   one header byte (bit7: 1 = server, 0 = client; bits 0-6: length) + bytes
// Checks: no crash (ASan/UBSan), the sink call order of contract/fields.h, release_limit never
// decreasing nor passing the bytes fed, and the same result when every chunk is fed one byte at
// a time (segmentation invariance).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/smtp/session.h"

namespace {

using namespace smtpgw;
using namespace smtpgw::smtp;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

struct Sink : FieldSink, ContentSink, SessionObserver {
  std::string trace;  // compact description of every call, compared across segmentations
  std::string body;   // content of the current message (chunking differs by segmentation)
  std::string anomalies;  // reported as found: their place among content chunks may differ
  int depth = 0;
  bool content_open = false;
  Session* session = nullptr;
  std::string_view decisions;
  size_t next_decision = 0;

  void begin_message() override {
    check(depth == 0);
    ++depth;
    trace += 'B';
  }
  void field(const Field& f) override {
    check(depth == 1 && !content_open);
    trace += 'F';
    trace += std::to_string(static_cast<int>(f.kind));
    trace.append(f.value);
  }
  void end_message() override {
    check(depth == 1 && !content_open);
    --depth;
    trace += 'E';
  }
  void abort_message() override {
    check(depth == 1 && !content_open);
    --depth;
    trace += 'A';
  }
  void begin_content() override {
    check(depth == 1 && !content_open);
    content_open = true;
    trace += 'b';
  }
  void content(std::string_view c) override {
    check(content_open && !c.empty());
    body.append(c);  // chunk boundaries differ by segmentation; the bytes must not
  }
  void end_content() override {
    check(content_open);
    content_open = false;
    trace += 'e';
    trace += body;
    body.clear();
  }
  void abort_content() override {
    check(content_open);
    content_open = false;
    trace += 'a';
    trace += body;
    body.clear();
  }
  void on_message(const MessageRecord& r) override {
    trace += 'R';
    trace += std::to_string(static_cast<int>(r.outcome));
    trace += std::to_string(r.size);
    trace += std::to_string(r.recipients_accepted);
  }
  void on_hold(const HoldPoint& h, const MessageRecord*) override {
    trace += 'H';
    trace += std::to_string(h.offset);
    // Decide from the input: mostly allow, sometimes refuse, sometimes decide later.
    char d = next_decision < decisions.size() ? decisions[next_decision++] : 0;
    if ((d & 7) == 7) {
      session->refuse("550 5.7.1 no");
    } else if ((d & 7) != 6) {
      session->allow();
    }
  }
  void on_anomaly(Counter c, uint64_t) override {
    anomalies += 'X';
    anomalies += std::to_string(static_cast<int>(c));
  }
};

// `neighbour`: counters of the whole run. When given, a second session of the same context is
// fed the same input in lockstep (whole chunks), so the two exchange active parts all along; its
// counters are subtracted from the context's.
std::string run(const uint8_t* data, size_t size, bool bytewise,
                const std::vector<uint64_t>* neighbour, std::vector<uint64_t>* counters) {
  uint8_t flags = data[0];
  SessionLimits limits;
  if (flags & 1) {
    limits.hold_mask = 0xf;
  }
  if (flags & 2) {
    limits.max_command_line = 64;
    limits.max_reply_line = 32;
    limits.max_recipients = 2;
    limits.max_pending = 4;
    limits.max_holds = 2;
    limits.max_ehlo_lines = 3;
    limits.record.max_recipients = 1;
    limits.record.recipient_text_bytes = 16;
  }
  SessionContext ctx(limits);
  Sink sink;
  Session s(ctx, &sink, &sink, &sink);
  sink.session = &s;
  sink.decisions = std::string_view(reinterpret_cast<const char*>(data), size);
  Sink nsink;
  std::optional<Session> n;
  if (neighbour != nullptr) {
    n.emplace(ctx, &nsink, &nsink, &nsink);
    nsink.session = &*n;
    nsink.decisions = sink.decisions;
  }
  uint64_t last = 0;
  size_t i = 1;
  auto feed = [&](bool server, std::string_view b) {
    if (server) {
      s.on_server_data(b);
    } else {
      s.on_client_data(b);
    }
    uint64_t r = s.release_limit();
    check(r >= last && r <= s.client_offset());
    last = r;
  };
  while (i < size) {
    bool server = (data[i] & 0x80) != 0;
    size_t len = data[i] & 0x7f;
    ++i;
    if (len > size - i) {
      len = size - i;
    }
    std::string_view b(reinterpret_cast<const char*>(data + i), len);
    i += len;
    if (bytewise) {
      for (size_t k = 0; k < b.size(); ++k) {
        feed(server, b.substr(k, 1));
      }
    } else {
      feed(server, b);
    }
    if (n) {
      if (server) {
        n->on_server_data(b);
      } else {
        n->on_client_data(b);
      }
    }
  }
  if (flags & 4) {
    s.on_close();
    check(sink.depth == 0 && !sink.content_open);
    if (n) {
      n->on_close();
    }
  }
  sink.trace += sink.anomalies;
  for (size_t k = 0; k < kCounterCount; ++k) {
    uint64_t v = ctx.counters().value[k] - (neighbour != nullptr ? (*neighbour)[k] : 0);
    if (counters != nullptr) {
      counters->push_back(v);
    }
    sink.trace += ',';
    sink.trace += std::to_string(v);
  }
  return sink.trace;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  // Whole chunks, alone; then one byte at a time, next to a session of the same context fed
  // the whole chunks: both must give the same trace.
  std::vector<uint64_t> whole_counters;
  std::string whole = run(data, size, false, nullptr, &whole_counters);
  std::string bytes = run(data, size, true, &whole_counters, nullptr);
  if (whole != bytes) {
    std::fprintf(stderr, "segmentation changed the result:\n");
    std::fwrite(whole.data(), 1, whole.size(), stderr);
    std::fprintf(stderr, "\n");
    std::fwrite(bytes.data(), 1, bytes.size(), stderr);
    std::fprintf(stderr, "\n");
    std::abort();
  }
  return 0;
}
