// Route table: longest-prefix match over connected prefixes and static routes, the default
// route, host routes, overlapping prefixes, independence from insertion order, the bounds of
// add (length, capacity), addresses outside every prefix, and a brute-force comparison on random
// tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "dataplane/route/route_table.h"

namespace smtpgw::route {
namespace {

constexpr uint32_t ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

// What add() is given.
struct R {
  uint32_t prefix;
  uint8_t length;
  uint16_t port;
  uint32_t via;
};

// A table holding `routes`, each of which must be accepted.
RouteTable table(const std::vector<R>& routes) {
  RouteTable t;
  for (const R& r : routes) {
    EXPECT_TRUE(t.add(r.prefix, r.length, r.port, r.via))
        << std::hex << r.prefix << "/" << std::dec << int{r.length};
  }
  return t;
}

constexpr uint16_t kMiss = 0xffff;  // a probe that must match nothing

// One lookup and its expected answer: the port and the address to resolve.
struct Probe {
  uint32_t dst;
  uint16_t port;
  uint32_t next = 0;
};

// The port and next hop lookup gives for dst, {kMiss, 0} when it finds none.
std::pair<uint16_t, uint32_t> answer(const RouteTable& t, uint32_t dst) {
  NextHop nh;
  return t.lookup(dst, &nh) ? std::make_pair(nh.port, nh.ip) : std::make_pair(kMiss, 0u);
}

void check(const RouteTable& t, const std::vector<Probe>& probes) {
  for (const Probe& p : probes) {
    EXPECT_EQ(answer(t, p.dst), std::make_pair(p.port, p.next)) << std::hex << p.dst;
  }
}

TEST(PrefixMask, Lengths) {
  EXPECT_EQ(prefix_mask(0), 0u);
  EXPECT_EQ(prefix_mask(1), 0x80000000u);
  EXPECT_EQ(prefix_mask(8), 0xff000000u);
  EXPECT_EQ(prefix_mask(24), 0xffffff00u);
  EXPECT_EQ(prefix_mask(31), 0xfffffffeu);
  EXPECT_EQ(prefix_mask(32), 0xffffffffu);
}

// {what, routes added in this order, lookups and their answers}.
struct Case {
  const char* what;
  std::vector<R> routes;
  std::vector<Probe> probes;
};

const Case kCases[] = {
    {"an empty table matches nothing",
     {},
     {{0, kMiss}, {ip(10, 0, 0, 1), kMiss}, {ip(255, 255, 255, 255), kMiss}}},
    {"a connected prefix: the destination itself is the next hop",
     {{ip(10, 99, 1, 0), 24, 0, 0}},
     {{ip(10, 99, 1, 0), 0, ip(10, 99, 1, 0)},
      {ip(10, 99, 1, 5), 0, ip(10, 99, 1, 5)},
      {ip(10, 99, 1, 255), 0, ip(10, 99, 1, 255)}}},
    {"the default route matches every address",
     {{0, 0, 1, ip(10, 99, 2, 2)}},
     {{0, 1, ip(10, 99, 2, 2)},
      {ip(8, 8, 8, 8), 1, ip(10, 99, 2, 2)},
      {ip(127, 0, 0, 1), 1, ip(10, 99, 2, 2)},
      {ip(255, 255, 255, 255), 1, ip(10, 99, 2, 2)}}},
    {"the longest prefix wins: default, /8 and /16 via routers, connected /24, /25, host",
     {{0, 0, 1, ip(10, 99, 2, 2)},
      {ip(10, 0, 0, 0), 8, 2, ip(10, 99, 1, 8)},
      {ip(10, 99, 0, 0), 16, 3, ip(10, 99, 1, 16)},
      {ip(10, 99, 1, 0), 24, 0, 0},
      {ip(10, 99, 1, 128), 25, 4, ip(10, 99, 1, 1)},
      {ip(10, 99, 1, 200), 32, 5, ip(10, 99, 1, 2)}},
     {{ip(8, 8, 8, 8), 1, ip(10, 99, 2, 2)},
      {ip(10, 1, 2, 3), 2, ip(10, 99, 1, 8)},
      {ip(10, 99, 7, 7), 3, ip(10, 99, 1, 16)},
      {ip(10, 99, 1, 5), 0, ip(10, 99, 1, 5)},
      {ip(10, 99, 1, 127), 0, ip(10, 99, 1, 127)},
      {ip(10, 99, 1, 128), 4, ip(10, 99, 1, 1)},
      {ip(10, 99, 1, 199), 4, ip(10, 99, 1, 1)},
      {ip(10, 99, 1, 200), 5, ip(10, 99, 1, 2)},
      {ip(10, 99, 1, 201), 4, ip(10, 99, 1, 1)}}},
    {"a host route matches only its address (a connected one is its own next hop)",
     {{ip(192, 0, 2, 25), 32, 3, ip(192, 0, 2, 1)}, {ip(192, 0, 2, 99), 32, 1, 0}},
     {{ip(192, 0, 2, 25), 3, ip(192, 0, 2, 1)},
      {ip(192, 0, 2, 24), kMiss},
      {ip(192, 0, 2, 26), kMiss},
      {ip(192, 0, 2, 99), 1, ip(192, 0, 2, 99)}}},
    {"a /12, its two /13 halves and a /14 in the first: the most specific, split at the edges",
     {{ip(172, 16, 0, 0), 12, 1, ip(10, 0, 0, 1)},
      {ip(172, 16, 0, 0), 13, 2, ip(10, 0, 0, 2)},
      {ip(172, 24, 0, 0), 13, 3, ip(10, 0, 0, 3)},
      {ip(172, 20, 0, 0), 14, 4, ip(10, 0, 0, 4)}},
     {{ip(172, 16, 0, 0), 2, ip(10, 0, 0, 2)},
      {ip(172, 19, 255, 255), 2, ip(10, 0, 0, 2)},
      {ip(172, 20, 0, 0), 4, ip(10, 0, 0, 4)},
      {ip(172, 23, 255, 255), 4, ip(10, 0, 0, 4)},
      {ip(172, 24, 0, 0), 3, ip(10, 0, 0, 3)},
      {ip(172, 31, 255, 255), 3, ip(10, 0, 0, 3)},
      {ip(172, 15, 255, 255), kMiss},
      {ip(172, 32, 0, 0), kMiss}}},
    {"addresses outside every prefix match nothing",
     {{ip(10, 99, 1, 0), 24, 0, 0},
      {ip(10, 99, 2, 0), 24, 1, 0},
      {ip(198, 51, 100, 7), 32, 1, ip(10, 99, 2, 1)}},
     {{0, kMiss},
      {ip(10, 99, 0, 255), kMiss},
      {ip(10, 99, 3, 0), kMiss},
      {ip(10, 98, 1, 1), kMiss},
      {ip(198, 51, 100, 6), kMiss},
      {ip(198, 51, 100, 8), kMiss},
      {ip(255, 255, 255, 255), kMiss}}},
};

TEST(RouteTable, GoldenCases) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.what);
    const RouteTable t = table(c.routes);
    EXPECT_EQ(t.size(), c.routes.size());
    check(t, c.probes);
  }
}

