// Fuzz target for the MIME decoder. The first byte picks the limits (small ones reach every
// bound) and a split pattern; the rest is the message. Oracles beyond "no crash, no sanitizer
// report": the fields must not depend on the split (one call vs the chosen pieces), and the
// kFull chunks must give back the input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "contract/fields.h"
#include "dataplane/mime/decoder.h"

namespace {

struct Rec {
  smtpgw::FieldKind kind;
  std::string name, value, raw;
  bool operator==(const Rec&) const = default;
};

class Sink : public smtpgw::FieldSink {
 public:
  std::vector<Rec> fields;
  void begin_message() override {}
  void field(const smtpgw::Field& f) override {
    fields.push_back(Rec{f.kind, std::string(f.name), std::string(f.value), std::string(f.raw)});
  }
  void end_message() override {}
  void abort_message() override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  uint8_t mode = data[0];
  std::string_view msg(reinterpret_cast<const char*>(data + 1), size - 1);
  smtpgw::mime::Limits limits;
  if (mode & 1) {
    limits.max_depth = 2;
    limits.max_parts = 4;
    limits.max_header_bytes = 64;
    limits.max_header_section_bytes = 256;
    limits.max_line_bytes = 40;
    limits.chunk_bytes = 64;
    limits.max_uri_bytes = 20;
    limits.max_uris = 3;
  }
  Sink whole, pieces;
  smtpgw::mime::Decoder a(whole, limits), b(pieces, limits);
  a.begin_content();
  a.content(msg);
  a.end_content();

  size_t step = 1 + (mode >> 1) % 13;  // 1..13 bytes, varying
  b.begin_content();
  for (size_t i = 0; i < msg.size(); i += step) {
    b.content(msg.substr(i, step + (i % 3)));
    i += i % 3;
  }
  b.end_content();

  if (!(whole.fields == pieces.fields)) {
    std::abort();  // segmentation invariance broken
  }
  std::string full;
  for (const Rec& r : whole.fields) {
    if (r.kind == smtpgw::FieldKind::kFull) {
      full += r.value;
    }
  }
  if (full != msg) {
    std::abort();
  }
  return 0;
}
