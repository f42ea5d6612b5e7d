// Shared helpers of the MIME decoder tests: a recording FieldSink, feeding with any split, and a
// compact rendering of the field sequence for golden comparisons.
#pragma once

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "contract/fields.h"
#include "dataplane/mime/decoder.h"

namespace smtpgw::mime::test {

struct Rec {
  FieldKind kind;
  std::string name, value, raw;
  bool operator==(const Rec&) const = default;
};

class RecordingSink : public FieldSink {
 public:
  std::vector<Rec> fields;
  void begin_message() override {}
  void field(const Field& f) override {
    fields.push_back(Rec{f.kind, std::string(f.name), std::string(f.value), std::string(f.raw)});
  }
  void end_message() override {}
  void abort_message() override {}
};

// Splits: 0 = one call; 1 = one byte per call; otherwise pseudo-random pieces from that seed.
inline void feed(Decoder& d, std::string_view msg, unsigned split) {
  d.begin_content();
  if (split == 0) {
    d.content(msg);
  } else if (split == 1) {
    for (size_t i = 0; i < msg.size(); ++i) {
      d.content(msg.substr(i, 1));
    }
  } else {
    std::mt19937 rng(split);
    size_t i = 0;
    while (i < msg.size()) {
      size_t n = std::uniform_int_distribution<size_t>(0, 40)(rng);
      n = std::min(n, msg.size() - i);
      d.content(msg.substr(i, n));  // empty pieces too
      i += n;
    }
  }
  d.end_content();
}

struct Decoded {
  std::vector<Rec> fields;
  Summary summary;
};

inline Decoded decode(std::string_view msg, unsigned split = 0, const Limits& limits = {}) {
  RecordingSink sink;
  Decoder d(sink, limits);
  feed(d, msg, split);
  return Decoded{sink.fields, d.summary()};
}

inline std::string joined(const std::vector<Rec>& f, FieldKind k) {
  std::string s;
  for (const Rec& r : f) {
    if (r.kind == k) {
      s += r.value;
    }
  }
  return s;
}

// One line per field, chunk kinds merged when adjacent: "H Name: decoded | raw", "T text",
// "U uri", "R <n bytes>", "F <n bytes>". Raw and full bytes are checked apart (joined()).
inline std::vector<std::string> render(const std::vector<Rec>& f) {
  std::vector<std::string> out;
  FieldKind last = FieldKind::kEnvelopeHelo;
  size_t chunk_bytes = 0;
  for (const Rec& r : f) {
    bool chunk = r.kind == FieldKind::kBodyText || r.kind == FieldKind::kRawBody ||
                 r.kind == FieldKind::kFull;
    if (chunk && !out.empty() && last == r.kind) {
      if (r.kind == FieldKind::kBodyText) {
        out.back() += r.value;
      } else {
        chunk_bytes += r.value.size();
        out.back() = std::string(1, out.back()[0]) + " <" + std::to_string(chunk_bytes) + ">";
      }
      continue;
    }
    last = r.kind;
    switch (r.kind) {
      case FieldKind::kHeader:
        out.push_back("H " + r.name + ": " + r.value + (r.raw != r.value ? " | " + r.raw : ""));
        break;
      case FieldKind::kBodyText:
        out.push_back("T " + r.value);
        break;
      case FieldKind::kUri:
        out.push_back("U " + r.value);
        break;
      case FieldKind::kRawBody:
      case FieldKind::kFull:
        chunk_bytes = r.value.size();
        out.push_back(std::string(r.kind == FieldKind::kRawBody ? "R" : "F") + " <" +
                      std::to_string(chunk_bytes) + ">");
        break;
      default:
        out.push_back("? " + r.value);
    }
  }
  return out;
}

}  // namespace smtpgw::mime::test
