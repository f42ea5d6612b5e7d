// A generic publisher of immutable snapshots (the active ruleset now; policy and pool tables
// later): the writer builds a new T, publishes it with one atomic pointer swap, and the old
// version is freed only after every registered reader of the Qsbr domain passed a quiescent
// point and no reader still pins it.
//
// Two ways to read:
//   read()  — a plain pointer, valid until the calling reader's next Qsbr::quiescent(). The
//             cheapest: one acquire load.
//   pin()   — a Pin that keeps that version alive across quiescent points (a message in
//             flight on one of many flows of a worker keeps the ruleset it started with). One
//             relaxed RMW on the version's pin counter to take, one release RMW to drop.
//
// Reclamation is explicit and runs on the writer side: publish() retires the old version and
// tries reclaim(); call reclaim() again periodically (the control plane's timer) or
// synchronize() on a thread that may block. Workers never free snapshots.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "dataplane/publish/qsbr.h"

namespace smtpgw::publish {

enum class PublishOutcome : uint8_t {
  kPublished,      // the new version is active; the old one is retired (freed later)
  kNull,           // refused: a null snapshot; the active version stays
  kRetireBacklog,  // refused: too many retired versions still awaiting readers (a reader that
                   // never reports quiescent); the active version stays
};

template <class T>
class Publisher {
  struct Node {
    explicit Node(std::shared_ptr<const T> v) : value(std::move(v)) {}
    // Shared so that the writer may keep using what it published (the gateway keeps its start
    // rule set for tests and reports); the Node's reference goes at reclamation.
    std::shared_ptr<const T> value;
    // Readers pin/unpin; the writer frees only at zero after the grace period.
    std::atomic<uint64_t> pins{0};
    uint64_t retire_token = 0;  // writer-only
  };

 public:
  // A reference to one version that stays valid across quiescent points until released.
  // Move-only; reader thread only (the pin was taken inside a read-side section).
  class Pin {
   public:
    Pin() = default;
    Pin(Pin&& o) noexcept : node_(std::exchange(o.node_, nullptr)) {}
    Pin& operator=(Pin&& o) noexcept {
      if (this != &o) {
        reset();
        node_ = std::exchange(o.node_, nullptr);
      }
      return *this;
    }
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    ~Pin() { reset(); }

    const T* get() const { return node_ != nullptr ? node_->value.get() : nullptr; }
    const T* operator->() const { return get(); }
    explicit operator bool() const { return node_ != nullptr; }
    void reset() {
      if (node_ != nullptr) {
        // release: our reads of the snapshot happen-before the writer's acquire load that
        // sees zero and frees it.
        node_->pins.fetch_sub(1, std::memory_order_release);
        node_ = nullptr;
      }
    }

   private:
    friend class Publisher;
    explicit Pin(Node* n) : node_(n) {}
    Node* node_ = nullptr;
  };

  // max_retired bounds the versions waiting for readers; publish() refuses beyond it.
  explicit Publisher(Qsbr& qsbr, std::shared_ptr<const T> initial = nullptr,
                     size_t max_retired = 64)
      : qsbr_(qsbr), max_retired_(max_retired) {
    if (initial) {
      current_.store(new Node(std::move(initial)), std::memory_order_relaxed);
    }
  }
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;
  // Destroy only when no reader reads any more (after workers stopped).
  ~Publisher() {
    delete current_.load(std::memory_order_relaxed);
    for (Node* n : retired_) {
      delete n;
    }
  }

  // Reader hot path: the active version or nullptr. Valid until the reader's next quiescent().
  const T* read() const {
    // acquire: pairs with the writer's swap so the snapshot's contents are visible.
    Node* n = current_.load(std::memory_order_acquire);
    return n != nullptr ? n->value.get() : nullptr;
  }

  // Reader: pins the active version (empty Pin if none). Must be called inside a read-side
  // section (between quiescent points) of a registered, online reader.
  Pin pin() const {
    Node* n = current_.load(std::memory_order_acquire);  // as in read()
    if (n == nullptr) {
      return Pin();
    }
    // relaxed: the increment is ordered before this reader's next quiescent() (a release
    // store), and the writer reads the counter only after acquiring that slot, so it sees it.
    n->pins.fetch_add(1, std::memory_order_relaxed);
    return Pin(n);
  }

  // Writer (any control thread; serialized by an internal mutex). Swaps the pointer, retires
  // the old version and reclaims what it can. Cost: O(retired × kMaxReaders).
  PublishOutcome publish(std::shared_ptr<const T> next) {
    if (!next) {
      return PublishOutcome::kNull;
    }
    std::lock_guard<std::mutex> lock(mu_);
    reclaim_locked();
    if (retired_.size() >= max_retired_) {
      return PublishOutcome::kRetireBacklog;
    }
    Node* fresh = new Node(std::move(next));
    // seq_cst: the swap must precede the grace token in the single total order seen by
    // readers coming online (Qsbr::online is seq_cst too); it also releases the new contents.
    Node* old = current_.exchange(fresh, std::memory_order_seq_cst);
    ++generation_;
    if (old != nullptr) {
      old->retire_token = qsbr_.start_grace();
      retired_.push_back(old);
    }
    reclaim_locked();
    return PublishOutcome::kPublished;
  }

  // Writer: frees every retired version whose grace period passed and that nobody pins.
  // Returns how many were freed. Never blocks on readers.
  size_t reclaim() {
    std::lock_guard<std::mutex> lock(mu_);
    return reclaim_locked();
  }

  // Writer, on a thread that may block (never a worker): waits until every retired version
  // is freed. Readers must keep reporting quiescent points and releasing pins.
  void synchronize() {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        reclaim_locked();
        if (retired_.empty()) {
          return;
        }
      }
      std::this_thread::yield();
    }
  }

  size_t retired_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return retired_.size();
  }
  // How many successful publishes so far (writer-side statistics).
  uint64_t generation() const {
    std::lock_guard<std::mutex> lock(mu_);
    return generation_;
  }

 private:
  size_t reclaim_locked() {
    size_t freed = 0;
    for (auto it = retired_.begin(); it != retired_.end();) {
      Node* n = *it;
      // passed() acquires every reader slot; after that, pins taken before those quiescent
      // points are visible. acquire on pins: the readers' unpin (release) happens-before free.
      if (qsbr_.passed(n->retire_token) && n->pins.load(std::memory_order_acquire) == 0) {
        delete n;
        it = retired_.erase(it);
        ++freed;
      } else {
        ++it;
      }
    }
    return freed;
  }

  Qsbr& qsbr_;
  const size_t max_retired_;
  std::atomic<Node*> current_{nullptr};
  mutable std::mutex mu_;
  std::deque<Node*> retired_;  // guarded by mu_
  uint64_t generation_ = 0;    // guarded by mu_
};

}  // namespace smtpgw::publish
