#include "dataplane/worker/worker.h"

#include <rte_malloc.h>
#include <rte_mbuf.h>

namespace smtpgw::worker {

namespace {

constexpr const char* kNames[] = {
#define SMTPGW_X(name, text) #name,
    SMTPGW_WORKER_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
};
constexpr const char* kTexts[] = {
#define SMTPGW_X(name, text) text,
    SMTPGW_WORKER_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
};

}  // namespace

const char* counter_name(Counter c) { return kNames[static_cast<int>(c)]; }
const char* counter_text(Counter c) { return kTexts[static_cast<int>(c)]; }

Worker::Worker(const Tables& tables, const WorkerConfig& cfg, rte_mempool* pool, WorkerStats* stats)
    : t_(tables), cfg_(cfg), pool_(pool), stats_(stats), nat_(cfg.nat) {
  // Sized once here, on the main lcore: the hot path never allocates.
  pending_ = static_cast<Pending*>(
      rte_zmalloc("smtpgw_arp_pending", sizeof(Pending) * (tables.arp_pending_max + 1), 64));
  if (cfg.inspect) {
    make_inspection();
  }
}

Worker::~Worker() {
  close_inspection();
  for (uint32_t i = 0; i < pending_count_; ++i) {
    rte_pktmbuf_free(pending_[(pending_head_ + i) % t_.arp_pending_max].m);
  }
  for (uint16_t port : t_.port_ids) {
    TxBuffer& b = tx_[port];
    rte_pktmbuf_free_bulk(b.pkts, b.n);
    b.n = 0;
  }
  rte_free(pending_);
}

}  // namespace smtpgw::worker
