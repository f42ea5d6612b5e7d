#include "control/api/server.h"

#include <httplib.h>

#include "control/api/sessions.h"
#include "control/codec/base64.h"
#include "control/console/assets.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

namespace smtpgw::api {

bool token_matches(const std::string& given, const std::string& token) {
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ token[i % (token.empty() ? 1 : token.size())]);
  }
  return diff == 0 && !token.empty();
}

struct Server::Impl {
  httplib::Server http;
  std::thread thread;
  EventStream* events = nullptr;
  std::unique_ptr<Sessions> sessions;
};

Server::Server() : impl_(std::make_unique<Impl>()) {}

Server::~Server() {
  if (impl_->events != nullptr) {
    impl_->events->close();  // the event clients' threads return at once
  }
  impl_->http.stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

namespace {

constexpr const char* kSessionCookie = "smtpgw_session";
constexpr const char* kSignIn = "/ui/sign-in.html";
// Only the console's own files: no inline script or style, no eval, no other origin.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

uint64_t now_s() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// The value of cookie `name` in the request's Cookie header(s), or "".
std::string cookie(const httplib::Request& req, const std::string& name) {
  const size_t n = req.get_header_value_count("Cookie");
  for (size_t i = 0; i < n; ++i) {
    const std::string h = req.get_header_value("Cookie", i);
    size_t at = 0;
    while (at < h.size()) {
      size_t end = h.find(';', at);
      if (end == std::string::npos) {
        end = h.size();
      }
      size_t b = at;
      while (b < end && h[b] == ' ') {
        ++b;
      }
      const size_t eq = h.find('=', b);
      if (eq != std::string::npos && eq < end && h.compare(b, eq - b, name) == 0) {
        return h.substr(eq + 1, end - eq - 1);
      }
      at = end + 1;
    }
  }
  return "";
}

// The CSRF token of the request's session (its cookie), while that session is valid.
std::optional<std::string> session_csrf(const httplib::Request& req, Sessions& sessions) {
  const std::string id = cookie(req, kSessionCookie);
  return id.empty() ? std::nullopt : sessions.csrf_of(id, now_s());
}

void send(httplib::Response& res, const Reply& r) {
  res.status = r.status;
  // Strings from mail (addresses, subjects) need not be UTF-8: replaced, never thrown on.
  res.set_content(r.body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                  "application/json");
}

// The JSON object of a request body, or an error reply.
bool body_object(const httplib::Request& req, httplib::Response& res, nlohmann::json& out,
                 size_t max = SIZE_MAX) {
  if (req.body.size() > max) {
    send(res, Reply::error(413, "the body is larger than " + std::to_string(max) + " bytes"));
    return false;
  }
  out = nlohmann::json::parse(req.body, nullptr, false);
  if (out.is_discarded()) {
    send(res, Reply::error(400, "the body is not JSON"));
    return false;
  }
  if (!out.is_object()) {
    send(res, Reply::error(400, "the body must be a JSON object"));
    return false;
  }
  return true;
}

// A string member of `o`, or an error reply naming it.
bool string_field(const nlohmann::json& o, const char* name, httplib::Response& res,
                  std::string& out, bool required = true) {
  auto it = o.find(name);
  if (it == o.end()) {
    if (required) {
      send(res, Reply::error(400, std::string("missing field \"") + name + "\""));
    }
    return !required;
  }
  if (!it->is_string()) {
    send(res, Reply::error(400, std::string("field \"") + name + "\" must be a string"));
    return false;
  }
  out = it->get<std::string>();
  if (out.size() > 1'024) {
    send(res, Reply::error(400, std::string("field \"") + name + "\" is longer than 1024"));
    return false;
  }
  return true;
}

// The "files" of a rule-set push: 1..1000 of {"name", "text" | "base64"}, names 1..255 characters without
// '/' (a file of the set, not a path), each name once.
bool rule_files(const nlohmann::json& o, httplib::Response& res, std::vector<RuleFile>& out) {
  auto it = o.find("files");
  if (it == o.end() || !it->is_array() || it->empty() || it->size() > 1'000) {
    send(res, Reply::error(400, "field \"files\" must be an array of 1 to 1000 "
                                "{\"name\", \"text\"} objects"));
    return false;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& f = (*it)[i];
    const std::string at = "files[" + std::to_string(i) + "]";
    const bool text = f.is_object() && f.contains("text") && f["text"].is_string();
    const bool b64 = f.is_object() && f.contains("base64") && f["base64"].is_string();
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || text == b64) {
      send(res, Reply::error(400, at + " must be an object with a string \"name\" and either "
                                       "\"text\" (UTF-8) or \"base64\" (any bytes)"));
      return false;
    }
    RuleFile rf{f["name"].get<std::string>(), {}};
    if (text) {
      rf.text = f["text"].get<std::string>();
    } else if (std::optional<std::string> bytes = codec::base64_decode(f["base64"].get<std::string>())) {
      rf.text = std::move(*bytes);
    } else {
      send(res, Reply::error(400, at + ".base64 is not base64 (RFC 4648, padded)"));
      return false;
    }
    if (rf.name.empty() || rf.name.size() > 255 || rf.name.find('/') != std::string::npos ||
        rf.name.find('\0') != std::string::npos) {
      send(res, Reply::error(400, at + ".name must have 1 to 255 characters and no '/'"));
      return false;
    }
    for (const RuleFile& seen : out) {
      if (seen.name == rf.name) {
        send(res, Reply::error(400, at + ".name \"" + rf.name + "\" is given twice"));
        return false;
      }
    }
    out.push_back(std::move(rf));
  }
  return true;
}

// The optional "version" of a roll-back: a whole number, 0 or more; absent leaves `out` empty.
bool version_field(const nlohmann::json& o, httplib::Response& res, std::optional<int64_t>& out) {
  auto it = o.find("version");
  if (it == o.end()) {
    return true;
  }
  if (!it->is_number_integer() || it->get<int64_t>() < 0) {
    send(res, Reply::error(400, "field \"version\" must be a whole number, 0 or more"));
    return false;
  }
  out = it->get<int64_t>();
  return true;
}

bool number_param(const httplib::Request& req, const char* name, uint64_t max,
                  httplib::Response& res, uint64_t& out) {
  if (!req.has_param(name)) {
    return true;
  }
  const std::string v = req.get_param_value(name);
  if (v.empty() || v.size() > 19 ||
      v.find_first_not_of("0123456789") != std::string::npos || std::stoull(v) > max) {
    send(res, Reply::error(400, std::string("parameter \"") + name +
                                    "\" must be a whole number up to " + std::to_string(max)));
    return false;
  }
  out = std::stoull(v);
  return true;
}

}  // namespace

