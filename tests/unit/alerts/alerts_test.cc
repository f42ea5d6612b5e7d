// The alerts: repeats within the window folded into the first, every sink called, a new window
// raising again, the JSON-lines file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "control/alerts/alerts.h"

namespace smtpgw::alerts {
namespace {

constexpr uint64_t kS = 1'000'000'000ull;

TEST(Alerts, RepeatsWithinTheWindowAreFolded) {
  Alerts a(300);
  std::vector<std::pair<std::string, bool>> seen;
  a.add_sink([&](const Alert& x, bool first) {
    seen.emplace_back(x.subject + "#" + std::to_string(x.repeats), first);
  });
  const uint64_t t0 = 1'800'000'000 * kS;
  EXPECT_TRUE(a.raise(Kind::kLimitExceeded, "eve@example.org", "m", {}, t0));
  EXPECT_FALSE(a.raise(Kind::kLimitExceeded, "eve@example.org", "m", {}, t0 + 10 * kS));
  EXPECT_FALSE(a.raise(Kind::kLimitExceeded, "eve@example.org", "m", {}, t0 + 299 * kS));
  EXPECT_TRUE(a.raise(Kind::kLimitExceeded, "bob@example.org", "m", {}, t0 + 20 * kS));
  EXPECT_TRUE(a.raise(Kind::kUserRestricted, "eve@example.org", "m", {}, t0 + 30 * kS));
  EXPECT_TRUE(a.raise(Kind::kLimitExceeded, "eve@example.org", "m", {}, t0 + 300 * kS));
  EXPECT_EQ(a.raised(), 4u);
  EXPECT_EQ(a.folded(), 2u);
  const std::vector<std::pair<std::string, bool>> want = {
      {"eve@example.org#0", true},  {"eve@example.org#1", false}, {"eve@example.org#2", false},
      {"bob@example.org#0", true},  {"eve@example.org#0", true},  {"eve@example.org#0", true}};
  EXPECT_EQ(seen, want);
}

TEST(Alerts, NamesAndSeverities) {
  EXPECT_STREQ(kind_name(Kind::kUserRestricted), "user_restricted_from_sending");
  EXPECT_STREQ(severity(Kind::kUserRestricted), "critical");
  EXPECT_STREQ(kind_name(Kind::kQueueOverflow), "event_queue_overflow");
  EXPECT_STREQ(kind_name(Kind::kEgressListed), "egress_ip_listed");
  const nlohmann::json j = to_json(Alert{Kind::kEgressListed, "192.0.2.10", "listed", {{"code", 4}}, 7, 0});
  EXPECT_EQ(j["kind"], "egress_ip_listed");
  EXPECT_EQ(j["severity"], "critical");
  EXPECT_EQ(j["details"]["code"], 4);
}

TEST(Alerts, AJsonLinesFileHasEachAlertOnce) {
  char tmpl[] = "/tmp/sgw-alerts-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/alerts.jsonl";
  {
    Alerts a(60);
    Alerts::Sink file;
    std::string error;
    ASSERT_TRUE(jsonl_sink(path, &file, &error)) << error;
    a.add_sink(file);
    a.raise(Kind::kEgressListed, "192.0.2.10", "listed", {{"zone", "bl.test"}}, 1 * kS);
    a.raise(Kind::kEgressListed, "192.0.2.10", "listed", {{"zone", "bl.test"}}, 2 * kS);
    a.raise(Kind::kEgressDelisted, "192.0.2.10", "back", {}, 3 * kS);
  }
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string l; std::getline(in, l);) {
    lines.push_back(nlohmann::json::parse(l));
  }
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["kind"], "egress_ip_listed");
  EXPECT_EQ(lines[0]["details"]["zone"], "bl.test");
  EXPECT_EQ(lines[1]["kind"], "egress_ip_delisted");
  Alerts::Sink none;
  std::string error;
  EXPECT_FALSE(jsonl_sink(dir + "/no/such/dir/a.jsonl", &none, &error));
  EXPECT_NE(error.find("cannot open"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace smtpgw::alerts
