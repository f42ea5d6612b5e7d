// The shared sender table: one per process, fixed capacity allocated at start, shared by every
// worker (updates, checks) and the control plane (restrict, release, list, reconcile).
//
// Layout: open addressing with linear probing over a power-of-two number of slots. Each slot has
//   - a 64-bit meta word in a dense array (8 slots per cache line, so probing is cheap):
//       0 = empty; otherwise bits 1..0 state (1 busy, 2 ready, 3 dead), bits 23..2 generation,
//       bits 63..24 the key hash's top 40 bits;
//   - an Entry (key, state, windows) in a parallel array.
// A slot never returns to empty, so a probe for a key stops at the first empty slot or after
// max_probe slots. Idle entries are re-keyed in place (eviction), which bumps the generation: a
// Handle remembers the meta word it saw and every access re-checks it (kStale when it changed).
//
// Memory order, per field:
//   meta      claim: CAS seq_cst (a claim and the claimer's duplicate scan form a Dekker pair:
//             of two threads claiming slots for the same key, at least one sees the other's
//             claim, so at most one publishes); publish: store release (the key words and the
//             reset windows written while busy become visible with it); lookups: load acquire.
//   key words relaxed, read seqlock-style: load meta (acquire), read the words, acquire fence,
//             re-load meta: unchanged means the words belonged to that generation.
//   last_seen relaxed (a hint for eviction; stored only when the second changes, so two workers
//             on one key do not bounce the line every call).
//   steer_until relaxed CAS-max (a deadline; nothing is published through it).
//   restriction seq_cst store/CAS (pairs with the evictor's seq_cst re-check: a restriction
//             written while a slot is being evicted is either seen by the evictor, which backs
//             off, or the writer sees the changed meta and retries on the new slot).
//   release   relaxed CAS (day and mask are one word; only the restriction logic reads it).
//   crossed   relaxed CAS: exactly one thread moves a limit's word to a new crossing time (only
//             allowed once the previous crossing is a full window old) and emits the event; the
//             CAS's atomicity, not ordering, gives exactly-once.
//   windows   relaxed (see window.h).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "contract/events.h"
#include "dataplane/count/clock.h"
#include "dataplane/count/key.h"
#include "dataplane/count/window.h"

namespace smtpgw::count {

using events::LimitId;
inline constexpr int kLimitCount = events::kLimitIdCount;

// The windows. "Traffic" lanes (messages, internal recipients, external recipients) use fine
// buckets because limits are enforced on them; "quality" lanes (spam verdicts, recipients
// rejected as unknown 5.1.x, complaints) and "exempt" lanes (bounces, automatic replies, KiB)
// use six buckets per window (spam is enforced with at most 1/6 of its window of slack).
using TrafficMinute = Ring<6, 10>;
using TrafficHour = Ring<12, 300>;
using TrafficDay = Ring<24, 3600>;
using CoarseMinute = Ring<6, 10>;
using CoarseHour = Ring<6, 600>;
using CoarseDay = Ring<6, 14400>;

enum class Window : uint8_t { kMinute, kHour, kDay };

// Every counter an entry keeps, by name (operators must never wonder whether "messages" counts
// recipients). Generated list: name, lane group (0 traffic, 1 quality, 2 exempt), lane.
#define SMTPGW_COUNTERS(X)                                          \
  X(kMessages, "messages", 0, 0)                                   \
  X(kRecipientsInternal, "recipients_internal", 0, 1)              \
  X(kRecipientsExternal, "recipients_external", 0, 2)              \
  X(kSpamVerdicts, "spam_verdicts", 1, 0)                          \
  X(kRemoteRejectedUnknown, "remote_rejected_unknown", 1, 1)       \
  X(kComplaints, "complaints", 1, 2)                               \
  X(kBounces, "bounces", 2, 0)                                     \
  X(kAutoReplies, "auto_replies", 2, 1)                            \
  X(kKibibytes, "kibibytes", 2, 2)

enum class Counter : uint8_t {
#define SMTPGW_X(id, name, group, lane) id,
  SMTPGW_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
};
inline constexpr int kCounterCount = 9;
const char* counter_name(Counter c);

// The sender's state as the dataplane acts on it.
enum class SenderState : uint8_t { kNormal, kSteeredHighRisk, kRestricted };

// Packed restriction word: bit 48 active, bits 47..40 action (events::ActionTaken), bits 39..32
// limit (events::LimitId), bits 31..0 until (unix seconds; 0 = until released).
struct Restriction {
  bool active = false;
  LimitId limit = LimitId::kNone;
  events::ActionTaken action = events::ActionTaken::kBlocked;
  uint32_t until_s = 0;

