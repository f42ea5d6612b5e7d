// Inline TCP reassembly of both directions of a flow (DESIGN.md, data flow step 4).
//
// The caller (a worker, or the offline analyzer) owns the flow table and one FlowState per flow;
// it parses each packet and hands the TCP segment to Reassembler::on_segment. The reassembler
// delivers each direction's bytes to a StreamConsumer exactly once, in order, and keeps the
// segments referenced (never copied) while it needs them: held out of order until the gap fills,
// then retained after delivery until the peer acknowledges them (so retransmissions can be
// compared with what was delivered, and the dataplane can retransmit exactly what it scanned).
//
// Pure C++: no DPDK, no allocation after construction, no locks, no syscalls, no logging.
// One Reassembler per worker; it and its FlowStates are used by that worker's thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "dataplane/stats/registry.h"

namespace smtpgw::tcp {

// ---- Sequence arithmetic (RFC 1982 serial numbers, 32 bits) -------------------------------------
// Comparisons are meaningful for values less than 2^31 apart; they survive wraparound.
constexpr bool seq_lt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
constexpr bool seq_le(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) <= 0; }
constexpr bool seq_gt(uint32_t a, uint32_t b) { return seq_lt(b, a); }
constexpr bool seq_ge(uint32_t a, uint32_t b) { return seq_le(b, a); }
// Signed distance from b to a (a - b), for values less than 2^31 apart.
constexpr int32_t seq_diff(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

enum class Direction : uint8_t { kClientToServer = 0, kServerToClient = 1 };
constexpr Direction opposite(Direction d) {
  return d == Direction::kClientToServer ? Direction::kServerToClient : Direction::kClientToServer;
}

// TCP header flags, as on the wire.
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;

// One TCP segment as parsed by the caller. The payload is referenced, not copied: `owner` is an
// opaque handle (an mbuf, a capture buffer) that the reassembler hands back through
// OwnerOps::release when it no longer needs the bytes.
struct Segment {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 0;       // raw window field (unscaled)
  uint8_t flags = 0;         // kFin | kSyn | kRst | kPsh | kAck
  int8_t window_scale = -1;  // from the SYN's window scale option; -1 when absent
  const uint8_t* data = nullptr;
  uint32_t len = 0;
  void* owner = nullptr;  // may be null when the payload needs no release (tests, empty payload)
};

// How the reassembler keeps and gives back segment owners. Each Segment passed to on_segment
// carries one reference to its owner; the reassembler calls release exactly once for it, either
// before on_segment returns or later. When it keeps a segment in several pieces (an out-of-order
// segment spanning several holes) it calls retain once per extra piece first, and release once
// per piece. Both must be cheap and must not call back into the reassembler.
struct OwnerOps {
  void (*retain)(void* ctx, void* owner) = nullptr;
  void (*release)(void* ctx, void* owner) = nullptr;
  void* ctx = nullptr;
};

// The in-order byte streams of one flow. Offsets count from 0 = the first byte after the SYN.
// Called from inside on_segment on the worker's thread; views are valid only during the call.
class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;
  // Bytes [offset, offset + bytes.size()) of direction d, each byte exactly once, in order.
  // Returns the offset up to which the dataplane may forward this direction's bytes (the "release
  // up to X" of the gateway): bytes at or past it are held until a later call or allow_release()
  // raises it. Return offset + bytes.size() to release everything seen so far. The limit never
  // moves back; a smaller value than the current limit is ignored.
  virtual uint64_t on_data(Direction d, uint64_t offset, std::string_view bytes) = 0;
  // Direction d sent FIN and every byte before it has been delivered. Called once per direction.
  virtual void on_fin(Direction d) = 0;
  // An acceptable RST was seen: the flow is over; no further calls for this flow.
  virtual void on_reset() = 0;
};

