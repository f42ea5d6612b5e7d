// Neighbour table: learn/lookup, ageing, static entries, request rate limit, capacity, and
// concurrent learners/readers (suite tsan).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "dataplane/arp/arp_frame.h"
#include "dataplane/arp/neighbor_table.h"
#include "dataplane/packet/parse.h"

namespace smtpgw::arp {
namespace {

packet::MacAddr mac(uint8_t last) { return packet::MacAddr{{2, 0, 0, 0, 0, last}}; }

TEST(NeighborTable, LearnLookupAge) {
  NeighborTable t(64);
  packet::MacAddr m;
  EXPECT_EQ(t.lookup(0x0a000001, 0, 0, 100, &m), NeighborTable::Lookup::kUnresolved);
  ASSERT_TRUE(t.learn(0x0a000001, 0, mac(1), 10));
  ASSERT_EQ(t.lookup(0x0a000001, 0, 50, 100, &m), NeighborTable::Lookup::kResolved);
  EXPECT_EQ(m, mac(1));
  EXPECT_EQ(t.lookup(0x0a000001, 1, 50, 100, &m), NeighborTable::Lookup::kUnresolved)
      << "an address learned on another port is not this port's neighbour";
  EXPECT_EQ(t.lookup(0x0a000001, 0, 111, 100, &m), NeighborTable::Lookup::kUnresolved);
  ASSERT_TRUE(t.learn(0x0a000001, 0, mac(2), 111));
  ASSERT_EQ(t.lookup(0x0a000001, 0, 112, 100, &m), NeighborTable::Lookup::kResolved);
  EXPECT_EQ(m, mac(2));
}

TEST(NeighborTable, StaticEntriesNeverAgeNorChange) {
  NeighborTable t(16);
  ASSERT_TRUE(t.learn(7, 1, mac(7), 0, true));
  ASSERT_TRUE(t.learn(7, 1, mac(8), 5));  // what the wire says does not override config
  packet::MacAddr m;
  ASSERT_EQ(t.lookup(7, 1, 1'000'000, 10, &m), NeighborTable::Lookup::kResolved);
  EXPECT_EQ(m, mac(7));
}

TEST(NeighborTable, RequestsAreRateLimited) {
  NeighborTable t(16);
  EXPECT_TRUE(t.should_request(9, 0, 100, 50));
  EXPECT_FALSE(t.should_request(9, 0, 120, 50));
  EXPECT_TRUE(t.should_request(9, 0, 151, 50));
}

TEST(NeighborTable, FullIsCounted) {
  NeighborTable t(16);
  for (uint32_t i = 1; i <= 16; ++i) {
    ASSERT_TRUE(t.learn(i, 0, mac(1), 0));
  }
  EXPECT_FALSE(t.learn(99, 0, mac(1), 0));
  EXPECT_EQ(t.full_count(), 1u);
  EXPECT_EQ(t.size(), 16u);
}

TEST(NeighborTable, ConcurrentLearnersAndReaders) {
  NeighborTable t(1024);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      while (!go.load()) {
      }
      for (uint32_t i = 1; i <= 500; ++i) {
        t.learn(i, 0, mac(static_cast<uint8_t>(i)), static_cast<uint64_t>(w));
      }
    });
  }
  threads.emplace_back([&] {
    while (!go.load()) {
    }
    packet::MacAddr m;
    for (int round = 0; round < 20; ++round) {
      for (uint32_t i = 1; i <= 500; ++i) {
        if (t.lookup(i, 0, 0, ~0ull, &m) == NeighborTable::Lookup::kResolved) {
          ASSERT_EQ(m, mac(static_cast<uint8_t>(i)));  // never a torn or foreign MAC
        }
      }
    }
  });
  go.store(true);
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(t.size(), 500u);  // two learners of the same address share one slot
}

TEST(ArpFrame, RequestAndReplyParseBack) {
  uint8_t buf[64];
  const uint32_t n = build_request(buf, mac(1), 0x0a000101, 0x0a000102, 0);
  ASSERT_EQ(n, kArpFrameLen);
  packet::ParsedPacket p;
  ASSERT_EQ(packet::parse_frame(buf, n, {}, &p), packet::ParseResult::kOk);
  EXPECT_EQ(p.arp_op, 1);
  EXPECT_EQ(p.arp_tpa, 0x0a000102u);
  EXPECT_TRUE(packet::load_mac(buf).is_broadcast());
  const uint32_t r = build_reply(buf, mac(1), 0x0a000101, mac(2), 0x0a000102, 5);
  ASSERT_EQ(r, kArpFrameLen + 4);
  ASSERT_EQ(packet::parse_frame(buf, r, {}, &p), packet::ParseResult::kOk);
  EXPECT_EQ(p.arp_op, 2);
  EXPECT_EQ(p.vlan_id, 5);
  EXPECT_EQ(p.arp_spa, 0x0a000101u);
  EXPECT_EQ(p.arp_sha, mac(1));
}

}  // namespace
}  // namespace smtpgw::arp
