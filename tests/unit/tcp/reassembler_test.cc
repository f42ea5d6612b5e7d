// Reassembly cases: handshake, in order, wraparound, out of order, overlaps (consistent and
// conflicting, against delivered and against held bytes), bounds, FIN/RST, window, release limit.
// Every test also checks that each owner reference was given back exactly once.
#include "dataplane/tcp/reassembler.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <string>

namespace smtpgw::tcp {
namespace {

constexpr auto kC = Direction::kClientToServer;
constexpr auto kS = Direction::kServerToClient;

class Recorder : public StreamConsumer {
 public:
  uint64_t on_data(Direction d, uint64_t offset, std::string_view bytes) override {
    std::string& s = stream[static_cast<int>(d)];
    EXPECT_EQ(offset, s.size()) << "bytes delivered out of order";
    s.append(bytes);
    ++calls;
    return hold_from >= 0 ? static_cast<uint64_t>(hold_from) : offset + bytes.size();
  }
  void on_fin(Direction d) override { ++fins[static_cast<int>(d)]; }
  void on_reset() override { ++resets; }

  std::string stream[2];
  int fins[2] = {0, 0};
  int resets = 0;
  int calls = 0;
  int64_t hold_from = -1;  // when >= 0, on_data releases only up to this offset
};

// Owners are ints in a map: +1 per reference the reassembler holds.
struct Owners {
  std::map<void*, int> refs;
  int retains = 0;
  static void retain(void* ctx, void* o) {
    auto* self = static_cast<Owners*>(ctx);
    ++self->refs[o];
    ++self->retains;
  }
  static void release(void* ctx, void* o) {
    auto* self = static_cast<Owners*>(ctx);
    EXPECT_GT(self->refs[o], 0) << "owner released more often than referenced";
    --self->refs[o];
  }
  int outstanding() const {
    int n = 0;
    for (const auto& [o, r] : refs) {
      n += r;
    }
    return n;
  }
};

class ReassemblerTest : public ::testing::Test {
 protected:
  void SetUp() override { make({}); }
  void make(const Config& c) {
    r_.reset();
    r_ = std::make_unique<Reassembler>(c, OwnerOps{&Owners::retain, &Owners::release, &owners_});
    flow_ = FlowState{};
  }
  void TearDown() override {
    r_->close_flow(flow_);
    EXPECT_EQ(owners_.outstanding(), 0) << "owner references leaked";
    EXPECT_EQ(r_->free_slots(), r_->config().pool_slots);
  }
  // Sends `bytes` from direction d at sequence `seq` with flags; payload stays alive in keep_.
  SegmentOutcome send(Direction d, uint32_t seq, std::string bytes, uint8_t flags = kAck,
                      uint32_t ack = 0, uint16_t window = 65535, int8_t wscale = -1) {
    keep_.push_back(std::move(bytes));
    const std::string& b = keep_.back();
    Segment s;
    s.seq = seq;
    s.ack = ack;
    s.window = window;
    s.flags = flags;
    s.window_scale = wscale;
    s.data = reinterpret_cast<const uint8_t*>(b.data());
    s.len = static_cast<uint32_t>(b.size());
    s.owner = b.empty() ? nullptr : const_cast<char*>(b.data());
    if (s.owner != nullptr) {
      ++owners_.refs[s.owner];
    }
    return r_->on_segment(flow_, d, s, rec_);
  }
  // Client ISN ci, server ISN si; acks set as a real handshake would. Windows unscaled, 65535.
  void handshake(uint32_t ci, uint32_t si) {
    ci_ = ci;
    si_ = si;
    EXPECT_EQ(send(kC, ci, "", kSyn), SegmentOutcome::kControl);
    EXPECT_EQ(send(kS, si, "", kSyn | kAck, ci + 1), SegmentOutcome::kControl);
    EXPECT_EQ(send(kC, ci + 1, "", kAck, si + 1), SegmentOutcome::kControl);
  }
  SegmentOutcome client(uint32_t off, std::string bytes, uint8_t flags = kAck) {
    return send(kC, ci_ + 1 + off, std::move(bytes), flags, si_ + 1);
  }
  SegmentOutcome server(uint32_t off, std::string bytes, uint8_t flags = kAck) {
    return send(kS, si_ + 1 + off, std::move(bytes), flags, ci_ + 1);
  }
  // The server acknowledges `off` client bytes.
  void server_acks(uint32_t off, uint16_t window = 65535) {
    send(kS, si_ + 1 + static_cast<uint32_t>(rec_.stream[1].size()), "", kAck, ci_ + 1 + off,
         window);
  }
  uint64_t ctr(Counter c) const { return r_->counter(c); }

