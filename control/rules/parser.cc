#include "control/rules/parser.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace smtpgw::rules {

namespace {

using scan::RuleKind;

// Plugins whose blocks we enter: `ifplugin` / plugin() of these are true. None: even
// ReplaceTags (replace_tag/replace_rules are implemented, wherever they appear) stays "absent",
// because SpamAssassin's own ReplaceTags rules mostly need lookahead and their fallbacks in
// `if !plugin(ReplaceTags)` blocks compile — more rules, at a fifth of the compile time.
constexpr std::string_view kAvailablePlugins[] = {""};

bool plugin_available(std::string_view name) {
  while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back())) != 0) {
    name.remove_suffix(1);
  }
  return !name.empty() &&
         std::find(std::begin(kAvailablePlugins), std::end(kAvailablePlugins), name) !=
             std::end(kAvailablePlugins);
}

// Rule types of SpamAssassin we know but do not run: definitions are recorded as skipped.
constexpr std::string_view kUnsupportedTypes[] = {
    "mimeheader", "uri_detail", "askdns", "urirhssub", "urirhsbl", "uridnsbl", "uridnssub",
    "hashbl", "check_hashbl", "rbl", "urilocalbl"};

// SpamAssassin settings without rule semantics here: accepted and ignored (one warning each
// kind per parse is enough; see Parser::warn_ignored).
constexpr std::string_view kIgnoredDirectives[] = {
    "lang", "report", "add_header", "remove_header", "loadplugin", "tryplugin", "priority",
    "reuse", "test", "require_version", "version_tag", "redirector_pattern",
    "originating_ip_headers", "unsafe_report", "report_safe", "report_contact", "ok_locales",
    "ok_languages", "adsp_override", "uridnsbl_skip_domain", "url_shortener",
    "url_shortener_get", "dns_block_rule", "shortcircuit", "use_bayes",
    "skip_rbl_checks", "trusted_networks", "internal_networks", "msa_networks", "lock",
    "report_charset", "rewrite_header", "report_safe_copy_headers", "envelope_sender_header",
    "describe_lang"};
constexpr std::string_view kIgnoredPrefixes[] = {
    "clear_", "util_rb_", "enlist_", "delist_", "freemail_", "whitelist_", "welcomelist_",
    "blacklist_", "blocklist_", "unwhitelist_", "unwelcomelist_", "unblacklist_",
    "unblocklist_", "def_", "bayes_", "dns_", "fns_", "dcc_", "razor_", "pyzor_", "txrep_",
    "auto_", "uridnsbl_", "askdns_", "hashbl_", "dkim_", "spf_", "mimeheader_",
    "normalize_", "body_part_", "rbl_", "check_", "whois_", "urilocalbl_"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view next_word(std::string_view* s) {
  *s = trim(*s);
  size_t n = 0;
  while (n < s->size() && std::isspace(static_cast<unsigned char>((*s)[n])) == 0) {
    ++n;
  }
  std::string_view w = s->substr(0, n);
  s->remove_prefix(n);
  *s = trim(*s);
  return w;
}

bool valid_rule_name(std::string_view n) {
  if (n.empty() || n.size() > 200) {
    return false;
  }
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

bool valid_header_name(std::string_view n) {
  if (n.empty()) {
    return false;
  }
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return c > 32 && c < 127 && c != ':'; });
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return r;
}

bool parse_number(std::string_view s, double* out) {
  const std::string t(s);
  if (t.empty()) {
    return false;
  }
  char* end = nullptr;
  *out = std::strtod(t.c_str(), &end);
  return end != t.c_str() && *end == '\0';
}

// SpamAssassin's comment rule: an unescaped '#' starts a comment; "\#" then means '#'.
std::string strip_comment(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || line[i - 1] != '\\')) {
      break;
    }
    out += line[i];
  }
  std::string r;
  r.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\\' && i + 1 < out.size() && out[i + 1] == '#') {
      continue;
    }
    r += out[i];
  }
  return r;
}

