// The JSON form of one message record (docs/analyze.md is the schema).
#pragma once

#include <nlohmann/json.hpp>

#include "dataplane/inspect/inspector.h"
#include "dataplane/mime/summary.h"
#include "dataplane/smtp/message_record.h"

namespace smtpgw::analyze {

// Builds the record object. `summary` is the MIME decoder's summary of the message's content,
// or nullptr when no content was seen (then "headers" and "attachments" are empty).
nlohmann::ordered_json record_to_json(const smtp::MessageRecord& record,
                                      const mime::Summary* summary);

// Adds the scanner's verdict to a record (analyze --rules): "verdict" ("spam" | "ham", or null
// when the message never reached its end of data or was not scanned, so no verdict exists),
// "score", "required_score" and "rules" (names of the scored rules that hit, in rule order).
void add_verdict(nlohmann::ordered_json& record, const inspect::Message* message);
// Adds what the gateway's policy did with the message (analyze --config, docs/analyze.md):
// "action" (allow, refuse, throttle, defer), "reply" (the gateway's reply, or null) and "pool"
// (the egress pool the connection left from).
void add_enforcement(nlohmann::ordered_json& record, const inspect::Flow& flow,
                     const inspect::Message* message);

}  // namespace smtpgw::analyze
