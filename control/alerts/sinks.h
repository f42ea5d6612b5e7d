// The alert sinks that talk to the outside: an HTTP webhook, e-mail to the admins through an
// SMTP relay, and syslog. (The store and the JSON-lines file are in alerts.h.)
//
// Each is a QueuedSink: one sender thread and a bounded queue. The Alerts::Sink it hands out
// only copies the alert into the queue and returns, so the main lcore never waits on a network,
// a relay or a log daemon. Decisions common to all three:
//   - first only: an alert is sent when raised; repeats folded into it within alerts.aggregate
//     are not re-sent (the store counts them).
//   - a full queue drops the new alert and counts it (dropped_full); nothing blocks.
//   - a failed attempt (connection error, timeout, HTTP non-2xx, SMTP 4xx) is retried after
//     backoff_initial, then twice that, ... capped at backoff_max, up to max_attempts attempts
//     in all; then the alert is dropped and counted (failed). A permanent refusal (SMTP 5xx) is
//     failed at once. Alerts are sent one at a time, in order: a retrying alert holds back the
//     ones behind it, which is what keeps a dead receiver from being hammered.
//   - stop() (and the destructor) wakes the thread at once, gives what is queued until
//     shutdown_grace to go out (no backoff waits then), and cuts an attempt still running at
//     that deadline; what is left is counted (abandoned).
// Every accepted alert ends as exactly one of delivered, failed or abandoned.
//
// Building them from the config (control/config/config.h, AlertsConfig) is a few lines:
//   WebhookOptions w; w.url = c.webhook->url; w.timeout = ms(c.webhook->timeout_ms); ...
//   auto hook = std::make_unique<WebhookSink>(std::move(w));   // throws on a bad URL
//   alerts.add_sink(hook->sink());                              // keep `hook` alive
//
// Threads: construct, stop and destroy a sink on one thread (the main lcore); call the
// Alerts::Sink it returns from the thread that raises alerts; read counters() and last_error()
// from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/alerts/alerts.h"
#include "control/alerts/sink_values.h"

namespace smtpgw::alerts {

// What became of the alerts offered to one sink. Monotonic except `queued`.
struct SinkCounters {
  uint64_t accepted = 0;            // taken into the queue
  uint64_t delivered = 0;           // sent and acknowledged (HTTP 2xx, SMTP 250 after DATA, logged)
  uint64_t retried = 0;             // attempts after the first, all alerts together
  uint64_t dropped_full = 0;        // refused because the queue held max_queue alerts
  uint64_t failed = 0;              // given up: max_attempts failed, or refused for good
  uint64_t abandoned = 0;           // still queued or retrying at stop(), or offered after it
  uint64_t recipients_refused = 0;  // e-mail only: admin addresses the relay refused (5xx)
  uint64_t queued = 0;              // waiting now, the one in flight included
};

// The delivery policy every queued sink shares.
struct DeliveryOptions {
  size_t max_queue = 1000;    // alerts held, the one being sent included; >= 1
  uint32_t max_attempts = 5;  // attempts per alert, >= 1
  std::chrono::milliseconds backoff_initial{1000};  // wait after the first failure
  std::chrono::milliseconds backoff_max{60'000};    // the doubling stops here
  std::chrono::milliseconds shutdown_grace{2000};   // stop(): time left to send what is queued
};

namespace detail {
class Courier;
class Deliverer;
}  // namespace detail

// The sender thread and its queue; see the file comment. Not copyable or movable (the thread
// and the handed-out sinks refer to it).
class QueuedSink {
 public:
  QueuedSink(const QueuedSink&) = delete;
  QueuedSink& operator=(const QueuedSink&) = delete;
  ~QueuedSink();  // stop()

  // The callback for Alerts::add_sink. Each call for a first alert copies it into the queue
  // (one allocation or a few, a mutex held for a push) or counts it dropped; repeats cost
  // nothing. Never blocks on I/O. It may outlive this object: offers made after stop() are
  // counted abandoned.
  Alerts::Sink sink();
  // Offers one alert, as sink() does for a first one. True when queued.
  bool offer(const Alert& a);
  // Stops the thread (see the file comment). Returns within shutdown_grace plus, at worst, the
  // time for the attempt cut at the deadline to notice (immediate for e-mail and an HTTP
  // request in progress; up to one connect timeout for an HTTP connection still being opened).
  // Idempotent.
  void stop();

  SinkCounters counters() const;
  // The reason of the last failed attempt ("" until one fails), for logs and health.
  std::string last_error() const;

 protected:
  QueuedSink(std::unique_ptr<detail::Deliverer> d, const DeliveryOptions& o);

