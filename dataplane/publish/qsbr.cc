#include "dataplane/publish/qsbr.h"

namespace smtpgw::publish {

Qsbr::Qsbr() = default;

std::optional<unsigned> Qsbr::register_reader() {
  for (unsigned i = 0; i < kMaxReaders; ++i) {
    bool expected = false;
    // acq_rel: claims the slot exclusively; pairs with unregister's release.
    if (slots_[i].used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      online(i);
      return i;
    }
  }
  return std::nullopt;
}

void Qsbr::unregister_reader(unsigned id) {
  offline(id);
  // release: the slot's offline state is visible before another thread can claim it.
  slots_[id].used.store(false, std::memory_order_release);
}

void Qsbr::offline(unsigned id) {
  // release: our reads of any snapshot happen-before a writer that sees us offline frees it.
  slots_[id].seen.store(kOffline, std::memory_order_release);
}

void Qsbr::online(unsigned id) {
  // seq_cst store + fence (rte_rcu_qsbr_thread_online does the same): either the writer's
  // scan of this slot comes after our store in the total order (it waits for us), or our
  // subsequent read() comes after its seq_cst pointer swap (we see the new version).
  slots_[id].seen.store(token_.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

uint64_t Qsbr::start_grace() {
  // seq_cst: ordered after the writer's seq_cst pointer swap, before the slot scans.
  return token_.fetch_add(1, std::memory_order_seq_cst) + 1;
}

bool Qsbr::passed(uint64_t token) const {
  for (const Slot& s : slots_) {
    // acquire: pairs with quiescent()/offline() release stores (see the header).
    const uint64_t seen = s.seen.load(std::memory_order_acquire);
    if (seen != kOffline && seen < token) {
      return false;
    }
  }
  return true;
}

unsigned Qsbr::reader_count() const {
  unsigned n = 0;
  for (const Slot& s : slots_) {
    // relaxed: a statistic.
    n += s.used.load(std::memory_order_relaxed) ? 1 : 0;
  }
  return n;
}

}  // namespace smtpgw::publish
