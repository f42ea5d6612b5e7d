// Built instead of analyze_command.cc while the SMTP or MIME library is missing from the tree
// (control/analyze/meson.build checks), so the smtpgw binary always links.
#include <cstdio>

#include "control/app/commands.h"

int smtpgw::app::analyze_main(int, char**) {
  std::fprintf(stderr, "smtpgw analyze: not available in this build (SMTP or MIME library missing)\n");
  return 2;
}