 private:
  std::shared_ptr<detail::Courier> courier_;
};

// ---------------------------------------------------------------------------------------------
// Webhook: POSTs alerts::to_json(a) as application/json to `url`. 2xx is delivered; anything
// else, and connection errors or timeouts, are retried.
struct WebhookOptions {
  std::string url;                          // http://host[:port][/path]; see parse_http_url
  std::chrono::milliseconds timeout{2000};  // each of connect, every write, every read
  std::string bearer_token;                 // "Authorization: Bearer ..." when not empty
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  DeliveryOptions delivery;                                  // max_queue 1000 by default
};

class WebhookSink : public QueuedSink {
 public:
  // Starts the sender thread. Throws std::invalid_argument with a message naming the problem
  // for a URL parse_http_url refuses, a header name or value with CR/LF, or options out of range.
  explicit WebhookSink(WebhookOptions o);
};

// ---------------------------------------------------------------------------------------------
// E-mail: one plain-text message per alert to every admin address, handed to an SMTP relay over
// plain TCP (EHLO, or HELO when refused; MAIL FROM; RCPT TO each; DATA; QUIT), every reply
// code checked and every read and write bounded by `timeout`. No STARTTLS and no AUTH: the
// relay must accept mail from this host as it is (a local MTA or a trusted smarthost).
// A recipient refused with 5xx is skipped and counted (recipients_refused); all refused, or
// MAIL FROM or DATA refused with 5xx, fails the alert at once; 4xx and connection errors retry.
struct EmailOptions {
  std::string relay_host;  // name or address (IPv6 without brackets)
  uint16_t relay_port = 25;
  std::string from;                           // envelope sender and From:; looks_like_address
  std::vector<std::string> to;                // the admins, at least one; each looks_like_address
  std::string helo;                           // EHLO name; empty: this host's name
  std::chrono::milliseconds timeout{10'000};  // connect, and each read and write
  DeliveryOptions delivery{.max_queue = 100};
};

class EmailSink : public QueuedSink {
 public:
  // Starts the sender thread (the relay is not contacted until an alert is sent). Throws
  // std::invalid_argument for an empty relay host, no admin, an address looks_like_address
  // refuses, or options out of range.
  explicit EmailSink(EmailOptions o);
};

// ---------------------------------------------------------------------------------------------
// Syslog: one line per alert, "KIND SUBJECT: MESSAGE", ident "smtpgw" with the pid, at
// critical -> LOG_CRIT, warning -> LOG_WARNING, info -> LOG_INFO. Queued like the others
// because glibc's syslog() writes to a blocking socket and stalls while the log daemon lags.
// openlog() is process-wide: the last SyslogSink constructed sets the facility.
struct SyslogOptions {
  SyslogFacility facility = SyslogFacility::kDaemon;
  DeliveryOptions delivery{.max_queue = 1000, .max_attempts = 1};
};

class SyslogSink : public QueuedSink {
 public:
  explicit SyslogSink(SyslogOptions o);  // calls openlog(); throws for options out of range
  ~SyslogSink();                         // stops the thread, then closelog()
};

// ---------------------------------------------------------------------------------------------
// The formats, pure functions exposed for tests (any thread; cost linear in the alert).

// LOG_FACILITY value (LOG_DAEMON, LOG_LOCAL0, ...) of `f`.
int syslog_facility_value(SyslogFacility f);
// LOG_CRIT / LOG_WARNING / LOG_INFO for the kind's severity.
int syslog_severity(Kind k);
// "KIND SUBJECT: MESSAGE" with every control character (CR and LF included) made a space.
std::string syslog_line(const Alert& a);

// An RFC 5322 date in UTC: "Tue, 01 Jul 2025 12:00:00 +0000".
std::string rfc5322_date(uint64_t unix_ns);
// The mail for `a`: headers (Date from a.unix_ns, From, To, Subject, Message-ID, MIME-Version,
// Content-Type text/plain; charset=utf-8, Content-Transfer-Encoding, Auto-Submitted), a blank
// line, the body; CRLF line ends, lines within 998 bytes, not dot-stuffed. Header values carry
// no CR/LF from the alert; a non-ASCII subject is RFC 2047 encoded; the body is 7bit when it
// can be, quoted-printable otherwise.
std::string email_message(const Alert& a, const EmailOptions& o, std::string_view message_id);
// `data` with a '.' added before every line that starts with '.', ready for DATA (the final
// "CRLF.CRLF" not included).
std::string dot_stuff(std::string_view data);

}  // namespace smtpgw::alerts