// `if` conditions: version / perl_version comparisons, can(...), has(...), plugin(...), !, &&,
// ||, parentheses, numbers. We claim SpamAssassin 4.0.0 compatibility, have no Perl plugins
// and no `can` features; anything else is not evaluable (ok_ = false).
class CondEval {
 public:
  explicit CondEval(std::string_view cond) {
    for (char c : cond) {
      if (std::isspace(static_cast<unsigned char>(c)) == 0) {
        s_ += c;
      }
    }
  }
  bool eval(bool* ok) {
    const double v = parse_or(0);
    *ok = ok_ && i_ == s_.size();
    return v != 0.0;
  }

 private:
  bool eat(std::string_view t) {
    if (std::string_view(s_).substr(i_).starts_with(t)) {
      i_ += t.size();
      return true;
    }
    return false;
  }
  double parse_or(int depth) {
    if (depth > 50) {
      ok_ = false;
      return 0;
    }
    double v = parse_and(depth);
    while (eat("||")) {
      const double r = parse_and(depth);
      v = (v != 0 || r != 0) ? 1 : 0;
    }
    return v;
  }
  double parse_and(int depth) {
    double v = parse_cmp(depth);
    while (eat("&&")) {
      const double r = parse_cmp(depth);
      v = (v != 0 && r != 0) ? 1 : 0;
    }
    return v;
  }
  double parse_cmp(int depth) {
    const double l = parse_unary(depth);
    static const std::string_view kOps[] = {">=", "<=", "==", "!=", ">", "<"};
    for (std::string_view op : kOps) {
      if (eat(op)) {
        const double r = parse_unary(depth);
        if (op == ">=") return l >= r ? 1 : 0;
        if (op == "<=") return l <= r ? 1 : 0;
        if (op == "==") return l == r ? 1 : 0;
        if (op == "!=") return l != r ? 1 : 0;
        if (op == ">") return l > r ? 1 : 0;
        return l < r ? 1 : 0;
      }
    }
    return l;
  }
  double parse_unary(int depth) {
    if (eat("!")) {
      return parse_unary(depth + 1) == 0 ? 1 : 0;
    }
    if (eat("(")) {
      const double v = parse_or(depth + 1);
      if (!eat(")")) {
        ok_ = false;
      }
      return v;
    }
    if (eat("perl_version")) {
      return 5.036;
    }
    if (eat("version")) {
      return 4.0;
    }
    for (std::string_view f : {"can(", "has(", "plugin("}) {
      if (eat(f)) {
        const size_t close = s_.find(')', i_);
        if (close == std::string::npos) {
          ok_ = false;
          return 0;
        }
        const std::string_view arg = std::string_view(s_).substr(i_, close - i_);
        i_ = close + 1;
        // No Perl `can` features; only the plugins we implement.
        return f == "plugin(" && plugin_available(arg) ? 1 : 0;
      }
    }
    size_t j = i_;
    while (j < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[j])) != 0 || s_[j] == '.')) {
      ++j;
    }
    if (j == i_) {
      ok_ = false;
      return 0;
    }
    double v = 0;
    parse_number(std::string_view(s_).substr(i_, j - i_), &v);
    i_ = j;
    return v;
  }

  std::string s_;
  size_t i_ = 0;
  bool ok_ = true;
};

}  // namespace

unsigned __int128 fnv128_init() {
  return (static_cast<unsigned __int128>(0x6c62272e07bb0142ULL) << 64) | 0x62b821756295c58dULL;
}

unsigned __int128 fnv128(std::string_view bytes, unsigned __int128 h) {
  const unsigned __int128 prime = (static_cast<unsigned __int128>(0x0000000001000000ULL) << 64) |
                                  0x000000000000013BULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= prime;
  }
  return h;
}

std::string hex128(unsigned __int128 v) {
  static const char* kHex = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 31; i >= 0; --i) {
    s[i] = kHex[static_cast<unsigned>(v & 0xf)];
    v >>= 4;
  }
  return s;
}

