// `smtpgw analyze`: pcap frames → a flow map → the workers' inspection pipeline
// (dataplane/inspect: TCP reassembly, SMTP session, MIME decoder, and with a rule set the
// scanner) → one JSON object per message, then a summary. docs/analyze.md documents the output.
//
// Offline code: it allocates (flow map, capture buffers; the pipeline's pools grow with the
// capture) and is single-threaded.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "contract/policy.h"
#include "dataplane/scan/ruleset.h"
#include "dataplane/tcp/reassembler.h"

namespace smtpgw::analyze {

struct Options {
  std::set<uint16_t> ports{25, 465, 587, 2525};  // server ports whose flows are analysed
  bool print_messages = true;                    // false: summary only (benchmarks)
  tcp::Config tcp;                               // the workers' defaults unless changed
  // With a rule set, each record carries the scanner's verdict (docs/analyze.md).
  std::shared_ptr<const scan::Ruleset> ruleset;
  // With a policy (analyze --config: the config's limits), the gateway's enforcement decides
  // every hold on a sender table of its own, read on the capture's clock, and each record says
  // what the live gateway would have done (action, reply, pool).
  std::optional<policy::Policy> policy;
  bool high_risk_pool = true;  // the config has a high-risk pool
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

  // The summary object (Totals, seconds, MB/s and the counters of every stage).
  nlohmann::ordered_json summary(double seconds) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace smtpgw::analyze
