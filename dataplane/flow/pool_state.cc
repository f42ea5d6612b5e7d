#include "dataplane/flow/pool_state.h"

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

PoolState::PoolState(std::vector<Address> normal, std::vector<Address> high_risk,
                     NoActiveFallback fallback)
    : fallback_(fallback) {
  addresses_[0] = std::move(normal);
  addresses_[1] = std::move(high_risk);
  for (int p = 0; p < 2; ++p) {
    for (const Address& a : addresses_[p]) {
      if (a.state == AddressState::kActive) {
        lists_[p].active.push_back(a.ip);
      } else if (a.state == AddressState::kListed) {
        lists_[p].listed.push_back(a.ip);
      }
    }
  }
}

}  // namespace smtpgw::flow
