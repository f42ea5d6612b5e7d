#include <cstdio>
#include "control/app/commands.h"
int smtpgw::app::rules_main(int, char**) { std::fprintf(stderr, "smtpgw rules: not built yet\n"); return 2; }
