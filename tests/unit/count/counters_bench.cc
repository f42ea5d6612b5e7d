// tools/bench counters: ns per update and per check, 1 and 2 threads, same key and spread keys,
// table at 10% and 90% fill; bytes per entry in the counters.
#include <benchmark/benchmark.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/count/accountant.h"

namespace smtpgw::count {
namespace {

constexpr uint32_t kCapacity = 65'536;
std::atomic<uint64_t> g_now_ns{1'795'564'800ull * 1'000'000'000ull};

Clock bench_clock() {
  Clock c;
  c.now_ns = [](const void*) { return g_now_ns.load(std::memory_order_relaxed); };
  return c;
}

KeyBytes key_of(uint32_t i) {
  KeyBytes k;
  user_key("user" + std::to_string(i) + "@bench.example", k);
  return k;
}

struct Fixture {
  std::unique_ptr<SenderTable> table;
  std::vector<Handle> handles;
  std::vector<KeyBytes> keys;
};

// One table per fill level, built once (benchmark threads share it, as workers do).
Fixture& fixture(int fill_percent) {
  static Fixture f10, f90;
  Fixture& f = fill_percent == 10 ? f10 : f90;
  if (!f.table) {
    SenderTable::Options o;
    o.capacity = kCapacity;
    o.clock = bench_clock();
    f.table = std::make_unique<SenderTable>(o);
    const uint32_t n = kCapacity / 100 * static_cast<uint32_t>(fill_percent);
    for (uint32_t i = 0; i < n; ++i) {
      Handle h;
      KeyBytes k = key_of(i);
      if (f.table->find_or_insert(k, h) == FindOutcome::kInserted) {
        f.handles.push_back(h);
        f.keys.push_back(k);
      }
    }
  }
  return f;
}

// Update: what a worker does per recipient: find the key, add to the three traffic windows.
void BM_Update(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  const bool spread = state.range(1) != 0;
  const uint32_t now = static_cast<uint32_t>(g_now_ns.load() / 1'000'000'000ull);
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    const size_t k = spread ? (i * 2654435761u) % f.keys.size() : 0;
    Handle h;
    f.table->find_or_insert(f.keys[k], h);
    Entry* e = f.table->get(h);
    e->add(0, now, 0, 0, 1);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

// Update over spread keys in bursts of 16, as a worker handles an RX burst: hash and prefetch
// every key, then look up and add. Items = keys.
void BM_UpdateBurstPrefetch(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  const uint32_t now = static_cast<uint32_t>(g_now_ns.load() / 1'000'000'000ull);
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  constexpr int kBurst = 16;
  size_t idx[kBurst];
  uint64_t hash[kBurst];
  for (auto _ : state) {
    for (int b = 0; b < kBurst; ++b) {
      idx[b] = (i++ * 2654435761u) % f.keys.size();
      hash[b] = key_hash(f.keys[idx[b]]);
      f.table->prefetch(hash[b]);
    }
    for (int b = 0; b < kBurst; ++b) {
      Handle h;
      f.table->find_or_insert(f.keys[idx[b]], hash[b], h);
      f.table->get(h)->add(0, now, 0, 0, 1);
    }
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}

// Check: what a worker does per RCPT TO check: find the key, sum the hour and day windows,
// read the restriction and steering words.
void BM_Check(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  const bool spread = state.range(1) != 0;
  const uint32_t now = static_cast<uint32_t>(g_now_ns.load() / 1'000'000'000ull);
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  uint64_t sink = 0;
  for (auto _ : state) {
    const size_t k = spread ? (i * 2654435761u) % f.keys.size() : 0;
    Handle h;
    f.table->find(f.keys[k], h);
    const Entry* e = f.table->get(h);
    const Lanes hr = e->traffic_hour.sum(now);
    const Lanes dy = e->traffic_day.sum(now);
    sink += hr.v[2] + dy.v[1] + dy.v[2] + static_cast<uint64_t>(SenderTable::state(*e, now));
    ++i;
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(state.iterations());
}

// The full RCPT TO path of the Accountant (4 keys already resolved: host, sender, user, org).
void BM_AccountantRecipient(benchmark::State& state) {
  static SenderTable::Options o = [] {
    SenderTable::Options x;
    x.capacity = 4096;
    x.clock = bench_clock();
    return x;
  }();
  static SenderTable table(o);
  static Accountant acc(table);
  // dry_run: every limit is evaluated in full, but nothing restricts the bench's senders (with
  // a fixed clock they cross their hourly limits within microseconds).
  policy::Policy p;
  p.dry_run = true;
  p.internal_domains = {"corp.example", "bench.example"};
  EventQueue q(1024);
  MessageState m;
  const int t = state.thread_index();
  host_key_text("10.0.0." + std::to_string(state.range(0) ? t : 0), m.keys[kSlotHost]);
  sender_key(std::string("s") + std::to_string(state.range(0) ? t : 0) + "@bench.example",
             m.keys[kSlotSender]);
  user_key("u" + std::to_string(state.range(0) ? t : 0), m.keys[kSlotUser]);
  org_key("bench.example", m.keys[kSlotOrg]);
  acc.begin_message(p, m, q);
  for (auto _ : state) {
    const Decision d = acc.add_recipient(p, m, "someone@ext.example", q);
    benchmark::DoNotOptimize(d);
    m.rcpt_external = 0;  // stay under the per-message limit
    events::Event e;
    while (q.pop(e)) {
    }
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Update)->ArgNames({"fill", "spread"})->ArgsProduct({{10, 90}, {0, 1}})->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_UpdateBurstPrefetch)->ArgNames({"fill"})->Arg(10)->Arg(90)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Check)->ArgNames({"fill", "spread"})->ArgsProduct({{10, 90}, {0, 1}})->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_AccountantRecipient)->ArgNames({"spread"})->Arg(0)->Arg(1)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace smtpgw::count

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("bytes_per_entry",
                              std::to_string(smtpgw::count::SenderTable::kBytesPerEntry));
  benchmark::AddCustomContext("sizeof_entry", std::to_string(sizeof(smtpgw::count::Entry)));
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      benchmark::AddCustomContext("cpu_model", line.substr(line.find(':') + 2));
      break;
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
