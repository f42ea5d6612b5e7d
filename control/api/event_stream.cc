#include "control/api/event_stream.h"

#include <chrono>

namespace smtpgw::api {

void EventStream::publish(const std::string& kind, const nlohmann::json& data) {
  // One line of JSON: SSE ends a message at a blank line, and dump() without indent has no
  // newline; invalid UTF-8 from mail is replaced, never thrown.
  std::string text = "event: " + kind + "\ndata: " +
                     data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) {
      return;
    }
    ring_.push_back(std::move(text));
    if (ring_.size() > capacity_) {
      ring_.pop_front();
      ++first_;
    }
  }
  cv_.notify_all();
}

bool EventStream::join() {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_ || clients_ >= max_clients_) {
    return false;
  }
  ++clients_;
  return true;
}

void EventStream::leave() {
  std::lock_guard<std::mutex> l(mu_);
  --clients_;
}

std::string EventStream::next(uint64_t* cursor, uint32_t wait_ms) {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t end = first_ + ring_.size();  // the next sequence number to be published
  if (*cursor == 0) {
    *cursor = end;  // a new client starts with what comes next
  }
  cv_.wait_for(l, std::chrono::milliseconds(wait_ms),
               [&] { return closed_ || first_ + ring_.size() > *cursor; });
  if (closed_) {
    return "";
  }
  std::string out;
  if (*cursor < first_) {
    out = ": missed " + std::to_string(first_ - *cursor) + " events\n\n";
    *cursor = first_;
  }
  for (uint64_t s = *cursor; s < first_ + ring_.size(); ++s) {
    out += ring_[s - first_];
  }
  *cursor = first_ + ring_.size();
  return out;
}

void EventStream::close() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool EventStream::closed() const {
  std::lock_guard<std::mutex> l(mu_);
  return closed_;
}

}  // namespace smtpgw::api
