// The JSON form of one message record (docs/analyze.md is the schema).
#pragma once

#include <nlohmann/json.hpp>

#include "dataplane/mime/summary.h"
#include "dataplane/smtp/message_record.h"

namespace smtpgw::analyze {

// Builds the record object. `summary` is the MIME decoder's summary of the message's content,
// or nullptr when no content was seen (then "headers" and "attachments" are empty).
nlohmann::ordered_json record_to_json(const smtp::MessageRecord& record,
                                      const mime::Summary* summary);

}  // namespace smtpgw::analyze
