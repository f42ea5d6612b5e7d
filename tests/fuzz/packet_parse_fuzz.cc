// Fuzz target: the packet parser must give a defined result for any bytes.
#include <cstddef>
#include <cstdint>

#include "dataplane/packet/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  smtpgw::packet::ParsedPacket p;
  const auto r = smtpgw::packet::parse_frame(data, static_cast<uint32_t>(size), {}, &p);
  if (r == smtpgw::packet::ParseResult::kOk && p.has_l4) {
    // Offsets the parser reports must lie inside the frame.
    if (p.payload_offset + p.payload_len > size || p.l4_offset > size) {
      __builtin_trap();
    }
  }
  return 0;
}
