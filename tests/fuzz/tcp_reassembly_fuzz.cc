// Fuzzes the TCP reassembler with arbitrary segment sequences on one flow (both directions,
// any flags, sequence numbers near the ISNs and across wraparound, overlaps, tiny bounds).
// Checks: bytes are delivered in order without gaps, each direction's FIN at most once, every
// owner reference is given back exactly once, every slot returns to the pool.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "dataplane/tcp/reassembler.h"

namespace {

using namespace smtpgw::tcp;

struct Refs {
  std::vector<int> count;
  static void retain(void* ctx, void* owner) {
    ++static_cast<Refs*>(ctx)->count[reinterpret_cast<uintptr_t>(owner) - 1];
  }
  static void release(void* ctx, void* owner) {
    int& c = static_cast<Refs*>(ctx)->count[reinterpret_cast<uintptr_t>(owner) - 1];
    if (--c < 0) {
      __builtin_trap();  // released more often than referenced
    }
  }
};

class Checker : public StreamConsumer {
 public:
  uint64_t on_data(Direction d, uint64_t offset, std::string_view bytes) override {
    auto i = static_cast<size_t>(d);
    if (offset != next[i] || bytes.empty() || fin[i] != 0) {
      __builtin_trap();  // gap, overlap, empty delivery or data after FIN
    }
    next[i] += bytes.size();
    return offset + bytes.size() / 2;  // exercise the release limit
  }
  void on_fin(Direction d) override {
    if (++fin[static_cast<size_t>(d)] > 1) {
      __builtin_trap();
    }
  }
  void on_reset() override { ++resets; }
  uint64_t next[2] = {0, 0};
  int fin[2] = {0, 0};
  int resets = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 10) {
    return 0;
  }
  Config c;
  c.pool_slots = 1 + data[0] % 64;
  c.max_held_per_flow = static_cast<uint16_t>(1 + data[1] % 16);
  c.max_retained_per_flow = static_cast<uint16_t>(data[2] % 32);
  c.retain_until_acked = (data[3] & 1) != 0;
  c.gate_client = (data[3] & 2) != 0;
  // ISNs near the top of the sequence space so that wraparound happens early.
  uint32_t isn[2] = {0xffffff00u + data[4], 0xfffffff0u + (data[5] & 0x0f)};
  Refs refs;
  Reassembler r(c, OwnerOps{&Refs::retain, &Refs::release, &refs});
  FlowState flow;
  Checker checker;
  size_t pos = 6;
  // Each segment: [dir|flags] [seq delta lo] [seq delta hi] [ack delta] [len] payload...
  while (pos + 5 <= size) {
    uint8_t head = data[pos];
    auto d = static_cast<Direction>(head >> 7);
    uint8_t flags = head & 0x1f;
    int32_t delta = static_cast<int16_t>(data[pos + 1] | data[pos + 2] << 8);
    uint8_t ack_delta = data[pos + 3];
    uint32_t len = data[pos + 4];
    pos += 5;
    if (len > size - pos) {
      len = static_cast<uint32_t>(size - pos);
    }
    Segment s;
    s.seq = isn[static_cast<size_t>(d)] + static_cast<uint32_t>(delta);
    s.ack = isn[1 - static_cast<size_t>(d)] + ack_delta;
    s.flags = flags;
    s.window = static_cast<uint16_t>(delta & 0x7fff);
    s.window_scale = static_cast<int8_t>((head & 0x60) == 0x60 ? 3 : -1);
    s.data = data + pos;
    s.len = len;
    if (len > 0) {
      refs.count.push_back(1);
      s.owner = reinterpret_cast<void*>(static_cast<uintptr_t>(refs.count.size()));
    }
    r.on_segment(flow, d, s, checker);
    pos += len;
    if ((head & 0x60) == 0x40) {
      r.allow_release(flow, Direction::kClientToServer, checker.next[0]);
    }
    for (int i = 0; i < 2; ++i) {
      if (flow.dir[i].release > flow.dir[i].next) {
        __builtin_trap();  // released past what was delivered
      }
    }
  }
  r.close_flow(flow);
  for (int n : refs.count) {
    if (n != 0) {
      __builtin_trap();  // an owner reference was kept after close
    }
  }
  if (r.free_slots() != c.pool_slots) {
    __builtin_trap();
  }
  return 0;
}
