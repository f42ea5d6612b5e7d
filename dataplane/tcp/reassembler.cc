#include "dataplane/tcp/reassembler.h"

#include <algorithm>
#include <cstring>

// Overlap handling. Offsets are 64-bit stream offsets of one direction; `next` is the first byte
// not yet delivered, held pieces are sorted, disjoint and all start after `next`. A new segment
// [b, e) meets what is already known in one of these cases (first copy wins in all of them):
//   1. e <= next: a retransmission of delivered bytes. Compared with the retained copy where it
//      is still retained (equal: overlap_consistent; different: evasion); dropped (duplicate).
//   2. b < next < e: its head repeats delivered bytes (compared as in 1) and is cut off; the
//      tail is handled as a segment starting at `next`.
//   3. b == next, nothing held: delivered at once (the fast path).
//   4. b >= next with held pieces: the segment is cut into the pieces that fall into holes
//      between held pieces (each kept as a held piece, sharing the owner through retain); the
//      parts that fall on held pieces are compared with them and dropped:
//      4a. inside one hole: kept whole;
//      4b. entirely covered by held pieces: duplicate;
//      4c. overlaps a held piece's head or tail: the uncovered part is kept;
//      4d. spans one or more held pieces: one piece per hole it covers.
//      Then, if the first held piece starts at `next`, held pieces are delivered in order.
//   5. bytes at or past the direction's FIN: cut off (trimmed_fin), or dropped if nothing is left.
//   6. b > next and b at or past the receiver's advertised right edge: dropped (out of window).
// A bound hit while keeping pieces (per-flow held pieces, worker pool) drops the remaining pieces
// of the segment; the sender retransmits them because the receiver never acknowledged them.

