// The offline pipeline behind `smtpgw analyze`: pcap frames → TCP reassembly (the workers' own
// dataplane/tcp code) → SMTP session (dataplane/smtp) → MIME decoder (dataplane/mime) → one JSON
// object per message, then a summary. docs/analyze.md documents the output.
//
// Offline code: it allocates (flow table, capture buffers, decoders) and is single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "contract/fields.h"
#include "dataplane/tcp/reassembler.h"

namespace smtpgw::analyze {

// The hook for stages that add to each message's record (the rule engine's verdict): a FieldSink
// that sees every field of the flow's messages (begin_message, field*, end/abort_message), then
// annotate() once per printed record. `message_index` counts the flow's begin_message calls from
// 0, so it matches the record's "index".
class RecordExtension : public FieldSink {
 public:
  virtual void annotate(uint64_t message_index, nlohmann::ordered_json& record) = 0;
};
// Makes one extension per flow. Called when a flow starts.
using ExtensionFactory = std::function<std::unique_ptr<RecordExtension>()>;

struct Options {
  std::set<uint16_t> ports{25, 465, 587, 2525};  // server ports whose flows are analysed
  bool print_messages = true;                    // false: summary only (benchmarks)
  tcp::Config tcp;                               // the workers' defaults unless changed
  std::vector<ExtensionFactory> extensions;
};

struct Totals {
  uint64_t files = 0;
  uint64_t file_errors = 0;      // files that could not be opened or read to the end
  uint64_t files_mapped = 0;     // read windows ran out: the rest walked in a mapping
  uint64_t packets = 0;
  uint64_t packets_tcp = 0;      // TCP segments of the analysed ports
  uint64_t packets_ignored = 0;  // not IP, not TCP, other ports, fragments, no flow
  uint64_t capture_errors = 0;   // malformed frames (each reported on stderr)
  uint64_t flows = 0;
  uint64_t flows_opaque = 0;     // STARTTLS accepted: the rest is encrypted
  uint64_t messages = 0;
  uint64_t client_bytes = 0;     // reassembled client → server payload
  uint64_t server_bytes = 0;
  uint64_t content_bytes = 0;    // message content given to the MIME decoder
  uint64_t evasions = 0;
  uint64_t smtp_anomalies = 0;
  uint64_t mime_notes = 0;
};

class Analyzer {
 public:
  // Records go to `out` (one JSON object per line); errors to `err`.
  Analyzer(Options options, std::ostream& out, std::ostream& err);
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  // Reads one capture to its end. Malformed frames are reported on `err` as
  // "FILE: packet N: REASON" and skipped; flows still open at the end are closed (their open
  // transactions end as aborted). Returns false if the file could not be opened or read to the
  // end (reported on `err`); the records of what was read are still printed.
  bool process_file(const std::string& path);

  const Totals& totals() const;
  // The summary object (Totals, seconds, MB/s and the counters of every stage).
  nlohmann::ordered_json summary(double seconds) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace smtpgw::analyze
