// Session throughput over message content, fed in 1460-byte pieces (one TCP segment each) to a
// content sink that only counts: base64 lines (76 characters), short text lines, and text with
// dot-stuffed lines. Reports MB/s of client bytes. The envelope and replies of each message are
// included, so this is the session's whole per-message cost, not only the DATA scan.
#include <benchmark/benchmark.h>

#include <string>

#include "dataplane/smtp/session.h"

namespace {

using smtpgw::ContentSink;
using namespace smtpgw::smtp;

class CountingSink : public ContentSink {
 public:
  size_t bytes = 0;
  void begin_content() override {}
  void content(std::string_view chunk) override { bytes += chunk.size(); }
  void end_content() override {}
  void abort_content() override {}
};

std::string message(const char* line, size_t bytes) {
  std::string m = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n";
  m += "Subject: bench\r\n\r\n";
  while (m.size() < bytes) {
    m += line;
  }
  m += ".\r\n";
  return m;
}

void run(benchmark::State& state, const std::string& msg) {
  SessionContext ctx(SessionLimits{});
  CountingSink sink;
  Session s(ctx, nullptr, &sink, nullptr);
  s.on_server_data("220 mx ESMTP\r\n");
  s.on_client_data("EHLO c\r\n");
  s.on_server_data("250-mx\r\n250 PIPELINING\r\n");
  for (auto _ : state) {
    for (size_t i = 0; i < msg.size(); i += 1460) {
      s.on_client_data(std::string_view(msg).substr(i, 1460));
      if (i == 0) {
        s.on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
      }
    }
    s.on_server_data("250 queued\r\n");
    benchmark::DoNotOptimize(sink.bytes);
  }
  if (ctx.counters()[Counter::kMessagesDelivered] != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("messages were not delivered");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(msg.size()));
}

void BM_Base64Lines(benchmark::State& state) {
  static const std::string m = message(
      "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n",
      200'000);
  run(state, m);
}
void BM_ShortTextLines(benchmark::State& state) {
  static const std::string m = message("Thanks, see you on Thursday.\r\n", 200'000);
  run(state, m);
}
void BM_DotStuffedLines(benchmark::State& state) {
  static const std::string m =
      message("..a line that started with a dot\r\nand one that did not\r\n", 200'000);
  run(state, m);
}

BENCHMARK(BM_Base64Lines);
BENCHMARK(BM_ShortTextLines);
BENCHMARK(BM_DotStuffedLines);

}  // namespace

BENCHMARK_MAIN();
