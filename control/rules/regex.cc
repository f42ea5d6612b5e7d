#include "control/rules/regex.h"

#include <hs/hs.h>

#include <cctype>

namespace smtpgw::rules {

namespace {

char closing_for(char open) {
  switch (open) {
    case '{': return '}';
    case '(': return ')';
    case '[': return ']';
    case '<': return '>';
    default: return open;
  }
}

std::string at(size_t off, std::string_view what) {
  return std::string(what) + " at offset " + std::to_string(off);
}

}  // namespace

std::string strip_extended(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      out += c;
      out += p[++i];
      continue;
    }
    if (in_class) {
      if (c == ']') {
        in_class = false;
      }
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += p[++i];
      }
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out += p[++i];
      }
      continue;
    }
    if (c == '#') {
      while (i < p.size() && p[i] != '\n') {
        ++i;
      }
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      continue;
    }
    out += c;
  }
  return out;
}

std::optional<std::string> find_unsupported(std::string_view p) {
  bool in_class = false;
  bool in_quote = false;  // \Q ... \E
  bool after_quantifier = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (in_quote) {
      if (c == '\\' && i + 1 < p.size() && p[i + 1] == 'E') {
        in_quote = false;
        ++i;
      }
      continue;
    }
    const bool was_quantifier = after_quantifier;
    after_quantifier = false;
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (!in_class) {
        if (n >= '1' && n <= '9') {
          return at(i, std::string("backreference \\") + n);
        }
        if (n == 'g' || n == 'k') {
          return at(i, std::string("backreference \\") + n);
        }
        if (n == 'G') {
          return at(i, "\\G (previous match anchor)");
        }
        if (n == 'K') {
          return at(i, "\\K (match start reset)");
        }
        if (n == 'R') {
          return at(i, "\\R (newline sequence)");
        }
        if (n == 'C') {
          return at(i, "\\C (single byte)");
        }
        if (n == 'Q') {
          in_quote = true;
        }
      }
      ++i;
      continue;
    }
    if (in_class) {
      if (c == ']') {
        in_class = false;
      }
      continue;
    }
    switch (c) {
      case '[':
        in_class = true;
        if (i + 1 < p.size() && p[i + 1] == '^') {
          ++i;
        }
        if (i + 1 < p.size() && p[i + 1] == ']') {
          ++i;
        }
        break;
      case '(': {
        std::string_view rest = p.substr(i + 1);
        if (rest.starts_with("?=")) {
          return at(i, "lookahead (?=...)");
        }
        if (rest.starts_with("?!")) {
          return at(i, "negative lookahead (?!...)");
        }
        if (rest.starts_with("?<=")) {
          return at(i, "lookbehind (?<=...)");
        }
        if (rest.starts_with("?<!")) {
          return at(i, "negative lookbehind (?<!...)");
        }
        if (rest.starts_with("?>")) {
          return at(i, "atomic group (?>...)");
        }
        if (rest.starts_with("?(")) {
          return at(i, "conditional (?(...)...)");
        }
        if (rest.starts_with("?R") || rest.starts_with("?&") || rest.starts_with("?P>") ||
            (rest.size() > 1 && rest[0] == '?' &&
             std::isdigit(static_cast<unsigned char>(rest[1])) != 0) ||
            (rest.size() > 2 && rest[0] == '?' && (rest[1] == '+' || rest[1] == '-') &&
             std::isdigit(static_cast<unsigned char>(rest[2])) != 0)) {
          return at(i, "recursion or subroutine call");
        }
        if (rest.starts_with("?{") || rest.starts_with("??{")) {
          return at(i, "embedded code");
        }
        if (rest.starts_with("*")) {
          return at(i, "backtracking control verb (*...)");
        }
        if (rest.starts_with("?")) {
          ++i;  // the '?' of a group is no quantifier
        }
        break;
      }
      case '*':
      case '+':
      case '?':
        if (c == '+' && was_quantifier) {
          return at(i, "possessive quantifier");
        }
        // After a quantifier, '?' is the lazy marker: still a quantifier position for '+'.
        after_quantifier = (c != '?' || !was_quantifier);
        break;
      case '}':
        after_quantifier = true;
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

std::optional<Regex> parse_regex(std::string_view text, std::string_view* rest, RegexError* err) {
  size_t i = 0;
  char open = 0;
  if (!text.empty() && text[0] == '/') {
    open = '/';
    i = 1;
  } else if (text.size() >= 2 && text[0] == 'm' &&
             std::isalnum(static_cast<unsigned char>(text[1])) == 0 &&
             std::isspace(static_cast<unsigned char>(text[1])) == 0) {
    open = text[1];
    i = 2;
  } else {
    err->message = "expected a regex literal /.../ or m{...}";
    return std::nullopt;
  }
  const char close = closing_for(open);
  int depth = 0;
  size_t end = std::string_view::npos;
  for (size_t j = i; j < text.size(); ++j) {
    const char c = text[j];
    if (c == '\\' && j + 1 < text.size()) {
      ++j;
      continue;
    }
    if (open != close && c == open) {
      ++depth;
    } else if (c == close) {
      if (depth == 0) {
        end = j;
        break;
      }
      --depth;
    }
  }
  if (end == std::string_view::npos) {
    err->message = std::string("unterminated regex (no closing '") + close + "')";
    return std::nullopt;
  }
  Regex r;
  std::string_view body = text.substr(i, end - i);
  // With '/' as delimiter Perl passes "\/" through; Hyperscan reads "\/" as '/', the same.
  size_t f = end + 1;
  bool extended = false;
  for (; f < text.size() && std::isalpha(static_cast<unsigned char>(text[f])) != 0; ++f) {
    switch (text[f]) {
      case 'i': r.hs_flags |= HS_FLAG_CASELESS; break;
      case 's': r.hs_flags |= HS_FLAG_DOTALL; break;
      case 'm': r.hs_flags |= HS_FLAG_MULTILINE; break;
      case 'x': extended = true; break;
      case 'o':  // compile once: meaningless here
      case 'g':  // global: a rule hits or counts matches anyway
        break;
      default:
        err->message = std::string("unknown regex flag '") + text[f] + "'";
        return std::nullopt;
    }
  }
  if (f < text.size() && std::isspace(static_cast<unsigned char>(text[f])) == 0) {
    err->message = "unexpected text after the regex flags: '" + std::string(text.substr(f)) + "'";
    return std::nullopt;
  }
  r.source = std::string(text.substr(0, f));
  r.pattern = extended ? strip_extended(body) : std::string(body);
  if (r.pattern.empty()) {
    err->message = "empty regex";
    return std::nullopt;
  }
  if (auto u = find_unsupported(r.pattern)) {
    err->unsupported = true;
    err->message = "Perl-only construct not supported by Hyperscan: " + *u;
    return std::nullopt;
  }
  std::string_view tail = text.substr(f);
  while (!tail.empty() && std::isspace(static_cast<unsigned char>(tail.front())) != 0) {
    tail.remove_prefix(1);
  }
  *rest = tail;
  return r;
}

}  // namespace smtpgw::rules
