// Prints, as JSON, what one idle flow costs in the stream stages the workers share with
// `smtpgw analyze`: the TCP reassembly state (fixed size, static_assert in reassembler.h) and
// an SMTP session with the default limits (its object plus the heap it allocates at
// construction, measured with mallinfo2 over many sessions). MIME decoders are not per flow:
// one is borrowed per message in flight. Used by tools/bench.d/stream.
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "dataplane/smtp/session.h"
#include "dataplane/tcp/reassembler.h"

int main() {
  constexpr int kSessions = 2000;
  smtpgw::smtp::SessionLimits limits;
  std::vector<std::unique_ptr<smtpgw::smtp::Session>> sessions;
  sessions.reserve(kSessions);
  size_t before = mallinfo2().uordblks;
  for (int i = 0; i < kSessions; ++i) {
    sessions.push_back(std::make_unique<smtpgw::smtp::Session>(limits, nullptr, nullptr, nullptr));
  }
  size_t after = mallinfo2().uordblks;
  double session_bytes = static_cast<double>(after - before) / kSessions;
  size_t tcp_bytes = sizeof(smtpgw::tcp::FlowState);
  std::printf(
      "{\"tcp_flow_state_bytes\": %zu, \"smtp_session_object_bytes\": %zu, "
      "\"smtp_session_heap_bytes\": %.0f, \"idle_flow_bytes\": %.0f}\n",
      tcp_bytes, sizeof(smtpgw::smtp::Session), session_bytes - sizeof(smtpgw::smtp::Session),
      static_cast<double>(tcp_bytes) + session_bytes);
  return 0;
}
