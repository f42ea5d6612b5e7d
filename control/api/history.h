// The last minutes of the live statistics (GET /api/v1/stats/history): the control plane adds
// one small sample a second, the API answers with all it keeps, so the console's chart shows the
// last 15 minutes the moment it opens and goes on from the event stream.
//
// Threads: add() on the control plane's thread (the main lcore), samples() on the API's server
// threads. Cost: a mutex held for a push (add) or a copy of at most `capacity` samples (samples).
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>

#include <nlohmann/json.hpp>

namespace smtpgw::api {

class History {
 public:
  explicit History(size_t capacity = 900) : capacity_(capacity) {}

  // Appends `sample`; the oldest goes beyond capacity.
  void add(nlohmann::json sample) {
    std::lock_guard lock(mu_);
    samples_.push_back(std::move(sample));
    if (samples_.size() > capacity_) {
      samples_.pop_front();
    }
  }

  // The kept samples, oldest first (a JSON array).
  nlohmann::json samples() const {
    std::lock_guard lock(mu_);
    return nlohmann::json(samples_);
  }

  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<nlohmann::json> samples_;  // guarded by mu_
};

}  // namespace smtpgw::api
