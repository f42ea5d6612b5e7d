// Prints, as JSON, what one idle flow costs in the stream stages the workers share with
// `smtpgw analyze`: the TCP reassembly state (fixed size, static_assert in reassembler.h) and
// an SMTP session of a shared context with the default limits (its object plus the heap it
// holds, measured with mallinfo2 over many sessions), new and again after one delivered
// message. A busy session also holds an active part from the context's pool while a line, a
// command or a transaction is open; its size is printed too (active_part_bytes), and the pool
// parts the run needed are counted in the "after a message" figure. MIME decoders are not per
// flow: one is borrowed per message in flight. Used by tools/bench.d/stream.
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "dataplane/smtp/session.h"
#include "dataplane/tcp/reassembler.h"

int main() {
  constexpr int kSessions = 2000;
  smtpgw::smtp::SessionLimits limits;
  smtpgw::smtp::SessionContext context(limits);
  std::vector<std::unique_ptr<smtpgw::smtp::Session>> sessions;
  sessions.reserve(kSessions);
  size_t before = mallinfo2().uordblks;
  for (int i = 0; i < kSessions; ++i) {
    sessions.push_back(
        std::make_unique<smtpgw::smtp::Session>(context, nullptr, nullptr, nullptr));
  }
  size_t after = mallinfo2().uordblks;
  double session_bytes = static_cast<double>(after - before) / kSessions;
  // The same sessions after one delivered message each (a greeting, EHLO, a transaction): idle
  // again, between transactions, holding their helo text and no active part.
  for (auto& s : sessions) {
    s->on_server_data("220 mx.example ESMTP\r\n");
    s->on_client_data("EHLO client.example\r\n");
    s->on_server_data("250-mx.example\r\n250 PIPELINING\r\n");
    s->on_client_data("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    s->on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
    s->on_client_data("Subject: x\r\n\r\nhello\r\n.\r\n");
    s->on_server_data("250 queued\r\n");
    if (s->active() || s->counters()[smtpgw::smtp::Counter::kMessagesDelivered] == 0) {
      std::fprintf(stderr, "flow_cost: the session did not deliver its message and go idle\n");
      return 1;
    }
  }
  const double used_bytes = static_cast<double>(mallinfo2().uordblks - before) / kSessions;
  size_t tcp_bytes = sizeof(smtpgw::tcp::FlowState);
  std::printf(
      "{\"tcp_flow_state_bytes\": %zu, \"smtp_session_object_bytes\": %zu, "
      "\"smtp_session_heap_bytes\": %.0f, \"idle_flow_bytes\": %.0f, "
      "\"idle_flow_bytes_after_a_message\": %.0f, \"active_part_bytes\": %zu, "
      "\"pool_parts\": %u}\n",
      tcp_bytes, sizeof(smtpgw::smtp::Session), session_bytes - sizeof(smtpgw::smtp::Session),
      static_cast<double>(tcp_bytes) + session_bytes, static_cast<double>(tcp_bytes) + used_bytes,
      smtpgw::smtp::SessionContext::active_part_bytes(limits), context.pool().parts);
  return 0;
}
