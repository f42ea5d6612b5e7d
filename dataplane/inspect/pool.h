// A bounded pool of objects lent per message (MIME decoders, scan contexts, message states):
// objects are made at start up to `reserve`, and on demand up to `max`; past `max`, take()
// returns nullptr and the caller applies its defined outcome (counted here as `exhausted`).
//
// A worker makes everything at start (reserve == max), so take() and give() never allocate;
// `smtpgw analyze` starts small and grows with the capture (reserve < max), allocating only
// when it makes a new object. Not thread-safe: one pool per worker (or analyzer) thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace smtpgw::inspect {

struct PoolStats {
  uint32_t made = 0;       // objects made (lent + free)
  uint32_t lent = 0;       // lent now
  uint32_t peak = 0;       // most lent at once
  uint64_t taken = 0;      // take() calls that got one
  uint64_t exhausted = 0;  // take() calls refused at the bound
};

template <class T>
class Pool {
 public:
  using Make = std::function<std::unique_ptr<T>()>;

  // Makes `reserve` objects now (capped at `max`). Thread: any, before use.
  Pool(uint32_t reserve, uint32_t max, Make make) : max_(max), make_(std::move(make)) {
    while (stats_.made < reserve && stats_.made < max_) {
      grow();
    }
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // An object, or nullptr when `max` are lent. O(1); allocates only when it makes a new one.
  T* take() {
    if (free_.empty()) {
      if (stats_.made >= max_) {
        ++stats_.exhausted;
        return nullptr;
      }
      grow();
    }
    T* t = free_.back();
    free_.pop_back();
    ++stats_.taken;
    if (++stats_.lent > stats_.peak) {
      stats_.peak = stats_.lent;
    }
    return t;
  }
  // Gives a lent object back. O(1), never allocates (free_ has room for every object made).
  void give(T* t) {
    free_.push_back(t);
    --stats_.lent;
  }

  const PoolStats& stats() const { return stats_; }
  // Visits every object made, lent or free (for totals kept inside the objects). O(made).
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& t : all_) {
      fn(static_cast<const T&>(*t));
    }
  }
  template <class Fn>
  void for_each(Fn&& fn) {
    for (const auto& t : all_) {
      fn(*t);
    }
  }
  // Visits the objects not lent now (their owner may change them: nobody else holds them).
  // O(free).
  template <class Fn>
  void for_each_free(Fn&& fn) {
    for (T* t : free_) {
      fn(*t);
    }
  }

 private:
  void grow() {
    all_.push_back(make_());
    free_.reserve(all_.size());
    free_.push_back(all_.back().get());
    ++stats_.made;
  }

  uint32_t max_;
  Make make_;
  std::vector<std::unique_ptr<T>> all_;
  std::vector<T*> free_;
  PoolStats stats_;
};

}  // namespace smtpgw::inspect
