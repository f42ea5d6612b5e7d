// `smtpgw analyze --rules DIR`: each message's fields go through the workers' scanner
// (scan::ScanContext) with a ruleset compiled once for the run, and the verdict is added to the
// message's record: "verdict" ("spam" | "ham", or null when the message never reached its end
// of data, so no verdict exists), "score", "required_score" and "rules" (names of the scored
// rules that hit, in rule order). docs/analyze.md documents the fields.
//
// Offline code: single-threaded, allocates (one scan context per flow, verdicts kept until the
// record is printed).
#pragma once

#include <memory>

#include "control/analyze/analyzer.h"
#include "dataplane/scan/ruleset.h"

namespace smtpgw::analyze {

// A factory for Options::extensions: each flow gets its own scan context over `ruleset`, which
// the factory and the contexts keep alive (shared ownership). Thread: the analyzer's.
ExtensionFactory verdict_extension(std::shared_ptr<const scan::Ruleset> ruleset);

}  // namespace smtpgw::analyze
