// The API's live events: the ring each client reads at its own pace, what a client that falls
// behind is told, and the stream over real HTTP (cpp-httplib's client reading the chunks).
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <string>
#include <thread>

#include "control/api/event_stream.h"
#include "control/api/server.h"

namespace smtpgw::api {
namespace {

TEST(EventStream, AClientReadsWhatComesAfterItJoined) {
  EventStream s(4, 2);
  s.publish("alert", {{"n", 0}});  // before the client: not seen
  uint64_t cursor = 0;
  EXPECT_EQ(s.next(&cursor, 10), "");
  s.publish("alert", {{"n", 1}});
  s.publish("stats", {{"n", 2}});
  EXPECT_EQ(s.next(&cursor, 10),
            "event: alert\ndata: {\"n\":1}\n\n"
            "event: stats\ndata: {\"n\":2}\n\n");
  EXPECT_EQ(s.next(&cursor, 10), "");
}

TEST(EventStream, ASlowClientIsToldWhatItMissed) {
  EventStream s(2, 2);
  uint64_t cursor = 0;
  EXPECT_EQ(s.next(&cursor, 1), "");
  for (int i = 0; i < 5; ++i) {
    s.publish("stats", {{"n", i}});
  }
  const std::string got = s.next(&cursor, 10);
  EXPECT_EQ(got.rfind(": missed 3 events\n\n", 0), 0u) << got;
  EXPECT_NE(got.find("{\"n\":3}"), std::string::npos);
  EXPECT_NE(got.find("{\"n\":4}"), std::string::npos);
}

TEST(EventStream, SeatsAreBoundedAndCloseWakesTheWaiting) {
  EventStream s(4, 1);
  EXPECT_TRUE(s.join());
  EXPECT_FALSE(s.join());
  s.leave();
  EXPECT_TRUE(s.join());
  uint64_t cursor = 0;
  std::atomic<bool> returned{false};
  std::thread t([&] {
    s.next(&cursor, 60'000);
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  s.close();
  t.join();
  EXPECT_TRUE(returned.load());
  EXPECT_FALSE(s.join());
}

// The stream and the chart's history over HTTP, with the token only.
TEST(EventStream, StreamsOverHttpWithTheToken) {
  struct NoBackend final : Backend {
    Reply health() override { return {200, {}}; }
    Reply restrictions() override { return {200, {}}; }
    Reply restriction_history(uint32_t) override { return {200, {}}; }
    Reply release(const std::string&, const std::string&) override { return {200, {}}; }
    Reply trace(const TraceQuery&) override { return {200, {}}; }
    Reply alerts(uint32_t, bool) override { return {200, {}}; }
    Reply acknowledge(int64_t, const std::string&) override { return {200, {}}; }
    Reply pools() override { return {200, {}}; }
    Reply set_address_state(const std::string&, const std::string&) override { return {200, {}}; }
    Reply rules() override { return {200, {}}; }
    Reply push_rules(const std::vector<RuleFile>&, bool, const std::string&) override {
      return {200, {}};
    }
    Reply rollback_rules(std::optional<int64_t>) override { return {200, {}}; }
    Reply sender(const std::string&) override { return {200, {}}; }
    Reply policy() override { return {200, {}}; }
    Reply push_policy(const std::string&, const std::string&) override { return {200, {}}; }
    Reply rollback_policy(std::optional<int64_t>) override { return {200, {}}; }
    Reply complaint(const std::string&) override { return {200, {}}; }
    Reply complaints(const std::string&, uint32_t) override { return {200, {}}; }
    std::string metrics() override { return ""; }
  } backend;
  EventStream events(16, 1);
  History history(3);
  for (int i = 1; i <= 4; ++i) {
    history.add({{"unix_ns", i}});
  }
  Options o;
  o.port = 0;
  o.token = "0123456789abcdef-test";
  o.events = &events;
  o.history = &history;
  std::string error;
  auto server = Server::start(o, backend, &error);
  ASSERT_TRUE(server) << error;
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 0; !stop.load(); ++i) {  // until the client has what it waits for
      events.publish("alert", {{"kind", "egress_ip_listed"}, {"n", i}});
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  httplib::Client c("127.0.0.1", server->port());
  c.set_bearer_token_auth(o.token);
  std::string got;
  auto r = c.Get("/api/v1/events", [&](const char* data, size_t len) {
    got.append(data, len);
    return got.find("event: alert\ndata: {\"kind\":\"egress_ip_listed\"") == std::string::npos;
  });
  stop = true;
  publisher.join();
  EXPECT_NE(got.find("event: alert\ndata: {\"kind\":\"egress_ip_listed\""), std::string::npos)
      << got;
  httplib::Client anon("127.0.0.1", server->port());
  auto denied = anon.Get("/api/v1/events");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);

  // The history keeps its capacity's newest samples, oldest first.
  auto h = c.Get("/api/v1/stats/history");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  const auto j = nlohmann::json::parse(h->body);
  EXPECT_EQ(j["interval_s"], 1);
  EXPECT_EQ(j["samples"], nlohmann::json::parse(R"([{"unix_ns":2},{"unix_ns":3},{"unix_ns":4}])"));
  EXPECT_EQ(anon.Get("/api/v1/stats/history")->status, 401);
}

}  // namespace
}  // namespace smtpgw::api
