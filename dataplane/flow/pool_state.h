// The egress pools as a worker chooses from them for a new flow: every pool with its addresses
// and their states, and the bindings of inside prefixes to named pools; an immutable snapshot
// the control plane publishes (publish::Publisher<PoolState>) whenever an address is listed on
// a blocklist, drained or set back to active. Workers read the active version at each SYN;
// flows already bound keep their address whatever its state becomes (the NAT table knows every
// configured address for the gateway's life).
//
// Pools by id: 0 `normal`, 1 `high_risk` (may hold no address), 2.. the operator's named pools
// in the config's order. A new flow's pool: high_risk when the policy steers it there, else the
// named pool bound to the longest inside prefix holding the client, else normal.
//
//   active    chosen for new flows (rendezvous hash of the inside host over the active ones)
//   listed    on a blocklist: not chosen, except by the fallback below
//   draining  being taken out of service: never chosen for a new flow
//
// When a pool has no active address, its fallback applies: kUseListed takes its listed
// addresses (counted), kRefuse gives nothing (the worker answers the SYN with an RST). A pool
// never falls back onto another pool: spam steered to high risk never leaves from a normal
// address, and a tenant bound to its own pool never leaves from the shared one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smtpgw::flow {

enum class AddressState : uint8_t { kActive, kListed, kDraining };
std::string_view address_state_name(AddressState s);

enum class NoActiveFallback : uint8_t { kUseListed, kRefuse };

// A pool's id: an index into PoolState's pools (fits the NAT binding's and the trace's byte).
using PoolId = uint8_t;
inline constexpr PoolId kNormalPool = 0;
inline constexpr PoolId kHighRiskPool = 1;
inline constexpr size_t kMaxPools = 32;      // normal, high_risk and at most 30 named
inline constexpr size_t kMaxBindings = 256;  // inside prefixes bound to named pools

class PoolState {
 public:
  struct Address {
    uint32_t ip = 0;  // host order
    AddressState state = AddressState::kActive;
  };
  struct Pool {
    std::string name;
    std::vector<Address> addresses;
  };
  // An inside IPv4 prefix whose hosts' new flows leave from `pool` (a named one).
  struct Binding {
    uint32_t network = 0;  // host order, host bits clear
    uint8_t length = 0;    // 0..32
    PoolId pool = kNormalPool;
  };

  // `pools`: [0] normal, [1] high_risk, then the named ones (at most kMaxPools in all; the
  // loader enforces it). `bindings` at most kMaxBindings, each naming a pool id >= 2.
  // Thread: any (the control plane builds it, then publishes it). Cost: O(addresses + bindings
  // log bindings).
  PoolState(std::vector<Pool> pools, std::vector<Binding> bindings, NoActiveFallback fallback);
  // The two built-in pools alone (tests and tools that have no named pools).
  PoolState(std::vector<Address> normal, std::vector<Address> high_risk, NoActiveFallback fallback);

  // The pool a new flow of the inside host `ip` (host order) leaves from when the policy does
  // not steer it to high risk: the named pool of the longest bound prefix holding it, else
  // normal. Cost: one binary search per distinct bound length, longest first (none without
  // bindings); no allocation. Thread: any reader.
  PoolId pool_of_host(uint32_t ip) const {
    for (const Level& l : levels_) {
      const uint32_t net = ip & l.mask;
      const auto it = std::lower_bound(l.nets.begin(), l.nets.end(), net,
                                       [](const Binding& b, uint32_t n) { return b.network < n; });
      if (it != l.nets.end() && it->network == net) {
        return it->pool;
      }
    }
    return kNormalPool;
  }

  // The addresses a new flow of `pool` may take: the active ones; when there are none, the
  // listed ones under kUseListed (`*fell_back` set), else none. Cost: O(1); no allocation.
  // Thread: any reader of the published version.
  std::span<const uint32_t> candidates(PoolId pool, bool* fell_back) const {
    const Lists& l = lists_[pool];
    *fell_back = l.active.empty() && fallback_ == NoActiveFallback::kUseListed &&
                 !l.listed.empty();
    return *fell_back ? std::span<const uint32_t>(l.listed) : std::span<const uint32_t>(l.active);
  }
  // Whether a high-risk pool is configured at all (any state). Without one, every flow leaves
  // from its own pool, spam included.
  bool has_high_risk() const { return !pools_[kHighRiskPool].addresses.empty(); }

  size_t pool_count() const { return pools_.size(); }
  const std::string& name(PoolId pool) const { return pools_[pool].name; }
  std::span<const Address> addresses(PoolId pool) const { return pools_[pool].addresses; }
  std::span<const Binding> bindings() const { return bindings_; }
  NoActiveFallback fallback() const { return fallback_; }

  // A copy with the given addresses' states changed, or nullptr when one of them is in no
  // pool. Thread: the control plane's. Cost: O(addresses x changes); allocates.
  std::unique_ptr<PoolState> with_states(
      std::span<const std::pair<uint32_t, AddressState>> states) const;

 private:
  struct Lists {
    std::vector<uint32_t> active, listed;
  };
  std::vector<Pool> pools_;
  std::vector<Lists> lists_;
  // The bindings of one prefix length, by network: pool_of_host's levels, longest first.
  struct Level {
    uint32_t mask = 0;
    std::vector<Binding> nets;
  };
  std::vector<Binding> bindings_;  // longest prefix first
  std::vector<Level> levels_;
  NoActiveFallback fallback_;
};

}  // namespace smtpgw::flow
