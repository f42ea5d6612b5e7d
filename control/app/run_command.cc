#include <cstdio>
#include "control/app/commands.h"
int smtpgw::app::run_main(int, char**) { std::fprintf(stderr, "smtpgw run: not built yet\n"); return 2; }