  Owners owners_;
  std::unique_ptr<Reassembler> r_;
  FlowState flow_;
  Recorder rec_;
  std::deque<std::string> keep_;
  uint32_t ci_ = 0;
  uint32_t si_ = 0;
};

TEST(SeqArithmetic, ComparisonsSurviveWraparound) {
  EXPECT_TRUE(seq_lt(0xfffffff0u, 0x10u));
  EXPECT_TRUE(seq_gt(0x10u, 0xfffffff0u));
  EXPECT_TRUE(seq_le(5u, 5u));
  EXPECT_TRUE(seq_ge(5u, 5u));
  EXPECT_FALSE(seq_lt(5u, 5u));
  EXPECT_EQ(seq_diff(0x10u, 0xfffffff0u), 0x20);
  EXPECT_EQ(seq_diff(0xfffffff0u, 0x10u), -0x20);
}

TEST(Counters, EveryCounterHasADistinctName) {
  std::map<std::string_view, int> seen;
  for (size_t i = 0; i < kCounterCount; ++i) {
    auto name = counter_name(static_cast<Counter>(i));
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(++seen[name], 1) << name;
  }
  EXPECT_EQ(counter_name(Counter::kEvasion), "evasion");
  EXPECT_EQ(counter_name(counter_of(SegmentOutcome::kHeld)), "held");
}

TEST_F(ReassemblerTest, HandshakeThenBothDirectionsInOrder) {
  handshake(1000, 5000);
  EXPECT_EQ(ctr(Counter::kSyn), 1u);
  EXPECT_EQ(ctr(Counter::kSynAck), 1u);
  EXPECT_EQ(server(0, "220 hi\r\n"), SegmentOutcome::kDelivered);
  EXPECT_EQ(client(0, "EHLO a\r\n"), SegmentOutcome::kDelivered);
  EXPECT_EQ(client(8, "QUIT\r\n"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "EHLO a\r\nQUIT\r\n");
  EXPECT_EQ(rec_.stream[1], "220 hi\r\n");
  EXPECT_EQ(ctr(Counter::kBytesDelivered), 22u);
  EXPECT_EQ(flow_.evasions, 0u);
}

TEST_F(ReassemblerTest, DataWithoutHandshakeIsDropped) {
  EXPECT_EQ(send(kC, 77, "MAIL FROM:<a@b>\r\n"), SegmentOutcome::kDropNoHandshake);
  EXPECT_EQ(ctr(Counter::kDropNoHandshake), 1u);
  EXPECT_TRUE(rec_.stream[0].empty());
}

TEST_F(ReassemblerTest, SequenceWraparoundInOrderAndOutOfOrder) {
  handshake(0xfffffff8u, 0xfffffffeu);  // client's 8th byte and server's 2nd byte cross 2^32
  EXPECT_EQ(client(0, "0123456789"), SegmentOutcome::kDelivered);
  EXPECT_EQ(client(20, "KLMNOPQRST"), SegmentOutcome::kHeld);
  EXPECT_EQ(client(10, "abcdefghij"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "0123456789abcdefghijKLMNOPQRST");
  EXPECT_EQ(server(0, "220 ok\r\n"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[1], "220 ok\r\n");
  EXPECT_EQ(r_->release_limit_seq(flow_, kS), 0xfffffffeu + 1 + 8);
}

TEST_F(ReassemblerTest, OutOfOrderHeldAndReleasedWhenGapFills) {
  handshake(100, 200);
  EXPECT_EQ(client(10, "KLMNO"), SegmentOutcome::kHeld);
  EXPECT_EQ(client(5, "FGHIJ"), SegmentOutcome::kHeld);
  EXPECT_EQ(flow_.of(kC).held_count, 2);
  EXPECT_TRUE(rec_.stream[0].empty());
  EXPECT_EQ(client(0, "ABCDE"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "ABCDEFGHIJKLMNO");
  EXPECT_EQ(flow_.of(kC).held_count, 0);
  EXPECT_EQ(ctr(Counter::kHeld), 2u);
  EXPECT_EQ(ctr(Counter::kHeldReleased), 2u);
}

TEST_F(ReassemblerTest, ConsistentRetransmissionOfDeliveredBytesIsDuplicate) {
  handshake(1, 2);
  client(0, "HELLO WORLD");
  EXPECT_EQ(client(0, "HELLO"), SegmentOutcome::kDuplicate);
  EXPECT_EQ(client(6, "WORLD"), SegmentOutcome::kDuplicate);
  EXPECT_EQ(ctr(Counter::kOverlapConsistent), 2u);
  EXPECT_EQ(ctr(Counter::kEvasion), 0u);
  EXPECT_EQ(rec_.stream[0], "HELLO WORLD");
}

TEST_F(ReassemblerTest, ConflictingRetransmissionIsEvasionAndFirstCopyWins) {
  handshake(1, 2);
  client(0, "RCPT TO:<a@x>\r\n");
  EXPECT_EQ(client(0, "RCPT TO:<b@x>\r\nDATA\r\n"), SegmentOutcome::kDelivered);  // case 2
  EXPECT_EQ(ctr(Counter::kEvasion), 1u);
  EXPECT_EQ(flow_.evasions, 1u);
  EXPECT_EQ(rec_.stream[0], "RCPT TO:<a@x>\r\nDATA\r\n");
}

TEST_F(ReassemblerTest, OverlapWithAcknowledgedBytesIsUnverified) {
  handshake(1, 2);
  client(0, "abcdef");
  server_acks(6);  // retained copy freed
  EXPECT_EQ(flow_.of(kC).retained_count, 0);
  EXPECT_EQ(ctr(Counter::kAckFreed), 1u);
  EXPECT_EQ(client(0, "XXXXXX"), SegmentOutcome::kDuplicate);
  EXPECT_EQ(ctr(Counter::kOverlapUnverified), 1u);
  EXPECT_EQ(ctr(Counter::kEvasion), 0u);
}

TEST_F(ReassemblerTest, ConflictWithHeldBytesKeepsTheHeldCopy) {
  handshake(1, 2);
  EXPECT_EQ(client(4, "4567"), SegmentOutcome::kHeld);
  EXPECT_EQ(client(0, "0123XXXX89"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "0123456789");
  EXPECT_EQ(ctr(Counter::kEvasion), 1u);
}

TEST_F(ReassemblerTest, ConsistentOverlapsWithHeldPieces) {
  handshake(1, 2);
  EXPECT_EQ(client(10, "abcde"), SegmentOutcome::kHeld);     // 4a
  EXPECT_EQ(client(11, "bcd"), SegmentOutcome::kDuplicate);  // 4b
  EXPECT_EQ(client(13, "defgh"), SegmentOutcome::kHeld);     // 4c: tail "fgh" kept
  EXPECT_EQ(client(8, "XYab"), SegmentOutcome::kHeld);       // 4c: head "XY" kept
  EXPECT_EQ(ctr(Counter::kOverlapConsistent), 3u);
  EXPECT_EQ(client(0, "01234567"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "01234567XYabcdefgh");
  EXPECT_EQ(ctr(Counter::kEvasion), 0u);
}

TEST_F(ReassemblerTest, SegmentSpanningSeveralHolesIsKeptInPieces) {
  handshake(1, 2);
  client(4, "45");
  client(8, "89");
  EXPECT_EQ(client(2, "23456789AB"), SegmentOutcome::kHeld);  // 4d: holes 2-3, 6-7, 10-11
  EXPECT_EQ(owners_.retains, 2);  // three pieces share one owner
  EXPECT_EQ(flow_.of(kC).held_count, 5);
  EXPECT_EQ(client(0, "01"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "0123456789AB");
}

TEST_F(ReassemblerTest, PerFlowBoundDropsAndRetransmissionRecovers) {
  Config c;
  c.max_held_per_flow = 2;
  make(c);
  handshake(1, 2);
  EXPECT_EQ(client(2, "2"), SegmentOutcome::kHeld);
  EXPECT_EQ(client(4, "4"), SegmentOutcome::kHeld);
  EXPECT_EQ(client(6, "6"), SegmentOutcome::kDropFlowLimit);
  EXPECT_EQ(ctr(Counter::kDropFlowLimit), 1u);
  // The gap filler needs no slot: the flow never stalls at the bound.
  EXPECT_EQ(client(0, "0"), SegmentOutcome::kDelivered);
  EXPECT_EQ(client(1, "1"), SegmentOutcome::kDelivered);
  EXPECT_EQ(client(3, "3"), SegmentOutcome::kDelivered);
  EXPECT_EQ(client(5, "56"), SegmentOutcome::kDelivered);  // the retransmission of the drop
  EXPECT_EQ(rec_.stream[0], "0123456");
}

TEST_F(ReassemblerTest, PerFlowBoundFillerDeliveredWhenNothingHeld) {
  Config c;
  c.max_held_per_flow = 1;
  make(c);
  handshake(1, 2);
  EXPECT_EQ(client(3, "3"), SegmentOutcome::kHeld);
  EXPECT_EQ(client(5, "5"), SegmentOutcome::kDropFlowLimit);
  EXPECT_EQ(client(0, "012"), SegmentOutcome::kDelivered);  // fills up to the held piece
  EXPECT_EQ(rec_.stream[0], "0123");
  EXPECT_EQ(client(4, "45"), SegmentOutcome::kDelivered);  // the retransmission of the drop
  EXPECT_EQ(rec_.stream[0], "012345");
}

TEST_F(ReassemblerTest, WorkerPoolBoundDropsAndCounts) {
  Config c;
  c.pool_slots = 2;
  c.retain_until_acked = false;
  make(c);
  handshake(1, 2);
  EXPECT_EQ(client(2, "2"), SegmentOutcome::kHeld);
  EXPECT_EQ(client(4, "4"), SegmentOutcome::kHeld);
  EXPECT_EQ(r_->free_slots(), 0u);
  EXPECT_EQ(client(6, "6"), SegmentOutcome::kDropPoolExhausted);
  EXPECT_EQ(ctr(Counter::kDropPoolExhausted), 1u);
  EXPECT_EQ(client(3, "3"), SegmentOutcome::kDropPoolExhausted);
  r_->close_flow(flow_);
  EXPECT_EQ(r_->free_slots(), 2u);
  EXPECT_EQ(ctr(Counter::kSlotsFreedOnClose), 2u);
}

TEST_F(ReassemblerTest, RetentionSkippedWhenPoolEmptyButDeliveryGoesOn) {
  Config c;
  c.pool_slots = 1;
  make(c);
  handshake(1, 2);
  EXPECT_EQ(client(0, "ab"), SegmentOutcome::kDelivered);
  EXPECT_EQ(client(2, "cd"), SegmentOutcome::kDelivered);
  EXPECT_EQ(ctr(Counter::kRetainSkipped), 1u);
  EXPECT_EQ(rec_.stream[0], "abcd");
}

TEST_F(ReassemblerTest, FinReportedOnceInOrderAndBytesAfterItDropped) {
  handshake(1, 2);
  EXPECT_EQ(client(5, "fghij", kAck | kFin), SegmentOutcome::kHeld);
  EXPECT_EQ(rec_.fins[0], 0);
  EXPECT_EQ(client(0, "abcde"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.fins[0], 1);
  EXPECT_EQ(client(10, "zz"), SegmentOutcome::kDropClosed);
  EXPECT_EQ(client(5, "fghij", kAck | kFin), SegmentOutcome::kDuplicate);
  EXPECT_EQ(rec_.fins[0], 1);
  EXPECT_EQ(server(0, "", kAck | kFin), SegmentOutcome::kControl);
  EXPECT_EQ(rec_.fins[1], 1);
  EXPECT_EQ(ctr(Counter::kFin), 2u);
}

TEST_F(ReassemblerTest, BytesStraddlingTheFinAreTrimmed) {
  handshake(1, 2);
  client(3, "", kAck | kFin);
  EXPECT_EQ(client(0, "abcdef"), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "abc");
  EXPECT_EQ(ctr(Counter::kTrimmedFin), 1u);
  EXPECT_EQ(rec_.fins[0], 1);
}

TEST_F(ReassemblerTest, RstInWindowClosesFlowAndFreesEverything) {
  handshake(1, 2);
  client(0, "abc");
  client(10, "held");
  EXPECT_EQ(send(kC, 1 + 1 + 3, "", kRst | kAck, 3), SegmentOutcome::kControl);
  EXPECT_EQ(rec_.resets, 1);
  EXPECT_EQ(flow_.closed, 1);
  EXPECT_EQ(r_->free_slots(), r_->config().pool_slots);
  EXPECT_EQ(client(3, "def"), SegmentOutcome::kDropClosed);
  EXPECT_EQ(ctr(Counter::kRst), 1u);
}

TEST_F(ReassemblerTest, BlindRstOutsideWindowIgnored) {
  handshake(1000, 2000);
  EXPECT_EQ(send(kC, 1000 + 1 + 5000000, "", kRst), SegmentOutcome::kControl);
  EXPECT_EQ(send(kC, 1000 - 50, "", kRst), SegmentOutcome::kControl);
  EXPECT_EQ(ctr(Counter::kRstIgnored), 2u);
  EXPECT_EQ(rec_.resets, 0);
  EXPECT_EQ(client(0, "still here"), SegmentOutcome::kDelivered);
}

TEST_F(ReassemblerTest, RefusedConnectionRst) {
  send(kC, 500, "", kSyn);
  EXPECT_EQ(send(kS, 0, "", kRst | kAck, 501), SegmentOutcome::kControl);
  EXPECT_EQ(rec_.resets, 1);
}

TEST_F(ReassemblerTest, SegmentBeyondAdvertisedWindowDropped) {
  handshake(1, 2);
  server_acks(0, 100);  // the server's receive window is 100 bytes
  EXPECT_EQ(client(150, "late"), SegmentOutcome::kDropOutOfWindow);
  EXPECT_EQ(client(50, "inside"), SegmentOutcome::kHeld);
  EXPECT_EQ(ctr(Counter::kDropOutOfWindow), 1u);
}

TEST_F(ReassemblerTest, WindowScaleAppliesOnlyWhenBothSidesSentIt) {
  send(kC, 1, "", kSyn, 0, 65535, 7);
  send(kS, 2, "", kSyn | kAck, 2, 65535, 7);
  send(kS, 3, "", kAck, 2, 1000);  // 1000 << 7 = 128000 bytes
  EXPECT_EQ(send(kC, 2 + 100000, "far but inside"), SegmentOutcome::kHeld);
  EXPECT_EQ(send(kC, 2 + 200000, "outside"), SegmentOutcome::kDropOutOfWindow);
}

TEST_F(ReassemblerTest, ReleaseLimitFollowsTheConsumer) {
  handshake(1, 2);
  rec_.hold_from = 5;  // the parser holds "DATA" until a verdict exists
  client(0, "NOOP\r");
  EXPECT_EQ(r_->release_limit(flow_, kC), 5u);
  client(5, "\nDATA\r\n");
  EXPECT_EQ(r_->release_limit(flow_, kC), 5u);
  EXPECT_EQ(r_->release_limit_seq(flow_, kC), 1u + 1 + 5);
  r_->allow_release(flow_, kC, 100);  // capped at what was delivered
  EXPECT_EQ(r_->release_limit(flow_, kC), 12u);
  r_->allow_release(flow_, kC, 3);  // never moves back
  EXPECT_EQ(r_->release_limit(flow_, kC), 12u);
  server(0, "250 ok\r\n");  // the server direction is not gated
  EXPECT_EQ(r_->release_limit(flow_, kS), 8u);
}

TEST_F(ReassemblerTest, UngatedClientReleasesEverything) {
  Config c;
  c.gate_client = false;
  make(c);
  handshake(1, 2);
  rec_.hold_from = 0;
  client(0, "abc");
  EXPECT_EQ(r_->release_limit(flow_, kC), 3u);
}

TEST_F(ReassemblerTest, RetainedBytesVisibleForRetransmitUntilAcked) {
  handshake(1, 2);
  client(0, "abc");
  client(3, "def");
  std::string seen;
  r_->for_each_retained(flow_, kC, [&](uint64_t off, std::string_view b) {
    seen += std::to_string(off) + ":" + std::string(b) + ";";
  });
  EXPECT_EQ(seen, "0:abc;3:def;");
  server_acks(4);  // partially acks the second piece: it stays
  EXPECT_EQ(flow_.of(kC).retained_count, 1);
  server_acks(6);
  EXPECT_EQ(flow_.of(kC).retained_count, 0);
}

TEST_F(ReassemblerTest, SynRetransmittedWithNewIsnBeforeData) {
  send(kC, 1000, "", kSyn);
  send(kC, 9000, "", kSyn);
  send(kS, 50, "", kSyn | kAck, 9001);
  EXPECT_EQ(send(kC, 9001, "hi", kAck, 51), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "hi");
  send(kC, 12345, "", kSyn);  // after data: ignored
  EXPECT_EQ(ctr(Counter::kSynIgnored), 1u);
}

TEST_F(ReassemblerTest, SynWithNewIsnAfterFinIgnored) {  // found by the fuzzer
  handshake(1, 2);
  client(0, "", kAck | kFin);
  EXPECT_EQ(rec_.fins[0], 1);
  send(kC, 777, "", kSyn);
  EXPECT_EQ(ctr(Counter::kSynIgnored), 1u);
  EXPECT_EQ(send(kC, 778, "late"), SegmentOutcome::kDropClosed);
  EXPECT_TRUE(rec_.stream[0].empty());
}

TEST_F(ReassemblerTest, SynCarryingData) {
  send(kC, 10, "fast", kSyn);
  EXPECT_EQ(rec_.stream[0], "fast");
  send(kS, 99, "", kSyn | kAck, 15);
  EXPECT_EQ(send(kC, 15, "open", kAck, 100), SegmentOutcome::kDelivered);
  EXPECT_EQ(rec_.stream[0], "fastopen");
}

TEST_F(ReassemblerTest, GarbageSequenceBeforeStreamStart) {
  handshake(1000, 2000);
  EXPECT_EQ(send(kC, 990, "0123456789"), SegmentOutcome::kDuplicate);
  EXPECT_EQ(send(kC, 995, "0123456789"), SegmentOutcome::kDelivered);  // 6 bytes before start
  EXPECT_EQ(rec_.stream[0], "6789");
}

}  // namespace
}  // namespace smtpgw::tcp
