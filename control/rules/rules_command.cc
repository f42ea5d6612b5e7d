// smtpgw rules check [--lenient|--strict] [--cache DIR] [--warnings] DIR
#include <cstdio>
#include <cstring>
#include <string>

#include "control/app/commands.h"
#include "control/rules/compiler.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: smtpgw rules check [--lenient] [--cache DIR] [--warnings] DIR\n"
               "  Compiles every *.cf file of DIR, prints a summary and every error.\n"
               "  --lenient   skip bad rules (listed with their reason) instead of failing\n"
               "  --cache DIR keep compiled databases in DIR (keyed by content hash)\n"
               "  --warnings  also print warnings (ignored directives and tflags)\n"
               "Exit status: 0 ok (lenient: a ruleset was produced), 1 errors, 2 usage.\n");
}

}  // namespace

int smtpgw::app::rules_main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "check") != 0) {
    if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
      usage(stdout);
      return 0;
    }
    usage(stderr);
    return 2;
  }
  rules::CompileOptions opts;
  bool show_warnings = false;
  const char* dir = nullptr;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--lenient") {
      opts.mode = rules::Mode::kLenient;
    } else if (a == "--strict") {
      opts.mode = rules::Mode::kStrict;
    } else if (a == "--warnings") {
      show_warnings = true;
    } else if (a == "--cache" && i + 1 < argc) {
      opts.cache_dir = argv[++i];
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "smtpgw rules check: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    } else if (dir == nullptr) {
      dir = argv[i];
    } else {
      std::fprintf(stderr, "smtpgw rules check: more than one directory given\n");
      return 2;
    }
  }
  if (dir == nullptr) {
    usage(stderr);
    return 2;
  }
  const rules::CompileResult r = rules::compile_directory(dir, opts);
  const bool usable = rules::report(r, opts.mode, stderr);
  if (show_warnings) {
    for (const rules::Diagnostic& d : r.warnings) {
      std::fprintf(stderr, "warning: %s\n", d.to_string().c_str());
    }
  }
  std::printf("%s%s", opts.mode == rules::Mode::kStrict ? "mode: strict\n" : "mode: lenient\n",
              rules::summarize(r).c_str());
  return usable ? 0 : 1;
}
