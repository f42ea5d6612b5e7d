// The pool address index: every address found at its position, nothing else found, repeats
// keep their first position, with a full pool of 4,096 consecutive addresses (the most a pool
// may hold).
#include <gtest/gtest.h>

#include <vector>

#include "dataplane/flow/address_index.h"

namespace smtpgw::flow {
namespace {

TEST(AddressIndexTest, EmptyFindsNothing) {
  AddressIndex empty;
  EXPECT_EQ(empty.find(0x0a000001), -1);
  AddressIndex built(std::vector<uint32_t>{});
  EXPECT_FALSE(built.contains(0));
}

TEST(AddressIndexTest, FindsEveryAddressAtItsPosition) {
  std::vector<uint32_t> pool;
  for (uint32_t i = 0; i < 4096; ++i) {
    pool.push_back(0x0a630000 + i);  // 10.99.0.0/20, consecutive
  }
  AddressIndex index(pool);
  for (uint32_t i = 0; i < pool.size(); ++i) {
    ASSERT_EQ(index.find(pool[i]), static_cast<int32_t>(i));
  }
  EXPECT_EQ(index.find(0x0a630000 + 4096), -1);
  EXPECT_EQ(index.find(0x0a62ffff), -1);
  EXPECT_FALSE(index.contains(0));
}

TEST(AddressIndexTest, RepeatKeepsItsFirstPosition) {
  AddressIndex index(std::vector<uint32_t>{7, 9, 7, 11});
  EXPECT_EQ(index.find(7), 0);
  EXPECT_EQ(index.find(9), 1);
  EXPECT_EQ(index.find(11), 3);
}

}  // namespace
}  // namespace smtpgw::flow
