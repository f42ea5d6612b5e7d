// Reconciliation after event overflow: every threshold crossing and every restriction is also
// recorded in the sender table (Entry::crossed, Entry::restriction), so the control plane can
// rebuild what it missed when a worker's queue overflowed (EventQueue::overflow > 0).
//
// Control plane only (allocates). Cost: O(table slots) plus O(remembered) hashing; the table
// keeps serving workers meanwhile (relaxed reads, a per-entry snapshot, not a table snapshot).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "contract/events.h"
#include "dataplane/count/sender_table.h"

namespace smtpgw::count {

struct ReconcileRecord {
  events::KeyBytes key;
  LimitId limit = LimitId::kNone;  // the crossed limit, or the restriction's reason
  uint32_t crossed_at_s = 0;       // the crossing's time (0: a restriction record)
  Restriction restriction;         // set on restriction records (in force at now_s)
};

// What the control plane has already handled: the crossings and restrictions of the events it
// drained, and the restrictions it wrote itself (re-applied at start). Memory: one entry per
// crossing until forget() passes it, one per restriction until it expires or a
// reconcile() finds it no longer in force. Control-plane thread only.
class Handled {
 public:
  // A drained event: ThresholdCrossed and RestrictionApplied are remembered, others ignored.
  void add(const events::Event& e);
  void add_restriction(const events::KeyBytes& key, LimitId limit, uint32_t until_s);
  // Crossings before since_s can no longer be missed (no event of theirs is still in flight),
  // and restrictions that ended before now_s cannot be reconciled: both forgotten.
  void forget(uint32_t since_s, uint32_t now_s);

  bool has_crossing(const events::KeyBytes& key, LimitId limit, uint32_t at_s) const;
  bool has_restriction(const events::KeyBytes& key, LimitId limit) const;
  size_t crossings() const { return crossings_.size(); }
  size_t restrictions() const { return restrictions_.size(); }

 private:
  friend std::vector<ReconcileRecord> reconcile(const SenderTable&, uint32_t, Handled&);
  std::unordered_map<std::string, uint32_t> crossings_;     // id → crossed_at_s
  std::unordered_map<std::string, uint32_t> restrictions_;  // id → until_s (0: until released)
};

// Every crossing recorded at or after since_s, and every restriction in force now, that
// `handled` does not hold (a crossing with the same key, limit and time; a restriction with the
// same key and limit). The result is what the control plane missed: it handles each record as
// it would have handled the event. `handled` then holds every record returned, and of the
// restrictions only those in force now (released ones are dropped).
//
// Restrictions with LimitId::kNone are never returned: the control plane wrote them itself
// (an operator's or the reputation's), so no event of theirs was ever queued.
std::vector<ReconcileRecord> reconcile(const SenderTable& table, uint32_t since_s,
                                       Handled& handled);

}  // namespace smtpgw::count
