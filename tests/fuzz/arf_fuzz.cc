// Fuzz target: the ARF complaint-report parser on arbitrary bytes, with the default limits and
// with small ones. Every input must give either a Report that keeps parse()'s promises (arf.h)
// or one error line that says where; never a crash, a hang or an out-of-bounds read.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/feedback/arf.h"

namespace {

using smtpgw::feedback::Limits;
using smtpgw::feedback::Report;
using smtpgw::feedback::Result;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void check_report(const Report& r) {
  check(r.version == "1");
  check(!r.user_agent.empty());
  check(!r.feedback_type_received.empty());
  check(r.feedback_type == "abuse" || r.feedback_type == "auth-failure" ||
        r.feedback_type == "fraud" || r.feedback_type == "not-spam" || r.feedback_type == "other" ||
        r.feedback_type == "virus");
  check(r.incidents >= 1);
  if (!r.source_ip.empty()) {
    unsigned char buf[16];
    check(inet_pton(AF_INET, r.source_ip.c_str(), buf) == 1 ||
          inet_pton(AF_INET6, r.source_ip.c_str(), buf) == 1);
  }
  check(r.original_type.empty() || r.original_type == "message/rfc822" ||
        r.original_type == "text/rfc822-headers" || r.original_type == "message/global" ||
        r.original_type == "message/global-headers");
  const std::string sender = smtpgw::feedback::sender_of(r);
  check(sender.empty() || sender.find('@') != std::string::npos);
}

void run(std::string_view input, const Limits& limits) {
  const Result r = smtpgw::feedback::parse(input, limits);
  if (r.ok()) {
    check_report(r.report());
    return;
  }
  const auto& e = r.error();
  check(!e.what.empty());
  check(e.what.find('\n') == std::string::npos && e.what.find('\r') == std::string::npos);
  check(e.what.rfind("message: ", 0) == 0 || e.what.rfind("part ", 0) == 0);
  check(e.part <= limits.max_parts);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  run(text, Limits{});
  run(text, Limits{4096, 3, 16});
  return 0;
}
