#include "contract/ip_prefix.h"

#include <gtest/gtest.h>

#include <array>

namespace smtpgw::ip {
namespace {

std::array<uint8_t, 16> v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

TEST(IpPrefix, ParsesWhatTheConfigSpells) {
  Prefix p;
  ASSERT_TRUE(p.parse("10.1.0.0/16"));
  EXPECT_FALSE(p.v6);
  EXPECT_EQ(p.len, 16);
  ASSERT_TRUE(p.parse("10.1.2.3"));
  EXPECT_EQ(p.len, 32) << "an address alone is its /32";
  ASSERT_TRUE(p.parse("2001:db8::/32"));
  EXPECT_TRUE(p.v6);
  EXPECT_EQ(p.len, 32);
  ASSERT_TRUE(p.parse("2001:db8::1"));
  EXPECT_EQ(p.len, 128);
  ASSERT_TRUE(p.parse("0.0.0.0/0"));
  EXPECT_EQ(p.len, 0);
  for (const char* bad : {"", "10.1.0.0/", "10.1.0.0/33", "2001:db8::/129", "10.1.0.0/1x",
                          "10.1.0.0/0016", "10.1.0/16", "host/8", "10.1.0.0/-1"}) {
    EXPECT_FALSE(p.parse(bad)) << bad;
  }
}

TEST(IpPrefix, MatchesByBitsAndFamily) {
  Prefix p;
  ASSERT_TRUE(p.parse("10.1.128.0/17"));
  EXPECT_TRUE(p.contains(false, v4(10, 1, 128, 0).data()));
  EXPECT_TRUE(p.contains(false, v4(10, 1, 255, 255).data()));
  EXPECT_FALSE(p.contains(false, v4(10, 1, 127, 255).data())) << "the 17th bit differs";
  EXPECT_FALSE(p.contains(false, v4(10, 2, 128, 1).data()));
  EXPECT_FALSE(p.contains(true, v4(10, 1, 128, 0).data())) << "another family never matches";
  ASSERT_TRUE(p.parse("0.0.0.0/0"));
  EXPECT_TRUE(p.contains(false, v4(192, 0, 2, 1).data()));
  ASSERT_TRUE(p.parse("2001:db8::/33"));
  std::array<uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8, 0x7f};
  EXPECT_TRUE(p.contains(true, a.data()));
  a[4] = 0x80;
  EXPECT_FALSE(p.contains(true, a.data()));
}

}  // namespace
}  // namespace smtpgw::ip
