// Which addresses a new flow may take from a pool, by state and fallback.
#include "dataplane/flow/pool_state.h"

#include <gtest/gtest.h>

#include <vector>

namespace smtpgw::flow {
namespace {

using S = AddressState;

std::vector<uint32_t> take(const PoolState& ps, Pool p, bool* fell_back) {
  auto c = ps.candidates(p, fell_back);
  return {c.begin(), c.end()};
}

TEST(PoolState, OnlyActiveAddressesAreChosenWhileThereAreAny) {
  PoolState ps({{1, S::kActive}, {2, S::kListed}, {3, S::kDraining}, {4, S::kActive}},
               {{9, S::kActive}}, NoActiveFallback::kUseListed);
  bool fb = true;
  EXPECT_EQ(take(ps, Pool::kNormal, &fb), (std::vector<uint32_t>{1, 4}));
  EXPECT_FALSE(fb);
  EXPECT_EQ(take(ps, Pool::kHighRisk, &fb), (std::vector<uint32_t>{9}));
  EXPECT_TRUE(ps.has_high_risk());
}

TEST(PoolState, NoActiveAddressFallsBackToListedNeverDraining) {
  PoolState ps({{1, S::kListed}, {2, S::kDraining}, {3, S::kListed}}, {},
               NoActiveFallback::kUseListed);
  bool fb = false;
  EXPECT_EQ(take(ps, Pool::kNormal, &fb), (std::vector<uint32_t>{1, 3}));
  EXPECT_TRUE(fb);
  EXPECT_FALSE(ps.has_high_risk());
  // Only draining: nothing, and not counted as a fallback.
  PoolState drained({{2, S::kDraining}}, {}, NoActiveFallback::kUseListed);
  EXPECT_TRUE(take(drained, Pool::kNormal, &fb).empty());
  EXPECT_FALSE(fb);
}

TEST(PoolState, RefuseFallbackGivesNothingWhenNoneIsActive) {
  PoolState ps({{1, S::kListed}}, {{9, S::kListed}}, NoActiveFallback::kRefuse);
  bool fb = true;
  EXPECT_TRUE(take(ps, Pool::kNormal, &fb).empty());
  EXPECT_FALSE(fb);
  EXPECT_TRUE(take(ps, Pool::kHighRisk, &fb).empty());
}

TEST(PoolState, HighRiskNeverFallsBackOntoTheNormalPool) {
  PoolState ps({{1, S::kActive}}, {{9, S::kDraining}}, NoActiveFallback::kUseListed);
  bool fb = true;
  EXPECT_TRUE(take(ps, Pool::kHighRisk, &fb).empty());
  EXPECT_TRUE(ps.has_high_risk());  // configured, so the worker does not use normal instead
}

TEST(PoolState, StateNames) {
  EXPECT_EQ(address_state_name(S::kActive), "active");
  EXPECT_EQ(address_state_name(S::kListed), "listed");
  EXPECT_EQ(address_state_name(S::kDraining), "draining");
}

}  // namespace
}  // namespace smtpgw::flow
