// Decoder throughput on three message shapes, fed in 1460-byte pieces (one TCP segment each) to
// a sink that only counts: plain text, a base64 attachment, HTML. Reports MB/s of content.
#include <benchmark/benchmark.h>

#include <string>

#include "dataplane/mime/decoder.h"

namespace {

using smtpgw::Field;
using smtpgw::FieldSink;
using smtpgw::mime::Decoder;

class CountingSink : public FieldSink {
 public:
  size_t bytes = 0;
  void begin_message() override {}
  void field(const Field& f) override { bytes += f.value.size(); }
  void end_message() override {}
  void abort_message() override {}
};

const char* kHeaders =
    "From: Alice Example <alice@example.org>\r\nTo: bob@example.net\r\n"
    "Subject: =?UTF-8?Q?R=C3=A9union?=\r\nDate: Tue, 24 Nov 2026 09:14:02 +0100\r\n"
    "Message-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n";

std::string plain_message() {
  std::string m = kHeaders;
  m += "Content-Type: text/plain; charset=UTF-8\r\n\r\n";
  while (m.size() < 200'000) {
    m += "The quarterly figures are attached; see https://intranet.example.org/q3 for more.\r\n"
         "Please review the numbers before Thursday, and send comments to the list.\r\n";
  }
  return m;
}

std::string base64_message() {
  std::string m = kHeaders;
  m += "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
       "Content-Type: text/plain\r\n\r\nSee attachment.\r\n--b1\r\n"
       "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
       "Content-Transfer-Encoding: base64\r\n"
       "Content-Disposition: attachment; filename=\"report.pdf\"\r\n\r\n";
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned x = 12345;
  while (m.size() < 2'000'000) {
    for (int i = 0; i < 76; ++i) {
      x = x * 1103515245 + 12345;
      m += alphabet[(x >> 16) & 63];
    }
    m += "\r\n";
  }
  m += "--b1--\r\n";
  return m;
}

std::string html_message() {
  std::string m = kHeaders;
  m += "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable"
       "\r\n\r\n<html><head><style>p{margin:0}</style></head><body>\r\n";
  while (m.size() < 200'000) {
    m += "<table width=3D\"100%\"><tr><td class=3D\"c\"><p>Black Friday &amp; more: "
         "<a href=3D\"https://click.example.com/l?u=3D1&amp;c=3D2\">Shop now</a> &euro;10 "
         "off</p></td></tr></table>\r\n<div style=3D\"color:#333\">Unsubscribe <a href=3D\""
         "https://news.example.com/u\">here</a>.</div>\r\n";
  }
  m += "</body></html>\r\n";
  return m;
}

void run(benchmark::State& state, const std::string& msg) {
  CountingSink sink;
  Decoder d(sink);
  for (auto _ : state) {
    d.begin_content();
    for (size_t i = 0; i < msg.size(); i += 1460) {
      d.content(std::string_view(msg).substr(i, 1460));
    }
    d.end_content();
    benchmark::DoNotOptimize(sink.bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(msg.size()));
}

void BM_PlainText(benchmark::State& state) {
  static const std::string m = plain_message();
  run(state, m);
}
void BM_Base64Attachment(benchmark::State& state) {
  static const std::string m = base64_message();
  run(state, m);
}
void BM_Html(benchmark::State& state) {
  static const std::string m = html_message();
  run(state, m);
}

BENCHMARK(BM_PlainText);
BENCHMARK(BM_Base64Attachment);
BENCHMARK(BM_Html);

}  // namespace

BENCHMARK_MAIN();