  static Restriction unpack(uint64_t w);
  uint64_t pack() const;
  bool in_force(uint32_t now_s) const { return active && (until_s == 0 || now_s < until_s); }
};

struct alignas(64) Entry {
  std::atomic<uint64_t> key_words[8];  // the KeyBytes, as eight words (see meta protocol)

  std::atomic<uint32_t> last_seen_s;
  std::atomic<uint32_t> steer_until_s;    // steered to high-risk until then (0: never)
  std::atomic<uint64_t> restriction;      // Restriction::pack(); 0 = none
  std::atomic<uint64_t> release;          // bits 63..32 day number, 31..0 mask of LimitIds
  std::atomic<uint32_t> crossed[kLimitCount];  // unix s of the last crossing event (0: never)

  TrafficMinute traffic_minute;
  TrafficHour traffic_hour;
  TrafficDay traffic_day;
  CoarseMinute quality_minute;
  CoarseHour quality_hour;
  CoarseDay quality_day;
  CoarseMinute exempt_minute;
  CoarseHour exempt_hour;
  CoarseDay exempt_day;
  Distinct<4> distinct_hour;              // distinct recipients in the current clock hour (UTC)
  Distinct<4> distinct_day;               // ... in the current UTC day

  // The counter's sum over the window at now_s. Any thread; cost: 6 to 24 relaxed loads.
  uint32_t count(Counter c, Window w, uint32_t now_s) const;
  // The three lanes of a group (0 traffic, 1 quality, 2 exempt) over a window.
  Lanes lanes(int group, Window w, uint32_t now_s) const;
  // Adds to a group in all three windows (negative: rollback, see Ring::add). Returns true if a
  // lane saturated.
  bool add(int group, uint32_t now_s, int32_t d0, int32_t d1, int32_t d2);
  void reset(uint32_t now_s);  // only while the slot is busy
};

// A reference to a slot as found at a given generation. Cheap to copy; valid until the slot is
// re-keyed (which the table only does to entries idle for idle_evict_s).
struct Handle {
  static constexpr uint32_t kInvalid = 0xffffffffu;
  uint32_t slot = kInvalid;
  uint64_t meta = 0;
  bool valid() const { return slot != kInvalid; }
};

// Outcomes of find_or_insert; generated list (names and counters).
#define SMTPGW_FIND_OUTCOMES(X)                                                              \
  X(kFound, "found")                                                                        \
  X(kInserted, "inserted")                                                                  \
  X(kInsertedEvicting, "inserted_evicting") /* an idle unrestricted entry was re-keyed */   \
  X(kFull, "full")           /* probe window full of live or restricted entries: untracked */ \
  X(kContended, "contended") /* another thread held the slot longer than the bounded wait */ \
  X(kBadKey, "bad_key")      /* kind kNone or length over kKeyDataMax */

enum class FindOutcome : uint8_t {
#define SMTPGW_X(id, name) id,
  SMTPGW_FIND_OUTCOMES(SMTPGW_X)
#undef SMTPGW_X
};
inline constexpr int kFindOutcomeCount = 6;
const char* find_outcome_name(FindOutcome o);

class SenderTable {
 public:
  struct Options {
    uint32_t capacity = 65'536;  // entries; rounded up to a power of two (slots)
    uint32_t max_probe = 64;     // slots examined per lookup/insert
    uint32_t idle_evict_s = 90'000;  // idle longer than every window (25 h): evictable
    // How long a caller waits (pause instructions) for another thread that is filling a slot
    // for the same key before giving up with kContended. Filling takes ~100 ns on a pinned
    // lcore; threads that can be preempted mid-insert (tests on an oversubscribed machine,
    // control-plane threads) need a larger value to stay exact.
    uint32_t busy_wait_spins = 4096;
    Clock clock;
  };

  // Allocates every slot (start-up only; throws std::bad_alloc or std::invalid_argument for a
  // zero capacity or a missing clock, never later).
  explicit SenderTable(const Options& options);
  ~SenderTable();
  SenderTable(const SenderTable&) = delete;
  SenderTable& operator=(const SenderTable&) = delete;

  // Finds the key's entry or inserts it (claiming an empty slot, else re-keying the first
  // evictable one: dead, or idle for idle_evict_s, unrestricted and not steered). Refreshes
  // last_seen. Never blocks: a slot another thread is filling is waited for a bounded number of
  // spins, then kContended. Any thread. Cost: one hash, a probe over the dense meta array, one
  // 64-byte compare; an insert also resets the entry (~1 KiB of stores) and re-scans the window.
  // Errors: kFull, kContended, kBadKey (out is left invalid).
  FindOutcome find_or_insert(const KeyBytes& key, Handle& out) {
    return find_or_insert(key, key_hash(key), out);
  }
  // The same with the key's hash already computed (key_hash(key); see prefetch).
  FindOutcome find_or_insert(const KeyBytes& key, uint64_t hash, Handle& out);
  // Lookup only. Any thread. Returns false if absent.
  bool find(const KeyBytes& key, Handle& out) const { return find(key, key_hash(key), out); }
  bool find(const KeyBytes& key, uint64_t hash, Handle& out) const;

