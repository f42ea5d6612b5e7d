// A fixed set of IPv4 addresses (the egress pools: up to 4,096 per pool) mapped to their position
// in the list it was built from, for the packet path: "is this a pool address, and which one?"
// in O(1) expected, where a scan of the list costs O(n) per packet.
//
// Built once (start, or when the control plane publishes new pools), read-only afterwards, so
// any number of threads may look up concurrently. Open addressing with linear probing at a load
// of at most one half; no allocation after construction.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace smtpgw::flow {

class AddressIndex {
 public:
  AddressIndex() = default;
  // Indexes `addresses` (host order); a repeated address keeps its first position. Cost O(n).
  explicit AddressIndex(std::span<const uint32_t> addresses) {
    size_t cap = 16;
    while (cap < addresses.size() * 2) {
      cap *= 2;
    }
    slots_.assign(cap, Slot{});
    mask_ = static_cast<uint32_t>(cap - 1);
    for (size_t i = 0; i < addresses.size(); ++i) {
      const uint32_t a = addresses[i];
      uint32_t s = home(a);
      while (slots_[s].used && slots_[s].address != a) {
        s = (s + 1) & mask_;
      }
      if (!slots_[s].used) {
        slots_[s] = Slot{a, static_cast<int32_t>(i), true};
      }
    }
  }

  // The address's position in the list, or -1. O(1) expected (probes at load <= 1/2).
  int32_t find(uint32_t address) const {
    if (slots_.empty()) {
      return -1;
    }
    for (uint32_t s = home(address);; s = (s + 1) & mask_) {
      const Slot& slot = slots_[s];
      if (!slot.used) {
        return -1;
      }
      if (slot.address == address) {
        return slot.index;
      }
    }
  }
  bool contains(uint32_t address) const { return find(address) >= 0; }

 private:
  struct Slot {
    uint32_t address = 0;
    int32_t index = -1;
    bool used = false;
  };
  // Multiplicative hashing: pool addresses are often consecutive, and the top bits of the
  // product spread them over the table.
  uint32_t home(uint32_t a) const {
    return static_cast<uint32_t>((uint64_t{a} * 0x9e3779b97f4a7c15ull) >> 32) & mask_;
  }

  std::vector<Slot> slots_;
  uint32_t mask_ = 0;
};

}  // namespace smtpgw::flow
