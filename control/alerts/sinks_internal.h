// Internal to the sinks (sinks.cc, email_sink.cc): what a sender thread asks of a transport.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "control/alerts/sinks.h"

namespace smtpgw::alerts::detail {

enum class Outcome : uint8_t {
  kDelivered,
  kRetry,   // may work later: connection error, timeout, HTTP non-2xx, SMTP 4xx
  kRefused  // will not work however often it is tried: SMTP 5xx
};

// One transport. deliver() runs on the sender thread only; interrupt() on the thread that
// stops the sink, while deliver() may be running, and must make it return promptly.
class Deliverer {
 public:
  virtual ~Deliverer() = default;
  // Sends `a`, each network step bounded by `timeout`. On failure, `error` says why.
  virtual Outcome deliver(const Alert& a, std::chrono::milliseconds timeout,
                          std::string* error) = 0;
  virtual void interrupt() = 0;
  // The transport's own timeout (clipped to the grace deadline while stopping).
  virtual std::chrono::milliseconds timeout() const = 0;

  // Bumped by the e-mail transport, read by counters() on any thread. Relaxed: a count.
  std::atomic<uint64_t> recipients_refused{0};
};

// Throws std::invalid_argument when `o` is out of range ("webhook: max_queue must be ...").
void check_delivery(const DeliveryOptions& o, const char* who);

}  // namespace smtpgw::alerts::detail