std::unique_ptr<Server> Server::start(const Options& options, Backend& backend,
                                      std::string* error) {
  if (options.token.size() < 16) {
    *error = "the API token must have at least 16 characters";
    return nullptr;
  }
  std::unique_ptr<Server> s(new Server());
  httplib::Server& http = s->impl_->http;
  s->impl_->events = options.events;
  http.set_payload_max_length(
      std::max({options.max_body, options.max_rules_body, options.max_report_body}));
  http.set_read_timeout(static_cast<time_t>(options.read_timeout_s), 0);
  http.set_write_timeout(static_cast<time_t>(options.read_timeout_s), 0);
  // An idle keep-alive connection, or one whose request never ends, is dropped as soon as a
  // silent one would be (httplib waits keep_alive_timeout for the request line).
  http.set_keep_alive_timeout(static_cast<time_t>(options.read_timeout_s));
  const std::string token = options.token;
  const size_t max_body = options.max_body, max_rules = options.max_rules_body;
  const size_t max_report = options.max_report_body;
  s->impl_->sessions = std::make_unique<Sessions>(options.session_s, options.max_sessions);
  Sessions* sessions = s->impl_->sessions.get();
  http.set_pre_routing_handler([token, max_body, max_rules, max_report, sessions](
                                   const httplib::Request& req, httplib::Response& res) {
    res.set_header("Content-Security-Policy", kCsp);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("X-Frame-Options", "DENY");
    const bool console = req.path == "/ui" || req.path.rfind("/ui/", 0) == 0;
    const console::Asset* asset = console::find(req.path);
    if (req.path == "/ui/session" || (asset != nullptr && asset->is_public)) {
      return httplib::Server::HandlerResponse::Unhandled;  // the handler checks what it needs
    }
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    bool allowed = auth.rfind(prefix, 0) == 0 && token_matches(auth.substr(prefix.size()), token);
    if (!allowed && auth.empty()) {
      const std::optional<std::string> csrf = session_csrf(req, *sessions);
      if (csrf && req.method != "GET" && req.method != "HEAD" &&
          !token_matches(req.get_header_value("X-CSRF-Token"), *csrf)) {
        send(res, Reply::error(403, "missing or wrong CSRF token (X-CSRF-Token)"));
        return httplib::Server::HandlerResponse::Handled;
      }
      allowed = csrf.has_value();
    }
    if (!allowed) {
      if (console && req.method == "GET") {
        res.status = 303;
        res.set_header("Location", kSignIn);
        return httplib::Server::HandlerResponse::Handled;
      }
      res.set_header("WWW-Authenticate", "Bearer");
      send(res, Reply::error(401, "missing or wrong token"));
      return httplib::Server::HandlerResponse::Handled;
    }
    // Only a rule set and a complaint report may be large: every other body is held to
    // max_body before it is read (a chunked one, which states no length, is checked once read).
    const size_t limit = req.path == "/api/v1/rules"        ? max_rules
                         : req.path == "/api/v1/complaints" ? max_report
                                                            : max_body;
    if (req.get_header_value<uint64_t>("Content-Length") > limit) {
      send(res, Reply::error(413, "the body is larger than " + std::to_string(limit) + " bytes"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      const char* what = res.status == 404   ? "no such resource"
                         : res.status == 413 ? "the body is too large"
                         : res.status == 405 ? "method not allowed"
                                             : "bad request";
      send(res, Reply::error(res.status, what));
    }
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        send(res, Reply::error(500, "internal error"));
      });
  Backend* b = &backend;
  http.Get("/api/v1/health",
           [b](const httplib::Request&, httplib::Response& res) { send(res, b->health()); });
  http.Get("/api/v1/restrictions", [b](const httplib::Request&, httplib::Response& res) {
    send(res, b->restrictions());
  });
  http.Post("/api/v1/restrictions/release", [b, max_body](const httplib::Request& req,
                                                httplib::Response& res) {
    nlohmann::json o;
    std::string key, reason;
    if (!body_object(req, res, o, max_body) || !string_field(o, "key", res, key) ||
        !string_field(o, "reason", res, reason, false)) {
      return;
    }
    send(res, b->release(key, reason));
  });
  http.Get("/api/v1/restrictions/history", [b](const httplib::Request& req,
                                               httplib::Response& res) {
    uint64_t limit = 100;
    if (!number_param(req, "limit", 1'000, res, limit)) {
      return;
    }
    send(res, b->restriction_history(static_cast<uint32_t>(limit == 0 ? 1 : limit)));
  });
  http.Get("/api/v1/trace", [b](const httplib::Request& req, httplib::Response& res) {
    TraceQuery q;
    uint64_t limit = q.limit, before = 0;
    if (!number_param(req, "since", UINT32_MAX, res, q.since_unix_s) ||
        !number_param(req, "until", UINT32_MAX, res, q.until_unix_s) ||
        !number_param(req, "before_id", INT64_MAX, res, before) ||
        !number_param(req, "limit", 1'000, res, limit)) {
      return;
    }
    q.before_id = static_cast<int64_t>(before);
    q.limit = static_cast<uint32_t>(limit == 0 ? 1 : limit);
    q.sender = req.get_param_value("sender");
    q.host = req.get_param_value("host");
    q.recipient = req.get_param_value("recipient");
    q.verdict = req.get_param_value("verdict");
    q.pool = req.get_param_value("pool");
    q.action = req.get_param_value("action");
    if (!q.verdict.empty() && q.verdict != "clean" && q.verdict != "spam" &&
        q.verdict != "not_scanned") {
      send(res, Reply::error(400, "parameter \"verdict\" must be clean, spam or not_scanned"));
      return;
    }
    if (!q.action.empty() && q.action != "allow" && q.action != "refuse" &&
        q.action != "throttle" && q.action != "defer") {
      send(res, Reply::error(400, "parameter \"action\" must be allow, refuse, throttle or defer"));
      return;
    }
    send(res, b->trace(q));
  });
  http.Get("/api/v1/alerts", [b](const httplib::Request& req, httplib::Response& res) {
    uint64_t limit = 100, open = 0;
    if (!number_param(req, "limit", 1'000, res, limit) || !number_param(req, "open", 1, res, open)) {
      return;
    }
    send(res, b->alerts(static_cast<uint32_t>(limit == 0 ? 1 : limit), open == 1));
  });
  http.Post("/api/v1/alerts/acknowledge", [b, max_body](const httplib::Request& req,
                                              httplib::Response& res) {
    nlohmann::json o;
    std::string note;
    if (!body_object(req, res, o, max_body) || !string_field(o, "note", res, note, false)) {
      return;
    }
    auto id = o.find("id");
    if (id == o.end() || !id->is_number_integer() || id->get<int64_t>() <= 0) {
      send(res, Reply::error(400, "field \"id\" must be a positive whole number"));
      return;
    }
    send(res, b->acknowledge(id->get<int64_t>(), note));
  });
  http.Get("/api/v1/pools",
           [b](const httplib::Request&, httplib::Response& res) { send(res, b->pools()); });
  http.Post("/api/v1/pools/state", [b, max_body](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json o;
    std::string address, state;
    if (!body_object(req, res, o, max_body) || !string_field(o, "address", res, address) ||
        !string_field(o, "state", res, state)) {
      return;
    }
    send(res, b->set_address_state(address, state));
  });
  http.Get("/api/v1/rules",
           [b](const httplib::Request&, httplib::Response& res) { send(res, b->rules()); });
  http.Post("/api/v1/rules", [b, max_rules](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json o;
    std::string note;
    if (!body_object(req, res, o, max_rules) || !string_field(o, "note", res, note, false)) {
      return;
    }
    std::vector<RuleFile> files;
    if (!rule_files(o, res, files)) {
      return;
    }
    bool lenient = false;
    if (auto it = o.find("lenient"); it != o.end()) {
      if (!it->is_boolean()) {
        send(res, Reply::error(400, "field \"lenient\" must be true or false"));
        return;
      }
      lenient = it->get<bool>();
    }
    send(res, b->push_rules(files, lenient, note));
  });
  http.Post("/api/v1/rules/rollback", [b, max_body](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json o;
    std::optional<int64_t> version;
    if (!body_object(req, res, o, max_body) || !version_field(o, res, version)) {
      return;
    }
    send(res, b->rollback_rules(version));
  });
  http.Get("/api/v1/policy",
           [b](const httplib::Request&, httplib::Response& res) { send(res, b->policy()); });
  http.Put("/api/v1/policy", [b, max_body](const httplib::Request& req, httplib::Response& res) {
    if (req.body.size() > max_body) {
      send(res, Reply::error(413, "the body is larger than " + std::to_string(max_body) +
                                      " bytes"));
      return;
    }
    const std::string note = req.get_param_value("note");
    if (note.size() > 1'024) {
      send(res, Reply::error(400, "parameter \"note\" is longer than 1024"));
      return;
    }
    send(res, b->push_policy(req.body, note));
  });
  http.Post("/api/v1/policy/rollback", [b, max_body](const httplib::Request& req,
                                                      httplib::Response& res) {
    nlohmann::json o;
    std::optional<int64_t> version;
    if (!body_object(req, res, o, max_body) || !version_field(o, res, version)) {
      return;
    }
    send(res, b->rollback_policy(version));
  });
  http.Get("/api/v1/senders", [b](const httplib::Request& req, httplib::Response& res) {
    const std::string key = req.get_param_value("key");
    if (key.empty() || key.size() > 320) {
      send(res, Reply::error(400, "parameter \"key\" is required (1..320 characters)"));
      return;
    }
    send(res, b->sender(key));
  });
  http.Post("/api/v1/complaints", [b, max_report](const httplib::Request& req,
                                                  httplib::Response& res) {
    if (req.body.size() > max_report) {
      send(res, Reply::error(413, "the body is larger than " + std::to_string(max_report) +
                                      " bytes"));
      return;
    }
    send(res, b->complaint(req.body));
  });
  http.Get("/api/v1/complaints", [b](const httplib::Request& req, httplib::Response& res) {
    uint64_t limit = 100;
    if (!number_param(req, "limit", 1'000, res, limit)) {
      return;
    }
    send(res, b->complaints(req.get_param_value("sender"), static_cast<uint32_t>(limit == 0 ? 1 : limit)));
  });
  if (EventStream* events = options.events) {
    http.Get("/api/v1/events", [events](const httplib::Request&, httplib::Response& res) {
      if (!events->join()) {
        send(res, Reply::error(503, "too many clients of the event stream"));
        return;
      }
      auto cursor = std::make_shared<uint64_t>(0);
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [events, cursor](size_t, httplib::DataSink& sink) {
            // A comment every 15 s at most when nothing happens: a client that went away is
            // found at the write, and proxies keep the connection.
            std::string text = events->next(cursor.get(), 15'000);
            if (events->closed()) {
              sink.done();
              return true;
            }
            if (text.empty()) {
              text = ": idle\n\n";
            }
            return sink.write(text.data(), text.size());
          },
          [events](bool) { events->leave(); });
    });
  }
  if (History* history = options.history) {
    http.Get("/api/v1/stats/history", [history](const httplib::Request&, httplib::Response& res) {
      send(res, Reply{200, {{"interval_s", 1}, {"samples", history->samples()}}});
    });
  }
  http.Get("/metrics", [b](const httplib::Request&, httplib::Response& res) {
    res.set_content(b->metrics(), "text/plain; version=0.0.4");
  });
  // The console: sign-in, its session, and its files.
  http.Post("/ui/session", [token, sessions, max_body](const httplib::Request& req,
                                                       httplib::Response& res) {
    nlohmann::json o;
    std::string given;
    if (!body_object(req, res, o, max_body) || !string_field(o, "token", res, given)) {
      return;
    }
    if (!token_matches(given, token)) {
      send(res, Reply::error(401, "missing or wrong token"));
      return;
    }
    const Sessions::Opened s = sessions->open(now_s());
    res.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + s.id +
                                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                     std::to_string(sessions->lifetime_s()));
    send(res, Reply{200, {{"csrf", s.csrf}, {"expires_unix_s", s.expires_unix_s}}});
  });
  http.Get("/ui/session", [sessions](const httplib::Request& req, httplib::Response& res) {
    const std::optional<std::string> csrf = session_csrf(req, *sessions);
    if (!csrf) {
      send(res, Reply::error(401, "not signed in"));
      return;
    }
    send(res, Reply{200, {{"csrf", *csrf}}});
  });
  http.Delete("/ui/session", [sessions](const httplib::Request& req, httplib::Response& res) {
    const std::optional<std::string> csrf = session_csrf(req, *sessions);
    if (!csrf || !token_matches(req.get_header_value("X-CSRF-Token"), *csrf)) {
      send(res, Reply::error(csrf ? 403 : 401, csrf ? "missing or wrong CSRF token (X-CSRF-Token)"
                                                    : "not signed in"));
      return;
    }
    sessions->close(cookie(req, kSessionCookie));
    res.set_header("Set-Cookie", std::string(kSessionCookie) +
                                     "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    send(res, Reply{200, {{"signed_out", true}}});
  });
  auto serve = [](const httplib::Request& req, httplib::Response& res) {
    const console::Asset* a =
        console::find(req.path == "/ui" || req.path == "/ui/" ? "/ui/index.html" : req.path);
    if (a == nullptr) {
      send(res, Reply::error(404, "no such resource"));
      return;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(reinterpret_cast<const char*>(a->data), a->size, a->content_type);
  };
  http.Get("/ui", serve);
  http.Get("/ui/.*", serve);
  const int port = options.port == 0 ? http.bind_to_any_port(options.address)
                                     : (http.bind_to_port(options.address, options.port)
                                            ? options.port
                                            : -1);
  if (port <= 0) {
    *error = "cannot listen on " + options.address + ":" + std::to_string(options.port) +
             " (in use, or not an address of this machine)";
    return nullptr;
  }
  s->port_ = static_cast<uint16_t>(port);
  s->impl_->thread = std::thread([p = s.get()] { p->impl_->http.listen_after_bind(); });
  return s;
}

}  // namespace smtpgw::api
