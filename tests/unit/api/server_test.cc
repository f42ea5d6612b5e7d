// The API's HTTP layer over real HTTP on loopback (cpp-httplib's client): the token, the limits
// and the error bodies. The gateway's side is a stand-in Backend that records what it was asked
// (the real one needs a running gateway: tests/e2e/e2e_api.sh drives it).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include <string>

#include "control/api/server.h"
#include "control/api/sessions.h"

namespace smtpgw::api {
namespace {

constexpr const char* kToken = "0123456789abcdef-test";

struct Recorder final : Backend {
  Reply health() override { return {200, {{"status", "ok"}}}; }
  Reply restrictions() override { return {200, {{"restrictions", nlohmann::json::array()}}}; }
  Reply restriction_history(uint32_t limit) override {
    history_limit = limit;
    return {200, {{"restrictions", nlohmann::json::array()}}};
  }
  Reply release(const std::string& key, const std::string& reason) override {
    released = key;
    why = reason;
    return {200, {{"released", key}}};
  }
  Reply trace(const TraceQuery& q) override {
    last = q;
    return {200, {{"messages", nlohmann::json::array()}}};
  }
  Reply alerts(uint32_t, bool) override { return {200, {{"alerts", nlohmann::json::array()}}}; }
  Reply acknowledge(int64_t id, const std::string&) override { return {200, {{"id", id}}}; }
  Reply pools() override { return {200, {{"addresses", nlohmann::json::array()}}}; }
  Reply set_address_state(const std::string& a, const std::string& s) override {
    return {200, {{"address", a}, {"state", s}}};
  }
  Reply rules() override { return {200, {{"active", {{"version", 0}}}}}; }
  Reply push_rules(const std::vector<RuleFile>& files, bool lenient,
                   const std::string& note) override {
    pushed = files;
    pushed_lenient = lenient;
    why = note;
    return {200, {{"version", 1}}};
  }
  Reply rollback_rules(std::optional<int64_t> version) override {
    rolled_back = version;
    return {200, {{"version", version.value_or(-1)}}};
  }
  Reply sender(const std::string& key) override { return {200, {{"key", key}}}; }
  Reply policy() override { return {200, {}}; }
  Reply push_policy(const std::string& yaml, const std::string& note) override {
    pushed_policy = yaml;
    why = note;
    return {200, {}};
  }
  Reply rollback_policy(std::optional<int64_t>) override { return {200, {}}; }
  std::string pushed_policy;
  Reply complaint(const std::string& report) override {
    reported = report;
    return {200, {{"id", 1}}};
  }
  Reply complaints(const std::string& sender, uint32_t limit) override {
    return {200, {{"sender", sender}, {"limit", limit}}};
  }
  std::string metrics() override { return "smtpgw_up 1\n"; }
  std::string reported;
  std::string released, why;
  TraceQuery last;
  uint32_t history_limit = 0;
  std::vector<RuleFile> pushed;
  bool pushed_lenient = false;
  std::optional<int64_t> rolled_back;
};

class ApiServer : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.port = 0;
    o.token = kToken;
    o.max_body = 1'024;
    o.max_rules_body = 8'192;
    o.max_report_body = 4'096;
    o.read_timeout_s = 1;
    std::string error;
    server_ = Server::start(o, backend_, &error);
    ASSERT_TRUE(server_) << error;
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_bearer_token_auth(kToken);
  }
  Recorder backend_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST(Token, ComparesWholeTokens) {
  EXPECT_TRUE(token_matches("secret-token-123", "secret-token-123"));
  EXPECT_FALSE(token_matches("secret-token-12", "secret-token-123"));
  EXPECT_FALSE(token_matches("secret-token-1234", "secret-token-123"));
  EXPECT_FALSE(token_matches("Secret-token-123", "secret-token-123"));
  EXPECT_FALSE(token_matches("", ""));
}

TEST(ApiServerStart, RefusesAShortToken) {
  Recorder b;
  Options o;
  o.port = 0;
  o.token = "short";
  std::string error;
  EXPECT_FALSE(Server::start(o, b, &error));
  EXPECT_NE(error.find("at least 16"), std::string::npos) << error;
}

TEST_F(ApiServer, EveryPathNeedsTheTokenAndSaysNothingElseWithout) {
  httplib::Client anon("127.0.0.1", server_->port());
  httplib::Client wrong("127.0.0.1", server_->port());
  wrong.set_bearer_token_auth("0123456789abcdef-tesT");
  std::string first;
  for (httplib::Client* c : {&anon, &wrong}) {
    for (const char* path : {"/api/v1/health", "/api/v1/nothing-here", "/metrics"}) {
      auto r = c->Get(path);
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 401) << path;
      if (first.empty()) {
        first = r->body;
      }
      EXPECT_EQ(r->body, first) << path;
    }
  }
  EXPECT_NE(first.find("missing or wrong token"), std::string::npos);
  auto ok = client_->Get("/api/v1/health");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->body.find("\"ok\""), std::string::npos);
  auto missing = client_->Get("/api/v1/nothing-here");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("no such resource"), std::string::npos);
}

