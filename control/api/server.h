// The operator API: REST/JSON over HTTP (cpp-httplib) on the management address, loopback by
// default. Every request needs "Authorization: Bearer TOKEN" (compared in constant time, never
// logged); without it, or with a wrong one, every path answers 401 the same way, so a bad token
// never learns which resources exist. Bodies are limited (413), slow clients time out, and every
// error is a JSON body {"error": "..."}.
//
//   GET    /api/v1/health                       the gateway's state in brief
//   GET    /api/v1/restrictions                 restrictions in force
//   GET    /api/v1/restrictions/history?limit=  the audit trail: restrictions applied, newest
//                                               first, with each release's time and reason
//   POST   /api/v1/restrictions/release         {"key": "...", "reason": "..."}: lifted for the
//                                               next MAIL FROM, recorded with when and why
//   GET    /api/v1/trace?sender=&host=&recipient=&verdict=&action=&pool=&since=&until=&limit=
//                 &before_id=
//                                               the message trace, newest first, paged by id
//   GET    /api/v1/alerts?limit=&open=1         the newest alerts (open: not acknowledged)
//   POST   /api/v1/alerts/acknowledge           {"id": N, "note": "..."}
//   GET    /api/v1/pools                        every pool address with its state, and each
//                                               pool's counts by state and bound prefixes
//   POST   /api/v1/pools/state                  {"address": "...", "state": "draining"|"active"}
//   GET    /api/v1/rules                        the active rule-set version and the stored ones
//   POST   /api/v1/rules                        {"files": [{"name": "x.cf", "text": "..."}],
//                                               "lenient": false, "note": "..."}: compiled,
//                                               then active; or 422 with the compiler's errors
//   POST   /api/v1/rules/rollback               {"version": N} (0: rules.dir; none: the one
//                                               before the active one)
//   GET    /api/v1/policy                       the policy in force (JSON, and the pushed text)
//                                               and the stored versions
//   PUT    /api/v1/policy?note=                 a `limits:` section in YAML: validated with the
//                                               config loader (422 with FILE:LINE:COL errors),
//                                               then published
//   POST   /api/v1/policy/rollback              {"version": N} (0: the config file's limits)
//   GET    /api/v1/senders?key=KEY              one sender key's counters per window, its state,
//                                               and its kind's limits against them
//   POST   /api/v1/complaints                   a complaint report in ARF (RFC 5965), as sent:
//                                               parsed, matched to a sender through the trace,
//                                               kept; 400 says what is wrong with the report
//   GET    /api/v1/complaints?sender=&limit=    the newest complaints
//   GET    /api/v1/events                       Server-Sent Events: alerts as raised, a statistics
//                                               snapshot every second (event_stream.h)
//   GET    /api/v1/stats/history                the last 15 minutes of per-second totals
//                                               (history.h), oldest first
//   GET    /metrics                             Prometheus text
//
// The operator console (control/console/) is served from the same listener:
//
//   GET    /ui/ , /ui/NAME                      the console's pages and files (embedded)
//   POST   /ui/session                          {"token": "..."}: a session cookie (HttpOnly,
//                                               SameSite=Strict, Max-Age) and {"csrf": "..."}
//   GET    /ui/session                          the session's CSRF token again (page reload)
//   DELETE /ui/session                          sign-out
//
// A request with a valid session cookie may call every route above as with the token; one
// that changes something (any method but GET and HEAD) must carry the session's CSRF token in
// X-CSRF-Token, else 403. Without a session, console pages redirect (303) to the sign-in page,
// which with its style sheet and script is the only thing served to anyone. Every answer
// carries a Content-Security-Policy that allows only the console's own files (no inline
// script, no eval), and nosniff / no-referrer / no framing.
//
// The module knows nothing of the gateway: a Backend answers (control/app/api_backend.cc).
//
// Threads: the server runs on its own threads (cpp-httplib's pool); the Backend is called there.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/api/event_stream.h"
#include "control/api/history.h"
#include "control/store/trace_filter.h"

namespace smtpgw::api {

// An answer: an HTTP status and a JSON body (for an error: {"error": message}).
struct Reply {
  int status = 200;
  nlohmann::json body;
  static Reply error(int status, const std::string& message) {
    return {status, nlohmann::json{{"error", message}}};
  }
};

using TraceQuery = store::TraceFilter;  // one query, the store's

struct RuleFile {
  std::string name;  // 1..255 characters, no '/'
  std::string text;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Reply health() = 0;
  virtual Reply restrictions() = 0;
  virtual Reply restriction_history(uint32_t limit) = 0;
  virtual Reply release(const std::string& key, const std::string& reason) = 0;
  virtual Reply trace(const TraceQuery& q) = 0;
  virtual Reply alerts(uint32_t limit, bool open_only) = 0;
  virtual Reply acknowledge(int64_t id, const std::string& note) = 0;
  virtual Reply pools() = 0;
  virtual Reply set_address_state(const std::string& address, const std::string& state) = 0;
  virtual Reply rules() = 0;
  virtual Reply push_rules(const std::vector<RuleFile>& files, bool lenient,
                           const std::string& note) = 0;
  virtual Reply rollback_rules(std::optional<int64_t> version) = 0;
  virtual Reply policy() = 0;
  virtual Reply push_policy(const std::string& yaml, const std::string& note) = 0;
  virtual Reply rollback_policy(std::optional<int64_t> version) = 0;
  virtual Reply sender(const std::string& key) = 0;
  virtual Reply complaint(const std::string& report) = 0;
  virtual Reply complaints(const std::string& sender, uint32_t limit) = 0;
  virtual std::string metrics() = 0;
};

struct Options {
  std::string address = "127.0.0.1";
  uint16_t port = 8025;          // 0: any free port (tests)
  std::string token;             // required, at least 16 characters
  size_t max_body = 65'536;      // bytes
  size_t max_rules_body = 16u << 20;  // bytes: POST /api/v1/rules (a rule set is large)
  size_t max_report_body = 1u << 20;  // bytes: POST /api/v1/complaints (one ARF report)
  uint32_t read_timeout_s = 5;   // a client that sends nothing for this long is dropped
  EventStream* events = nullptr;  // GET /api/v1/events; null: 404. Must outlive the Server.
  History* history = nullptr;     // GET /api/v1/stats/history; null: 404. Must outlive it too.
  uint32_t session_s = 8 * 3'600;  // a console session's life (the cookie's Max-Age)
  size_t max_sessions = 64;        // console sessions at once; one more ends the oldest
};

class Server {
 public:
  // Binds and starts serving. Null with `error` set when the address cannot be bound.
  static std::unique_ptr<Server> start(const Options& options, Backend& backend,
                                       std::string* error);
  // Closes the event stream (its clients are let go), stops accepting and waits for the
  // requests in progress.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  uint16_t port() const { return port_; }

 private:
  struct Impl;
  Server();
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

// Whether `given` equals `token`, in time that depends only on their lengths.
bool token_matches(const std::string& given, const std::string& token);

}  // namespace smtpgw::api
