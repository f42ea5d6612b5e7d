// The queued sinks' sender thread (Courier), the webhook and syslog transports.
#include "control/alerts/sinks.h"

#include <httplib.h>
#include <syslog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "control/alerts/sinks_internal.h"

namespace smtpgw::alerts {
namespace detail {

using Clock = std::chrono::steady_clock;

void check_delivery(const DeliveryOptions& o, const char* who) {
  auto fail = [&](const char* what) {
    throw std::invalid_argument(std::string(who) + ": " + what);
  };
  if (o.max_queue < 1) {
    fail("max_queue must be at least 1");
  }
  if (o.max_attempts < 1) {
    fail("max_attempts must be at least 1");
  }
  if (o.backoff_initial.count() < 0 || o.backoff_max < o.backoff_initial) {
    fail("backoff_initial must be >= 0 and <= backoff_max");
  }
  if (o.shutdown_grace.count() < 0) {
    fail("shutdown_grace must be >= 0");
  }
}

// The queue and its thread. Shared by the owning QueuedSink and every Sink handed out, so a
// Sink called after its owner stopped finds a stopped queue, never a dangling pointer.
class Courier {
 public:
  Courier(std::unique_ptr<Deliverer> d, const DeliveryOptions& o)
      : deliverer_(std::move(d)), opts_(o) {}

  void start() {
    thread_ = std::thread([this] { run(); });
  }

  bool offer(const Alert& a) {
    std::lock_guard lk(mu_);
    if (stopping_) {
      abandoned_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (queue_.size() + (in_flight_ ? 1 : 0) >= opts_.max_queue) {
      dropped_full_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(a);
    accepted_.fetch_add(1, std::memory_order_relaxed);
    cv_.notify_one();
    return true;
  }

  void stop() {
    std::unique_lock lk(mu_);
    if (!thread_.joinable()) {
      return;
    }
    if (!stopping_) {
      stopping_ = true;
      grace_end_ = Clock::now() + opts_.shutdown_grace;
    }
    cv_.notify_all();
    // The thread finishes by itself when what is queued goes out (or fails fast) in time; an
    // attempt still running at the deadline is cut.
    done_cv_.wait_until(lk, grace_end_, [&] { return done_; });
    const bool done = done_;
    lk.unlock();
    if (!done) {
      deliverer_->interrupt();
    }
    thread_.join();
  }

  SinkCounters counters() const {
    // Relaxed: each counter is a number on its own, nothing is published through it.
    SinkCounters c;
    c.accepted = accepted_.load(std::memory_order_relaxed);
    c.delivered = delivered_.load(std::memory_order_relaxed);
    c.retried = retried_.load(std::memory_order_relaxed);
    c.dropped_full = dropped_full_.load(std::memory_order_relaxed);
    c.failed = failed_.load(std::memory_order_relaxed);
    c.abandoned = abandoned_.load(std::memory_order_relaxed);
    c.recipients_refused = deliverer_->recipients_refused.load(std::memory_order_relaxed);
    std::lock_guard lk(mu_);
    c.queued = queue_.size() + (in_flight_ ? 1 : 0);
    return c;
  }

  std::string last_error() const {
    std::lock_guard lk(mu_);
    return last_error_;
  }

 private:
  // Past the grace deadline of a stop: nothing more is tried. Called with mu_ held.
  bool out_of_time() const { return stopping_ && Clock::now() >= grace_end_; }

  void run() {
    for (;;) {
      Alert a;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() || out_of_time()) {
          abandoned_.fetch_add(queue_.size(), std::memory_order_relaxed);
          queue_.clear();
          done_ = true;
          done_cv_.notify_all();
          return;
        }
        a = std::move(queue_.front());
        queue_.pop_front();
        in_flight_ = true;
      }
      send(a);
      std::lock_guard lk(mu_);
      in_flight_ = false;
    }
  }

