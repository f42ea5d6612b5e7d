// Prints, as JSON, what one idle flow costs in the inspection pipeline the workers share with
// `smtpgw analyze`: the inspect::Flow object (its TCP reassembly state, its SMTP session, the
// pointers to what it borrows) plus the heap it holds (measured with mallinfo2 over many flows),
// new and again after one delivered message. A busy flow also borrows an active part of the
// session context's pool while a line, a command or a transaction is open, and a MIME decoder,
// a scan context and a message state per message in flight; the active part's size is printed
// too (active_part_bytes), and the pool parts the run needed are counted in the "after a
// message" figure. Used by tools/bench.d/stream.
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/inspect/inspector.h"

namespace {

class AllowAll final : public smtpgw::inspect::Decisions {
 public:
  smtpgw::inspect::Decision on_hold(smtpgw::inspect::Flow&,
                                    const smtpgw::inspect::Hold&) override {
    return {};
  }
  void on_record(smtpgw::inspect::Flow&, const smtpgw::smtp::MessageRecord&,
                 smtpgw::inspect::Message*) override {
    ++records;
  }
  uint64_t records = 0;
};

// Feeds `text` as one in-order segment of direction d.
void send(smtpgw::inspect::Inspector& in, smtpgw::inspect::Flow& f, smtpgw::tcp::Direction d,
          uint32_t& seq, uint32_t ack, const char* text) {
  smtpgw::tcp::Segment s;
  s.seq = seq;
  s.ack = ack;
  s.flags = smtpgw::tcp::kAck;
  s.window = 65535;
  s.data = reinterpret_cast<const uint8_t*>(text);
  s.len = static_cast<uint32_t>(std::strlen(text));
  in.on_segment(f, d, s);
  seq += s.len;
}

}  // namespace

int main() {
  using smtpgw::tcp::Direction;
  constexpr int kFlows = 2000;
  AllowAll decisions;
  smtpgw::inspect::Config config;
  config.session.hold_mask = smtpgw::smtp::kHoldAll;
  smtpgw::inspect::Inspector inspector(config, decisions, smtpgw::tcp::OwnerOps{});
  std::vector<std::unique_ptr<smtpgw::inspect::Flow>> flows;
  flows.reserve(kFlows);
  size_t before = mallinfo2().uordblks;
  for (int i = 0; i < kFlows; ++i) {
    flows.push_back(std::make_unique<smtpgw::inspect::Flow>(inspector, i, smtpgw::smtp::Endpoint{},
                                                            smtpgw::smtp::Endpoint{}));
  }
  const double new_bytes = static_cast<double>(mallinfo2().uordblks - before) / kFlows;
  // The same flows after one delivered message each (handshake, greeting, EHLO, a transaction):
  // idle again, between transactions, holding their helo text and nothing borrowed.
  for (auto& f : flows) {
    uint32_t c = 1000;
    uint32_t s = 5000;
    smtpgw::tcp::Segment syn;
    syn.seq = c++;
    syn.flags = smtpgw::tcp::kSyn;
    syn.window = 65535;
    inspector.on_segment(*f, Direction::kClientToServer, syn);
    smtpgw::tcp::Segment syn_ack;
    syn_ack.seq = s++;
    syn_ack.ack = c;
    syn_ack.flags = smtpgw::tcp::kSyn | smtpgw::tcp::kAck;
    syn_ack.window = 65535;
    inspector.on_segment(*f, Direction::kServerToClient, syn_ack);
    send(inspector, *f, Direction::kServerToClient, s, c, "220 mx.example ESMTP\r\n");
    send(inspector, *f, Direction::kClientToServer, c, s, "EHLO client.example\r\n");
    send(inspector, *f, Direction::kServerToClient, s, c, "250-mx.example\r\n250 PIPELINING\r\n");
    send(inspector, *f, Direction::kClientToServer, c, s,
         "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    send(inspector, *f, Direction::kServerToClient, s, c, "250 ok\r\n250 ok\r\n354 go\r\n");
    send(inspector, *f, Direction::kClientToServer, c, s, "Subject: x\r\n\r\nhello\r\n.\r\n");
    send(inspector, *f, Direction::kServerToClient, s, c, "250 queued\r\n");
    if (f->session().active()) {
      std::fprintf(stderr, "flow_cost: a session did not go idle after its message\n");
      return 1;
    }
  }
  if (decisions.records != kFlows || inspector.messages().stats().lent != 0 ||
      inspector.decoders().stats().lent != 0) {
    std::fprintf(stderr, "flow_cost: %llu records for %d flows, or something still lent\n",
                 static_cast<unsigned long long>(decisions.records), kFlows);
    return 1;
  }
  const double used_bytes = static_cast<double>(mallinfo2().uordblks - before) / kFlows;
  // The decoder and message state the run made are shared by every flow (one of each here).
  std::printf(
      "{\"flow_object_bytes\": %zu, \"tcp_flow_state_bytes\": %zu, "
      "\"smtp_session_object_bytes\": %zu, \"idle_flow_bytes\": %.0f, "
      "\"idle_flow_bytes_after_a_message\": %.0f, \"active_part_bytes\": %zu, "
      "\"pool_parts\": %u}\n",
      sizeof(smtpgw::inspect::Flow), sizeof(smtpgw::tcp::FlowState),
      sizeof(smtpgw::smtp::Session), new_bytes, used_bytes,
      smtpgw::smtp::SessionContext::active_part_bytes(config.session),
      inspector.sessions().pool().parts);
  return 0;
}