// ---- Counters: every outcome and event has a name and a counter, from one list --------------
// Outcome of one on_segment call (the main thing that happened to the segment).
#define SMTPGW_TCP_OUTCOMES(X)                                                                  \
  X(kDelivered, "delivered", "new bytes delivered in order (possibly releasing held ones)")    \
  X(kHeld, "held", "held out of order until the gap fills")                                    \
  X(kDuplicate, "duplicate", "every byte was already seen; dropped")                           \
  X(kControl, "control", "no payload: handshake, pure ACK, FIN or RST")                        \
  X(kDropNoHandshake, "drop_no_handshake", "direction's initial sequence number unknown")      \
  X(kDropClosed, "drop_closed", "flow closed by RST, or bytes after this direction's FIN")     \
  X(kDropOutOfWindow, "drop_out_of_window", "starts beyond the receiver's advertised window")  \
  X(kDropFlowLimit, "drop_flow_limit", "per-flow held-segment bound hit; sender retransmits")  \
  X(kDropPoolExhausted, "drop_pool_exhausted", "per-worker slot pool empty; sender retransmits")
// Events counted alongside (several may happen in one call).
#define SMTPGW_TCP_EVENTS(X)                                                                    \
  X(kSegments, "segments", "segments given to on_segment")                                     \
  X(kBytesDelivered, "bytes_delivered", "bytes delivered to consumers")                        \
  X(kSyn, "syn", "SYN accepted (client ISN learned)")                                          \
  X(kSynAck, "syn_ack", "SYN-ACK accepted (server ISN learned)")                               \
  X(kSynIgnored, "syn_ignored", "SYN that does not fit the flow's state; ignored")             \
  X(kFin, "fin", "FIN reached in order and reported")                                          \
  X(kRst, "rst", "RST accepted; flow closed")                                                  \
  X(kRstIgnored, "rst_ignored", "RST outside the receive window; ignored")                     \
  X(kOverlapConsistent, "overlap_consistent", "overlapping bytes equal to the first copy")     \
  X(kEvasion, "evasion", "overlapping bytes differ from the first copy (first copy kept)")     \
  X(kOverlapUnverified, "overlap_unverified", "overlap with bytes no longer retained")         \
  X(kTrimmedFin, "trimmed_fin", "bytes past the FIN cut off")                                  \
  X(kHeldReleased, "held_released", "held pieces delivered after the gap filled")              \
  X(kPiecesDropped, "pieces_dropped", "pieces of a held segment dropped at a bound")          \
  X(kRetainSkipped, "retain_skipped", "delivered bytes not retained: no slot (pool or flow)") \
  X(kAckFreed, "ack_freed", "retained pieces freed because the peer acknowledged them")        \
  X(kSlotsFreedOnClose, "slots_freed_on_close", "slots freed by close_flow or RST")

enum class SegmentOutcome : uint8_t {
#define SMTPGW_TCP_ENUM(name, str, doc) name,
  SMTPGW_TCP_OUTCOMES(SMTPGW_TCP_ENUM)
};

enum class Counter : uint8_t {
  SMTPGW_TCP_OUTCOMES(SMTPGW_TCP_ENUM) SMTPGW_TCP_EVENTS(SMTPGW_TCP_ENUM) kCount
#undef SMTPGW_TCP_ENUM
};
inline constexpr size_t kCounterCount = static_cast<size_t>(Counter::kCount);

// Short snake_case name of a counter, for JSON, metrics and logs.
std::string_view counter_name(Counter c);
constexpr Counter counter_of(SegmentOutcome o) { return static_cast<Counter>(o); }

// ---- Per-flow state (owned by the caller's flow table) ---------------------------------------
inline constexpr uint32_t kNoSlot = 0xffffffffu;

