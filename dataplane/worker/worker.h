// One worker lcore: polls its RX queue on every port, runs each packet to completion through
// the pipeline, and transmits in bursts. Read the stages in this order:
//   ingress.cc   RX burst, L2 checks, parse, dispatch by direction
//   arp.cc       ARP answers and learning; next hops waiting on resolution
//   nat_out.cc   inside → outside: SMTP flows get a SNAT binding and an inspection flow
//   nat_in.cc    outside → inside: replies translated back (handed to the owning worker)
//   inspect.cc   both directions of an SMTP binding into its inspection flow (dataplane/inspect)
//   egress.cc    route, resolve, rewrite L2, buffer per port, TX burst
// A Worker is used by exactly one thread. It never allocates, locks, logs or makes a system
// call per packet: its tables are sized at construction and every bound has a counter.
#pragma once

#include <atomic>
#include <cstdint>

#include <memory>

#include "dataplane/flow/nat_table.h"
#include "dataplane/inspect/inspector.h"
#include "dataplane/packet/parse.h"
#include "dataplane/worker/counters.h"
#include "dataplane/worker/tables.h"

struct rte_mbuf;
struct rte_mempool;

namespace smtpgw::worker {

inline constexpr uint16_t kMaxBurst = 64;

// An IPv4 address (host order) and port as the inspection's endpoint.
smtp::Endpoint endpoint_v4(uint32_t ip, uint16_t port);

struct WorkerConfig {
  uint16_t index = 0;          // 0..worker_count-1; also the RX/TX queue id it uses
  // Its reader slot in Tables::qsbr (registered by the gateway's build): run() reports a
  // quiescent point after every poll loop. Outside run() (tests, the benchmark driving
  // process/poll_once), the driver must not publish from another thread.
  unsigned qsbr_reader = 0;
  flow::NatTableConfig nat;    // timeouts in TSC ticks
  // Expiry sweeps the binding pool once per `expire_sweep` TSC ticks (default one second),
  // a slice at a time, so its cost per packet stays small whatever the loop rate.
  uint64_t expire_sweep = 0;
  // Inspection of SMTP flows: each SMTP binding keeps an inspect::Flow beside it, fed with
  // both directions; client bytes are released as the holds are decided (inspect.cc).
  bool inspect = false;
  inspect::Config inspect_config;
  // Where the inspection's holds and SYNs' pools are decided and its records go (the gateway
  // gives each worker an enforce::Enforcer); nullptr: the worker's own (allow every hold,
  // normal pool, count records). Must outlive the worker.
  inspect::Decisions* decisions = nullptr;
};

class Worker {
 public:
  Worker(const Tables& tables, const WorkerConfig& cfg, rte_mempool* pool, WorkerStats* stats);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // One iteration: RX bursts on every port, handoff ring, pending next hops, expiry, TX flush.
  // Returns the packets received from the ports and the handoff ring (0: an idle poll).
  uint32_t poll_once(uint64_t now);

  // Loops poll_once until `stop` becomes true, counting the cycles of polls that found work
  // (busy_cycles). The flag is read relaxed once per iteration:
  // it carries no data, and a few more iterations after it is set do no harm.
  void run(const std::atomic<bool>& stop);

  // Injects one packet as if received on m->port, which the caller sets (tests, benchmark).
  void process(rte_mbuf* m, uint64_t now) { handle(m, m_port(m), now); }

  const flow::NatTable& nat() const { return nat_; }
  // Memory per binding slot made at start: the NAT table's share and, with inspection, the
  // inspection flow kept beside it (what an idle connection costs before its session needs an
  // active part). Cost: O(egress addresses).
  size_t bytes_per_flow() const {
    return nat_.memory_bytes() / nat_.capacity() + (flows_ ? sizeof(FlowSlot) : 0);
  }
  uint16_t index() const { return cfg_.index; }
  // The inspection pipeline (nullptr when inspection is off). Read on the worker's thread, or
  // after it stopped.
  const inspect::Inspector* inspector() const { return inspector_.get(); }
  // Closes every inspection flow (their open transactions are reported) and releases what they
  // hold. Call after the worker stopped, before its ports and pool go. Idempotent.
  void close_inspection();

 private:
  static uint16_t m_port(const rte_mbuf* m);

