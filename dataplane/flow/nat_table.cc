#include "dataplane/flow/nat_table.h"

#include <bit>

namespace smtpgw::flow {

namespace {

uint64_t mix64(uint64_t x) {  // splitmix64 finaliser: cheap, well distributed
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Flow hashes: two multiplies by odd 64-bit constants and a fold. Cheap enough to compute
// twice per packet (prefetch and lookup); the index uses the low bits, which the fold mixes
// with the well-mixed high half of the products.
inline uint32_t hash4(uint32_t a, uint32_t b, uint32_t ports, uint8_t proto) {
  const uint64_t x = (uint64_t{a} << 32 | b) * 0x9E3779B97F4A7C15ULL ^
                     (uint64_t{ports} << 8 | proto) * 0xC2B2AE3D27D4EB4FULL;
  return static_cast<uint32_t>(x >> 32) ^ static_cast<uint32_t>(x >> 7);
}

uint32_t hash_inside(const FlowKey& k) {
  return hash4(k.src_ip, k.dst_ip, uint32_t{k.src_port} << 16 | k.dst_port, k.proto);
}

uint32_t hash_outside(uint32_t remote_ip, uint16_t remote_port, uint32_t egress_ip,
                      uint16_t nat_port, uint8_t proto) {
  return hash4(remote_ip, egress_ip, uint32_t{remote_port} << 16 | nat_port, proto);
}

}  // namespace

NatTable::NatTable(const NatTableConfig& cfg) : cfg_(cfg), egress_index_(cfg_.egress_addresses) {
  const uint32_t range = uint32_t{cfg_.port_max} - cfg_.port_min + 1;
  const uint16_t workers = cfg_.worker_count == 0 ? 1 : cfg_.worker_count;
  span_ = static_cast<uint16_t>(range / workers);
  slice_min_ = static_cast<uint16_t>(cfg_.port_min + span_ * cfg_.worker_index);
  slice_max_ = static_cast<uint16_t>(slice_min_ + span_ - 1);
  pool_.resize(cfg_.max_bindings);
  for (uint32_t i = 0; i < cfg_.max_bindings; ++i) {
    pool_[i].next_free = i + 1 < cfg_.max_bindings ? i + 1 : kEmpty;
  }
  free_head_ = cfg_.max_bindings ? 0 : kEmpty;
  const uint32_t index_size = std::bit_ceil(cfg_.max_bindings * 2 < 16 ? 16u : cfg_.max_bindings * 2);
  index_mask_ = index_size - 1;
  by_inside_.assign(index_size, kEmpty);
  by_outside_.assign(index_size, kEmpty);
  port_bits_.assign(cfg_.egress_addresses.size(), std::vector<uint64_t>((span_ + 63) / 64, 0));
  port_cursor_.assign(cfg_.egress_addresses.size(), 0);
}

uint16_t NatTable::owner_of_port(uint16_t nat_port) const {
  if (nat_port < cfg_.port_min || span_ == 0) {
    return cfg_.worker_count;
  }
  const uint32_t w = (nat_port - cfg_.port_min) / span_;
  return w < cfg_.worker_count ? static_cast<uint16_t>(w) : cfg_.worker_count;
}

int NatTable::egress_index_of(uint32_t ip) const { return egress_index_.find(ip); }

bool NatTable::alloc_port(int egress, uint16_t* port) {
  auto& bits = port_bits_[egress];
  const uint32_t words = static_cast<uint32_t>(bits.size());
  uint32_t w = port_cursor_[egress];
  for (uint32_t n = 0; n <= words; ++n, w = (w + 1) % words) {
    uint64_t free_bits = ~bits[w];
    if (w == words - 1 && span_ % 64) {
      free_bits &= (uint64_t{1} << (span_ % 64)) - 1;  // bits past the slice are never free
    }
    if (free_bits) {
      const int b = std::countr_zero(free_bits);
      bits[w] |= uint64_t{1} << b;
      // Continue after this word next time so a just-freed port is not reused at once (a late
      // segment of the old connection must not land in a new one).
      port_cursor_[egress] = (w + 1) % words;
      *port = static_cast<uint16_t>(slice_min_ + w * 64 + b);
      return true;
    }
  }
  return false;
}

void NatTable::free_port(int egress, uint16_t port) {
  const uint32_t off = port - slice_min_;
  port_bits_[egress][off / 64] &= ~(uint64_t{1} << (off % 64));
}

uint32_t NatTable::find_inside_slot(const FlowKey& k) const {
  for (uint32_t i = hash_inside(k) & index_mask_;; i = (i + 1) & index_mask_) {
    const uint32_t idx = by_inside_[i];
    if (idx == kEmpty || pool_[idx].inside == k) {
      return i;
    }
  }
}

uint32_t NatTable::find_outside_slot(uint32_t remote_ip, uint16_t remote_port, uint32_t egress_ip,
                                     uint16_t nat_port, uint8_t proto) const {
  for (uint32_t i = hash_outside(remote_ip, remote_port, egress_ip, nat_port, proto) & index_mask_;;
       i = (i + 1) & index_mask_) {
    const uint32_t idx = by_outside_[i];
    if (idx == kEmpty) {
      return i;
    }
    const Binding& b = pool_[idx];
    if (b.egress_ip == egress_ip && b.nat_port == nat_port && b.inside.dst_ip == remote_ip &&
        b.inside.dst_port == remote_port && b.inside.proto == proto) {
      return i;
    }
  }
}

void NatTable::prefetch_inside(const FlowKey& k) const {
  __builtin_prefetch(&by_inside_[hash_inside(k) & index_mask_]);
}

void NatTable::prefetch_outside(uint32_t remote_ip, uint16_t remote_port, uint32_t egress_ip,
                                uint16_t nat_port, uint8_t proto) const {
  __builtin_prefetch(
      &by_outside_[hash_outside(remote_ip, remote_port, egress_ip, nat_port, proto) & index_mask_]);
}

Binding* NatTable::lookup_inside(const FlowKey& k) {
  const uint32_t idx = by_inside_[find_inside_slot(k)];
  return idx == kEmpty ? nullptr : &pool_[idx];
}

Binding* NatTable::lookup_outside(uint32_t remote_ip, uint16_t remote_port, uint32_t egress_ip,
                                  uint16_t nat_port, uint8_t proto) {
  const uint32_t idx =
      by_outside_[find_outside_slot(remote_ip, remote_port, egress_ip, nat_port, proto)];
  return idx == kEmpty ? nullptr : &pool_[idx];
}

CreateResult NatTable::create(const FlowKey& k, uint32_t egress_ip, uint8_t pool, uint64_t now,
                              Binding** out) {
  const int egress = egress_index_of(egress_ip);
  if (egress < 0) {
    return CreateResult::kUnknownEgress;
  }
  if (free_head_ == kEmpty) {
    return CreateResult::kTableFull;
  }
  uint16_t port;
  if (!alloc_port(egress, &port)) {
    return CreateResult::kPortsExhausted;
  }
  const uint32_t idx = free_head_;
  Binding& b = pool_[idx];
  free_head_ = b.next_free;
  b = Binding{};
  b.inside = k;
  b.egress_ip = egress_ip;
  b.nat_port = port;
  b.pool = pool;
  b.in_use = 1;
  b.egress_index = static_cast<uint16_t>(egress);
  b.state = k.proto == 6 ? State::kSynSent : State::kOther;
  b.last_seen = now;
  by_inside_[find_inside_slot(k)] = idx;
  by_outside_[find_outside_slot(k.dst_ip, k.dst_port, egress_ip, port, k.proto)] = idx;
  ++used_;
  *out = &b;
  return CreateResult::kOk;
}

void NatTable::track_tcp(Binding* b, uint8_t flags, bool from_inside, uint64_t now) {
  constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
  b->last_seen = now;
  if (flags & kRst) {
    b->state = State::kClosed;
    return;
  }
  if (flags & kFin) {
    b->fin_mask |= from_inside ? 1 : 2;
    b->state = b->fin_mask == 3 ? State::kClosed : State::kClosing;
    return;
  }
  if (b->state == State::kSynSent && !from_inside && (flags & (kSyn | kAck)) == (kSyn | kAck)) {
    b->state = State::kEstablished;
  }
}

void NatTable::index_erase(std::vector<uint32_t>& index, uint32_t slot, bool outside) {
  // Backward-shift deletion keeps probe chains intact without tombstones.
  uint32_t hole = slot;
  for (uint32_t i = (slot + 1) & index_mask_;; i = (i + 1) & index_mask_) {
    const uint32_t idx = index[i];
    if (idx == kEmpty) {
      break;
    }
    const Binding& b = pool_[idx];
    const uint32_t home =
        (outside ? hash_outside(b.inside.dst_ip, b.inside.dst_port, b.egress_ip, b.nat_port,
                                b.inside.proto)
                 : hash_inside(b.inside)) &
        index_mask_;
    // Move the entry into the hole unless its home lies cyclically in (hole, i].
    const bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      index[hole] = idx;
      hole = i;
    }
  }
  index[hole] = kEmpty;
}

void NatTable::remove(Binding* b) {
  const uint32_t idx = index_of(b);
  index_erase(by_inside_, find_inside_slot(b->inside), false);
  index_erase(by_outside_,
              find_outside_slot(b->inside.dst_ip, b->inside.dst_port, b->egress_ip, b->nat_port,
                                b->inside.proto),
              true);
  free_port(b->egress_index, b->nat_port);
  b->in_use = 0;
  b->next_free = free_head_;
  free_head_ = idx;
  --used_;
}

uint64_t NatTable::timeout_of(const Binding& b) const {
  const Timeouts& t = cfg_.timeouts;
  switch (b.state) {
    case State::kSynSent:
      return t.syn;
    case State::kEstablished:
      return t.established;
    case State::kClosing:
      return t.fin;
    case State::kClosed:
      return t.closed;
    case State::kOther:
      return b.inside.proto == 17 ? t.udp : t.icmp;
  }
  return t.closed;
}

uint32_t NatTable::expire(uint64_t now, uint32_t budget, ExpireHook hook) {
  uint32_t freed = 0;
  const uint32_t n = cfg_.max_bindings;
  for (uint32_t i = 0; i < budget && n != 0; ++i) {
    Binding& b = pool_[hand_];
    hand_ = hand_ + 1 == n ? 0 : hand_ + 1;
    if (b.in_use && now - b.last_seen > timeout_of(b)) {
      if (hook.fn != nullptr) {
        hook.fn(hook.ctx, b);
      }
      remove(&b);
      ++freed;
    }
  }
  return freed;
}

uint32_t rendezvous_pick(uint32_t host_ip, std::span<const uint32_t> active) {
  uint32_t best = 0;
  uint64_t best_w = 0;
  for (uint32_t a : active) {
    const uint64_t w = mix64(uint64_t{host_ip} << 32 | a);
    if (best == 0 || w > best_w) {
      best = a;
      best_w = w;
    }
  }
  return best;
}

size_t NatTable::memory_bytes() const {
  size_t bits = 0;
  for (const std::vector<uint64_t>& b : port_bits_) {
    bits += b.capacity() * sizeof(uint64_t);
  }
  return pool_.capacity() * sizeof(Binding) +
         (by_inside_.capacity() + by_outside_.capacity()) * sizeof(uint32_t) + bits +
         port_cursor_.capacity() * sizeof(uint32_t);
}

}  // namespace smtpgw::flow
