#include <cstdio>
#include "control/app/commands.h"
int smtpgw::app::analyze_main(int, char**) { std::fprintf(stderr, "smtpgw analyze: not built yet\n"); return 2; }
