// SNAT binding table: allocation, lookups both ways, exhaustion of ports and of the table,
// TCP-state timeouts, expiry freeing ports, worker slices, rendezvous stability.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "dataplane/flow/nat_table.h"

namespace smtpgw::flow {
namespace {

NatTableConfig config(uint32_t max, uint16_t lo, uint16_t hi) {
  NatTableConfig c;
  c.max_bindings = max;
  c.port_min = lo;
  c.port_max = hi;
  c.egress_addresses = {0x0a000a0a, 0x0a000a0b};
  c.timeouts = {30, 7440, 240, 10, 60, 30};
  return c;
}

FlowKey key(uint16_t sport) { return {0x0a000102, 0xc0000219, sport, 25, 6}; }

TEST(NatTable, CreateAndLookupBothWays) {
  NatTable t(config(16, 2000, 2099));
  Binding* b = nullptr;
  ASSERT_EQ(t.create(key(40000), 0x0a000a0a, 0, 1, &b), CreateResult::kOk);
  EXPECT_EQ(b->egress_ip, 0x0a000a0au);
  EXPECT_GE(b->nat_port, 2000);
  EXPECT_LE(b->nat_port, 2099);
  EXPECT_EQ(t.lookup_inside(key(40000)), b);
  EXPECT_EQ(t.lookup_outside(0xc0000219, 25, 0x0a000a0a, b->nat_port, 6), b);
  EXPECT_EQ(t.lookup_outside(0xc0000219, 26, 0x0a000a0a, b->nat_port, 6), nullptr);
  EXPECT_EQ(t.lookup_outside(0xc0000219, 25, 0x0a000a0b, b->nat_port, 6), nullptr);
  EXPECT_EQ(t.lookup_inside(key(40001)), nullptr);
  EXPECT_EQ(t.size(), 1u);
}

TEST(NatTable, PortsAreUniqueUntilExhausted) {
  NatTable t(config(1000, 3000, 3009));
  std::set<uint16_t> ports;
  for (uint16_t i = 0; i < 10; ++i) {
    Binding* b;
    ASSERT_EQ(t.create(key(40000 + i), 0x0a000a0a, 0, 1, &b), CreateResult::kOk);
    ports.insert(b->nat_port);
  }
  EXPECT_EQ(ports.size(), 10u);
  Binding* b;
  EXPECT_EQ(t.create(key(41000), 0x0a000a0a, 0, 1, &b), CreateResult::kPortsExhausted);
  // The other address has its own ports.
  EXPECT_EQ(t.create(key(41000), 0x0a000a0b, 0, 1, &b), CreateResult::kOk);
  EXPECT_EQ(t.create(key(41001), 0x01020304, 0, 1, &b), CreateResult::kUnknownEgress);
}

TEST(NatTable, TableFull) {
  NatTable t(config(4, 1024, 65535));
  Binding* b;
  for (uint16_t i = 0; i < 4; ++i) {
    ASSERT_EQ(t.create(key(i + 1), 0x0a000a0a, 0, 1, &b), CreateResult::kOk);
  }
  EXPECT_EQ(t.create(key(99), 0x0a000a0a, 0, 1, &b), CreateResult::kTableFull);
}

TEST(NatTable, TimeoutsFollowTcpState) {
  NatTable t(config(16, 2000, 2099));
  Binding* b;
  ASSERT_EQ(t.create(key(1), 0x0a000a0a, 0, 0, &b), CreateResult::kOk);
  EXPECT_EQ(t.expire(30, 16), 0u);  // syn timeout 30: not yet
  NatTable::track_tcp(b, 0x12, false, 30);  // SYN-ACK from outside
  EXPECT_EQ(b->state, State::kEstablished);
  EXPECT_EQ(t.expire(30 + 7440, 16), 0u);
  NatTable::track_tcp(b, 0x11, true, 100);  // FIN from inside
  EXPECT_EQ(b->state, State::kClosing);
  NatTable::track_tcp(b, 0x11, false, 100);
  EXPECT_EQ(b->state, State::kClosed);
  EXPECT_EQ(t.expire(110, 16), 0u);
  EXPECT_EQ(t.expire(111, 16), 1u);  // closed timeout 10
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.lookup_inside(key(1)), nullptr);
}

TEST(NatTable, UnansweredSynExpires) {
  NatTable t(config(16, 2000, 2099));
  Binding* b;
  ASSERT_EQ(t.create(key(1), 0x0a000a0a, 0, 0, &b), CreateResult::kOk);
  EXPECT_EQ(t.expire(31, 16), 1u);
}

TEST(NatTable, ResetClosesAtOnce) {
  NatTable t(config(16, 2000, 2099));
  Binding* b;
  ASSERT_EQ(t.create(key(1), 0x0a000a0a, 0, 0, &b), CreateResult::kOk);
  NatTable::track_tcp(b, 0x04, false, 5);
  EXPECT_EQ(b->state, State::kClosed);
}

TEST(NatTable, ExpiryFreesPortsAndIndexesStayConsistent) {
  // Churn: create, expire half, create again; every live binding stays findable both ways.
  NatTable t(config(512, 10000, 10511));
  std::vector<Binding*> live;
  uint64_t now = 0;
  for (int round = 0; round < 20; ++round) {
    for (uint16_t i = 0; i < 200; ++i) {
      Binding* b;
      const FlowKey k{0x0a000100u + round, 0xc0000219, static_cast<uint16_t>(1000 + i), 25, 6};
      if (t.create(k, 0x0a000a0a, 0, now, &b) == CreateResult::kOk) {
        if (i % 2) {
          NatTable::track_tcp(b, 0x04, true, now);  // closed: expires after 10
        } else {
          NatTable::track_tcp(b, 0x12, false, now);  // established
        }
      }
    }
    now += 11;
    t.expire(now, 512);
    for (uint32_t a = 0; a <= static_cast<uint32_t>(round); ++a) {
      for (uint16_t i = 0; i < 200; i += 2) {
        const FlowKey k{0x0a000100u + a, 0xc0000219, static_cast<uint16_t>(1000 + i), 25, 6};
        Binding* b = t.lookup_inside(k);
        if (b != nullptr) {
          ASSERT_EQ(t.lookup_outside(k.dst_ip, 25, b->egress_ip, b->nat_port, 6), b);
        }
      }
    }
  }
  EXPECT_LE(t.size(), 512u);
  EXPECT_GT(t.size(), 0u);
}

TEST(NatTable, WorkerSlicesAndOwner) {
  NatTableConfig c = config(16, 1024, 65535);
  c.worker_count = 4;
  c.worker_index = 2;
  NatTable t(c);
  Binding* b;
  ASSERT_EQ(t.create(key(1), 0x0a000a0a, 0, 0, &b), CreateResult::kOk);
  EXPECT_EQ(t.owner_of_port(b->nat_port), 2);
  EXPECT_GE(b->nat_port, t.slice_min());
  EXPECT_LE(b->nat_port, t.slice_max());
  EXPECT_EQ(t.owner_of_port(1024), 0);
  EXPECT_EQ(t.owner_of_port(80), 4);  // below the range: nobody
}

TEST(Rendezvous, StableAndMovesOnlyHostsOfRemovedAddress) {
  const std::vector<uint32_t> three = {0x0a000a0a, 0x0a000a0b, 0x0a000a0c};
  const std::vector<uint32_t> two = {0x0a000a0a, 0x0a000a0c};
  int moved = 0, on_removed = 0;
  std::set<uint32_t> used;
  for (uint32_t h = 0; h < 3000; ++h) {
    const uint32_t host = 0x0a010000 + h;
    const uint32_t a = rendezvous_pick(host, three);
    EXPECT_EQ(a, rendezvous_pick(host, three));
    used.insert(a);
    const uint32_t b = rendezvous_pick(host, two);
    if (a == 0x0a000a0b) {
      ++on_removed;
    } else {
      EXPECT_EQ(a, b) << "a host on a remaining address must keep it";
    }
    moved += a != b;
  }
  EXPECT_EQ(moved, on_removed);
  EXPECT_EQ(used.size(), 3u);  // all addresses are used
  EXPECT_EQ(rendezvous_pick(1, {}), 0u);
}

}  // namespace
}  // namespace smtpgw::flow