namespace smtpgw::tcp {

namespace {

constexpr std::string_view kCounterNames[] = {
#define SMTPGW_TCP_NAME(name, str, doc) str,
    SMTPGW_TCP_OUTCOMES(SMTPGW_TCP_NAME) SMTPGW_TCP_EVENTS(SMTPGW_TCP_NAME)
#undef SMTPGW_TCP_NAME
};
static_assert(std::size(kCounterNames) == kCounterCount);

// Stream offset of sequence number `seq` in direction state `s`, measured from s.next so that it
// is right whatever the number of wraparounds so far. Negative when before the first byte.
}  // namespace

std::string_view counter_name(Counter c) {
  auto i = static_cast<size_t>(c);
  return i < kCounterCount ? kCounterNames[i] : std::string_view("unknown");
}

Reassembler::Reassembler(const Config& config, OwnerOps ops)
    : config_(config),
      ops_(ops),
      slots_(std::make_unique_for_overwrite<Slot[]>(config.pool_slots)) {
  free_head_ = kNoSlot;
  free_count_ = config.pool_slots;
}

uint32_t Reassembler::alloc_slot() {
  uint32_t i = free_head_;
  if (i != kNoSlot) {
    free_head_ = slots_[i].next;
  } else if (fresh_ < config_.pool_slots) {
    i = fresh_++;
  } else {
    return kNoSlot;
  }
  --free_count_;
  slots_[i].next = kNoSlot;
  return i;
}

void Reassembler::free_slot(uint32_t i) {
  release_owner(slots_[i].owner);
  slots_[i].owner = nullptr;
  slots_[i].data = nullptr;
  slots_[i].next = free_head_;
  free_head_ = i;
  ++free_count_;
}

void Reassembler::release_owner(void* owner) {
  if (owner != nullptr && ops_.release != nullptr) {
    ops_.release(ops_.ctx, owner);
  }
}

void Reassembler::retain_owner(void* owner) {
  if (owner != nullptr && ops_.retain != nullptr) {
    ops_.retain(ops_.ctx, owner);
  }
}

void Reassembler::free_list(uint32_t head) {
  while (head != kNoSlot) {
    uint32_t next = slots_[head].next;
    free_slot(head);
    count(Counter::kSlotsFreedOnClose);
    head = next;
  }
}

void Reassembler::close_flow(FlowState& flow) {
  for (auto& s : flow.dir) {
    free_list(s.held_head);
    free_list(s.retained_head);
    s.held_head = s.retained_head = s.retained_tail = kNoSlot;
    s.held_count = s.retained_count = 0;
  }
  flow.closed = 1;
}

void Reassembler::allow_release(FlowState& flow, Direction d, uint64_t offset) {
  DirectionState& s = flow.of(d);
  s.release = std::max(s.release, std::min(offset, s.next));
}

SegmentOutcome Reassembler::on_segment(FlowState& flow, Direction d, const Segment& seg,
                                       StreamConsumer& consumer) {
  count(Counter::kSegments);
  auto finish = [&](SegmentOutcome o) {
    count(counter_of(o));
    return o;
  };
  if (flow.closed != 0) {
    release_owner(seg.owner);
    return finish(SegmentOutcome::kDropClosed);
  }
  if ((seg.flags & kRst) != 0) {
    release_owner(seg.owner);
    handle_rst(flow, d, seg, consumer);
    return finish(SegmentOutcome::kControl);
  }
  if ((seg.flags & kSyn) != 0) {
    handle_syn(flow, d, seg);
  }
  if ((seg.flags & kAck) != 0) {
    handle_ack(flow, d, seg);
  }
  DirectionState& s = flow.of(d);
  bool has_fin = (seg.flags & kFin) != 0;
  if (seg.len == 0 && !has_fin) {
    release_owner(seg.owner);
    return finish(SegmentOutcome::kControl);
  }
  if ((s.flags & kDirIsnKnown) == 0) {
    release_owner(seg.owner);
    return finish(SegmentOutcome::kDropNoHandshake);
  }
  // The SYN occupies one sequence number: its payload (TCP Fast Open) starts after it.
  uint32_t data_seq = seg.seq + ((seg.flags & kSyn) != 0 ? 1 : 0);
  int64_t begin = Reassembler::offset_of(s, data_seq);
  if (has_fin && (s.flags & kDirFinSeen) == 0) {
    int64_t fin = begin + seg.len;
    if (fin >= static_cast<int64_t>(s.next)) {
      s.fin_offset = static_cast<uint64_t>(fin);
      s.flags |= kDirFinSeen;
    }
  }
  SegmentOutcome o = SegmentOutcome::kControl;
  if (seg.len > 0) {
    o = handle_data(flow, d, seg, begin, consumer);
    if (flow.closed != 0) {
      return finish(o);
    }
  } else {
    release_owner(seg.owner);
  }
  maybe_fin(flow, d, consumer);
  return finish(o);
}

void Reassembler::handle_syn(FlowState& flow, Direction d, const Segment& seg) {
  DirectionState& s = flow.of(d);
  bool fresh = (s.flags & kDirIsnKnown) == 0;
  // A SYN with a new ISN before any byte or FIN moved replaces the old one (the client gave up on
  // the first attempt); after that a SYN cannot belong to this connection.
  bool restart = !fresh && s.isn != seg.seq && s.next == 0 && s.held_head == kNoSlot &&
                 s.retained_head == kNoSlot && (s.flags & kDirFinSeen) == 0;
  if (!fresh && !restart) {
    if (s.isn != seg.seq) {
      count(Counter::kSynIgnored);
    }
    return;
  }
  s.isn = seg.seq;
  s.window_scale = seg.window_scale;
  s.flags = kDirIsnKnown;
  s.next = s.release = 0;
  s.fin_offset = ~uint64_t{0};
  count(d == Direction::kClientToServer ? Counter::kSyn : Counter::kSynAck);
}

void Reassembler::handle_ack(FlowState& flow, Direction d, const Segment& seg) {
  // This segment acknowledges the opposite direction's bytes and advertises its sender's window.
  DirectionState& peer = flow.of(opposite(d));
  const DirectionState& self = flow.of(d);
  if ((peer.flags & kDirIsnKnown) == 0) {
    return;
  }
  // An ACK older than the newest one seen is a reordered copy: it says nothing new.
  bool current = (peer.flags & kDirAckSeen) == 0 || seq_ge(seg.ack, peer.acked_by_peer);
  if (!current) {
    return;
  }
  peer.acked_by_peer = seg.ack;
  peer.flags |= kDirAckSeen;
  // RFC 7323: the window field of a SYN is never scaled; scaling applies only when both SYNs
  // carried the option.
  uint32_t window = seg.window;
  if ((seg.flags & kSyn) == 0 && self.window_scale >= 0 && peer.window_scale >= 0) {
    window <<= std::min<int>(self.window_scale, 14);
  }
  // The receiver's latest word on its window, even when it shrinks (RFC 9293 discourages it but
  // a receiver may do it, and then drops what lies beyond).
  peer.window_right = seg.ack + window;
  peer.flags |= kDirWindowKnown;
  int64_t acked = Reassembler::offset_of(peer, peer.acked_by_peer);
  while (peer.retained_head != kNoSlot) {
    Slot& slot = slots_[peer.retained_head];
    if (static_cast<int64_t>(slot.offset + slot.len) > acked) {
      break;
    }
    uint32_t next = slot.next;
    free_slot(peer.retained_head);
    count(Counter::kAckFreed);
    --peer.retained_count;
    peer.retained_head = next;
  }
  if (peer.retained_head == kNoSlot) {
    peer.retained_tail = kNoSlot;
  }
}

bool Reassembler::handle_rst(FlowState& flow, Direction d, const Segment& seg,
                             StreamConsumer& consumer) {
  const DirectionState& s = flow.of(d);
  const DirectionState& peer = flow.of(opposite(d));
  bool ok = false;
  if ((s.flags & kDirIsnKnown) == 0) {
    // A refused connection: the RST answers the SYN and acknowledges it.
    ok = (seg.flags & kAck) != 0 && (peer.flags & kDirIsnKnown) != 0 && seg.ack == peer.isn + 1;
  } else {
    // Accepted only inside the receiver's window, so a blind RST cannot end inspection.
    int64_t off = offset_of(s, seg.seq);
    int64_t right = (s.flags & kDirWindowKnown) != 0
                        ? offset_of(s, s.window_right)
                        : static_cast<int64_t>(s.next) + 65535;
    ok = off >= static_cast<int64_t>(s.next) && off <= std::max<int64_t>(right, s.next);
  }
  if (!ok) {
    count(Counter::kRstIgnored);
    return false;
  }
  count(Counter::kRst);
  close_flow(flow);
  consumer.on_reset();
  return true;
}

void Reassembler::compare_with_retained(FlowState& flow, DirectionState& s, uint64_t begin,
                                        uint64_t end, const uint8_t* bytes) {
  uint64_t verified = begin;
  bool conflict = false;
  for (uint32_t i = s.retained_head; i != kNoSlot && verified < end; i = slots_[i].next) {
    const Slot& slot = slots_[i];
    uint64_t lo = std::max(verified, slot.offset);
    uint64_t hi = std::min(end, slot.offset + slot.len);
    if (lo >= hi) {
      continue;
    }
    if (std::memcmp(bytes + (lo - begin), slot.data + (lo - slot.offset), hi - lo) != 0) {
      conflict = true;
    }
    verified = hi;
  }
  if (conflict) {
    count(Counter::kEvasion);
    ++flow.evasions;
  } else if (verified > begin) {
    count(Counter::kOverlapConsistent);
  }
  if (verified < end) {
    count(Counter::kOverlapUnverified);
  }
}

SegmentOutcome Reassembler::handle_data(FlowState& flow, Direction d, const Segment& seg,
                                        int64_t begin, StreamConsumer& consumer) {
  DirectionState& s = flow.of(d);
  const uint8_t* p = seg.data;
  int64_t end = begin + seg.len;
  if (begin < 0) {  // bytes before the first byte of the stream: garbage or a misparsed SYN
    if (end <= 0) {
      release_owner(seg.owner);
      return SegmentOutcome::kDuplicate;
    }
    p += -begin;
    begin = 0;
  }
  if ((s.flags & kDirFinSeen) != 0 && end > static_cast<int64_t>(s.fin_offset)) {  // case 5
    if (begin >= static_cast<int64_t>(s.fin_offset)) {
      release_owner(seg.owner);
      return SegmentOutcome::kDropClosed;
    }
    count(Counter::kTrimmedFin);
    end = static_cast<int64_t>(s.fin_offset);
  }
  auto next = static_cast<int64_t>(s.next);
  if (begin < next) {  // cases 1 and 2
    int64_t overlap_end = std::min(end, next);
    compare_with_retained(flow, s, static_cast<uint64_t>(begin),
                          static_cast<uint64_t>(overlap_end), p);
    if (end <= next) {
      release_owner(seg.owner);
      return SegmentOutcome::kDuplicate;
    }
    p += next - begin;
    begin = next;
  }
  if (begin > next && (s.flags & kDirWindowKnown) != 0 &&
      begin >= offset_of(s, s.window_right)) {  // case 6
    release_owner(seg.owner);
    return SegmentOutcome::kDropOutOfWindow;
  }
  auto len = static_cast<uint32_t>(end - begin);
  if (begin == next && s.held_head == kNoSlot) {  // case 3
    deliver(flow, d, static_cast<uint64_t>(begin), p, len, seg.owner, consumer);
    return SegmentOutcome::kDelivered;
  }
  if (begin == next) {  // case 4 at the left edge: needs no slot, so bounds cannot stall a flow
    deliver_over_held(flow, d, static_cast<uint64_t>(begin), static_cast<uint64_t>(end), p,
                      seg.owner, consumer);
    return SegmentOutcome::kDelivered;
  }
  Segment piece = seg;
  piece.data = p;
  piece.len = len;
  SegmentOutcome o = insert_held(flow, s, static_cast<uint64_t>(begin),
                                 static_cast<uint64_t>(end), piece);  // case 4
  uint64_t before = s.next;
  drain_held(flow, d, consumer);
  return s.next != before ? SegmentOutcome::kDelivered : o;
}

SegmentOutcome Reassembler::insert_held(FlowState& flow, DirectionState& s, uint64_t begin,
                                        uint64_t end, const Segment& seg) {
  uint64_t cur = begin;
  uint32_t prev = kNoSlot;
  uint32_t node = s.held_head;
  int kept = 0;
  SegmentOutcome bound = SegmentOutcome::kDuplicate;
  bool conflict = false;
  bool overlapped = false;
  // Keeps [lo, hi) of the segment as a new piece after `prev`; false when a bound stops it.
  auto keep = [&](uint64_t lo, uint64_t hi) {
    if (s.held_count >= config_.max_held_per_flow) {
      bound = SegmentOutcome::kDropFlowLimit;
      return false;
    }
    uint32_t i = alloc_slot();
    if (i == kNoSlot) {
      bound = SegmentOutcome::kDropPoolExhausted;
      return false;
    }
    if (kept > 0) {
      retain_owner(seg.owner);
    }
    ++kept;
    slots_[i] = Slot{seg.data + (lo - begin), seg.owner, lo, static_cast<uint32_t>(hi - lo), node};
    if (prev == kNoSlot) {
      s.held_head = i;
    } else {
      slots_[prev].next = i;
    }
    prev = i;
    ++s.held_count;
    return true;
  };
  bool stopped = false;
  while (cur < end && !stopped) {
    if (node == kNoSlot) {
      stopped = !keep(cur, end);
      cur = end;
      break;
    }
    const Slot& h = slots_[node];
    uint64_t h_end = h.offset + h.len;
    if (h_end <= cur) {
      prev = node;
      node = h.next;
      continue;
    }
    if (h.offset >= end) {
      stopped = !keep(cur, end);
      cur = end;
      break;
    }
    if (h.offset > cur) {
      if (!keep(cur, h.offset)) {
        stopped = true;
        break;
      }
    }
    uint64_t lo = std::max(cur, h.offset);
    uint64_t hi = std::min(end, h_end);
    overlapped = true;
    if (std::memcmp(seg.data + (lo - begin), h.data + (lo - h.offset), hi - lo) != 0) {
      conflict = true;
    }
    cur = hi;
    prev = node;
    node = h.next;
  }
  if (overlapped) {
    if (conflict) {
      count(Counter::kEvasion);
      ++flow.evasions;
    } else {
      count(Counter::kOverlapConsistent);
    }
  }
  if (kept == 0) {
    release_owner(seg.owner);
    return bound;
  }
  if (stopped) {
    count(Counter::kPiecesDropped);
  }
  return SegmentOutcome::kHeld;
}

void Reassembler::deliver(FlowState& flow, Direction d, uint64_t offset, const uint8_t* data,
                          uint32_t len, void* owner, StreamConsumer& consumer) {
  DirectionState& s = flow.of(d);
  uint64_t limit =
      consumer.on_data(d, offset, std::string_view(reinterpret_cast<const char*>(data), len));
  s.next = offset + len;
  count(Counter::kBytesDelivered, len);
  if (d == Direction::kClientToServer && config_.gate_client) {
    s.release = std::max(s.release, std::min(limit, s.next));
  } else {
    s.release = s.next;
  }
  // Keep the bytes until the peer acknowledges them (retransmission checks, retransmit).
  bool acked = (s.flags & kDirAckSeen) != 0 &&
               offset_of(s, s.acked_by_peer) >= static_cast<int64_t>(s.next);
  uint32_t i = kNoSlot;
  if (config_.retain_until_acked && !acked) {
    if (s.retained_count < config_.max_retained_per_flow) {
      i = alloc_slot();
    }
    if (i == kNoSlot) {
      count(Counter::kRetainSkipped);
    }
  }
  if (i == kNoSlot) {
    release_owner(owner);
    return;
  }
  slots_[i] = Slot{data, owner, offset, len, kNoSlot};
  if (s.retained_tail == kNoSlot) {
    s.retained_head = i;
  } else {
    slots_[s.retained_tail].next = i;
  }
  s.retained_tail = i;
  ++s.retained_count;
}

void Reassembler::deliver_over_held(FlowState& flow, Direction d, uint64_t begin, uint64_t end,
                                    const uint8_t* p, void* owner, StreamConsumer& consumer) {
  DirectionState& s = flow.of(d);
  // First compare the segment with every held piece it overlaps: those bytes came first and win.
  bool overlapped = false;
  bool conflict = false;
  for (uint32_t i = s.held_head; i != kNoSlot && slots_[i].offset < end; i = slots_[i].next) {
    const Slot& h = slots_[i];
    uint64_t lo = std::max(begin, h.offset);
    uint64_t hi = std::min(end, h.offset + h.len);
    if (lo < hi) {
      overlapped = true;
      conflict |= std::memcmp(p + (lo - begin), h.data + (lo - h.offset), hi - lo) != 0;
    }
  }
  if (overlapped) {
    count(conflict ? Counter::kEvasion : Counter::kOverlapConsistent);
    flow.evasions += conflict ? 1 : 0;
  }
  // Then deliver the segment's bytes in the holes and the held pieces between them, in order.
  bool reference_used = false;
  uint64_t cur = begin;
  while (cur < end) {
    if (cur < s.next) {
      cur = std::min<uint64_t>(s.next, end);
      continue;
    }
    uint64_t stop = s.held_head == kNoSlot ? end : std::min(end, slots_[s.held_head].offset);
    if (stop > cur) {
      if (reference_used) {
        retain_owner(owner);
      }
      reference_used = true;
      deliver(flow, d, cur, p + (cur - begin), static_cast<uint32_t>(stop - cur), owner,
              consumer);
      cur = stop;
    }
    drain_held(flow, d, consumer);
  }
  if (!reference_used) {
    release_owner(owner);
  }
}

void Reassembler::drain_held(FlowState& flow, Direction d, StreamConsumer& consumer) {
  DirectionState& s = flow.of(d);
  while (s.held_head != kNoSlot && slots_[s.held_head].offset == s.next) {
    uint32_t i = s.held_head;
    Slot slot = slots_[i];
    s.held_head = slot.next;
    --s.held_count;
    // The slot goes back to the pool first so deliver() can reuse it for retention.
    slots_[i].owner = nullptr;
    free_slot(i);
    count(Counter::kHeldReleased);
    deliver(flow, d, slot.offset, slot.data, slot.len, slot.owner, consumer);
  }
}

void Reassembler::maybe_fin(FlowState& flow, Direction d, StreamConsumer& consumer) {
  DirectionState& s = flow.of(d);
  if ((s.flags & kDirFinSeen) != 0 && (s.flags & kDirFinDelivered) == 0 &&
      s.next == s.fin_offset) {
    s.flags |= kDirFinDelivered;
    count(Counter::kFin);
    consumer.on_fin(d);
  }
}

}  // namespace smtpgw::tcp