TEST(RouteTable, HostBitsOfThePrefixAreIgnored) {
  RouteTable t = table({{ip(10, 1, 2, 3), 24, 1, 0}});
  check(t, {{ip(10, 1, 2, 200), 1, ip(10, 1, 2, 200)}, {ip(10, 1, 3, 3), kMiss}});
  // Length 0 with any prefix is the default route.
  ASSERT_TRUE(t.add(ip(203, 0, 113, 9), 0, 2, ip(10, 1, 2, 1)));
  check(t, {{ip(8, 8, 4, 4), 2, ip(10, 1, 2, 1)}});
}

TEST(RouteTable, SamePrefixAndLengthFirstAddedWins) {
  RouteTable t = table({
      {ip(10, 99, 1, 0), 24, 0, 0},                // connected, added first
      {ip(10, 99, 1, 0), 24, 1, ip(10, 0, 0, 1)},  // a static route for the same prefix
  });
  EXPECT_EQ(t.size(), 2u);
  check(t, {{ip(10, 99, 1, 9), 0, ip(10, 99, 1, 9)}});
  // A longer route added later still wins over both.
  ASSERT_TRUE(t.add(ip(10, 99, 1, 0), 25, 2, ip(10, 0, 0, 2)));
  check(t, {{ip(10, 99, 1, 9), 2, ip(10, 0, 0, 2)}});
}

// The six routes of one table added in every order give the same answers.
TEST(RouteTable, InsertionOrderDoesNotMatter) {
  std::array<R, 6> routes = {{
      {0, 0, 1, ip(10, 0, 0, 1)},
      {ip(10, 0, 0, 0), 8, 2, ip(10, 0, 0, 2)},
      {ip(10, 99, 0, 0), 16, 3, 0},
      {ip(10, 99, 1, 0), 24, 4, 0},
      {ip(10, 99, 1, 64), 26, 5, ip(10, 0, 0, 5)},
      {ip(10, 99, 1, 77), 32, 6, ip(10, 0, 0, 6)},
  }};
  const std::vector<Probe> want = {
      {ip(1, 2, 3, 4), 1, ip(10, 0, 0, 1)},        {ip(10, 1, 1, 1), 2, ip(10, 0, 0, 2)},
      {ip(10, 99, 0, 1), 3, ip(10, 99, 0, 1)},     {ip(10, 99, 1, 1), 4, ip(10, 99, 1, 1)},
      {ip(10, 99, 1, 63), 4, ip(10, 99, 1, 63)},   {ip(10, 99, 1, 64), 5, ip(10, 0, 0, 5)},
      {ip(10, 99, 1, 76), 5, ip(10, 0, 0, 5)},     {ip(10, 99, 1, 77), 6, ip(10, 0, 0, 6)},
      {ip(10, 99, 1, 78), 5, ip(10, 0, 0, 5)},     {ip(10, 99, 1, 127), 5, ip(10, 0, 0, 5)},
      {ip(10, 99, 1, 128), 4, ip(10, 99, 1, 128)}, {ip(11, 0, 0, 0), 1, ip(10, 0, 0, 1)},
  };
  const auto by_port = [](const R& a, const R& b) { return a.port < b.port; };
  int orders = 0;
  do {
    RouteTable t;
    for (const R& r : routes) {
      ASSERT_TRUE(t.add(r.prefix, r.length, r.port, r.via));
    }
    for (const Probe& p : want) {
      ASSERT_EQ(answer(t, p.dst), std::make_pair(p.port, p.next))
          << "order " << orders << ", dst " << std::hex << p.dst;
    }
    ++orders;
  } while (std::next_permutation(routes.begin(), routes.end(), by_port));
  EXPECT_EQ(orders, 720);  // 6!
}

