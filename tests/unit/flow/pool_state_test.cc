// Which addresses a new flow may take from a pool, by state and fallback; which pool a host
// is bound to.
#include "dataplane/flow/pool_state.h"

#include <gtest/gtest.h>

#include <vector>

namespace smtpgw::flow {
namespace {

using S = AddressState;

std::vector<uint32_t> take(const PoolState& ps, PoolId p, bool* fell_back) {
  auto c = ps.candidates(p, fell_back);
  return {c.begin(), c.end()};
}

TEST(PoolState, OnlyActiveAddressesAreChosenWhileThereAreAny) {
  PoolState ps({{1, S::kActive}, {2, S::kListed}, {3, S::kDraining}, {4, S::kActive}},
               {{9, S::kActive}}, NoActiveFallback::kUseListed);
  bool fb = true;
  EXPECT_EQ(take(ps, kNormalPool, &fb), (std::vector<uint32_t>{1, 4}));
  EXPECT_FALSE(fb);
  EXPECT_EQ(take(ps, kHighRiskPool, &fb), (std::vector<uint32_t>{9}));
  EXPECT_TRUE(ps.has_high_risk());
}

TEST(PoolState, NoActiveAddressFallsBackToListedNeverDraining) {
  PoolState ps({{1, S::kListed}, {2, S::kDraining}, {3, S::kListed}}, {},
               NoActiveFallback::kUseListed);
  bool fb = false;
  EXPECT_EQ(take(ps, kNormalPool, &fb), (std::vector<uint32_t>{1, 3}));
  EXPECT_TRUE(fb);
  EXPECT_FALSE(ps.has_high_risk());
  // Only draining: nothing, and not counted as a fallback.
  PoolState drained({{2, S::kDraining}}, {}, NoActiveFallback::kUseListed);
  EXPECT_TRUE(take(drained, kNormalPool, &fb).empty());
  EXPECT_FALSE(fb);
}

TEST(PoolState, RefuseFallbackGivesNothingWhenNoneIsActive) {
  PoolState ps({{1, S::kListed}}, {{9, S::kListed}}, NoActiveFallback::kRefuse);
  bool fb = true;
  EXPECT_TRUE(take(ps, kNormalPool, &fb).empty());
  EXPECT_FALSE(fb);
  EXPECT_TRUE(take(ps, kHighRiskPool, &fb).empty());
}

TEST(PoolState, HighRiskNeverFallsBackOntoTheNormalPool) {
  PoolState ps({{1, S::kActive}}, {{9, S::kDraining}}, NoActiveFallback::kUseListed);
  bool fb = true;
  EXPECT_TRUE(take(ps, kHighRiskPool, &fb).empty());
  EXPECT_TRUE(ps.has_high_risk());  // configured, so the worker does not use normal instead
}

constexpr uint32_t ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

PoolState named_pools(NoActiveFallback fallback = NoActiveFallback::kUseListed) {
  return PoolState({{"normal", {{1, S::kActive}}},
                    {"high_risk", {{9, S::kActive}}},
                    {"tenant-a", {{20, S::kActive}, {21, S::kListed}}},
                    {"tenant-b", {{30, S::kListed}}}},
                   {{ip(10, 1, 0, 0), 16, 2},    // tenant-a: 10.1/16
                    {ip(10, 1, 5, 0), 24, 3},    // but 10.1.5/24 is tenant-b's
                    {ip(192, 0, 2, 7), 32, 3}},  // and one host
                   fallback);
}

TEST(PoolState, HostsTakeTheNamedPoolOfTheirLongestBoundPrefix) {
  const PoolState ps = named_pools();
  EXPECT_EQ(ps.pool_of_host(ip(10, 1, 200, 3)), 2);
  EXPECT_EQ(ps.pool_of_host(ip(10, 1, 5, 3)), 3);  // the /24 beats the /16 listed before it
  EXPECT_EQ(ps.pool_of_host(ip(192, 0, 2, 7)), 3);
  EXPECT_EQ(ps.pool_of_host(ip(192, 0, 2, 8)), kNormalPool);
  EXPECT_EQ(ps.pool_of_host(ip(10, 2, 0, 1)), kNormalPool);
  EXPECT_EQ(ps.pool_count(), 4u);
  EXPECT_EQ(ps.name(2), "tenant-a");
  EXPECT_EQ(ps.bindings().front().length, 32);  // longest first
}

TEST(PoolState, ANamedPoolFallsBackOnlyWithinItself) {
  const PoolState ps = named_pools();
  bool fb = true;
  EXPECT_EQ(take(ps, 2, &fb), (std::vector<uint32_t>{20}));
  EXPECT_FALSE(fb);
  EXPECT_EQ(take(ps, 3, &fb), (std::vector<uint32_t>{30}));  // its own listed address
  EXPECT_TRUE(fb);
  const PoolState refusing = named_pools(NoActiveFallback::kRefuse);
  EXPECT_TRUE(take(refusing, 3, &fb).empty());  // never the normal pool's
}

TEST(PoolState, WithStatesChangesOnlyTheNamedAddresses) {
  const PoolState ps = named_pools();
  const std::pair<uint32_t, AddressState> change[] = {{20, S::kDraining}, {30, S::kActive}};
  auto next = ps.with_states(change);
  ASSERT_NE(next, nullptr);
  bool fb = true;
  EXPECT_EQ(take(*next, 2, &fb), (std::vector<uint32_t>{21}));  // 21 listed: the fallback
  EXPECT_TRUE(fb);
  EXPECT_EQ(take(*next, 3, &fb), (std::vector<uint32_t>{30}));
  EXPECT_FALSE(fb);
  EXPECT_EQ(next->pool_of_host(ip(10, 1, 5, 1)), 3);  // the bindings carry over
  const std::pair<uint32_t, AddressState> unknown[] = {{77, S::kListed}};
  EXPECT_EQ(ps.with_states(unknown), nullptr);
}

TEST(PoolState, StateNames) {
  EXPECT_EQ(address_state_name(S::kActive), "active");
  EXPECT_EQ(address_state_name(S::kListed), "listed");
  EXPECT_EQ(address_state_name(S::kDraining), "draining");
}

}  // namespace
}  // namespace smtpgw::flow
