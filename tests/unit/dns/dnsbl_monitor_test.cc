// The blocklist monitor against a real rbldnsd on loopback serving ip4set zones the test writes:
// a listing with its code, its clearing while the test runs, a dead list that lists everything
// (disabled by its test points), a list that answers only errors (never trusted, nothing
// listed), and the bounds on queries.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "control/dns/dnsbl_monitor.h"
#include "tests/unit/dns/rbldnsd.h"

namespace smtpgw::dns {
namespace {

using testing::have_rbldnsd;
using testing::Rbldnsd;

constexpr uint32_t kA = 0x0a63020a;  // 10.99.2.10
constexpr uint32_t kB = 0x0a63020b;  // 10.99.2.11

// bl.test: the test point, and 10.99.2.11 with its own code.
constexpr const char* kList =
    ":127.0.0.2:Listed\n"
    "127.0.0.2\n"
    "10.99.2.11 :127.0.0.4:Seen sending spam\n";
constexpr const char* kListCleared =
    ":127.0.0.2:Listed\n"
    "127.0.0.2\n";
// dead.test lists everything the test asks about, 127.0.0.1 too.
constexpr const char* kDead = ":127.0.0.2:Listed\n10.0.0.0/8\n127.0.0.0/8\n";
// err.test answers every query with Spamhaus' "query refused" code.
constexpr const char* kErr = ":127.255.255.254:Query refused\n10.0.0.0/8\n127.0.0.0/8\n";

uint64_t now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Polls for up to `seconds`, collecting changes, until `done` holds.
template <class Done>
DnsblMonitor::Changes run(DnsblMonitor& m, double seconds, Done done) {
  DnsblMonitor::Changes all;
  const uint64_t end = now_ms() + static_cast<uint64_t>(seconds * 1000);
  while (now_ms() < end) {
    DnsblMonitor::Changes c = m.poll(now_ms());
    all.addresses.insert(all.addresses.end(), c.addresses.begin(), c.addresses.end());
    all.zones.insert(all.zones.end(), c.zones.begin(), c.zones.end());
    if (done(all)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return all;
}

class DnsblMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_rbldnsd()) {
      GTEST_SKIP() << "rbldnsd is not installed (tools/setup installs it)";
    }
    dns_ = std::make_unique<Rbldnsd>(std::vector<std::pair<std::string, std::string>>{
        {"bl.test:ip4set", kList}, {"dead.test:ip4set", kDead}, {"err.test:ip4set", kErr}});
    ASSERT_TRUE(dns_->running()) << "rbldnsd did not start on any port tried";
  }
  std::unique_ptr<DnsblMonitor> monitor(std::vector<std::string> zones,
                                        std::vector<uint32_t> addresses = {kA, kB},
                                        DnsblOptions o = {}) {
    o.zones = std::move(zones);
    o.servers = dns_->server();
    o.timeout_ms = 300;
    o.interval_s = 10;
    o.recheck_min_s = 1;
    std::string error;
    auto m = DnsblMonitor::create(o, addresses, &error);
    EXPECT_TRUE(m) << error;
    return m;
  }
  std::unique_ptr<Rbldnsd> dns_;
};

TEST_F(DnsblMonitorTest, AListedAddressIsReportedWithItsCodeAndClearsWithTheZone) {
  auto m = monitor({"bl.test"});
  ASSERT_TRUE(m);
  auto c = run(*m, 5, [](const DnsblMonitor::Changes& c) { return !c.addresses.empty(); });
  ASSERT_EQ(c.addresses.size(), 1u);
  EXPECT_EQ(c.addresses[0].address, kB);
  EXPECT_TRUE(c.addresses[0].listed);
  EXPECT_EQ(c.addresses[0].zone, "bl.test");
  EXPECT_EQ(c.addresses[0].code, 4);
  EXPECT_TRUE(c.zones.empty());  // trusted from the first test: nothing to report
  EXPECT_TRUE(m->zone_trusted("bl.test"));
  EXPECT_TRUE(m->listed(kB));
  EXPECT_FALSE(m->listed(kA));
  // The list drops the address while the monitor runs: the re-check (backoff from 1 s) clears it.
  dns_->rewrite(0, kListCleared);
  c = run(*m, 10, [](const DnsblMonitor::Changes& c) { return !c.addresses.empty(); });
  ASSERT_EQ(c.addresses.size(), 1u);
  EXPECT_EQ(c.addresses[0].address, kB);
  EXPECT_FALSE(c.addresses[0].listed);
  EXPECT_FALSE(m->listed(kB));
  EXPECT_EQ(m->counter(DnsblCounter::kErrors), 0u);
}

TEST_F(DnsblMonitorTest, ADeadListIsDisabledAndItsListingsNotTrusted) {
  auto m = monitor({"dead.test", "bl.test"});
  ASSERT_TRUE(m);
  auto c = run(*m, 5, [&](const DnsblMonitor::Changes& c) {
    return !c.zones.empty() && !c.addresses.empty() && m->pending() == 0;
  });
  ASSERT_EQ(c.zones.size(), 1u);
  EXPECT_EQ(c.zones[0].zone, "dead.test");
  EXPECT_TRUE(c.zones[0].disabled);
  EXPECT_NE(c.zones[0].why.find("127.0.0.1 is listed"), std::string::npos) << c.zones[0].why;
  EXPECT_FALSE(m->zone_trusted("dead.test"));
  EXPECT_EQ(m->counter(DnsblCounter::kZonesDisabled), 1u);
  // Only bl.test's listing counts.
  ASSERT_EQ(c.addresses.size(), 1u);
  EXPECT_EQ(c.addresses[0].address, kB);
  EXPECT_FALSE(m->listed(kA));
  // Per zone, what each said (the pools page): the dead list, untrusted, was not asked.
  const auto r = m->results(kB);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(*r[0].zone, "dead.test");
  EXPECT_FALSE(r[0].trusted);
  EXPECT_STREQ(r[0].verdict, "unknown");
  EXPECT_EQ(*r[1].zone, "bl.test");
  EXPECT_TRUE(r[1].trusted);
  EXPECT_STREQ(r[1].verdict, "listed");
  EXPECT_EQ(r[1].code, 4);
  EXPECT_GT(r[1].checked_ms, 0u);
  EXPECT_FALSE(r[1].last_error);
  EXPECT_STREQ(m->results(kA)[1].verdict, "clean");
  EXPECT_TRUE(m->results(0x01020304).empty()) << "not watched";
}

TEST_F(DnsblMonitorTest, ErrorAnswersAreNeverListings) {
  auto m = monitor({"err.test"});
  ASSERT_TRUE(m);
  auto c = run(*m, 1.5, [](const DnsblMonitor::Changes&) { return false; });
  EXPECT_TRUE(c.addresses.empty());
  EXPECT_TRUE(c.zones.empty());  // its test points gave errors: nothing concluded
  EXPECT_FALSE(m->zone_trusted("err.test"));
  EXPECT_FALSE(m->listed(kA));
  EXPECT_GE(m->counter(DnsblCounter::kErrors), 2u);
  EXPECT_EQ(m->counter(DnsblCounter::kListedAnswers), 0u);
  // A zone never trusted is not asked about the addresses: nothing known of them.
  const auto r = m->results(kA);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].trusted);
  EXPECT_STREQ(r[0].verdict, "unknown");
  EXPECT_EQ(r[0].checked_ms, 0u);
}