void Parser::error(const std::string& file, int line, const std::string& rule, Problem p,
                   std::string msg) {
  out_.errors.push_back(Diagnostic{file, line, rule, p, std::move(msg)});
}

void Parser::warn(const std::string& file, int line, const std::string& rule, Problem p,
                  std::string msg) {
  out_.warnings.push_back(Diagnostic{file, line, rule, p, std::move(msg)});
}

void Parser::define(RuleDef def) {
  if (!active()) {
    def.skipped = true;
    def.problem = Problem::kPluginBlock;
    def.reason = "inside a block whose condition is false here (" + blocks_.back().why + ")";
  }
  out_.rules.push_back(std::move(def));
}

void Parser::parse(const std::string& name, std::string_view text,
                   const std::filesystem::path& base_dir, int depth) {
  if (!hash_started_) {
    hash_ = fnv128_init();
    hash_started_ = true;
  }
  hash_ = fnv128(name, hash_);
  hash_ = fnv128(std::string_view("\0", 1), hash_);
  hash_ = fnv128(text, hash_);
  const size_t blocks_at_start = blocks_.size();
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      nl = text.size();
    }
    ++line_no;
    std::string_view line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    parse_line(name, line_no, line, base_dir, depth);
    pos = nl + 1;
  }
  if (blocks_.size() > blocks_at_start) {
    error(name, line_no, "", Problem::kSyntax,
          std::to_string(blocks_.size() - blocks_at_start) + " if/ifplugin block(s) not closed "
          "by endif at end of file");
    blocks_.resize(blocks_at_start);
  }
}

bool Parser::eval_condition(std::string_view cond, bool* ok) {
  CondEval e(cond);
  return e.eval(ok);
}

