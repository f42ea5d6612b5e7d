#include "dataplane/flow/pool_state.h"

#include <algorithm>
#include <utility>

namespace smtpgw::flow {

std::string_view address_state_name(AddressState s) {
  switch (s) {
    case AddressState::kActive:
      return "active";
    case AddressState::kListed:
      return "listed";
    case AddressState::kDraining:
      return "draining";
  }
  return "invalid";
}

PoolState::PoolState(std::vector<Pool> pools, std::vector<Binding> bindings,
                     NoActiveFallback fallback)
    : pools_(std::move(pools)), bindings_(std::move(bindings)), fallback_(fallback) {
  pools_.resize(std::max<size_t>(pools_.size(), 2));  // normal and high_risk always exist
  lists_.resize(pools_.size());
  for (size_t p = 0; p < pools_.size(); ++p) {
    for (const Address& a : pools_[p].addresses) {
      if (a.state == AddressState::kActive) {
        lists_[p].active.push_back(a.ip);
      } else if (a.state == AddressState::kListed) {
        lists_[p].listed.push_back(a.ip);
      }
    }
  }
  std::stable_sort(bindings_.begin(), bindings_.end(), [](const Binding& a, const Binding& b) {
    return a.length != b.length ? a.length > b.length : a.network < b.network;
  });
  for (const Binding& b : bindings_) {
    if (levels_.empty() || levels_.back().nets.front().length != b.length) {
      levels_.push_back({b.length == 0 ? 0 : ~uint32_t{0} << (32 - b.length), {}});
    }
    levels_.back().nets.push_back(b);
  }
}

PoolState::PoolState(std::vector<Address> normal, std::vector<Address> high_risk,
                     NoActiveFallback fallback)
    : PoolState(std::vector<Pool>{{"normal", std::move(normal)},
                                  {"high_risk", std::move(high_risk)}},
                {}, fallback) {}

std::unique_ptr<PoolState> PoolState::with_states(
    std::span<const std::pair<uint32_t, AddressState>> states) const {
  std::vector<Pool> pools = pools_;
  size_t matched = 0;
  for (Pool& p : pools) {
    for (Address& a : p.addresses) {
      for (const auto& [ip, state] : states) {
        if (ip == a.ip) {
          a.state = state;
          ++matched;
        }
      }
    }
  }
  if (matched != states.size()) {
    return nullptr;
  }
  return std::make_unique<PoolState>(std::move(pools), bindings_, fallback_);
}

}  // namespace smtpgw::flow