// A server that does not answer: time-outs are errors, nothing is listed or disabled.
TEST(DnsblMonitor, AServerThatDoesNotAnswerListsNothing) {
  DnsblOptions o;
  o.zones = {"bl.test"};
  o.servers = "127.0.0.1:9";
  o.timeout_ms = 100;
  std::string error;
  auto m = DnsblMonitor::create(o, {kA, kB}, &error);
  ASSERT_TRUE(m) << error;
  auto c = run(*m, 1, [](const DnsblMonitor::Changes&) { return false; });
  EXPECT_TRUE(c.empty());
  EXPECT_FALSE(m->zone_trusted("bl.test"));
  EXPECT_GE(m->counter(DnsblCounter::kErrors), 2u);
}

// The bounds: a zone's rate and the queries in flight.
TEST_F(DnsblMonitorTest, QueriesStayWithinTheRateAndTheConcurrency) {
  std::vector<uint32_t> many;
  for (uint32_t i = 0; i < 40; ++i) {
    many.push_back(0x0a630300 + i);  // 10.99.3.0/26, none listed
  }
  DnsblOptions o;
  o.max_pending = 2;
  o.zone_rate = 10;
  auto m = monitor({"bl.test"}, many, o);
  ASSERT_TRUE(m);
  const uint64_t start = now_ms();
  uint32_t most_pending = 0;
  run(*m, 1.0, [&](const DnsblMonitor::Changes&) {
    most_pending = std::max(most_pending, m->pending());
    return false;
  });
  const double seconds = static_cast<double>(now_ms() - start) / 1000.0;
  EXPECT_LE(most_pending, 2u);
  // A bucket of one second's worth plus the rate over the run.
  EXPECT_LE(m->counter(DnsblCounter::kQueries), static_cast<uint64_t>(10 + 10 * seconds + 1));
  EXPECT_GT(m->counter(DnsblCounter::kRateLimited), 0u);
  EXPECT_GE(m->counter(DnsblCounter::kCleanAnswers), 5u);
}

}  // namespace
}  // namespace smtpgw::dns
