// smtpgw: one binary, one subcommand per mode (see commands.h).
#include <mimalloc.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "control/app/commands.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: smtpgw run --config FILE\n"
               "       smtpgw analyze [--rules DIR] [--config FILE] CAPTURE.pcap...\n"
               "       smtpgw rules check [--lenient] DIR\n");
}

// Gives mimalloc (the process allocator) 4 GiB of address space on transparent huge pages, which
// it uses before asking the OS for more; pages are taken as they are touched. For `analyze`:
// the state of hundreds of flows in flight (TCP, SMTP, MIME decoders) spans far more 4 KiB pages
// than the TLB maps, and tools/bench stream runs about 11 % faster on 2 MiB pages (README
// "Figures"). Transparent pages, not mimalloc's own large-page option: that one maps hugetlbfs
// pages first, which are the pool the gateway's DPDK memory comes from, and which no RSS counts.
// Where the kernel gives no huge pages (THP "never") this is plain memory. Not for `run`: the
// workers' memory is the enforcement issue's to lay out (DESIGN.md "Memory").
void offer_huge_page_arena() {
  constexpr size_t kBytes = size_t{4} << 30;
  constexpr uintptr_t kAlign = uintptr_t{64} << 20;  // mimalloc's segment alignment, and more
  void* m = mmap(nullptr, kBytes + kAlign, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    return;  // mimalloc takes its memory from the OS as usual
  }
  auto base = reinterpret_cast<uintptr_t>(m);
  uintptr_t start = (base + kAlign - 1) & ~(kAlign - 1);
  if (start > base) {
    munmap(m, start - base);
  }
  munmap(reinterpret_cast<void*>(start + kBytes), base + kAlign - start);
  void* arena = reinterpret_cast<void*>(start);
  madvise(arena, kBytes, MADV_HUGEPAGE);
  if (!mi_manage_os_memory(arena, kBytes, /*is_committed=*/true, /*is_large=*/false,
                           /*is_zero=*/true, /*numa_node=*/-1)) {
    munmap(arena, kBytes);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char* cmd = argv[1];
  // Subcommands see argv shifted by one, so argv[0] names the subcommand.
  if (std::strcmp(cmd, "run") == 0) {
    return smtpgw::app::run_main(argc - 1, argv + 1);
  }
  if (std::strcmp(cmd, "analyze") == 0) {
    offer_huge_page_arena();
    return smtpgw::app::analyze_main(argc - 1, argv + 1);
  }
  if (std::strcmp(cmd, "rules") == 0) {
    return smtpgw::app::rules_main(argc - 1, argv + 1);
  }
  if (std::strcmp(cmd, "--help") == 0 || std::strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "smtpgw: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
