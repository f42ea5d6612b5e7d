// Meta rule expressions (SpamAssassin's Perl subset): rule names, numbers, ! and unary -,
// * /, + -, < <= > >=, == !=, &&, ||, parentheses — Perl's precedence — compiled to postfix.
// Control plane only; pure, any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/scan/ruleset.h"

namespace smtpgw::rules {

struct MetaExpr {
  // Postfix ops; kRule ops carry their name index in `names` in MetaOp::rule until resolved.
  std::vector<scan::MetaOp> ops;
  std::vector<std::string> names;  // referenced rule names, in first-use order
  uint32_t max_depth = 0;          // evaluation stack depth needed
};

// Errors: unexpected character/token, unbalanced parentheses, missing operand, empty
// expression, nesting deeper than scan::kMaxMetaStack — message names the offset.
std::optional<MetaExpr> parse_meta(std::string_view text, std::string* error);

}  // namespace smtpgw::rules
