// The sender-domain check against a real DNS server: rbldnsd (Debian's package, as a DNSBL
// operator runs it) serves a zone with its generic dataset on a loopback port; the checker
// looks the names up through c-ares exactly as the gateway does.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "control/domains/domain_checker.h"

namespace smtpgw::domains {
namespace {

// rbldnsd serving `zone` (generic dataset) for the zone "test" on 127.0.0.1; stopped at the end.
class Rbldnsd {
 public:
  explicit Rbldnsd(const std::string& zone) {
    char tmpl[] = "/tmp/sgw-rbldnsd-XXXXXX";
    dir_ = mkdtemp(tmpl);
    chmod(dir_.c_str(), 0755);  // rbldnsd drops to its own user before reading
    std::ofstream(dir_ + "/zone") << zone;
    chmod((dir_ + "/zone").c_str(), 0644);
    for (int attempt = 0; attempt < 20 && pid_ <= 0; ++attempt) {
      port_ = 20000 + static_cast<int>((getpid() * 7 + attempt * 131) % 30000);
      const std::string bind = "127.0.0.1/" + std::to_string(port_);
      const pid_t pid = fork();
      if (pid == 0) {
        execlp("rbldnsd", "rbldnsd", "-n", "-q", "-u", "rbldns", "-b", bind.c_str(), "-w",
               dir_.c_str(), "test:generic:zone", static_cast<char*>(nullptr));
        _exit(127);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == 0) {
        pid_ = pid;  // still running: bound
      }
    }
  }
  ~Rbldnsd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  bool running() const { return pid_ > 0; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

bool have_rbldnsd() { return std::system("command -v rbldnsd >/dev/null 2>&1") == 0; }

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
    dns_ = std::make_unique<Rbldnsd>(kZone);
    ASSERT_TRUE(dns_->running()) << "rbldnsd did not start on any port tried";
  }
  std::unique_ptr<DomainChecker> checker(Options o = {}) {
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
  EXPECT_EQ(c->counter(Counter::kLookups), 5u);
  EXPECT_EQ(c->counter(Counter::kMarked), 3u);
  EXPECT_EQ(c->counter(Counter::kMailHost), 2u);
  EXPECT_EQ(c->counter(Counter::kFailed), 0u);
}

// Seen again within its TTL a domain is not looked up again; after it, it is.
TEST_F(DomainCheckerTest, LooksUpAgainOnlyAfterTheTtl) {
  Options o;
  o.missing_ttl_s = 600;
  auto c = checker(o);
  ASSERT_TRUE(c);
  uint64_t now = 1'800'000'000;
  c->seen("nosuch.test", now);
  settle(*c, now);
  c->seen("NOSUCH.test", now + 599);
  settle(*c, now + 599);
  EXPECT_EQ(c->counter(Counter::kLookups), 1u);
  c->seen("nosuch.test", now + 600);
  const auto changes = settle(*c, now + 600);
  EXPECT_EQ(c->counter(Counter::kLookups), 2u);
  EXPECT_TRUE(changes.empty());  // still marked: nothing to publish
  EXPECT_EQ(c->marked().size(), 1u);
  // Not seen for twice its TTL: forgotten, and unmarked.
  const auto forgotten = c->poll(now + 600 + 1201);
  ASSERT_EQ(forgotten.size(), 1u);
  EXPECT_FALSE(forgotten[0].marked);
  EXPECT_EQ(c->size(), 0u);
  EXPECT_EQ(c->counter(Counter::kForgotten), 1u);
}

// Bounds: lookups in flight and domains remembered; names that are no domain.
TEST_F(DomainCheckerTest, BoundsAreCounted) {
  Options o;
  o.max_pending = 1;
  o.max_domains = 2;
  auto c = checker(o);
  ASSERT_TRUE(c);
  const uint64_t now = 1'800'000'000;
  c->seen("good.test", now);
  c->seen("aonly.test", now);  // one lookup in flight already
  EXPECT_EQ(c->counter(Counter::kPendingFull), 1u);
  settle(*c, now);
  c->seen("aonly.test", now);  // seen again: checked now
  settle(*c, now);
  c->seen("txtonly.test", now);
  EXPECT_EQ(c->counter(Counter::kTableFull), 1u);
  for (const char* bad : {"", "[192.0.2.1]", "a..b", "bad domain.test", "-"}) {
    c->seen(bad, now);
  }
  EXPECT_GE(c->counter(Counter::kInvalid), 4u);
  EXPECT_EQ(c->size(), 2u);
}

// A server that does not answer marks nothing: a resolver outage must not defer everybody.
TEST(DomainChecker, AFailedLookupMarksNothing) {
  Options o;
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
  EXPECT_EQ(c->counter(Counter::kFailed), 1u);
  EXPECT_EQ(c->finding("nosuch.test"), Finding::kUnknown);
}

TEST(DomainChecker, ABadServerListIsAnError) {
  Options o;
  o.servers = "not-an-address";
  std::string error;
  EXPECT_FALSE(DomainChecker::create(o, &error));
  EXPECT_NE(error.find("not-an-address"), std::string::npos) << error;
}

}  // namespace
}  // namespace smtpgw::domains
