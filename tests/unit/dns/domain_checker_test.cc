// The sender-domain check against a real DNS server: rbldnsd (Debian's package, as a DNSBL
// operator runs it) serves a zone with its generic dataset on a loopback port; the checker
// looks the names up through c-ares exactly as the gateway does.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "control/dns/domain_checker.h"
#include "tests/unit/dns/rbldnsd.h"

namespace smtpgw::dns {
namespace {

using testing::have_rbldnsd;
using testing::Rbldnsd;

constexpr const char* kZone =
    "good MX 10 mx.good.test\n"
    "mx.good A 10.99.2.2\n"
    "aonly A 10.99.2.3\n"
    "txtonly TXT \"no mail here\"\n"
    "nullmx MX 0 .\n";

// Polls until nothing is pending (or 5 s), collecting the changes.
std::vector<DomainChecker::Change> settle(DomainChecker& c, uint64_t now_s) {
  std::vector<DomainChecker::Change> all;
  for (int i = 0; i < 500; ++i) {
    for (auto& ch : c.poll(now_s)) {
      all.push_back(std::move(ch));
    }
    if (c.pending() == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return all;
}

class DomainCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_rbldnsd()) {
      GTEST_SKIP() << "rbldnsd is not installed (tools/setup installs it)";
    }
    dns_ = std::make_unique<Rbldnsd>(
        std::vector<std::pair<std::string, std::string>>{{"test:generic", kZone}});
    ASSERT_TRUE(dns_->running()) << "rbldnsd did not start on any port tried";
  }
  std::unique_ptr<DomainChecker> checker(DomainOptions o = {}) {
    o.servers = dns_->server();
    o.timeout_ms = 500;
    std::string error;
    auto c = DomainChecker::create(o, &error);
    EXPECT_TRUE(c) << error;
    return c;
  }
  std::unique_ptr<Rbldnsd> dns_;
};

TEST_F(DomainCheckerTest, MarksDomainsThatCannotReceiveMail) {
  auto c = checker();
  ASSERT_TRUE(c);
  const uint64_t now = 1'800'000'000;
  for (const char* d : {"good.test", "AOnly.test", "txtonly.test", "nosuch.test", "nullmx.test"}) {
    c->seen(d, now);
  }
  const auto changes = settle(*c, now);
  EXPECT_EQ(c->pending(), 0u);
  EXPECT_EQ(c->finding("good.test"), Finding::kMailHost);
  EXPECT_EQ(c->finding("aonly.test"), Finding::kMailHost);  // the implicit MX
  EXPECT_EQ(c->finding("txtonly.test"), Finding::kNoRecords);
  EXPECT_EQ(c->finding("nosuch.test"), Finding::kNoDomain);
  EXPECT_EQ(c->finding("nullmx.test"), Finding::kNullMx);
  EXPECT_EQ(c->marked(), (std::vector<std::string>{"nosuch.test", "nullmx.test", "txtonly.test"}));
  EXPECT_EQ(changes.size(), 3u);
  for (const auto& ch : changes) {
    EXPECT_TRUE(ch.marked) << ch.domain;
  }
  EXPECT_EQ(c->counter(DomainCounter::kLookups), 5u);
  EXPECT_EQ(c->counter(DomainCounter::kMarked), 3u);
  EXPECT_EQ(c->counter(DomainCounter::kMailHost), 2u);
  EXPECT_EQ(c->counter(DomainCounter::kFailed), 0u);
}

// Seen again within its TTL a domain is not looked up again; after it, it is.
TEST_F(DomainCheckerTest, LooksUpAgainOnlyAfterTheTtl) {
  DomainOptions o;
  o.missing_ttl_s = 600;
  auto c = checker(o);
  ASSERT_TRUE(c);
  uint64_t now = 1'800'000'000;
  c->seen("nosuch.test", now);
  settle(*c, now);
  c->seen("NOSUCH.test", now + 599);
  settle(*c, now + 599);
  EXPECT_EQ(c->counter(DomainCounter::kLookups), 1u);
  c->seen("nosuch.test", now + 600);
  const auto changes = settle(*c, now + 600);
  EXPECT_EQ(c->counter(DomainCounter::kLookups), 2u);
  EXPECT_TRUE(changes.empty());  // still marked: nothing to publish
  EXPECT_EQ(c->marked().size(), 1u);
  // Not seen for twice its TTL: forgotten, and unmarked.
  const auto forgotten = c->poll(now + 600 + 1201);
  ASSERT_EQ(forgotten.size(), 1u);
  EXPECT_FALSE(forgotten[0].marked);
  EXPECT_EQ(c->size(), 0u);
  EXPECT_EQ(c->counter(DomainCounter::kForgotten), 1u);
}

// Bounds: lookups in flight and domains remembered; names that are no domain.
TEST_F(DomainCheckerTest, BoundsAreCounted) {
  DomainOptions o;
  o.max_pending = 1;
  o.max_domains = 2;
  auto c = checker(o);
  ASSERT_TRUE(c);
  const uint64_t now = 1'800'000'000;
  c->seen("good.test", now);
  c->seen("aonly.test", now);  // one lookup in flight already
  EXPECT_EQ(c->counter(DomainCounter::kPendingFull), 1u);
  settle(*c, now);
  c->seen("aonly.test", now);  // seen again: checked now
  settle(*c, now);
  c->seen("txtonly.test", now);
  EXPECT_EQ(c->counter(DomainCounter::kTableFull), 1u);
  for (const char* bad : {"", "[192.0.2.1]", "a..b", "bad domain.test", "-"}) {
    c->seen(bad, now);
  }
  EXPECT_GE(c->counter(DomainCounter::kInvalid), 4u);
  EXPECT_EQ(c->size(), 2u);
}

// A server that does not answer marks nothing: a resolver outage must not defer everybody.
TEST(DomainChecker, AFailedLookupMarksNothing) {
  DomainOptions o;
  o.servers = "127.0.0.1:9";  // discard: nothing answers DNS there
  o.timeout_ms = 200;
  std::string error;
  auto c = DomainChecker::create(o, &error);
  ASSERT_TRUE(c) << error;
  const uint64_t now = 1'800'000'000;
  c->seen("nosuch.test", now);
  const auto changes = settle(*c, now);
  EXPECT_EQ(c->pending(), 0u);
  EXPECT_TRUE(changes.empty());
  EXPECT_TRUE(c->marked().empty());
  EXPECT_EQ(c->counter(DomainCounter::kFailed), 1u);
  EXPECT_EQ(c->finding("nosuch.test"), Finding::kUnknown);
}

TEST(DomainChecker, ABadServerListIsAnError) {
  DomainOptions o;
  o.servers = "not-an-address";
  std::string error;
  EXPECT_FALSE(DomainChecker::create(o, &error));
  EXPECT_NE(error.find("not-an-address"), std::string::npos) << error;
}

}  // namespace
}  // namespace smtpgw::dns
