#include "dataplane/count/reconcile.h"

#include <utility>

namespace smtpgw::count {

namespace {

// The key's bytes (fixed 64, zero-padded) and the limit: one string per (key, limit).
std::string id_of(const events::KeyBytes& k, LimitId limit) {
  std::string s(reinterpret_cast<const char*>(&k), sizeof(k));
  s.push_back(static_cast<char>(limit));
  return s;
}

}  // namespace

void Handled::add(const events::Event& e) {
  if (e.kind == events::EventKind::kThresholdCrossed) {
    crossings_[id_of(e.key, e.u.crossed.limit)] = static_cast<uint32_t>(e.u.crossed.crossed_at_s);
  } else if (e.kind == events::EventKind::kRestrictionApplied) {
    add_restriction(e.key, e.u.restriction.limit,
                    static_cast<uint32_t>(e.u.restriction.until_unix_s));
  }
}

void Handled::add_restriction(const events::KeyBytes& key, LimitId limit, uint32_t until_s) {
  restrictions_[id_of(key, limit)] = until_s;
}

void Handled::forget(uint32_t since_s, uint32_t now_s) {
  std::erase_if(crossings_, [&](const auto& kv) { return kv.second < since_s; });
  std::erase_if(restrictions_, [&](const auto& kv) { return kv.second != 0 && kv.second <= now_s; });
}

bool Handled::has_crossing(const events::KeyBytes& key, LimitId limit, uint32_t at_s) const {
  // One per (key, limit): the table too keeps only the latest crossing of each.
  const auto it = crossings_.find(id_of(key, limit));
  return it != crossings_.end() && it->second == at_s;
}

bool Handled::has_restriction(const events::KeyBytes& key, LimitId limit) const {
  return restrictions_.count(id_of(key, limit)) != 0;
}

std::vector<ReconcileRecord> reconcile(const SenderTable& table, uint32_t since_s,
                                       Handled& handled) {
  const uint32_t now_s = table.clock().now_s();
  std::vector<ReconcileRecord> out;
  std::unordered_map<std::string, uint32_t> in_force;
  table.for_each([&](const events::KeyBytes& key, const Entry& e) {
    for (int i = 0; i < kLimitCount; ++i) {
      const auto limit = static_cast<LimitId>(i);
      const uint32_t at = e.crossed[i].load(std::memory_order_relaxed);
      if (at != 0 && at >= since_s && !handled.has_crossing(key, limit, at)) {
        ReconcileRecord r;
        r.key = key;
        r.limit = limit;
        r.crossed_at_s = at;
        out.push_back(r);
        handled.crossings_[id_of(key, limit)] = at;
      }
    }
    const Restriction res = Restriction::unpack(e.restriction.load(std::memory_order_seq_cst));
    if (!res.in_force(now_s) || res.limit == LimitId::kNone) {
      return;
    }
    if (!handled.has_restriction(key, res.limit)) {
      ReconcileRecord r;
      r.key = key;
      r.limit = res.limit;
      r.restriction = res;
      out.push_back(r);
    }
    in_force[id_of(key, res.limit)] = res.until_s;
  });
  handled.restrictions_ = std::move(in_force);
  return out;
}

}  // namespace smtpgw::count