  // Tries `a` until delivered, refused, out of attempts or out of time; counts the end.
  void send(const Alert& a) {
    std::chrono::milliseconds backoff = opts_.backoff_initial;
    for (uint32_t attempt = 1;; ++attempt) {
      std::chrono::milliseconds timeout = deliverer_->timeout();
      {
        std::lock_guard lk(mu_);
        if (out_of_time()) {
          abandoned_.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        if (stopping_) {  // the grace period bounds this attempt too
          const auto left =
              std::chrono::duration_cast<std::chrono::milliseconds>(grace_end_ - Clock::now());
          timeout = std::max(std::chrono::milliseconds{1}, std::min(timeout, left));
        }
      }
      std::string error;
      Outcome out;
      try {
        out = deliverer_->deliver(a, timeout, &error);
      } catch (const std::exception& e) {  // a bug in a transport must not end the process
        error = std::string("internal error: ") + e.what();
        out = Outcome::kRefused;
      }
      if (out == Outcome::kDelivered) {
        delivered_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      std::unique_lock lk(mu_);
      last_error_ = error;
      if (out == Outcome::kRefused || attempt >= opts_.max_attempts) {
        failed_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      // Woken early by stop(): the remaining attempts go at once, within the grace period.
      cv_.wait_for(lk, backoff, [&] { return stopping_; });
      backoff = std::min(backoff * 2, opts_.backoff_max);
      retried_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::unique_ptr<Deliverer> deliverer_;
  const DeliveryOptions opts_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // queue_ or stopping_ changed
  std::condition_variable done_cv_;  // done_ set
  std::deque<Alert> queue_;
  bool in_flight_ = false;
  bool stopping_ = false;
  bool done_ = false;
  Clock::time_point grace_end_{};
  std::string last_error_;

  std::atomic<uint64_t> accepted_{0}, delivered_{0}, retried_{0}, dropped_full_{0}, failed_{0},
      abandoned_{0};
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
QueuedSink::QueuedSink(std::unique_ptr<detail::Deliverer> d, const DeliveryOptions& o)
    : courier_(std::make_shared<detail::Courier>(std::move(d), o)) {
  courier_->start();
}

QueuedSink::~QueuedSink() {
  stop();
}

Alerts::Sink QueuedSink::sink() {
  return [c = courier_](const Alert& a, bool first) {
    if (first) {
      c->offer(a);
    }
  };
}

bool QueuedSink::offer(const Alert& a) {
  return courier_->offer(a);
}
void QueuedSink::stop() {
  courier_->stop();
}
SinkCounters QueuedSink::counters() const {
  return courier_->counters();
}
std::string QueuedSink::last_error() const {
  return courier_->last_error();
}

// ---------------------------------------------------------------------------------------------
namespace {

bool has_crlf(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

class WebhookDeliverer : public detail::Deliverer {
 public:
  WebhookDeliverer(const WebhookOptions& o, const HttpUrl& u)
      : url_(u), timeout_(o.timeout), client_(u.host, u.port) {
    for (const auto& [name, value] : o.headers) {
      headers_.emplace(name, value);
    }
    if (!o.bearer_token.empty()) {
      client_.set_bearer_token_auth(o.bearer_token);
    }
    client_.set_keep_alive(false);  // alerts are rare; a kept connection would go stale
  }

  detail::Outcome deliver(const Alert& a, std::chrono::milliseconds timeout,
                          std::string* error) override {
    client_.set_connection_timeout(timeout);
    client_.set_read_timeout(timeout);
    client_.set_write_timeout(timeout);
    // Subjects come from the wire and may not be UTF-8: replaced, never thrown on.
    const std::string body =
        to_json(a).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    httplib::Result r = client_.Post(url_.target.c_str(), headers_, body, "application/json");
    if (!r) {
      *error = "POST " + url_.host + ":" + std::to_string(url_.port) + url_.target + ": " +
               httplib::to_string(r.error());
      return detail::Outcome::kRetry;
    }
    if (r->status >= 200 && r->status < 300) {
      return detail::Outcome::kDelivered;
    }
    *error = "POST " + url_.host + ":" + std::to_string(url_.port) + url_.target + ": HTTP " +
             std::to_string(r->status);
    return detail::Outcome::kRetry;
  }

  // Shuts the socket of a request in progress (httplib's one thread-safe call).
  void interrupt() override { client_.stop(); }
  std::chrono::milliseconds timeout() const override { return timeout_; }

 private:
  HttpUrl url_;
  std::chrono::milliseconds timeout_;
  httplib::Client client_;
  httplib::Headers headers_;
};

std::unique_ptr<detail::Deliverer> make_webhook(const WebhookOptions& o) {
  HttpUrl u;
  std::string error;
  if (!parse_http_url(o.url, &u, &error)) {
    throw std::invalid_argument("webhook: url: " + error);
  }
  if (o.timeout.count() < 1) {
    throw std::invalid_argument("webhook: timeout must be at least 1 ms");
  }
  if (has_crlf(o.bearer_token)) {
    throw std::invalid_argument("webhook: the bearer token contains CR or LF");
  }
  for (const auto& [name, value] : o.headers) {
    if (name.empty() || has_crlf(name) || name.find(':') != std::string::npos || has_crlf(value)) {
      throw std::invalid_argument("webhook: header '" + name +
                                  "': names must be non-empty without ':', CR or LF; values "
                                  "without CR or LF");
    }
  }
  detail::check_delivery(o.delivery, "webhook");
  return std::make_unique<WebhookDeliverer>(o, u);
}

class SyslogDeliverer : public detail::Deliverer {
 public:
  detail::Outcome deliver(const Alert& a, std::chrono::milliseconds, std::string*) override {
    const int priority = syslog_severity(a.kind);
    const std::string line = syslog_line(a);
    ::syslog(priority, "%s", line.c_str());  // never the alert as a format
    return detail::Outcome::kDelivered;
  }
  void interrupt() override {}
  std::chrono::milliseconds timeout() const override { return std::chrono::milliseconds{0}; }
};

std::unique_ptr<detail::Deliverer> make_syslog(const SyslogOptions& o) {
  detail::check_delivery(o.delivery, "syslog");
  // LOG_NDELAY: the socket is opened now, not at the first alert, so a missing /dev/log shows
  // at start. The ident is a literal: openlog keeps the pointer.
  ::openlog("smtpgw", LOG_PID | LOG_NDELAY, syslog_facility_value(o.facility));
  return std::make_unique<SyslogDeliverer>();
}

}  // namespace

WebhookSink::WebhookSink(WebhookOptions o) : QueuedSink(make_webhook(o), o.delivery) {}

SyslogSink::SyslogSink(SyslogOptions o) : QueuedSink(make_syslog(o), o.delivery) {}

SyslogSink::~SyslogSink() {
  stop();
  ::closelog();
}

// ---------------------------------------------------------------------------------------------
int syslog_facility_value(SyslogFacility f) {
  switch (f) {
    case SyslogFacility::kDaemon:
      return LOG_DAEMON;
    case SyslogFacility::kMail:
      return LOG_MAIL;
    case SyslogFacility::kUser:
      return LOG_USER;
    case SyslogFacility::kLocal0:
      return LOG_LOCAL0;
    case SyslogFacility::kLocal1:
      return LOG_LOCAL1;
    case SyslogFacility::kLocal2:
      return LOG_LOCAL2;
    case SyslogFacility::kLocal3:
      return LOG_LOCAL3;
    case SyslogFacility::kLocal4:
      return LOG_LOCAL4;
    case SyslogFacility::kLocal5:
      return LOG_LOCAL5;
    case SyslogFacility::kLocal6:
      return LOG_LOCAL6;
    case SyslogFacility::kLocal7:
      return LOG_LOCAL7;
  }
  return LOG_DAEMON;
}

int syslog_severity(Kind k) {
  const std::string_view s = severity(k);
  if (s == "critical") {
    return LOG_CRIT;
  }
  if (s == "warning") {
    return LOG_WARNING;
  }
  return LOG_INFO;
}

std::string syslog_line(const Alert& a) {
  std::string line = std::string(kind_name(a.kind)) + " " + a.subject + ": " + a.message;
  for (char& c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      c = ' ';
    }
  }
  return line;
}

}  // namespace smtpgw::alerts
