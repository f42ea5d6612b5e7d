// The rules compiler: SpamAssassin-style rule files → an immutable scan::Ruleset.
// Language reference: rules/README.md.
//
// Control plane only (allocates, may take seconds for thousands of rules); never call it on
// a worker. Thread-safe: independent calls may run concurrently (the on-disk cache is written
// through a temporary file and an atomic rename).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/scan/ruleset.h"

namespace smtpgw::rules {

enum class Mode : uint8_t {
  kStrict,   // any error rejects the whole set (no ruleset produced)
  kLenient,  // bad rules are skipped and listed with their reason
};

// Why a rule was skipped or a line rejected. Every diagnostic carries one; the SpamAssassin
// compatibility test asserts that every skipped rule has one of these.
#define SMTPGW_RULE_PROBLEMS(X)                                                               \
  X(kSyntax, "syntax")                         /* malformed directive or rule line */         \
  X(kUnknownDirective, "unknown_directive")    /* directive we do not know */                 \
  X(kUnsupportedRuleType, "unsupported_rule_type") /* mimeheader, askdns, uri_detail, ... */ \
  X(kEvalRule, "eval_rule")                    /* eval:function() tests (Perl code) */        \
  X(kUnknownField, "unknown_field")            /* header pseudo-field / envelope field */     \
  X(kBadRegex, "bad_regex")                    /* delimiters or flags */                      \
  X(kUnsupportedRegex, "unsupported_regex")    /* Perl-only construct (backref, lookaround) */\
  X(kHyperscanError, "hyperscan_error")        /* Hyperscan refused the pattern */            \
  X(kDuplicateRule, "duplicate_rule")                                                         \
  X(kUnknownRule, "unknown_rule")              /* score/describe/tflags/meta of no rule */    \
  X(kMetaSyntax, "meta_syntax")                                                               \
  X(kMetaCycle, "meta_cycle")                                                                 \
  X(kMetaDependsOnSkipped, "meta_depends_on_skipped")                                         \
  X(kPluginBlock, "plugin_block")              /* inside ifplugin/if we evaluate to false */  \
  X(kReplaceTags, "replace_tags")              /* replace_rules: bad <pre/inter/post N> */    \
  X(kUnsupportedOption, "unsupported_option")  /* [if-unset: ...] and similar */              \
  X(kBadScore, "bad_score")                                                                   \
  X(kTooManyRules, "too_many_rules")           /* scan::kMaxRules / kMaxMultipleRules */      \
  X(kInclude, "include")                       /* include missing, loop or too deep */        \
  X(kIo, "io")                                 /* a file could not be read */                 \
  X(kNote, "note")                             /* informational (ignored tflags net, ...) */

enum class Problem : uint8_t {
#define SMTPGW_X(name, str) name,
  SMTPGW_RULE_PROBLEMS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};
std::string_view problem_name(Problem p);

struct Diagnostic {
  std::string file;
  int line = 0;
  std::string rule;  // empty when the line defines no rule
  Problem problem = Problem::kSyntax;
  std::string message;
  // "file:line: rule NAME: message" (or "file:line: message" without a rule)
  std::string to_string() const;
};

struct CompileOptions {
  Mode mode = Mode::kStrict;
  // Directory of serialized databases keyed by content hash; empty: no cache.
  std::filesystem::path cache_dir;
  // One Hyperscan scratch per worker is allocated and published with the ruleset.
  unsigned worker_count = 1;
};

struct CompileResult {
  // Null in strict mode when anything failed (errors non-empty), or when nothing usable
  // could be built (an I/O error on the directory). Lenient mode produces a ruleset with
  // the good rules even when errors is non-empty.
  std::unique_ptr<scan::Ruleset> ruleset;
  std::vector<Diagnostic> errors;    // strict: the reasons for rejection; lenient: skipped
  std::vector<Diagnostic> warnings;  // notes that skip nothing (ignored tflags, directives)
  uint32_t skipped_rules = 0;        // distinct rules skipped (lenient)
  uint32_t rules_defined = 0;        // distinct rule names defined anywhere (compiled + skipped)
  uint32_t compiled_rules = 0;       // rules in the ruleset (or that would be, in strict mode)
  // Errors that reject the set in strict mode: all but kPluginBlock (rules inside a block for
  // a plugin we do not have are skipped and listed, by design, in both modes).
  uint32_t fatal_errors = 0;
  bool ok() const { return ruleset != nullptr && fatal_errors == 0; }
};

// Compiles every *.cf file of `dir` in name order (SpamAssassin's order; `include` may pull
// in more). Errors: kIo when `dir` is unreadable; every per-line problem above.
CompileResult compile_directory(const std::filesystem::path& dir, const CompileOptions& opts);

// Compiles in-memory sources (tests, fuzzing): each {file name, text}. `include` resolves
// against `base_dir` when set, else is an error.
struct Source {
  std::string name;
  std::string text;
};
CompileResult compile_sources(const std::vector<Source>& sources, const CompileOptions& opts,
                              const std::filesystem::path& base_dir = {});

// Human-readable summary (what `smtpgw rules check` prints before the diagnostics).
std::string summarize(const CompileResult& r);

// Prints every diagnostic of `r` on `out`, one line each: "error: FILE:LINE: rule NAME: message
// [problem]" when it rejects the set in `mode`, "skipped: ..." otherwise (lenient mode, and rules
// in a block for a plugin we do not have). Returns whether the result is usable in `mode`:
// strict needs r.ok(), lenient any ruleset. What `rules check`, `analyze --rules` and `run` share.
bool report(const CompileResult& r, Mode mode, std::FILE* out);

}  // namespace smtpgw::rules
