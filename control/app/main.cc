// smtpgw: one binary, one subcommand per mode (see commands.h).
#include <mimalloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "control/app/commands.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: smtpgw run --config FILE\n"
               "       smtpgw analyze [--rules DIR] [--config FILE] CAPTURE.pcap...\n"
               "       smtpgw rules check [--lenient] DIR\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  // mimalloc is the process allocator. Its segments go on 2 MiB pages (transparent huge pages,
  // madvised) unless MIMALLOC_LARGE_OS_PAGES says otherwise: the per-flow state of hundreds of
  // flows in flight spans far more 4 KiB pages than the TLB maps, and each segment's first page
  // is touched anyway. Measured with `tools/bench stream` (docs/analyze.md "Performance").
  if (std::getenv("MIMALLOC_LARGE_OS_PAGES") == nullptr) {
    mi_option_enable(mi_option_large_os_pages);
  }
  const char* cmd = argv[1];
  // Subcommands see argv shifted by one, so argv[0] names the subcommand.
  if (std::strcmp(cmd, "run") == 0) {
    return smtpgw::app::run_main(argc - 1, argv + 1);
  }
  if (std::strcmp(cmd, "analyze") == 0) {
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
