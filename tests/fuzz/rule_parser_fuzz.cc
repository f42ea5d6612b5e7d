// Fuzzes the rules compiler: any bytes as a rule file must give a ruleset or diagnostics, never
// a crash; a produced ruleset must scan a small message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "control/rules/compiler.h"
#include "dataplane/scan/scan_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) {
    return 0;  // Hyperscan compile time grows with the set; keep iterations fast
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (smtpgw::rules::Mode mode : {smtpgw::rules::Mode::kLenient, smtpgw::rules::Mode::kStrict}) {
    smtpgw::rules::CompileOptions opts;
    opts.mode = mode;
    auto r = smtpgw::rules::compile_sources({smtpgw::rules::Source{"fuzz.cf", text}}, opts);
    for (const auto& d : r.errors) {
      (void)d.to_string();
    }
    if (!r.ruleset) {
      continue;
    }
    smtpgw::scan::ScanContext ctx(*r.ruleset);
    ctx.begin_message();
    ctx.field({smtpgw::FieldKind::kEnvelopeFrom, {}, "a@b.example", {}});
    ctx.field({smtpgw::FieldKind::kHeader, "Subject", "free money", "free money"});
    ctx.field({smtpgw::FieldKind::kHeader, "From", "\"Bob\" <bob@b.example>", {}});
    ctx.field({smtpgw::FieldKind::kBodyText, {}, "hello wor", {}});
    ctx.field({smtpgw::FieldKind::kBodyText, {}, "ld\n", {}});
    ctx.field({smtpgw::FieldKind::kUri, {}, "http://1.2.3.4/x", {}});
    ctx.field({smtpgw::FieldKind::kRawBody, {}, "hello world\r\n", {}});
    ctx.field({smtpgw::FieldKind::kFull, {}, "Subject: free money\r\n\r\nhello\r\n", {}});
    ctx.end_message();
    (void)ctx.verdict();
  }
  return 0;
}