struct DirectionState {
  uint64_t next = 0;         // offset of the next byte to deliver (everything before: delivered)
  uint64_t release = 0;      // offset up to which the dataplane may forward (<= next)
  uint64_t fin_offset = ~uint64_t{0};  // offset of the FIN, once seen (possibly out of order)
  uint32_t isn = 0;          // initial sequence number (the SYN's seq)
  uint32_t acked_by_peer = 0;   // highest ACK the peer sent for this direction (seq space)
  uint32_t window_right = 0;    // right edge of the peer's advertised receive window (seq)
  uint32_t held_head = kNoSlot;      // out-of-order pieces, sorted, disjoint, all past `next`
  uint32_t retained_head = kNoSlot;  // delivered, unacknowledged pieces, in order
  uint32_t retained_tail = kNoSlot;
  uint16_t held_count = 0;
  uint16_t retained_count = 0;
  int8_t window_scale = -1;   // this side's window scale option from its SYN
  uint8_t flags = 0;          // kDir* below
};
inline constexpr uint8_t kDirIsnKnown = 0x01;
inline constexpr uint8_t kDirWindowKnown = 0x02;
inline constexpr uint8_t kDirFinSeen = 0x04;       // FIN's offset known
inline constexpr uint8_t kDirFinDelivered = 0x08;  // on_fin called
inline constexpr uint8_t kDirAckSeen = 0x10;       // peer has acknowledged something

struct FlowState {
  std::array<DirectionState, 2> dir;  // indexed by Direction
  uint32_t evasions = 0;              // conflicting overlaps seen on this flow
  uint8_t closed = 0;                 // 1 after RST or close_flow
  DirectionState& of(Direction d) { return dir[static_cast<size_t>(d)]; }
  const DirectionState& of(Direction d) const { return dir[static_cast<size_t>(d)]; }
};
// The target is at most 512 bytes per idle flow; the TCP part is a small share of it.
static_assert(sizeof(FlowState) <= 128, "TCP flow state must stay small");
static_assert(sizeof(FlowState) <= 512, "issue 3: at most 512 bytes per idle flow");

struct Config {
  uint32_t pool_slots = 65536;        // held + retained pieces per worker, allocated at start
  uint16_t max_held_per_flow = 64;    // out-of-order pieces per flow direction
  uint16_t max_retained_per_flow = 512;  // delivered-unacknowledged pieces per flow direction
  bool retain_until_acked = true;     // keep delivered bytes to check retransmissions against
  // Client→server bytes are forwarded only up to what the consumer released; when false every
  // delivered byte is released at once (the server→client direction always behaves like this).
  bool gate_client = true;
};

