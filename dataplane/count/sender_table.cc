#include "dataplane/count/sender_table.h"

#include <bit>
#include <cstring>
#include <ctime>
#include <new>

#include <sys/mman.h>
#include <stdexcept>

namespace smtpgw::count {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

constexpr int kAttempts = 4;

inline uint64_t tag_bits(uint64_t hash) { return hash & ~((1ull << 24) - 1); }
inline uint64_t gen_of(uint64_t meta) { return (meta >> 2) & ((1ull << 22) - 1); }
inline uint64_t make_meta(uint64_t state, uint64_t gen, uint64_t tag) {
  return tag | ((gen & ((1ull << 22) - 1)) << 2) | state;
}

}  // namespace

const char* counter_name(Counter c) {
  switch (c) {
#define SMTPGW_X(id, name, group, lane) \
  case Counter::id:                     \
    return name;
    SMTPGW_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
  }
  return "unknown";
}

const char* find_outcome_name(FindOutcome o) {
  switch (o) {
#define SMTPGW_X(id, name) \
  case FindOutcome::id:    \
    return name;
    SMTPGW_FIND_OUTCOMES(SMTPGW_X)
#undef SMTPGW_X
  }
  return "unknown";
}

Restriction Restriction::unpack(uint64_t w) {
  Restriction r;
  r.active = (w >> 48) & 1;
  r.action = static_cast<events::ActionTaken>((w >> 40) & 0xff);
  r.limit = static_cast<LimitId>((w >> 32) & 0xff);
  r.until_s = static_cast<uint32_t>(w);
  return r;
}

uint64_t Restriction::pack() const {
  if (!active) {
    return 0;
  }
  return (1ull << 48) | (static_cast<uint64_t>(action) << 40) |
         (static_cast<uint64_t>(limit) << 32) | until_s;
}

