// Reconciliation after event overflow: every threshold crossing and every restriction is also
// recorded in the sender table (Entry::crossed, Entry::restriction), so the control plane can
// rebuild what it missed when a worker's queue overflowed (EventQueue::overflow > 0).
//
// Control plane only (allocates). Cost: O(table slots) plus O(seen events) hashing; the table
// keeps serving workers meanwhile (relaxed reads, a per-entry snapshot, not a table snapshot).
#pragma once

#include <cstdint>
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

// Every crossing recorded at or after since_s, and every restriction in force now, that is not
// already covered by an event in `seen` (a ThresholdCrossed with the same key, limit and
// crossed_at_s; a RestrictionApplied with the same key and limit). The result is what the
// control plane missed: it handles each record as it would have handled the event.
std::vector<ReconcileRecord> reconcile(const SenderTable& table, uint32_t since_s,
                                       const std::vector<events::Event>& seen);

}  // namespace smtpgw::count