  // ingress.cc
  void handle(rte_mbuf* m, uint16_t port, uint64_t now);
  bool classify(rte_mbuf* m, uint16_t port, packet::ParsedPacket* p);
  void act(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now);
  void prefetch_binding(uint16_t port, const packet::ParsedPacket& p) const;
  // arp.cc
  void on_arp(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now);
  void hold_for_arp(rte_mbuf* m, uint16_t port, uint32_t next_hop, uint64_t now);
  void service_pending(uint64_t now);
  void send_arp_request(uint16_t port, uint32_t target, uint64_t now);
  // nat_out.cc
  void from_inside(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now);
  flow::Binding* snat(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now);
  void refuse_syn(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p);
  // nat_in.cc
  void from_outside(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now);
  void to_local(rte_mbuf* m, uint16_t port, const packet::ParsedPacket& p, uint64_t now);
  // inspect.cc
  void make_inspection();
  inspect::Decisions& decisions() {
    return cfg_.decisions != nullptr ? *cfg_.decisions : own_decisions_;
  }
  // Feeds the segment to the binding's inspection flow. Returns whether m may be forwarded
  // (possibly cut, or replaced by a masked copy: m is then the copy); false: it was dropped
  // (held, evasive, after a refusal), counted.
  bool inspect_segment(rte_mbuf*& m, flow::Binding* b, const packet::ParsedPacket& p,
                       tcp::Direction d, uint64_t now);
  void answer_refusal(flow::Binding* b, const inspect::Flow& f, uint64_t now);
  void inject(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint32_t seq,
              uint32_t ack, uint8_t flags, std::string_view payload, uint64_t now);
  bool release_client(rte_mbuf* m, const inspect::Flow& f, const packet::ParsedPacket& p,
                      bool evasion);
  bool release_server(rte_mbuf*& m, const inspect::Flow& f, const packet::ParsedPacket& p);
  void cut_segment(rte_mbuf* m, const packet::ParsedPacket& p, uint32_t keep);
  inspect::Flow* flow_of(const flow::Binding* b);
  void end_flow(flow::Binding* b);
  static void on_expire(void* worker, flow::Binding& b);
  // egress.cc
  void forward(rte_mbuf* m, const packet::ParsedPacket& p, uint64_t now);
  void send_to(rte_mbuf* m, uint16_t port, uint32_t next_hop, uint64_t now);
  void transmit(rte_mbuf* m, uint16_t port);
  void flush_tx();
  void transmit(uint16_t port);  // one tx_burst of tx_[port], counted; empties it
  void drop(rte_mbuf* m, Counter why);

  const Tables& t_;
  WorkerConfig cfg_;
  rte_mempool* pool_;
  WorkerStats* stats_;
  flow::NatTable nat_;

  // Without a policy: allows every hold, leaves from the normal pool, keeps no record.
  class OwnDecisions final : public inspect::Decisions {
   public:
    inspect::Decision on_hold(inspect::Flow&, const inspect::Hold&) override { return {}; }
    void on_record(inspect::Flow&, const smtp::MessageRecord&, inspect::Message*) override {}
  };
  OwnDecisions own_decisions_;
  std::unique_ptr<inspect::Inspector> inspector_;
  // One inspect::Flow per binding slot (NatTable::index_of), constructed while the binding's
  // `inspected` flag is set. Allocated at construction when inspection is on.
  struct alignas(alignof(inspect::Flow)) FlowSlot {
    unsigned char bytes[sizeof(inspect::Flow)];
  };
  std::unique_ptr<FlowSlot[]> flows_;

  struct TxBuffer {
    uint16_t n = 0;
    uint32_t bytes = 0;  // of pkts[0..n): summed while queued, the driver owns them once sent
    rte_mbuf* pkts[kMaxBurst];
  };
  TxBuffer tx_[kMaxPorts];

  struct Pending {
    rte_mbuf* m;
    uint64_t since;
    uint32_t next_hop;
    uint16_t port;
  };
  Pending* pending_ = nullptr;  // ring of arp_pending_max entries, allocated at construction
  uint32_t pending_head_ = 0, pending_count_ = 0;
  uint64_t next_expire_ = 0;
};

}  // namespace smtpgw::worker