void Parser::parse_line(const std::string& file, int line_no, std::string_view raw,
                        const std::filesystem::path& base_dir, int depth) {
  const std::string stripped = strip_comment(raw);
  std::string_view rest = trim(stripped);
  if (rest.empty()) {
    return;
  }
  const std::string_view directive_view = next_word(&rest);
  const std::string directive = lower(directive_view);

  // Conditional blocks first: they are tracked even inside inactive blocks.
  if (directive == "ifplugin" || directive == "if") {
    const bool parent = active();
    bool value = false;
    std::string why;
    if (directive == "ifplugin") {
      value = plugin_available(rest);
      why = "ifplugin " + std::string(rest) + ": plugin not available";
      if (rest.empty()) {
        error(file, line_no, "", Problem::kSyntax, "ifplugin without a plugin name");
      }
    } else {
      bool ok = true;
      value = eval_condition(rest, &ok);
      why = "if " + std::string(rest);
      if (!ok) {
        value = false;
        why += ": condition not understood";
        if (parent) {
          warn(file, line_no, "", Problem::kPluginBlock,
               "cannot evaluate 'if " + std::string(rest) + "'; the block is skipped");
        }
      }
    }
    if (!parent) {
      why = blocks_.back().why;  // name the outermost false condition
    }
    blocks_.push_back(Block{parent && value, parent, why});
    return;
  }
  if (directive == "else") {
    if (blocks_.empty()) {
      error(file, line_no, "", Problem::kSyntax, "else without if");
      return;
    }
    Block& b = blocks_.back();
    b.active = b.parent_active && !b.active;
    b.why = "else of " + b.why;
    return;
  }
  if (directive == "endif") {
    if (blocks_.empty()) {
      error(file, line_no, "", Problem::kSyntax, "endif without if");
      return;
    }
    blocks_.pop_back();
    return;
  }

  auto rule_types = {"header", "body", "rawbody", "uri", "full", "meta", "envelope"};
  const bool is_rule = std::find(rule_types.begin(), rule_types.end(), directive) !=
                       rule_types.end();
  const bool is_unsupported_type =
      std::find(std::begin(kUnsupportedTypes), std::end(kUnsupportedTypes), directive) !=
      std::end(kUnsupportedTypes);

  if (!active()) {
    // Only rule definitions are recorded (as skipped); everything else is ignored.
    if (is_rule || is_unsupported_type) {
      std::string_view r = rest;
      const std::string_view name = next_word(&r);
      if (valid_rule_name(name)) {
        RuleDef d;
        d.name = std::string(name);
        d.file = file;
        d.line = line_no;
        define(std::move(d));
      }
    }
    return;
  }

  if (is_rule || is_unsupported_type) {
    RuleDef d;
    d.file = file;
    d.line = line_no;
    const std::string_view name = next_word(&rest);
    d.name = std::string(name);
    auto skip = [&](Problem p, std::string reason) {
      d.skipped = true;
      d.problem = p;
      d.reason = std::move(reason);
      define(std::move(d));
    };
    if (!valid_rule_name(name)) {
      error(file, line_no, std::string(name), Problem::kSyntax,
            name.empty() ? directive + " without a rule name"
                         : "invalid rule name (letters, digits and _ only)");
      return;
    }
    if (is_unsupported_type) {
      skip(Problem::kUnsupportedRuleType, "rule type '" + directive + "' is not supported");
      return;
    }
    if (rest.empty()) {
      skip(Problem::kSyntax, directive + " rule without a test");
      return;
    }
    if (directive == "meta") {
      d.kind = RuleKind::kMeta;
      std::string err;
      auto m = parse_meta(rest, &err);
      if (!m) {
        skip(Problem::kMetaSyntax, "bad meta expression: " + err);
        return;
      }
      d.meta = std::move(*m);
      define(std::move(d));
      return;
    }
    if (rest.starts_with("eval:") || rest.starts_with("rbleval:") ||
        rest.starts_with("check_")) {
      const size_t paren = rest.find('(');
      skip(Problem::kEvalRule, "eval test '" + std::string(rest.substr(0, paren)) +
                                   "' runs Perl code; not supported");
      return;
    }
    std::string_view regex_text = rest;
    if (directive == "header" || directive == "envelope") {
      const std::string_view field = next_word(&rest);
      if (directive == "header" && field.starts_with("exists:")) {
        const std::string_view h = field.substr(7);
        if (!valid_header_name(h)) {
          skip(Problem::kUnknownField, "invalid header name in '" + std::string(field) + "'");
          return;
        }
        if (!rest.empty()) {
          skip(Problem::kSyntax, "unexpected text after exists:" + std::string(h));
          return;
        }
        d.kind = RuleKind::kExists;
        d.header_names.push_back(lower(h));
        define(std::move(d));
        return;
      }
      const std::string_view op = next_word(&rest);
      if (op != "=~" && op != "!~") {
        skip(Problem::kSyntax, "expected =~ or !~ after '" + std::string(field) + "', got '" +
                                   std::string(op) + "'");
        return;
      }
      d.negated = op == "!~";
      regex_text = rest;
      if (directive == "envelope") {
        d.kind = RuleKind::kEnvelope;
        const std::string f = lower(field);
        if (f == "from") {
          d.envelope = scan::EnvelopeField::kFrom;
        } else if (f == "rcpt") {
          d.envelope = scan::EnvelopeField::kRcpt;
        } else if (f == "helo") {
          d.envelope = scan::EnvelopeField::kHelo;
        } else if (f == "auth") {
          d.envelope = scan::EnvelopeField::kAuth;
        } else {
          skip(Problem::kUnknownField, "unknown envelope field '" + std::string(field) +
                                           "' (from, rcpt, helo or auth)");
          return;
        }
      } else {
        std::string_view hname = field;
        std::string_view mod;
        if (const size_t colon = field.find(':'); colon != std::string_view::npos) {
          hname = field.substr(0, colon);
          mod = field.substr(colon + 1);
        }
        const std::string lname = lower(hname);
        if (mod == "raw") {
          d.variant = scan::HeaderVariant::kRaw;
        } else if (mod == "addr") {
          d.variant = scan::HeaderVariant::kAddr;
        } else if (mod == "name") {
          d.variant = scan::HeaderVariant::kName;
        } else if (!mod.empty()) {
          skip(Problem::kUnknownField, "unknown header modifier ':" + std::string(mod) +
                                           "' (raw, addr or name)");
          return;
        }
        if (!valid_header_name(hname)) {
          skip(Problem::kUnknownField, "invalid header name '" + std::string(hname) + "'");
          return;
        }
        if (hname == "ALL") {
          if (d.variant != scan::HeaderVariant::kValue && d.variant != scan::HeaderVariant::kRaw) {
            skip(Problem::kUnknownField, "ALL takes only the :raw modifier");
            return;
          }
          d.kind = RuleKind::kAllHeaders;
          d.all_raw = d.variant == scan::HeaderVariant::kRaw;
        } else if (lname == "tocc") {
          d.header_names = {"to", "cc"};
        } else if (lname == "messageid") {
          d.header_names = {"message-id", "resent-message-id", "x-message-id"};
        } else if (lname == "envelopefrom") {
          d.kind = RuleKind::kEnvelope;
          d.envelope = scan::EnvelopeField::kFrom;
        } else if (lname.starts_with("x-spam-relays-") || lname.starts_with("all-") ||
                   lname == "x-spam-status" || lname == "x-spam-level") {
          skip(Problem::kUnknownField,
               "pseudo-header '" + std::string(hname) +
                   "' needs SpamAssassin's relay analysis; not available");
          return;
        } else {
          d.header_names = {lname};
        }
      }
    } else if (directive == "body") {
      d.kind = RuleKind::kBody;
    } else if (directive == "rawbody") {
      d.kind = RuleKind::kRawBody;
    } else if (directive == "uri") {
      d.kind = RuleKind::kUri;
    } else {
      d.kind = RuleKind::kFull;
    }
    std::string_view after;
    RegexError rerr;
    auto re = parse_regex(regex_text, &after, &rerr);
    if (!re) {
      skip(rerr.unsupported ? Problem::kUnsupportedRegex : Problem::kBadRegex, rerr.message);
      return;
    }
    if (d.kind == RuleKind::kHeader && after.starts_with("[if-unset:") && after.ends_with("]")) {
      d.if_unset = std::string(trim(after.substr(10, after.size() - 11)));
      after = {};
    }
    if (!after.empty()) {
      if (after.starts_with("[")) {
        skip(Problem::kUnsupportedOption,
             "option '" + std::string(after) + "' is not supported");
      } else {
        skip(Problem::kSyntax, "unexpected text after the regex: '" + std::string(after) + "'");
      }
      return;
    }
    d.regex = std::move(*re);
    define(std::move(d));
    return;
  }

  if (directive == "score" || directive == "describe" || directive == "tflags") {
    const std::string_view name = next_word(&rest);
    if (!valid_rule_name(name)) {
      error(file, line_no, std::string(name), Problem::kSyntax,
            directive + ": invalid or missing rule name");
      return;
    }
    Setting s;
    s.rule = std::string(name);
    s.file = file;
    s.line = line_no;
    s.text = std::string(rest);
    if (directive == "score") {
      s.kind = Setting::Kind::kScore;
      // SpamAssassin's 4-value form is (no net, no bayes), (net), (bayes), (net+bayes). We run
      // neither network tests nor Bayes, so the first value is the one that applies.
      std::vector<double> values;
      std::string_view r = rest;
      while (!r.empty()) {
        std::string_view w = next_word(&r);
        if (w.size() >= 2 && w.front() == '(' && w.back() == ')') {
          w = w.substr(1, w.size() - 2);
        }
        double v = 0;
        if (!parse_number(w, &v)) {
          error(file, line_no, s.rule, Problem::kBadScore,
                "score '" + std::string(w) + "' is not a number");
          return;
        }
        values.push_back(v);
      }
      if (values.size() != 1 && values.size() != 4) {
        error(file, line_no, s.rule, Problem::kBadScore,
              "score takes 1 or 4 numbers, got " + std::to_string(values.size()));
        return;
      }
      s.score = values.front();
    } else if (directive == "describe") {
      s.kind = Setting::Kind::kDescribe;
    } else {
      s.kind = Setting::Kind::kTflags;
    }
    out_.settings.push_back(std::move(s));
    return;
  }
  if (directive == "required_score" || directive == "required_hits") {
    double v = 0;
    if (!parse_number(rest, &v)) {
      error(file, line_no, "", Problem::kBadScore,
            "required_score '" + std::string(rest) + "' is not a number");
      return;
    }
    out_.required_score = v;
    return;
  }
  if (directive == "replace_tag" || directive == "replace_pre" ||
      directive == "replace_inter" || directive == "replace_post") {
    const std::string name(next_word(&rest));
    if (name.empty() || rest.empty()) {
      error(file, line_no, "", Problem::kSyntax, directive + " needs a name and a value");
      return;
    }
    auto& map = directive == "replace_tag"   ? out_.replace_tags
                : directive == "replace_pre" ? out_.replace_pre
                : directive == "replace_inter" ? out_.replace_inter
                                               : out_.replace_post;
    map[name] = std::string(rest);
    return;
  }
  if (directive == "replace_start" || directive == "replace_end") {
    if (rest.empty()) {
      error(file, line_no, "", Problem::kSyntax, directive + " needs a value");
      return;
    }
    (directive == "replace_start" ? out_.replace_start : out_.replace_end) = std::string(rest);
    return;
  }
  if (directive == "replace_rules") {
    while (!rest.empty()) {
      out_.replace_rules.insert(std::string(next_word(&rest)));
    }
    return;
  }
  if (directive == "include") {
    if (rest.empty()) {
      error(file, line_no, "", Problem::kInclude, "include without a file name");
      return;
    }
    if (base_dir.empty()) {
      error(file, line_no, "", Problem::kInclude,
            "include '" + std::string(rest) + "': no base directory for in-memory sources");
      return;
    }
    if (depth >= 8) {
      error(file, line_no, "", Problem::kInclude, "include nested deeper than 8 levels");
      return;
    }
    std::filesystem::path p(std::string{rest});
    if (p.is_relative()) {
      p = base_dir / p;
    }
    std::error_code ec;
    const auto canon = std::filesystem::weakly_canonical(p, ec);
    const std::string key = ec ? p.string() : canon.string();
    if (include_stack_.count(key) != 0) {
      error(file, line_no, "", Problem::kInclude, "include loop: '" + p.string() + "'");
      return;
    }
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      error(file, line_no, "", Problem::kInclude, "include '" + p.string() + "': cannot read");
      return;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    include_stack_.insert(key);
    parse(p.string(), ss.str(), p.parent_path(), depth + 1);
    include_stack_.erase(key);
    return;
  }
  if (std::find(std::begin(kIgnoredDirectives), std::end(kIgnoredDirectives), directive) !=
          std::end(kIgnoredDirectives) ||
      std::any_of(std::begin(kIgnoredPrefixes), std::end(kIgnoredPrefixes),
                  [&](std::string_view p) { return directive.starts_with(p); })) {
    ++ignored_directives_[directive];
    return;
  }
  if (mode_ == Mode::kStrict) {
    error(file, line_no, "", Problem::kUnknownDirective,
          "unknown directive '" + directive + "'");
  } else {
    warn(file, line_no, "", Problem::kUnknownDirective,
         "unknown directive '" + directive + "' ignored");
  }
}

ParsedFiles Parser::finish() {
  if (!blocks_.empty()) {
    blocks_.clear();
  }
  for (const auto& [d, n] : ignored_directives_) {
    out_.warnings.push_back(Diagnostic{"", 0, "", Problem::kNote,
                                       "directive '" + d + "' ignored (" + std::to_string(n) +
                                           " line(s)): no rule semantics here"});
  }
  out_.hash_input_digest = hex128(hash_started_ ? hash_ : fnv128_init());
  return std::move(out_);
}

}  // namespace smtpgw::rules