  // A hint for a lookup coming soon: loads the home slot's meta word, key and state lines and
  // the traffic windows' first lines into the cache. A worker handling a burst hashes and
  // prefetches every key first, then looks them up, so the cache misses overlap (the table is
  // tens of MB: a lookup that misses costs a DRAM access per line). Any thread; no effect on
  // the table's state; cost: a few prefetch instructions.
  void prefetch(uint64_t hash) const {
    const uint32_t s = static_cast<uint32_t>(hash) & mask_;
    __builtin_prefetch(&meta_[s]);
    const char* p = reinterpret_cast<const char*>(&entries_[s]);
    for (size_t off = 0; off < 6 * 64; off += 64) {
      __builtin_prefetch(p + off);
    }
  }

  // The entry behind a handle, or nullptr if the slot was re-keyed since (kStale). Any thread.
  Entry* get(const Handle& h);
  const Entry* get(const Handle& h) const;
  // The key of a handle's entry (validated against the generation). False if stale.
  bool key_of(const Handle& h, KeyBytes& out) const;

  // State of an entry at now_s (restriction in force, else steered, else normal).
  static SenderState state(const Entry& e, uint32_t now_s);

  // Control plane: restrict a key (inserting it if needed; re-applied from SQLite at start).
  // Errors: any find_or_insert error.
  FindOutcome restrict(const KeyBytes& key, LimitId reason, events::ActionTaken action,
                       uint32_t until_s);
  // Control plane: lifts a restriction. The limit it was for is remembered for the rest of the
  // day (day number at day_offset_min): that limit will only alert for this key until then.
  // Returns false if the key is absent or was not restricted.
  bool release(const KeyBytes& key, int32_t day_offset_min);

  // Marks the steer deadline max(current, until_s). Any thread.
  static void steer(Entry& e, uint32_t until_s);

  // Visits every ready entry (control plane: lists, reconciliation). fn(const KeyBytes&,
  // const Entry&). A snapshot per entry, not of the table. Cost: O(slots).
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (uint32_t s = 0; s < slots_; ++s) {
      Handle h{s, meta_[s].load(std::memory_order_acquire)};
      if ((h.meta & 3) != kReady) {
        continue;
      }
      KeyBytes k;
      if (key_of(h, k)) {
        fn(k, entries_[s]);
      }
    }
  }

  // Counters (relaxed; control-plane reads): every outcome except kFound, which is the hot
  // path (a shared counter written by every worker on every lookup would bounce its line).
  uint64_t outcome_count(FindOutcome o) const {
    return outcomes_[static_cast<int>(o)].load(std::memory_order_relaxed);
  }
  uint64_t live_entries() const;  // O(slots)
  // A window lane saturated at 65,535 (counted, rare: a relaxed shared increment is fine).
  void note_saturation() { saturations_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t saturations() const { return saturations_.load(std::memory_order_relaxed); }
  uint32_t slots() const { return slots_; }
  const Clock& clock() const { return clock_; }
  uint32_t idle_evict_s() const { return idle_evict_s_; }

  static constexpr size_t kBytesPerEntry = sizeof(Entry) + sizeof(uint64_t);

 private:
  static constexpr uint64_t kBusy = 1, kReady = 2, kDead = 3;
  bool key_matches(uint32_t slot, uint64_t meta, const KeyBytes& key) const;
  bool evictable(uint32_t slot, uint64_t meta, uint32_t now_s) const;
  void count(FindOutcome o) { outcomes_[static_cast<int>(o)].fetch_add(1, std::memory_order_relaxed); }

  uint32_t slots_;
  uint32_t mask_;
  uint32_t max_probe_;
  uint32_t idle_evict_s_;
  uint32_t busy_wait_spins_;
  Clock clock_;
  std::unique_ptr<std::atomic<uint64_t>[]> meta_;
  struct EntriesFree {
    void operator()(Entry* p) const;  // the aligned delete that pairs with the constructor's new
  };
  std::unique_ptr<Entry[], EntriesFree> entries_;
  std::atomic<uint64_t> outcomes_[kFindOutcomeCount] = {};
  std::atomic<uint64_t> saturations_{0};
};

// The day number ("today") at a fixed UTC offset, and the unix time the next day starts.
uint32_t day_number(uint32_t now_s, int32_t offset_min);
uint32_t next_day_start(uint32_t now_s, int32_t offset_min);

}  // namespace smtpgw::count
