// Debian's SpamAssassin rules compiled in lenient mode: no crash, no silent drop — every
// skipped rule carries a reason from the known list; the counts are printed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "control/rules/compiler.h"

namespace smtpgw::rules {
namespace {

TEST(SpamAssassinTest, LenientCompileAccountsForEveryRule) {
  const std::filesystem::path dir = "/usr/share/spamassassin";
  if (!std::filesystem::exists(dir / "10_default_prefs.cf")) {
    GTEST_SKIP() << "spamassassin rules not installed at " << dir << " (tools/setup installs them)";
  }
  CompileOptions o;
  o.mode = Mode::kLenient;
  const CompileResult r = compile_directory(dir, o);
  ASSERT_TRUE(r.ruleset);
  std::map<std::string, unsigned> reasons;
  for (const Diagnostic& d : r.errors) {
    ASSERT_LT(static_cast<int>(d.problem), static_cast<int>(Problem::kCount));
    ASSERT_NE(d.problem, Problem::kNote) << d.to_string();
    ASSERT_FALSE(d.message.empty()) << d.to_string();
    ++reasons[std::string(problem_name(d.problem))];
  }
  std::printf("SpamAssassin rules: %u defined, %u compiled, %u skipped\n", r.rules_defined,
              r.compiled_rules, r.skipped_rules);
  for (const auto& [reason, n] : reasons) {
    std::printf("  skipped/rejected for %s: %u\n", reason.c_str(), n);
  }
  // Every rule defined is either compiled or skipped with a diagnostic naming it.
  EXPECT_EQ(r.rules_defined, r.compiled_rules + r.skipped_rules);
  EXPECT_EQ(r.ruleset->rules().size(), r.compiled_rules);
  unsigned rule_diags = 0;
  for (const Diagnostic& d : r.errors) {
    rule_diags += d.rule.empty() || d.problem == Problem::kDuplicateRule ? 0 : 1;
  }
  EXPECT_EQ(rule_diags, r.skipped_rules);
  EXPECT_GT(r.compiled_rules, 1000u);
}

}  // namespace
}  // namespace smtpgw::rules
