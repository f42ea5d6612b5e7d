// smtpgw analyze [--rules DIR [--lenient]] [--config FILE] [--ports LIST] [--summary-only]
//                CAPTURE.pcap...
// Runs the dataplane's reassembly, SMTP and MIME code (and with --rules the scanner) over
// captures; prints one JSON object per message and a summary object on stdout
// (docs/analyze.md). Exit status: 0 when every capture was read to its end, 1 when one could not
// be opened or read (reported on stderr, the others are still processed), 2 on a usage error, a
// configuration that does not load or a rule set that does not compile.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "control/analyze/analyzer.h"
#include "control/app/commands.h"
#include "control/config/config.h"
#include "control/rules/compiler.h"

namespace smtpgw::app {

int analyze_main(int argc, char** argv) {
  CLI::App app{"Run the gateway's stream pipeline over pcap captures; one JSON object per message",
               "smtpgw analyze"};
  std::string rules_dir;
  std::string config_file;
  std::string ports;
  bool summary_only = false;
  bool lenient = false;
  std::vector<std::string> files;
  app.add_option("--rules", rules_dir, "rule set directory (verdict fields; see docs/analyze.md)");
  app.add_flag("--lenient", lenient, "with --rules: skip bad rules (listed) instead of failing");
  app.add_option("--config", config_file,
                 "gateway configuration: its smtp.ports, and its limits and pools decide each "
                 "message as the gateway would (action, reply, pool fields)");
  app.add_option("--ports", ports,
                 "comma-separated server ports (default: the config's smtp.ports, else "
                 "25,465,587,2525)");
  app.add_flag("--summary-only", summary_only, "print only the summary object");
  app.add_option("captures", files, "pcap files")->required()->check(CLI::ExistingFile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  analyze::Options options;
  options.print_messages = !summary_only;
  if (!config_file.empty()) {
    const config::Result loaded = config::load_file(config_file);
    if (!loaded) {
      std::cerr << loaded.error_text();
      std::cerr << "smtpgw analyze: --config: " << config_file << " does not load\n";
      return 2;
    }
    options.ports = std::set<uint16_t>(loaded.config().smtp.ports.begin(),
                                       loaded.config().smtp.ports.end());
    // What the live gateway would do: its limits, and whether it has a pool to steer to.
    options.policy = loaded.config().limits;
    options.high_risk_pool = !loaded.config().pools.high_risk.empty();
  }
  if (!ports.empty()) {
    options.ports.clear();
    std::stringstream ss(ports);
    std::string item;
    while (std::getline(ss, item, ',')) {
      try {
        size_t used = 0;
        unsigned long p = std::stoul(item, &used);
        if (used != item.size() || p == 0 || p > 65535) {
          throw std::out_of_range(item);
        }
        options.ports.insert(static_cast<uint16_t>(p));
      } catch (const std::exception&) {
        std::cerr << "smtpgw analyze: --ports: '" << item << "' is not a port number\n";
        return 2;
      }
    }
  }
  if (lenient && rules_dir.empty()) {
    std::cerr << "smtpgw analyze: --lenient needs --rules\n";
    return 2;
  }
  if (!rules_dir.empty()) {
    rules::CompileOptions copts;
    copts.mode = lenient ? rules::Mode::kLenient : rules::Mode::kStrict;
    rules::CompileResult compiled = rules::compile_directory(rules_dir, copts);
    if (!rules::report(compiled, copts.mode, stderr)) {
      std::cerr << "smtpgw analyze: --rules: " << rules_dir << " does not compile ("
                << compiled.fatal_errors << " errors above; --lenient skips bad rules)\n";
      return 2;
    }
    options.ruleset = std::move(compiled.ruleset);
  }
  // Offline: the workers' reassembly code with room for every flow of a large capture.
  options.tcp.pool_slots = 1u << 20;
  options.tcp.max_held_per_flow = 1024;
  options.tcp.max_retained_per_flow = 4096;
  options.tcp.gate_client = false;

  analyze::Analyzer analyzer(options, std::cout, std::cerr);
  auto start = std::chrono::steady_clock::now();
  bool ok = true;
  for (const auto& f : files) {
    ok = analyzer.process_file(f) && ok;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << analyzer.summary(seconds).dump() << '\n';
  std::cout.flush();
  return ok ? 0 : 1;
}

}  // namespace smtpgw::app
