// Prints, as JSON, what one idle flow costs in the stream stages the workers share with
// `smtpgw analyze`: the TCP reassembly state (fixed size, static_assert in reassembler.h) and
// an SMTP session with the default limits (its object plus the heap it holds, measured with
// mallinfo2 over many sessions), new and again after one delivered message. MIME decoders are
// not per flow: one is borrowed per message in flight. Used by tools/bench.d/stream.
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
  // The same sessions after one delivered message each: idle again, between transactions (the
  // slot a transaction made is kept; its recipient storage is not).
  for (auto& s : sessions) {
    s->on_server_data("220 mx.example ESMTP\r\n");
    s->on_client_data("EHLO client.example\r\n");
    s->on_server_data("250-mx.example\r\n250 PIPELINING\r\n");
    s->on_client_data("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    s->on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
    s->on_client_data("Subject: x\r\n\r\nhello\r\n.\r\n");
    s->on_server_data("250 queued\r\n");
  }
  const double used_bytes = static_cast<double>(mallinfo2().uordblks - before) / kSessions;
  size_t tcp_bytes = sizeof(smtpgw::tcp::FlowState);
  std::printf(
      "{\"tcp_flow_state_bytes\": %zu, \"smtp_session_object_bytes\": %zu, "
      "\"smtp_session_heap_bytes\": %.0f, \"idle_flow_bytes\": %.0f, "
      "\"idle_flow_bytes_after_a_message\": %.0f}\n",
      tcp_bytes, sizeof(smtpgw::smtp::Session), session_bytes - sizeof(smtpgw::smtp::Session),
      static_cast<double>(tcp_bytes) + session_bytes, static_cast<double>(tcp_bytes) + used_bytes);
  return 0;
}