class Reassembler {
 public:
  // Allocates the slot pool (the only allocation). Called once per worker at start.
  Reassembler(const Config& config, OwnerOps ops);
  ~Reassembler() = default;
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Feeds one segment of direction d (as seen by the caller: client = the SYN's sender).
  // Promises: delivers new in-order bytes to `consumer` (on_data, then on_fin/on_reset as they
  // become due), holds out-of-order bytes, frees retained bytes the segment acknowledges, and
  // releases the segment's owner reference exactly once (now or later). Overlapping bytes: the
  // first copy wins; differing bytes are counted as kEvasion and flow.evasions.
  // Returns the main outcome; every outcome and event is also counted (counters()).
  // Cost: O(1) for in-order data with nothing held; O(pieces held + retained in the overlap)
  // otherwise (bounded by the per-flow limits). No allocation.
  SegmentOutcome on_segment(FlowState& flow, Direction d, const Segment& seg,
                            StreamConsumer& consumer);

  // Raises direction d's release limit to `offset` (capped at what was delivered). For a verdict
  // that arrives after the bytes (the gateway holding the end of a message). O(1).
  void allow_release(FlowState& flow, Direction d, uint64_t offset);

  // Offset / sequence number up to which the dataplane may forward direction d's bytes.
  uint64_t release_limit(const FlowState& flow, Direction d) const { return flow.of(d).release; }
  uint32_t release_limit_seq(const FlowState& flow, Direction d) const {
    return seq_of(flow.of(d), flow.of(d).release);
  }
  // Sequence number of stream offset `offset` (offset 0 = ISN + 1).
  static uint32_t seq_of(const DirectionState& s, uint64_t offset) {
    return s.isn + 1 + static_cast<uint32_t>(offset);
  }
  // Stream offset of sequence number `seq`, taken within 2^31 of the next byte to deliver (so
  // it survives wraparound); negative before the first byte. Meaningful once the ISN is known.
  static int64_t offset_of(const DirectionState& s, uint32_t seq) {
    return static_cast<int64_t>(s.next) + seq_diff(seq, seq_of(s, s.next));
  }

  // Visits direction d's retained (delivered, unacknowledged) pieces in order: fn(offset, bytes).
  // For the dataplane's retransmissions. O(pieces).
  template <typename Fn>
  void for_each_retained(const FlowState& flow, Direction d, Fn&& fn) const {
    for (uint32_t i = flow.of(d).retained_head; i != kNoSlot; i = slots_[i].next) {
      fn(slots_[i].offset, std::string_view(reinterpret_cast<const char*>(slots_[i].data),
                                            slots_[i].len));
    }
  }

  // Frees every piece the flow still references (held and retained) and marks it closed. Call
  // when the flow leaves the table (idle timeout, teardown). Idempotent. O(pieces).
  void close_flow(FlowState& flow);

  const std::array<uint64_t, kCounterCount>& counters() const { return counters_; }
  uint64_t counter(Counter c) const { return stats::load(counters_[static_cast<size_t>(c)]); }
  uint32_t free_slots() const { return free_count_; }
  const Config& config() const { return config_; }

 private:
  struct Slot {
    const uint8_t* data;
    void* owner;
    uint64_t offset;  // stream offset of data[0]
    uint32_t len;
    uint32_t next;    // next slot in the list, or next free slot
  };

  void count(Counter c, uint64_t n = 1) { stats::add(counters_[static_cast<size_t>(c)], n); }
  uint32_t alloc_slot();
  void free_slot(uint32_t i);
  void release_owner(void* owner);
  void retain_owner(void* owner);

  void handle_syn(FlowState& flow, Direction d, const Segment& seg);
  void handle_ack(FlowState& flow, Direction d, const Segment& seg);
  bool handle_rst(FlowState& flow, Direction d, const Segment& seg, StreamConsumer& consumer);
  SegmentOutcome handle_data(FlowState& flow, Direction d, const Segment& seg, int64_t begin,
                             StreamConsumer& consumer);
  void compare_with_retained(FlowState& flow, DirectionState& s, uint64_t begin, uint64_t end,
                             const uint8_t* bytes);
  SegmentOutcome insert_held(FlowState& flow, DirectionState& s, uint64_t begin, uint64_t end,
                             const Segment& seg);
  void deliver(FlowState& flow, Direction d, uint64_t offset, const uint8_t* data, uint32_t len,
               void* owner, StreamConsumer& consumer);
  void deliver_over_held(FlowState& flow, Direction d, uint64_t begin, uint64_t end,
                         const uint8_t* p, void* owner, StreamConsumer& consumer);
  void drain_held(FlowState& flow, Direction d, StreamConsumer& consumer);
  void maybe_fin(FlowState& flow, Direction d, StreamConsumer& consumer);
  void free_list(uint32_t head);

  Config config_;
  OwnerOps ops_;
  // Not initialised: a slot is written when it is allocated. Slots never used yet are taken from
  // fresh_ up, before the free list, so start-up touches none of the pool (analyze's has 1 M
  // slots, 32 MB) and costs O(1).
  std::unique_ptr<Slot[]> slots_;
  uint32_t fresh_ = 0;  // slots [fresh_, pool_slots) have never been allocated
  uint32_t free_head_ = kNoSlot;
  uint32_t free_count_ = 0;
  std::array<uint64_t, kCounterCount> counters_{};
};

}  // namespace smtpgw::tcp