TEST_F(ApiServer, BadBodiesAreNamedAndNothingReachesTheBackend) {
  struct Case {
    std::string body;
    int status;
    std::string error;
  };
  for (const Case& c : {Case{"{", 400, "the body is not JSON"},
                        Case{"[1]", 400, "the body must be a JSON object"},
                        Case{"{}", 400, "missing field \\\"key\\\""},
                        Case{"{\"key\": 1}", 400, "field \\\"key\\\" must be a string"},
                        Case{"{\"key\": \"a@b.c\", \"reason\": []}", 400,
                             "field \\\"reason\\\" must be a string"},
                        Case{std::string(2'000, ' '), 413, "the body is larger than 1024 bytes"}}) {
    auto r = client_->Post("/api/v1/restrictions/release", c.body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body.substr(0, 40);
    EXPECT_NE(r->body.find(c.error), std::string::npos) << r->body;
  }
  EXPECT_EQ(backend_.released, "");
  auto r = client_->Post("/api/v1/restrictions/release",
                         R"({"key": "a@example.org", "reason": "ticket 1"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(backend_.released, "a@example.org");
  EXPECT_EQ(backend_.why, "ticket 1");
}

// A rule set may be larger than any other body (max_rules_body, not max_body); its files are
// checked before the backend sees them.
TEST_F(ApiServer, RuleSetPushesAreCheckedAndPassed) {
  struct Case {
    std::string body;
    int status;
    std::string error;
  };
  const std::string big(3'000, 'x');
  for (const Case& c :
       {Case{"{}", 400, "field \\\"files\\\" must be an array of 1 to 1000"},
        Case{R"({"files": []})", 400, "must be an array of 1 to 1000"},
        Case{R"({"files": [{"name": "a.cf"}]})", 400, "files[0] must be an object"},
        Case{R"({"files": [{"name": "../a.cf", "text": ""}]})", 400, "files[0].name must have"},
        Case{R"({"files": [{"name": "", "text": ""}]})", 400, "files[0].name must have"},
        Case{R"({"files": [{"name": "a.cf", "text": ""}, {"name": "a.cf", "text": ""}]})", 400,
             "files[1].name \\\"a.cf\\\" is given twice"},
        Case{R"({"files": [{"name": "a.cf", "text": ""}], "lenient": "yes"})", 400,
             "\\\"lenient\\\" must be true or false"},
        Case{std::string(9'000, ' '), 413, "the body is larger than 8192 bytes"}}) {
    auto r = client_->Post("/api/v1/rules", c.body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body.substr(0, 60);
    EXPECT_NE(r->body.find(c.error), std::string::npos) << r->body;
  }
  EXPECT_TRUE(backend_.pushed.empty());
  const std::string push = nlohmann::json{{"files", {{{"name", "local.cf"}, {"text", big}}}},
                                          {"lenient", true},
                                          {"note", "ticket 7"}}
                               .dump();
  auto ok = client_->Post("/api/v1/rules", push, "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  ASSERT_EQ(backend_.pushed.size(), 1u);
  EXPECT_EQ(backend_.pushed[0].name, "local.cf");
  EXPECT_EQ(backend_.pushed[0].text, big);
  EXPECT_TRUE(backend_.pushed_lenient);
  EXPECT_EQ(backend_.why, "ticket 7");
  // Bytes that are not UTF-8 travel as base64; both forms at once, or bad base64, are refused.
  auto raw = client_->Post("/api/v1/rules", R"({"files": [{"name": "l1.cf", "base64": "/2E="}]})",
                           "application/json");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 200) << raw->body;
  ASSERT_EQ(backend_.pushed.size(), 1u);
  EXPECT_EQ(backend_.pushed[0].text, std::string("\xff" "a"));
  for (const char* bad : {R"({"files": [{"name": "l1.cf", "base64": "/2E"}]})",
                          R"({"files": [{"name": "l1.cf", "base64": "/2E=", "text": "x"}]})"}) {
    auto r = client_->Post("/api/v1/rules", bad, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
  }
  // The same size anywhere else is over max_body.
  auto other = client_->Post("/api/v1/rules/rollback", push, "application/json");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 413);
  auto neg = client_->Post("/api/v1/rules/rollback", R"({"version": -1})", "application/json");
  ASSERT_TRUE(neg);
  EXPECT_EQ(neg->status, 400);
  EXPECT_FALSE(backend_.rolled_back.has_value());
  auto prev = client_->Post("/api/v1/rules/rollback", "{}", "application/json");
  ASSERT_TRUE(prev);
  EXPECT_EQ(prev->status, 200);
  EXPECT_FALSE(backend_.rolled_back.has_value());  // none given: the one before
  auto to0 = client_->Post("/api/v1/rules/rollback", R"({"version": 0})", "application/json");
  ASSERT_TRUE(to0);
  EXPECT_EQ(backend_.rolled_back, std::optional<int64_t>(0));
}

// A complaint report is posted as it was received (no JSON around it), up to max_report_body.
TEST_F(ApiServer, ComplaintReportsArePassedAsSent) {
  const std::string report = "Content-Type: multipart/report; report-type=feedback-report\r\n"
                             "\r\n" + std::string(3'000, 'x');
  auto ok = client_->Post("/api/v1/complaints", report, "message/rfc822");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(backend_.reported, report);
  auto big = client_->Post("/api/v1/complaints", std::string(5'000, 'x'), "message/rfc822");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  auto list = client_->Get("/api/v1/complaints?sender=a%40b.example&limit=3");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_NE(list->body.find("a@b.example"), std::string::npos);
}

// A client that starts a request and stalls holds one connection, not the server: others are
// answered meanwhile, and the stalled one is closed after read_timeout_s (1 s here).
TEST_F(ApiServer, ASlowClientIsDroppedAndOthersAreServed) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(server_->port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  const std::string partial = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n";  // no blank line
  ASSERT_EQ(::send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  auto other = client_->Get("/api/v1/health");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  timeval tv{10, 0};  // a bound on this test, well past the server's 1 s
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto start = std::chrono::steady_clock::now();
  char buf[512];
  ssize_t n;
  std::string got;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    got.append(buf, static_cast<size_t>(n));
  }
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(fd);
  EXPECT_EQ(n, 0) << "the server did not close the stalled connection";
  EXPECT_LT(waited, 5.0);  // 1 s for the request line, 1 s per header line after it
  EXPECT_EQ(got.find("200 OK"), std::string::npos) << "a request without its end was answered";
}

TEST_F(ApiServer, TraceParametersAreCheckedAndPassed) {
  auto bad = client_->Get("/api/v1/trace?limit=5000");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("limit"), std::string::npos);
  auto neg = client_->Get("/api/v1/trace?since=-1");
  ASSERT_TRUE(neg);
  EXPECT_EQ(neg->status, 400);
  auto ok = client_->Get("/api/v1/trace?sender=a%40example.org&limit=7&before_id=99&since=10");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(backend_.last.sender, "a@example.org");
  EXPECT_EQ(backend_.last.limit, 7u);
  EXPECT_EQ(backend_.last.before_id, 99);
  EXPECT_EQ(backend_.last.since_unix_s, 10u);
  auto m = client_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->body, "smtpgw_up 1\n");
}

// The audit trail's limit is bounded like the trace's: 0 reads as 1, over 1000 is a 400.
TEST_F(ApiServer, RestrictionHistoryLimit) {
  auto ok = client_->Get("/api/v1/restrictions/history?limit=20");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(backend_.history_limit, 20u);
  auto big = client_->Get("/api/v1/restrictions/history?limit=5000");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 400);
  client_->Get("/api/v1/restrictions/history");
  EXPECT_EQ(backend_.history_limit, 100u) << "the default";
}

// The trace's verdict and action must be known values; verdict, action and pool reach the backend.
TEST_F(ApiServer, TraceVerdictActionAndPoolFilters) {
  auto bad = client_->Get("/api/v1/trace?verdict=ham");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("clean, spam or not_scanned"), std::string::npos) << bad->body;
  auto bad_action = client_->Get("/api/v1/trace?action=delivered");
  ASSERT_TRUE(bad_action);
  EXPECT_EQ(bad_action->status, 400);
  EXPECT_NE(bad_action->body.find("allow, refuse, throttle or defer"), std::string::npos);
  auto ok = client_->Get("/api/v1/trace?verdict=spam&pool=tenant-a&action=defer");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(backend_.last.action, "defer");
  EXPECT_EQ(backend_.last.verdict, "spam");
  EXPECT_EQ(backend_.last.pool, "tenant-a");
}

// The console: its pages and data need a session; the cookie is HttpOnly and SameSite=Strict;
// a change without the CSRF token is refused; every answer has the CSP.
class Console : public ApiServer {
 protected:
  // Signs in with `token`; on success sets cookie_ ("smtpgw_session=...") and csrf_.
  httplib::Result sign_in(const std::string& token) {
    httplib::Client anon("127.0.0.1", server_->port());
    auto r = anon.Post("/ui/session", nlohmann::json{{"token", token}}.dump(), "application/json");
    if (r && r->status == 200) {
      const std::string set = r->get_header_value("Set-Cookie");
      cookie_ = set.substr(0, set.find(';'));
      csrf_ = nlohmann::json::parse(r->body)["csrf"].get<std::string>();
    }
    return r;
  }
  httplib::Headers with_cookie(bool csrf) const {
    httplib::Headers h{{"Cookie", "other=1; " + cookie_}};
    if (csrf) {
      h.emplace("X-CSRF-Token", csrf_);
    }
    return h;
  }
  std::string cookie_, csrf_;
};

TEST_F(Console, PagesAndDataNeedASession) {
  httplib::Client anon("127.0.0.1", server_->port());
  for (const char* page : {"/ui/", "/ui/index.html", "/ui/console.js"}) {
    auto r = anon.Get(page);
    ASSERT_TRUE(r) << page;
    EXPECT_EQ(r->status, 303) << page;
    EXPECT_EQ(r->get_header_value("Location"), "/ui/sign-in.html") << page;
    EXPECT_EQ(r->body.find("<html"), std::string::npos) << page;
  }
  auto data = anon.Get("/api/v1/restrictions");
  ASSERT_TRUE(data);
  EXPECT_EQ(data->status, 401);
  auto page = anon.Get("/ui/sign-in.html");  // the one page anyone gets
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("API token"), std::string::npos);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
}

TEST_F(Console, SignInGivesAStrictHttpOnlyCookieAndAWrongTokenNone) {
  auto wrong = sign_in("0123456789abcdef-tesT");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_FALSE(wrong->has_header("Set-Cookie"));
  auto r = sign_in(kToken);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string set = r->get_header_value("Set-Cookie");
  EXPECT_NE(set.find("HttpOnly"), std::string::npos) << set;
  EXPECT_NE(set.find("SameSite=Strict"), std::string::npos) << set;
  EXPECT_NE(set.find("Max-Age="), std::string::npos) << set;
  EXPECT_EQ(cookie_.size(), std::string("smtpgw_session=").size() + 64);
  EXPECT_EQ(csrf_.size(), 64u);
  EXPECT_EQ(r->body.find(kToken), std::string::npos);  // the token is not echoed

  httplib::Client c("127.0.0.1", server_->port());
  auto page = c.Get("/ui/", with_cookie(false));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("Restricted senders"), std::string::npos);
  auto data = c.Get("/api/v1/restrictions", with_cookie(false));
  ASSERT_TRUE(data);
  EXPECT_EQ(data->status, 200);
  auto again = c.Get("/ui/session", with_cookie(false));
  ASSERT_TRUE(again);
  EXPECT_EQ(nlohmann::json::parse(again->body)["csrf"], csrf_);
}

TEST_F(Console, AChangeWithoutTheCsrfTokenIsRefused) {
  ASSERT_TRUE(sign_in(kToken));
  httplib::Client c("127.0.0.1", server_->port());
  const std::string body = nlohmann::json{{"key", "a@example.org"}, {"reason", "x"}}.dump();
  auto refused = c.Post("/api/v1/restrictions/release", with_cookie(false), body, "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_TRUE(backend_.released.empty());
  httplib::Headers forged = with_cookie(false);
  forged.emplace("X-CSRF-Token", std::string(64, '0'));
  auto wrong = c.Post("/api/v1/restrictions/release", forged, body, "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  auto ok = c.Post("/api/v1/restrictions/release", with_cookie(true), body, "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(backend_.released, "a@example.org");
  // Sign-out needs the token too, and ends the session.
  EXPECT_EQ(c.Delete("/ui/session", with_cookie(false))->status, 403);
  auto out = c.Delete("/ui/session", with_cookie(true));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 200);
  EXPECT_NE(out->get_header_value("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(c.Get("/api/v1/restrictions", with_cookie(false))->status, 401);
  EXPECT_EQ(c.Get("/ui/", with_cookie(false))->status, 303);
}

TEST_F(Console, EveryAnswerCarriesTheContentSecurityPolicy) {
  ASSERT_TRUE(sign_in(kToken));
  httplib::Client c("127.0.0.1", server_->port());
  for (const char* path : {"/ui/", "/ui/sign-in.html", "/ui/console.js", "/ui/console.css",
                           "/ui/no-such-file", "/api/v1/health"}) {
    auto r = c.Get(path, with_cookie(false));
    ASSERT_TRUE(r) << path;
    const std::string csp = r->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << path << ": " << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << path;
    EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << path;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff") << path;
  }
  EXPECT_EQ(c.Get("/ui/no-such-file", with_cookie(false))->status, 404);
  // The embedded pages load no inline script and nothing from elsewhere.
  auto page = c.Get("/ui/", with_cookie(false));
  EXPECT_EQ(page->body.find("<script>"), std::string::npos);
  EXPECT_EQ(page->body.find("http"), std::string::npos);
}

TEST(Sessions, AreBoundedAndExpire) {
  Sessions s(100, 2);
  const Sessions::Opened a = s.open(1'000), b = s.open(1'001);
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(s.csrf_of(a.id, 1'050), a.csrf);
  EXPECT_EQ(s.csrf_of(a.id, 1'100), std::nullopt);  // expired at 1000 + 100
  const Sessions::Opened c = s.open(1'002), d = s.open(1'003);  // b is dropped: the oldest
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.csrf_of(b.id, 1'003), std::nullopt);
  EXPECT_EQ(s.csrf_of(c.id, 1'003), c.csrf);
  s.close(d.id);
  EXPECT_EQ(s.csrf_of(d.id, 1'003), std::nullopt);
  EXPECT_EQ(random_hex(4).size(), 8u);
}

}  // namespace
}  // namespace smtpgw::api