uint32_t day_number(uint32_t now_s, int32_t offset_min) {
  const int64_t local = static_cast<int64_t>(now_s) + static_cast<int64_t>(offset_min) * 60;
  return static_cast<uint32_t>((local < 0 ? local - 86'399 : local) / 86'400);
}

uint32_t next_day_start(uint32_t now_s, int32_t offset_min) {
  const int64_t start = (static_cast<int64_t>(day_number(now_s, offset_min)) + 1) * 86'400 -
                        static_cast<int64_t>(offset_min) * 60;
  return static_cast<uint32_t>(start);
}

// ---- Entry -------------------------------------------------------------------------------

Lanes Entry::lanes(int group, Window w, uint32_t now_s) const {
  switch (group) {
    case 0:
      return w == Window::kMinute ? traffic_minute.sum(now_s)
             : w == Window::kHour ? traffic_hour.sum(now_s)
                                  : traffic_day.sum(now_s);
    case 1:
      return w == Window::kMinute ? quality_minute.sum(now_s)
             : w == Window::kHour ? quality_hour.sum(now_s)
                                  : quality_day.sum(now_s);
    default:
      return w == Window::kMinute ? exempt_minute.sum(now_s)
             : w == Window::kHour ? exempt_hour.sum(now_s)
                                  : exempt_day.sum(now_s);
  }
}

uint32_t Entry::count(Counter c, Window w, uint32_t now_s) const {
  int group = 0;
  int lane = 0;
  switch (c) {
#define SMTPGW_X(id, name, g, l) \
  case Counter::id:              \
    group = g;                   \
    lane = l;                    \
    break;
    SMTPGW_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
  }
  return lanes(group, w, now_s).v[lane];
}

bool Entry::add(int group, uint32_t now_s, int32_t d0, int32_t d1, int32_t d2) {
  bool sat = false;
  switch (group) {
    case 0:
      sat |= traffic_minute.add(now_s, d0, d1, d2);
      sat |= traffic_hour.add(now_s, d0, d1, d2);
      sat |= traffic_day.add(now_s, d0, d1, d2);
      break;
    case 1:
      sat |= quality_minute.add(now_s, d0, d1, d2);
      sat |= quality_hour.add(now_s, d0, d1, d2);
      sat |= quality_day.add(now_s, d0, d1, d2);
      break;
    default:
      sat |= exempt_minute.add(now_s, d0, d1, d2);
      sat |= exempt_hour.add(now_s, d0, d1, d2);
      sat |= exempt_day.add(now_s, d0, d1, d2);
      break;
  }
  return sat;
}

void Entry::reset(uint32_t now_s) {
  last_seen_s.store(now_s, std::memory_order_relaxed);
  steer_until_s.store(0, std::memory_order_relaxed);
  restriction.store(0, std::memory_order_relaxed);
  release.store(0, std::memory_order_relaxed);
  for (auto& c : crossed) {
    c.store(0, std::memory_order_relaxed);
  }
  traffic_minute.clear();
  traffic_hour.clear();
  traffic_day.clear();
  quality_minute.clear();
  quality_hour.clear();
  quality_day.clear();
  exempt_minute.clear();
  exempt_hour.clear();
  exempt_day.clear();
  distinct_hour.clear();
  distinct_day.clear();
}

// ---- SenderTable -------------------------------------------------------------------------

SenderTable::SenderTable(const Options& o)
    : max_probe_(o.max_probe),
      idle_evict_s_(o.idle_evict_s),
      busy_wait_spins_(o.busy_wait_spins),
      clock_(o.clock) {
  if (o.capacity == 0 || o.clock.now_ns == nullptr || o.max_probe == 0) {
    throw std::invalid_argument("sender table: capacity, max_probe and clock are required");
  }
  slots_ = std::bit_ceil(o.capacity);
  mask_ = slots_ - 1;
  if (max_probe_ > slots_) {
    max_probe_ = slots_;
  }
  meta_ = std::make_unique<std::atomic<uint64_t>[]>(slots_);
  // The entries are the table's bulk (slots x ~840 bytes) and are hit at random: back them with
  // transparent huge pages where the kernel allows it (madvise mode), so a lookup costs a cache
  // miss, not also a page walk. Start-up only.
  constexpr size_t kHuge = 2u << 20;
  const size_t bytes = (static_cast<size_t>(slots_) * sizeof(Entry) + kHuge - 1) / kHuge * kHuge;
  void* mem = ::operator new(bytes, std::align_val_t{kHuge});
  madvise(mem, bytes, MADV_HUGEPAGE);  // advisory: without THP it is ordinary memory
  Entry* arr = static_cast<Entry*>(mem);
  for (uint32_t i = 0; i < slots_; ++i) {
    new (&arr[i]) Entry();
  }
  entries_ = std::unique_ptr<Entry[], EntriesFree>(arr, EntriesFree{});
}

SenderTable::~SenderTable() = default;

void SenderTable::EntriesFree::operator()(Entry* p) const {
  // Entry is trivially destructible in effect (atomics of integers); no destructor calls needed.
  // The unsized form: clang declares sized deallocation only with -fsized-deallocation (the
  // fuzzing build), and the aligned unsized delete pairs with the aligned new all the same.
  ::operator delete(static_cast<void*>(p), std::align_val_t{2u << 20});
}

bool SenderTable::key_matches(uint32_t slot, uint64_t meta, const KeyBytes& key) const {
  uint64_t want[8];
  std::memcpy(want, &key, sizeof(want));
  const Entry& e = entries_[slot];
  bool same = true;
  for (int i = 0; i < 8; ++i) {
    same &= e.key_words[i].load(std::memory_order_relaxed) == want[i];
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return same && meta_[slot].load(std::memory_order_relaxed) == meta;
}

bool SenderTable::key_of(const Handle& h, KeyBytes& out) const {
  if (!h.valid()) {
    return false;
  }
  uint64_t w[8];
  const Entry& e = entries_[h.slot];
  for (int i = 0; i < 8; ++i) {
    w[i] = e.key_words[i].load(std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  if (meta_[h.slot].load(std::memory_order_relaxed) != h.meta) {
    return false;
  }
  std::memcpy(&out, w, sizeof(out));
  return true;
}

bool SenderTable::evictable(uint32_t slot, uint64_t meta, uint32_t now_s) const {
  if ((meta & 3) == kDead) {
    return true;
  }
  if ((meta & 3) != kReady) {
    return false;
  }
  const Entry& e = entries_[slot];
  const uint32_t seen = e.last_seen_s.load(std::memory_order_relaxed);
  if (now_s < seen || now_s - seen < idle_evict_s_) {
    return false;
  }
  if (Restriction::unpack(e.restriction.load(std::memory_order_seq_cst)).in_force(now_s)) {
    return false;  // never evict a restriction in force
  }
  return e.steer_until_s.load(std::memory_order_relaxed) <= now_s;
}

Entry* SenderTable::get(const Handle& h) {
  if (!h.valid() || meta_[h.slot].load(std::memory_order_acquire) != h.meta) {
    return nullptr;
  }
  return &entries_[h.slot];
}

const Entry* SenderTable::get(const Handle& h) const {
  return const_cast<SenderTable*>(this)->get(h);
}

bool SenderTable::find(const KeyBytes& key, uint64_t hash, Handle& out) const {
  if (key.kind == KeyKind::kNone || key.len > events::kKeyDataMax) {
    return false;
  }
  const uint64_t h = hash;
  const uint64_t tag = tag_bits(h);
  for (uint32_t i = 0; i < max_probe_; ++i) {
    const uint32_t s = (static_cast<uint32_t>(h) + i) & mask_;
    uint64_t m = meta_[s].load(std::memory_order_acquire);
    if (m == 0) {
      return false;
    }
    for (uint32_t spin = 0; (m & 3) == kBusy && (m & ~((1ull << 24) - 1)) == tag &&
                            spin < busy_wait_spins_;
         ++spin) {
      cpu_relax();
      m = meta_[s].load(std::memory_order_acquire);
    }
    if ((m & 3) == kReady && tag_bits(m) == tag && key_matches(s, m, key)) {
      out = Handle{s, m};
      return true;
    }
  }
  return false;
}

FindOutcome SenderTable::find_or_insert(const KeyBytes& key, uint64_t hash, Handle& out) {
  out = Handle{};
  if (key.kind == KeyKind::kNone || key.len > events::kKeyDataMax) {
    count(FindOutcome::kBadKey);
    return FindOutcome::kBadKey;
  }
  const uint32_t now_s = clock_.now_s();
  const uint64_t h = hash;
  const uint64_t tag = tag_bits(h);
  uint64_t want[8];
  std::memcpy(want, &key, sizeof(want));

  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    // 1. Look for the key; remember the first empty and the first evictable slot.
    int64_t empty = -1;
    int64_t victim = -1;
    uint64_t victim_meta = 0;
    bool contended = false;
    for (uint32_t i = 0; i < max_probe_; ++i) {
      const uint32_t s = (static_cast<uint32_t>(h) + i) & mask_;
      uint64_t m = meta_[s].load(std::memory_order_acquire);
      if (m == 0) {
        empty = s;
        break;
      }
      uint32_t spin = 0;
      while ((m & 3) == kBusy && tag_bits(m) == tag && spin < busy_wait_spins_) {
        cpu_relax();
        m = meta_[s].load(std::memory_order_acquire);
        ++spin;
      }
      if ((m & 3) == kBusy && tag_bits(m) == tag) {
        contended = true;  // possibly our key, still being written: do not insert a twin
        break;
      }
      if ((m & 3) == kReady && tag_bits(m) == tag && key_matches(s, m, key)) {
        Entry& e = entries_[s];
        if (e.last_seen_s.load(std::memory_order_relaxed) != now_s) {
          e.last_seen_s.store(now_s, std::memory_order_relaxed);
        }
        out = Handle{s, m};
        return FindOutcome::kFound;  // not counted: the hot path must not share a written line
      }
      if (victim < 0 && evictable(s, m, now_s)) {
        victim = s;
        victim_meta = m;
      }
    }
    if (contended) {
      break;
    }
    const bool evicting = empty < 0;
    const int64_t target = evicting ? victim : empty;
    if (target < 0) {
      count(FindOutcome::kFull);
      return FindOutcome::kFull;
    }
    const uint32_t s = static_cast<uint32_t>(target);
    const uint64_t expected0 = evicting ? victim_meta : 0;
    uint64_t expected = expected0;
    const uint64_t gen = gen_of(expected0) + 1;
    const uint64_t busy = make_meta(kBusy, gen, tag);
    // 2. Claim (seq_cst: see the header).
    if (!meta_[s].compare_exchange_strong(expected, busy, std::memory_order_seq_cst)) {
      continue;
    }
    Entry& e = entries_[s];
    if (evicting && (expected0 & 3) == kReady &&
        Restriction::unpack(e.restriction.load(std::memory_order_seq_cst)).in_force(now_s)) {
      meta_[s].store(expected0, std::memory_order_release);  // restricted meanwhile: back off
      continue;
    }
    for (int i = 0; i < 8; ++i) {
      e.key_words[i].store(want[i], std::memory_order_relaxed);
    }
    if (evicting) {
      e.reset(now_s);  // a never-used slot is still all zero: keep the busy window short
    } else {
      e.last_seen_s.store(now_s, std::memory_order_relaxed);
    }
    // 3. Duplicate scan: another thread may have claimed a slot for the same key at the same
    // time. Whoever sees the other's claim (busy with our tag, or ready with our key) backs off.
    bool lose = false;
    for (uint32_t i = 0; i < max_probe_; ++i) {
      const uint32_t s2 = (static_cast<uint32_t>(h) + i) & mask_;
      if (s2 == s) {
        continue;
      }
      const uint64_t m2 = meta_[s2].load(std::memory_order_seq_cst);
      if (m2 == 0) {
        break;
      }
      if (tag_bits(m2) == tag &&
          ((m2 & 3) == kBusy || ((m2 & 3) == kReady && key_matches(s2, m2, key)))) {
        lose = true;
        break;
      }
    }
    if (lose) {
      meta_[s].store(make_meta(kDead, gen, 0), std::memory_order_release);
      continue;
    }
    const uint64_t ready = make_meta(kReady, gen, tag);
    meta_[s].store(ready, std::memory_order_release);
    out = Handle{s, ready};
    const FindOutcome o = evicting ? FindOutcome::kInsertedEvicting : FindOutcome::kInserted;
    count(o);
    return o;
  }
  count(FindOutcome::kContended);
  return FindOutcome::kContended;
}

SenderState SenderTable::state(const Entry& e, uint32_t now_s) {
  if (Restriction::unpack(e.restriction.load(std::memory_order_seq_cst)).in_force(now_s)) {
    return SenderState::kRestricted;
  }
  if (e.steer_until_s.load(std::memory_order_relaxed) > now_s) {
    return SenderState::kSteeredHighRisk;
  }
  return SenderState::kNormal;
}

void SenderTable::steer(Entry& e, uint32_t until_s) {
  uint32_t cur = e.steer_until_s.load(std::memory_order_relaxed);
  while (cur < until_s &&
         !e.steer_until_s.compare_exchange_weak(cur, until_s, std::memory_order_relaxed)) {
  }
}

FindOutcome SenderTable::restrict(const KeyBytes& key, LimitId reason,
                                  events::ActionTaken action, uint32_t until_s) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Handle h;
    const FindOutcome o = find_or_insert(key, h);
    if (o != FindOutcome::kFound && o != FindOutcome::kInserted &&
        o != FindOutcome::kInsertedEvicting) {
      return o;
    }
    Entry& e = entries_[h.slot];
    Restriction r{true, reason, action, until_s};
    e.restriction.store(r.pack(), std::memory_order_seq_cst);
    if (meta_[h.slot].load(std::memory_order_seq_cst) == h.meta) {
      return o;  // the evictor will see the restriction and back off
    }
  }
  count(FindOutcome::kContended);
  return FindOutcome::kContended;
}

bool SenderTable::release(const KeyBytes& key, int32_t day_offset_min) {
  Handle h;
  if (!find(key, h)) {
    return false;
  }
  Entry& e = entries_[h.slot];
  const uint64_t w = e.restriction.exchange(0, std::memory_order_seq_cst);
  if (w == 0) {
    return false;
  }
  const Restriction r = Restriction::unpack(w);
  const uint32_t today = day_number(clock_.now_s(), day_offset_min);
  const uint64_t bit = r.limit == LimitId::kNone ? 0 : (1ull << static_cast<int>(r.limit));
  uint64_t cur = e.release.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t mask = (cur >> 32) == today ? (cur & 0xffffffffull) : 0;
    const uint64_t nw = (static_cast<uint64_t>(today) << 32) | mask | bit;
    if (e.release.compare_exchange_weak(cur, nw, std::memory_order_relaxed)) {
      break;
    }
  }
  return true;
}

uint64_t SenderTable::live_entries() const {
  uint64_t n = 0;
  for (uint32_t s = 0; s < slots_; ++s) {
    n += (meta_[s].load(std::memory_order_relaxed) & 3) == kReady;
  }
  return n;
}

Clock system_clock() {
  Clock c;
  c.now_ns = [](const void*) -> uint64_t {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
  };
  return c;
}

}  // namespace smtpgw::count
