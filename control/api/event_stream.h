// The API's live events (GET /api/v1/events, Server-Sent Events): the control plane publishes
// small JSON messages (an alert raised, a pool address's state changed, a statistics snapshot
// every second) into a bounded ring; each connected client reads from its own position. A client
// that falls more than the ring behind is told how many it missed (an SSE comment) and goes on
// from the oldest kept; the publisher never waits for a client.
//
// Threads: publish() on the control plane's thread (the main lcore); next() on the API's server
// threads, one per client; close() once, before the server stops (wakes every waiting client).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace smtpgw::api {

class EventStream {
 public:
  explicit EventStream(size_t capacity = 1024, size_t max_clients = 8)
      : capacity_(capacity), max_clients_(max_clients) {}

  // Appends one event ("event: KIND\ndata: JSON\n\n" once written); the oldest is dropped beyond
  // capacity. Cost: a copy of the text and a mutex held for a push.
  void publish(const std::string& kind, const nlohmann::json& data);

  // A client's seat: false when max_clients are connected (the API answers 503).
  bool join();
  void leave();

  // The SSE text of the events after `*cursor` (0: from now on), waiting up to `wait_ms` for
  // one; "" when none came or the stream is closed. Advances `*cursor`.
  std::string next(uint64_t* cursor, uint32_t wait_ms);

  void close();
  bool closed() const;

 private:
  const size_t capacity_, max_clients_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> ring_;  // guarded by mu_: the texts of events first_ .. first_+size-1
  uint64_t first_ = 1;            // guarded by mu_: the sequence number of ring_.front()
  size_t clients_ = 0;            // guarded by mu_
  bool closed_ = false;           // guarded by mu_
};

}  // namespace smtpgw::api
