// SpamAssassin regex literals (/re/flags, m{re}flags, m!re!flags) → Hyperscan pattern + flags.
// Control plane only; pure functions, any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace smtpgw::rules {

struct Regex {
  std::string pattern;    // what Hyperscan compiles (the x flag already applied)
  unsigned hs_flags = 0;  // HS_FLAG_CASELESS / DOTALL / MULTILINE
  std::string source;     // the literal as written (for messages)
};

struct RegexError {
  bool unsupported = false;  // true: a Perl-only construct (Problem::kUnsupportedRegex);
                             // false: malformed literal (Problem::kBadRegex)
  std::string message;
};

// Parses a regex literal at the start of `text`. On success `rest` receives what follows the
// flags (options such as [if-unset: ...]). Errors: missing/unterminated delimiter, unknown
// flag, Perl-only constructs (with their offset in the pattern).
std::optional<Regex> parse_regex(std::string_view text, std::string_view* rest, RegexError* err);

// Removes whitespace and #-comments outside character classes (Perl's /x).
std::string strip_extended(std::string_view pattern);

// The first Perl-only construct in `pattern` that Hyperscan cannot run (backreference,
// lookaround, \G, \K, \R, \C, atomic group, possessive quantifier, conditional, recursion,
// backtracking verb, embedded code), described with its byte offset; nullopt if none.
std::optional<std::string> find_unsupported(std::string_view pattern);

}  // namespace smtpgw::rules
