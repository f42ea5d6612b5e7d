// The egress pools as a worker chooses from them for a new flow: every address with its state,
// an immutable snapshot the control plane publishes (publish::Publisher<PoolState>) whenever
// an address is listed on a blocklist, drained or set back to active. Workers read the active
// version at each SYN; flows already bound keep their address whatever its state becomes (the
// NAT table knows every configured address for the gateway's life).
//
//   active    chosen for new flows (rendezvous hash of the inside host over the active ones)
//   listed    on a blocklist: not chosen, except by the fallback below
//   draining  being taken out of service: never chosen for a new flow
//
// When a pool has no active address, its fallback applies: kUseListed takes its listed
// addresses (counted), kRefuse gives nothing (the worker answers the SYN with an RST). A pool
// never falls back onto another pool: spam steered to high risk never leaves from a normal
// address.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace smtpgw::flow {

enum class AddressState : uint8_t { kActive, kListed, kDraining };
std::string_view address_state_name(AddressState s);

enum class NoActiveFallback : uint8_t { kUseListed, kRefuse };

enum class Pool : uint8_t { kNormal, kHighRisk };

class PoolState {
 public:
  struct Address {
    uint32_t ip = 0;  // host order
    AddressState state = AddressState::kActive;
  };

  // Thread: any (the control plane builds it, then publishes it). Cost: O(addresses).
  PoolState(std::vector<Address> normal, std::vector<Address> high_risk,
            NoActiveFallback fallback);

  // The addresses a new flow of `pool` may take: the active ones; when there are none, the
  // listed ones under kUseListed (`*fell_back` set), else none. Cost: O(1); no allocation.
  // Thread: any reader of the published version.
  std::span<const uint32_t> candidates(Pool pool, bool* fell_back) const {
    const Lists& l = lists_[static_cast<int>(pool)];
    *fell_back = l.active.empty() && fallback_ == NoActiveFallback::kUseListed &&
                 !l.listed.empty();
    return *fell_back ? std::span<const uint32_t>(l.listed) : std::span<const uint32_t>(l.active);
  }
  // Whether a high-risk pool is configured at all (any state). Without one, every flow leaves
  // from the normal pool.
  bool has_high_risk() const { return !addresses_[1].empty(); }

  std::span<const Address> addresses(Pool pool) const { return addresses_[static_cast<int>(pool)]; }
  NoActiveFallback fallback() const { return fallback_; }

 private:
  struct Lists {
    std::vector<uint32_t> active, listed;
  };
  std::vector<Address> addresses_[2];
  Lists lists_[2];
  NoActiveFallback fallback_;
};

}  // namespace smtpgw::flow
