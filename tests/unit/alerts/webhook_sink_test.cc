// The webhook sink against a real HTTP receiver on loopback: what arrives, retries after 5xx,
// a receiver that is down, a full queue that never blocks the caller, and a prompt stop while
// the receiver stalls.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/alerts/sinks.h"
#include "tests/unit/alerts/sink_test_util.h"

namespace smtpgw::alerts {
namespace {

using namespace std::chrono_literals;
using test::alert;
using test::eventually;
using test::seconds_since;

// An httplib::Server on an ephemeral loopback port. POST /hook answers `statuses` in turn
// (200 once they run out), or, when stalling, holds every request until released (or 60 s).
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses = {}, bool stall = false)
      : statuses_(std::move(statuses)), stall_(stall) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock lk(mu_);
      ++hits_;
      cv_.notify_all();
      if (stall_) {
        cv_.wait_for(lk, 60s, [&] { return released_; });
      }
      bodies_.push_back(req.body);
      content_types_.push_back(req.get_header_value("Content-Type"));
      authorizations_.push_back(req.get_header_value("Authorization"));
      customs_.push_back(req.get_header_value("X-Gateway"));
      const size_t i = bodies_.size() - 1;
      res.status = i < statuses_.size() ? statuses_[i] : 200;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    EXPECT_TRUE(eventually([&] { return server_.is_running(); }));
  }
  ~Receiver() {
    release();
    server_.stop();
    thread_.join();
  }

  void release() {
    std::lock_guard lk(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  int hits() {
    std::lock_guard lk(mu_);
    return hits_;
  }
  std::vector<std::string> bodies() {
    std::lock_guard lk(mu_);
    return bodies_;
  }

  std::mutex mu_;
  std::vector<std::string> content_types_, authorizations_, customs_;

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::condition_variable cv_;
  std::vector<int> statuses_;
  bool stall_;
  bool released_ = false;
  int hits_ = 0;
  std::vector<std::string> bodies_;
};

// "u<i>@example.org", appended piece by piece: GCC 12 warns falsely (-Wrestrict) on
// "literal" + std::string temporaries.
std::string numbered(int i) {
  std::string s = "u";
  s += std::to_string(i);
  s += "@example.org";
  return s;
}

WebhookOptions fast(const std::string& url) {
  WebhookOptions o;
  o.url = url;
  o.timeout = 10s;
  o.delivery.backoff_initial = 20ms;
  o.delivery.backoff_max = 100ms;
  return o;
}

TEST(WebhookSink, PostsEachFirstAlertAsJson) {
  Receiver r;
  WebhookOptions o = fast(r.url());
  o.bearer_token = "tok-123";
  o.headers = {{"X-Gateway", "gw1"}};
  WebhookSink hook(o);
  Alerts alerts(300);
  alerts.add_sink(hook.sink());
  const uint64_t t0 = 1'751'371'200'000'000'000ull;
  alerts.raise(Kind::kUserRestricted, "alice@example.com", "restricted", {{"limit", 30}}, t0);
  alerts.raise(Kind::kUserRestricted, "alice@example.com", "restricted", {}, t0 + 1);  // folded
  alerts.raise(Kind::kEgressListed, "192.0.2.7", "listed on bl.test", {{"zone", "bl.test"}},
               t0 + 2);
  ASSERT_TRUE(eventually([&] { return hook.counters().delivered == 2; }))
      << hook.counters().delivered << " " << hook.last_error();
  const std::vector<std::string> bodies = r.bodies();
  ASSERT_EQ(bodies.size(), 2u);  // the repeat was not sent
  Alert first{Kind::kUserRestricted, "alice@example.com", "restricted", {{"limit", 30}}, t0, 0};
  Alert second{Kind::kEgressListed,   "192.0.2.7", "listed on bl.test",
               {{"zone", "bl.test"}}, t0 + 2,      0};
  EXPECT_EQ(nlohmann::json::parse(bodies[0]), to_json(first));
  EXPECT_EQ(nlohmann::json::parse(bodies[1]), to_json(second));
  std::lock_guard lk(r.mu_);
  EXPECT_EQ(r.content_types_[0], "application/json");
  EXPECT_EQ(r.authorizations_[0], "Bearer tok-123");
  EXPECT_EQ(r.customs_[0], "gw1");
  const SinkCounters c = hook.counters();
  EXPECT_EQ(c.accepted, 2u);
  EXPECT_EQ(c.retried, 0u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(c.queued, 0u);
}

TEST(WebhookSink, SubjectThatIsNotUtf8IsSentReplaced) {
  Receiver r;
  WebhookSink hook(fast(r.url()));
  hook.offer(alert(Kind::kLimitExceeded, "bad\xff\xfe@example.com"));
  ASSERT_TRUE(eventually([&] { return hook.counters().delivered == 1; })) << hook.last_error();
  const auto j = nlohmann::json::parse(r.bodies().at(0));
  EXPECT_EQ(j["subject"], "bad\xEF\xBF\xBD\xEF\xBF\xBD@example.com");
}

TEST(WebhookSink, RetriesAfterServerErrorsWithBackoff) {
  Receiver r({500, 503});
  WebhookSink hook(fast(r.url()));
  const auto t = std::chrono::steady_clock::now();
  ASSERT_TRUE(hook.offer(alert(Kind::kLimitExceeded, "bob@example.org")));
  ASSERT_TRUE(eventually([&] { return hook.counters().delivered == 1; })) << hook.last_error();
  const double took = seconds_since(t);
  const SinkCounters c = hook.counters();
  EXPECT_EQ(c.retried, 2u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(r.hits(), 3);
  EXPECT_GE(took, 0.055);  // 20 ms, then 40 ms of backoff
  EXPECT_NE(hook.last_error().find("HTTP 503"), std::string::npos) << hook.last_error();
}

TEST(WebhookSink, ReceiverDownFailsAfterMaxAttempts) {
  WebhookOptions o = fast("http://127.0.0.1:" + std::to_string(test::unused_port()) + "/hook");
  o.delivery.max_attempts = 3;
  WebhookSink hook(o);
  hook.offer(alert(Kind::kPoolExhausted, "normal"));
  hook.offer(alert(Kind::kPoolExhausted, "high_risk"));
  ASSERT_TRUE(eventually([&] { return hook.counters().failed == 2; }));
  const SinkCounters c = hook.counters();
  EXPECT_EQ(c.delivered, 0u);
  EXPECT_EQ(c.retried, 4u);  // two retries each
  EXPECT_EQ(c.queued, 0u);
  EXPECT_FALSE(hook.last_error().empty());
}

TEST(WebhookSink, FullQueueDropsAndCountsWithoutBlocking) {
  Receiver r({}, /*stall=*/true);
  WebhookOptions o = fast(r.url());
  o.timeout = 30s;
  o.delivery.max_queue = 3;
  WebhookSink hook(o);
  Alerts alerts(300);
  alerts.add_sink(hook.sink());
  alerts.raise(Kind::kLimitExceeded, "u0@example.org", "m", {}, 1);
  ASSERT_TRUE(eventually([&] { return r.hits() == 1; }));  // the receiver holds the first
  double slowest = 0;
  for (int i = 1; i < 10; ++i) {
    const auto t = std::chrono::steady_clock::now();
    alerts.raise(Kind::kLimitExceeded, numbered(i), "m", {}, 1);
    slowest = std::max(slowest, seconds_since(t));
  }
  // A stalled receiver costs the caller nothing: no call waits for it (30 s here).
  EXPECT_LT(slowest, 0.5);
  SinkCounters c = hook.counters();
  EXPECT_EQ(c.accepted, 3u);  // the one in flight and two waiting
  EXPECT_EQ(c.dropped_full, 7u);
  EXPECT_EQ(c.queued, 3u);
  r.release();
  ASSERT_TRUE(eventually([&] { return hook.counters().delivered == 3; }));
  std::vector<std::string> subjects;
  for (const std::string& b : r.bodies()) {
    subjects.push_back(nlohmann::json::parse(b)["subject"]);
  }
  EXPECT_EQ(subjects,
            (std::vector<std::string>{"u0@example.org", "u1@example.org", "u2@example.org"}));
}

TEST(WebhookSink, StopWhileTheReceiverStallsIsPrompt) {
  Receiver r({}, /*stall=*/true);
  WebhookOptions o = fast(r.url());
  o.timeout = 30s;
  o.delivery.shutdown_grace = 200ms;
  WebhookSink hook(o);
  Alerts::Sink sink = hook.sink();
  for (int i = 0; i < 3; ++i) {
    sink(alert(Kind::kLimitExceeded, numbered(i)), true);
  }
  ASSERT_TRUE(eventually([&] { return r.hits() == 1; }));
  const auto t = std::chrono::steady_clock::now();
  hook.stop();
  EXPECT_LT(seconds_since(t), 5.0);  // the grace (0.2 s), not the request's 30 s
  EXPECT_GE(seconds_since(t), 0.15);
  SinkCounters c = hook.counters();
  EXPECT_EQ(c.delivered, 0u);
  EXPECT_EQ(c.abandoned, 3u);
  EXPECT_EQ(c.queued, 0u);
  // The handed-out sink outlives the stop: offers are counted, nothing is queued.
  sink(alert(Kind::kLimitExceeded, "late@example.org"), true);
  EXPECT_EQ(hook.counters().abandoned, 4u);
  hook.stop();  // idempotent
}

TEST(WebhookSink, StopSendsWhatIsQueuedWithinTheGrace) {
  Receiver r;
  WebhookOptions o = fast(r.url());
  o.delivery.shutdown_grace = 20s;
  auto hook = std::make_unique<WebhookSink>(o);
  for (int i = 0; i < 5; ++i) {
    hook->offer(alert(Kind::kLimitExceeded, numbered(i)));
  }
  hook->stop();
  EXPECT_EQ(hook->counters().delivered, 5u);
  EXPECT_EQ(r.bodies().size(), 5u);
}

TEST(WebhookSink, BadOptionsAreRefusedAtConstruction) {
  auto message = [](WebhookOptions o) -> std::string {
    try {
      WebhookSink s(std::move(o));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  WebhookOptions o;
  o.url = "https://hooks.example.com/x";
  EXPECT_NE(message(o).find("https is not supported"), std::string::npos) << message(o);
  o.url = "ftp://x/";
  EXPECT_NE(message(o).find("expected an http:// URL"), std::string::npos) << message(o);
  o.url = "http://127.0.0.1:9000/hook";
  o.headers = {{"X-A", "b\r\nX-Injected: 1"}};
  EXPECT_NE(message(o).find("header 'X-A'"), std::string::npos) << message(o);
  o.headers.clear();
  o.delivery.max_queue = 0;
  EXPECT_NE(message(o).find("max_queue"), std::string::npos) << message(o);
}

}  // namespace
}  // namespace smtpgw::alerts
