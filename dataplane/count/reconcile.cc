#include "dataplane/count/reconcile.h"

#include <cstring>
#include <string>
#include <unordered_set>

namespace smtpgw::count {

namespace {

std::string id_of(const events::KeyBytes& k, LimitId limit, uint32_t at_s, bool restriction) {
  std::string s(reinterpret_cast<const char*>(&k), sizeof(k));
  s.push_back(static_cast<char>(limit));
  s.push_back(restriction ? 'R' : 'C');
  s.append(reinterpret_cast<const char*>(&at_s), sizeof(at_s));
  return s;
}

}  // namespace

std::vector<ReconcileRecord> reconcile(const SenderTable& table, uint32_t since_s,
                                       const std::vector<events::Event>& seen) {
  std::unordered_set<std::string> known;
  for (const events::Event& ev : seen) {
    if (ev.kind == events::EventKind::kThresholdCrossed) {
      known.insert(id_of(ev.key, ev.u.crossed.limit,
                         static_cast<uint32_t>(ev.u.crossed.crossed_at_s), false));
    } else if (ev.kind == events::EventKind::kRestrictionApplied) {
      known.insert(id_of(ev.key, ev.u.restriction.limit, 0, true));
    }
  }
  const uint32_t now_s = table.clock().now_s();
  std::vector<ReconcileRecord> out;
  table.for_each([&](const events::KeyBytes& key, const Entry& e) {
    for (int i = 0; i < kLimitCount; ++i) {
      const uint32_t at = e.crossed[i].load(std::memory_order_relaxed);
      if (at != 0 && at >= since_s &&
          known.count(id_of(key, static_cast<LimitId>(i), at, false)) == 0) {
        ReconcileRecord r;
        r.key = key;
        r.limit = static_cast<LimitId>(i);
        r.crossed_at_s = at;
        out.push_back(r);
      }
    }
    const Restriction res = Restriction::unpack(e.restriction.load(std::memory_order_seq_cst));
    if (res.in_force(now_s) && known.count(id_of(key, res.limit, 0, true)) == 0) {
      ReconcileRecord r;
      r.key = key;
      r.limit = res.limit;
      r.restriction = res;
      out.push_back(r);
    }
  });
  return out;
}

}  // namespace smtpgw::count
