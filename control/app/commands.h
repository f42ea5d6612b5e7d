// The subcommands of the smtpgw binary. Each returns the process exit status and reports its
// own errors on stderr. Called once from main(), on the main thread.
#pragma once

namespace smtpgw::app {

// smtpgw run --config FILE            (control/app/run_command.cc)
int run_main(int argc, char** argv);
// smtpgw analyze [--rules DIR] [--config FILE] CAPTURE.pcap...   (control/analyze/)
int analyze_main(int argc, char** argv);
// smtpgw rules check DIR              (control/rules/)
int rules_main(int argc, char** argv);

}  // namespace smtpgw::app