TEST(RouteTable, LengthAbove32IsRefused) {
  RouteTable t = table({{ip(10, 0, 0, 0), 8, 1, 0}});
  EXPECT_FALSE(t.add(ip(10, 1, 1, 1), 33, 2, 0));
  EXPECT_FALSE(t.add(ip(10, 1, 1, 1), 255, 2, 0));
  EXPECT_EQ(t.size(), 1u);
  check(t, {{ip(10, 1, 1, 1), 1, ip(10, 1, 1, 1)}});
}

TEST(RouteTable, FullTableRefusesMoreAndKeepsWhatItHas) {
  RouteTable t;
  for (uint32_t i = 0; i < kMaxRoutes; ++i) {
    ASSERT_TRUE(t.add(ip(10, 0, i, 0), 24, static_cast<uint16_t>(i), 0)) << i;
  }
  EXPECT_EQ(t.size(), kMaxRoutes);
  // Neither a new prefix, nor a longer one inside a kept prefix, nor a default gets in.
  EXPECT_FALSE(t.add(ip(10, 0, kMaxRoutes, 0), 24, 99, 0));
  EXPECT_FALSE(t.add(ip(10, 0, 5, 7), 32, 99, ip(10, 0, 5, 1)));
  EXPECT_FALSE(t.add(0, 0, 99, ip(10, 0, 0, 1)));
  EXPECT_EQ(t.size(), kMaxRoutes);
  for (uint32_t i = 0; i < kMaxRoutes; ++i) {
    check(t, {{ip(10, 0, i, 7), static_cast<uint16_t>(i), ip(10, 0, i, 7)}});
  }
  check(t, {{ip(10, 0, kMaxRoutes, 7), kMiss}, {ip(8, 8, 8, 8), kMiss}});
}

// Random tables of up to kMaxRoutes routes over a few overlapping bases (duplicates included),
// compared with the definition: among the routes that contain dst, the longest, and of equal
// ones the first added.
TEST(RouteTable, MatchesBruteForceOnRandomTables) {
  std::mt19937 rng(7);
  const std::array<uint32_t, 4> bases = {ip(10, 99, 1, 77), ip(10, 99, 200, 1), ip(192, 0, 2, 1),
                                         ip(0, 0, 0, 0)};
  auto near = [&](uint32_t base) -> uint32_t {
    // Flip some low bits so probes and prefixes land on both sides of many boundaries.
    const uint32_t low = rng() % 2 != 0 ? 0xffu : 0xffffffu;
    return base ^ (static_cast<uint32_t>(rng()) & low);
  };
  for (int trial = 0; trial < 300; ++trial) {
    RouteTable t;
    std::vector<R> added;
    const uint32_t n = 1 + rng() % kMaxRoutes;
    for (uint32_t i = 0; i < n; ++i) {
      const R r{near(bases[rng() % bases.size()]), static_cast<uint8_t>(rng() % 33),
                static_cast<uint16_t>(i), rng() % 3 == 0 ? 0u : static_cast<uint32_t>(rng())};
      ASSERT_TRUE(t.add(r.prefix, r.length, r.port, r.via));
      added.push_back(r);
    }
    ASSERT_EQ(t.size(), n);
    for (int probe = 0; probe < 200; ++probe) {
      const uint32_t dst = probe % 8 == 0 ? rng() : near(bases[rng() % bases.size()]);
      const R* best = nullptr;
      for (const R& r : added) {
        if ((dst & prefix_mask(r.length)) == (r.prefix & prefix_mask(r.length)) &&
            (best == nullptr || r.length > best->length)) {
          best = &r;
        }
      }
      const auto want = best == nullptr
                            ? std::make_pair(kMiss, 0u)
                            : std::make_pair(best->port, best->via != 0 ? best->via : dst);
      ASSERT_EQ(answer(t, dst), want) << "trial " << trial << ", dst " << std::hex << dst;
    }
  }
}

}  // namespace
}  // namespace smtpgw::route
