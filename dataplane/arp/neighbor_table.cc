#include "dataplane/arp/neighbor_table.h"

#include <bit>

namespace smtpgw::arp {

namespace {

uint64_t pack(const packet::MacAddr& mac, uint16_t port) {
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) {
    v = (v << 8) | mac.b[i];
  }
  return v | (uint64_t{port & 0x7fffu} << 48) | (uint64_t{1} << 63);
}

packet::MacAddr unpack_mac(uint64_t v) {
  packet::MacAddr m;
  for (int i = 5; i >= 0; --i) {
    m.b[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
  return m;
}

uint32_t hash_ip(uint32_t ip) { return (ip * 0x9E3779B1u) ^ (ip >> 16); }

}  // namespace

NeighborTable::NeighborTable(uint32_t capacity)
    : mask_(std::bit_ceil(capacity < 16 ? 16u : capacity) - 1),
      slots_(std::make_unique<Slot[]>(mask_ + 1)) {}

const NeighborTable::Slot* NeighborTable::find(uint32_t ip) const {
  for (uint32_t i = 0, h = hash_ip(ip); i <= mask_; ++i) {
    const Slot& s = slots_[(h + i) & mask_];
    // Acquire pairs with the inserter's CAS so the slot's other fields are initialised.
    const uint32_t cur = s.ip.load(std::memory_order_acquire);
    if (cur == ip) {
      return &s;
    }
    if (cur == 0) {
      return nullptr;
    }
  }
  return nullptr;
}

NeighborTable::Slot* NeighborTable::find_or_insert(uint32_t ip, bool insert) {
  for (uint32_t i = 0, h = hash_ip(ip); i <= mask_; ++i) {
    Slot& s = slots_[(h + i) & mask_];
    uint32_t cur = s.ip.load(std::memory_order_acquire);
    if (cur == ip) {
      return &s;
    }
    if (cur == 0) {
      if (!insert) {
        return nullptr;
      }
      // Claim the empty slot; if another thread claimed it first, re-check whose it is.
      if (s.ip.compare_exchange_strong(cur, ip, std::memory_order_acq_rel)) {
        return &s;
      }
      if (cur == ip) {
        return &s;
      }
    }
  }
  return nullptr;
}

NeighborTable::Lookup NeighborTable::lookup(uint32_t ip, uint16_t port, uint64_t now, uint64_t ttl,
                                            packet::MacAddr* mac) const {
  const Slot* s = find(ip);
  if (s == nullptr) {
    return Lookup::kUnresolved;
  }
  const uint64_t v = s->mac_port.load(std::memory_order_acquire);
  if ((v >> 63) == 0 || ((v >> 48) & 0x7fff) != (port & 0x7fffu)) {
    return Lookup::kUnresolved;
  }
  if (!s->is_static.load(std::memory_order_relaxed) &&
      now - s->updated.load(std::memory_order_relaxed) > ttl) {
    return Lookup::kUnresolved;
  }
  *mac = unpack_mac(v);
  return Lookup::kResolved;
}

bool NeighborTable::learn(uint32_t ip, uint16_t port, const packet::MacAddr& mac, uint64_t now,
                          bool is_static) {
  Slot* s = find_or_insert(ip, true);
  if (s == nullptr) {
    full_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (s->is_static.load(std::memory_order_relaxed) && !is_static) {
    return true;  // configured entries are not overridden by what the wire says
  }
  s->updated.store(now, std::memory_order_relaxed);
  if (is_static) {
    s->is_static.store(true, std::memory_order_relaxed);
  }
  s->mac_port.store(pack(mac, port), std::memory_order_release);
  return true;
}

bool NeighborTable::should_request(uint32_t ip, uint16_t port, uint64_t now, uint64_t retry) {
  (void)port;
  Slot* s = find_or_insert(ip, true);
  if (s == nullptr) {
    full_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  uint64_t last = s->requested.load(std::memory_order_relaxed);
  if (last != 0 && now - last < retry) {
    return false;
  }
  return s->requested.compare_exchange_strong(last, now == 0 ? 1 : now, std::memory_order_relaxed);
}

uint32_t NeighborTable::size() const {
  uint32_t n = 0;
  for (uint32_t i = 0; i <= mask_; ++i) {
    n += slots_[i].ip.load(std::memory_order_relaxed) != 0;
  }
  return n;
}

}  // namespace smtpgw::arp
