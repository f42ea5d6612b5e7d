// Rule definitions → validated rules → Hyperscan databases (cached) → scan::Ruleset.
#include "control/rules/compiler.h"

#include <hs/hs.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

#include "control/rules/parser.h"
#include "control/rules/regex.h"

namespace smtpgw::rules {

namespace {

using scan::RuleKind;

// Patterns longer than this are test-compiled alone before joining a database.
constexpr size_t kLongPattern = 400;

// Flags that SpamAssassin's tflags may carry and that change nothing here.
constexpr std::string_view kHarmlessTflags[] = {
    "publish", "nopublish", "userconf", "noautolearn", "learn", "notrim", "domains_only",
    "low", "lock", "autolearn_body", "autolearn_force", "a", "scores", "sign", "nosubject",
    "good", "always", "dns", "ips_only"};

struct Pattern {
  std::string expr;
  unsigned flags;
  unsigned id;
};

struct Group {
  std::string label;  // for messages ("header subject", "body", ...)
  unsigned mode;      // HS_MODE_BLOCK or HS_MODE_STREAM
  std::vector<Pattern> patterns;
};

std::string hs_platform_bytes() {
  hs_platform_info_t plat{};
  if (hs_populate_platform(&plat) != HS_SUCCESS) {
    return "unknown-platform";
  }
  return std::string(reinterpret_cast<const char*>(&plat), sizeof(plat));
}

std::string cache_key(const Group& g) {
  unsigned __int128 h = fnv128_init();
  h = fnv128(hs_version(), h);
  h = fnv128(hs_platform_bytes(), h);
  h = fnv128(std::to_string(g.mode), h);
  for (const Pattern& p : g.patterns) {
    h = fnv128(std::to_string(p.id) + "/" + std::to_string(p.flags) + "/", h);
    h = fnv128(p.expr, h);
    h = fnv128(std::string_view("\0", 1), h);
  }
  return hex128(h);
}

hs_database_t* load_cached(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return nullptr;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  hs_database_t* db = nullptr;
  if (hs_deserialize_database(bytes.data(), bytes.size(), &db) != HS_SUCCESS) {
    return nullptr;  // stale or corrupt: recompile and overwrite
  }
  return db;
}

void store_cached(const std::filesystem::path& dir, const std::string& key, hs_database_t* db) {
  char* bytes = nullptr;
  size_t len = 0;
  if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS) {
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  // A unique temporary name, then an atomic rename: concurrent compilers never see a torn file.
  const auto tmp = dir / (key + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(reinterpret_cast<uintptr_t>(db)));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes, static_cast<std::streamsize>(len));
  }
  std::free(bytes);
  std::filesystem::rename(tmp, dir / (key + ".hsdb"), ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
  }
}

// Compiles one group. On a pattern error returns the failing id in *bad_id (and the message).
// Whole-database errors set *bad_id = -1.
hs_database_t* build_group(const Group& g, const std::filesystem::path& cache_dir,
                           bool* from_cache, int64_t* bad_id, std::string* err) {
  *from_cache = false;
  std::string key;
  if (!cache_dir.empty()) {
    key = cache_key(g);
    if (hs_database_t* db = load_cached(cache_dir / (key + ".hsdb"))) {
      *from_cache = true;
      return db;
    }
  }
  std::vector<const char*> exprs;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (const Pattern& p : g.patterns) {
    exprs.push_back(p.expr.c_str());
    flags.push_back(p.flags);
    ids.push_back(p.id);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* cerr = nullptr;
  if (hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                       static_cast<unsigned>(exprs.size()), g.mode, nullptr, &db,
                       &cerr) != HS_SUCCESS) {
    *err = cerr != nullptr && cerr->message != nullptr ? cerr->message : "unknown error";
    *bad_id = (cerr != nullptr && cerr->expression >= 0)
                  ? static_cast<int64_t>(ids[static_cast<size_t>(cerr->expression)])
                  : -1;
    hs_free_compile_error(cerr);
    return nullptr;
  }
  if (!cache_dir.empty()) {
    store_cached(cache_dir, key, db);
  }
  return db;
}

std::string problem_label(Problem p) { return std::string(problem_name(p)); }

class Compiler {
 public:
  Compiler(ParsedFiles pf, const CompileOptions& opts) : pf_(std::move(pf)), opts_(opts) {}

  CompileResult run() {
    const auto t0 = std::chrono::steady_clock::now();
    CompileResult res;
    dedupe();
    apply_settings();
    for (RuleDef* d : unique_) {
      if (!d->skipped && pf_.replace_rules.count(d->name) != 0 &&
          d->kind != RuleKind::kMeta && d->kind != RuleKind::kExists) {
        replace_tags(d);
      }
      validate_pattern(d);
    }
    std::unique_ptr<scan::Ruleset> ruleset;
    for (int attempt = 0; attempt < 64; ++attempt) {
      resolve_metas();
      if (build(&ruleset)) {
        break;
      }
    }
    // Diagnostics: line errors, then one per skipped rule (definition order).
    res.errors = std::move(pf_.errors);
    res.errors.insert(res.errors.end(), errors_.begin(), errors_.end());
    for (RuleDef* d : unique_) {
      if (d->skipped) {
        ++res.skipped_rules;
        res.errors.push_back(Diagnostic{d->file, d->line, d->name, d->problem, d->reason});
      }
    }
    res.warnings = std::move(pf_.warnings);
    res.warnings.insert(res.warnings.end(), warnings_.begin(), warnings_.end());
    res.rules_defined = static_cast<uint32_t>(unique_.size());
    res.compiled_rules = res.rules_defined - res.skipped_rules;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (ruleset) {
      // info is filled in build(); fix the compile time now that it is known.
      const_cast<scan::RulesetInfo&>(ruleset->info()).compile_seconds = secs;
      const_cast<scan::RulesetInfo&>(ruleset->info()).skipped_count = res.skipped_rules;
    }
    for (const Diagnostic& d : res.errors) {
      res.fatal_errors += d.problem == Problem::kPluginBlock ? 0 : 1;
    }
    if (opts_.mode == Mode::kStrict && res.fatal_errors > 0) {
      ruleset.reset();
    }
    res.ruleset = std::move(ruleset);
    return res;
  }

 private:
  void skip(RuleDef* d, Problem p, std::string reason) {
    d->skipped = true;
    d->problem = p;
    d->reason = std::move(reason);
  }

  // One definition per name. A definition inside a false block gives way to an active one
  // (ifplugin X ... endif / if !plugin(X) ... endif define the same rule twice); two active
  // definitions are an error on the second.
  void dedupe() {
    for (RuleDef& d : pf_.rules) {
      auto it = by_name_.find(d.name);
      if (it == by_name_.end()) {
        by_name_[d.name] = &d;
        unique_.push_back(&d);
        continue;
      }
      RuleDef* first = it->second;
      const bool first_block = first->skipped && first->problem == Problem::kPluginBlock;
      const bool this_block = d.skipped && d.problem == Problem::kPluginBlock;
      if (this_block) {
        continue;
      }
      if (first_block) {
        std::replace(unique_.begin(), unique_.end(), first, &d);
        it->second = &d;
        continue;
      }
      errors_.push_back(Diagnostic{d.file, d.line, d.name, Problem::kDuplicateRule,
                                   "duplicate rule name (first defined at " + first->file + ":" +
                                       std::to_string(first->line) + ")"});
    }
  }

  unsigned class_flags(const RuleDef& d) const {
    unsigned f = d.regex.hs_flags;
    // SpamAssassin matches body and rawbody rules line by line: ^ and $ are line anchors.
    if (d.kind == RuleKind::kBody || d.kind == RuleKind::kRawBody) {
      f |= HS_FLAG_MULTILINE;
    }
    // Perl lets a pattern match the empty string (/^\s*$/ on an empty Subject); Hyperscan
    // needs to be told. Only single-match rules get here (see validate_pattern).
    if (d.allow_empty) {
      f |= HS_FLAG_ALLOWEMPTY;
    }
    return f;
  }

  void validate_pattern(RuleDef* d) {
    if (d->skipped || d->kind == RuleKind::kMeta || d->kind == RuleKind::kExists) {
      return;
    }
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* cerr = nullptr;
    if (hs_expression_info(d->regex.pattern.c_str(), class_flags(*d), &info, &cerr) !=
        HS_SUCCESS) {
      skip(d, Problem::kHyperscanError,
           "Hyperscan rejects " + d->regex.source + ": " +
               (cerr != nullptr && cerr->message != nullptr ? cerr->message : "unknown error"));
      hs_free_compile_error(cerr);
      return;
    }
    const bool empty = info->min_width == 0;
    std::free(info);
    if (empty) {
      if (info_[d->name].multiple) {
        skip(d, Problem::kHyperscanError,
             "pattern " + d->regex.source +
                 " can match the empty string; with tflags multiple it would count every "
                 "position");
        return;
      }
      d->allow_empty = true;
    }
    // Resource limits ("Pattern is too large") show only in a real compile; long patterns
    // (ReplaceTags expansions) are compiled alone first so one of them cannot fail a whole
    // database and force a rebuild.
    if (d->regex.pattern.size() > kLongPattern) {
      const bool stream = d->kind == RuleKind::kBody || d->kind == RuleKind::kRawBody ||
                          d->kind == RuleKind::kFull || d->kind == RuleKind::kAllHeaders;
      hs_database_t* db = nullptr;
      if (hs_compile(d->regex.pattern.c_str(), class_flags(*d) | HS_FLAG_SINGLEMATCH,
                     stream ? HS_MODE_STREAM : HS_MODE_BLOCK, nullptr, &db, &cerr) !=
          HS_SUCCESS) {
        skip(d, Problem::kHyperscanError,
             "Hyperscan rejects " + d->regex.source + ": " +
                 (cerr != nullptr && cerr->message != nullptr ? cerr->message : "unknown error"));
        hs_free_compile_error(cerr);
        return;
      }
      hs_free_database(db);
    }
    if (d->kind == RuleKind::kHeader && (d->allow_empty || d->if_unset)) {
      d->absent_matches = matches_alone(*d, d->if_unset.value_or(""));
    }
  }

  // SpamAssassin's ReplaceTags: <pre N>, <inter N>, <post N> directives are removed from the
  // pattern; every <TAG> becomes pre(?:value)post, and inter goes between adjacent tags.
  void replace_tags(RuleDef* d) {
    const std::string& open = pf_.replace_start;
    const std::string& close = pf_.replace_end;
    std::string p = d->regex.pattern;
    std::string pre, inter, post;
    struct Directive {
      const char* word;
      const std::map<std::string, std::string>* map;
      std::string* dst;
    } directives[] = {{"pre", &pf_.replace_pre, &pre},
                      {"inter", &pf_.replace_inter, &inter},
                      {"post", &pf_.replace_post, &post}};
    for (const Directive& dir : directives) {
      const std::string lead = open + dir.word + " ";
      for (size_t at = p.find(lead); at != std::string::npos; at = p.find(lead)) {
        const size_t end = p.find(close, at + lead.size());
        if (end == std::string::npos) {
          skip(d, Problem::kReplaceTags, "unterminated " + lead + "... directive");
          return;
        }
        const std::string name = p.substr(at + lead.size(), end - at - lead.size());
        auto it = dir.map->find(name);
        if (it == dir.map->end()) {
          skip(d, Problem::kReplaceTags,
               std::string("replace_") + dir.word + " '" + name + "' is not defined");
          return;
        }
        *dir.dst = it->second;
        p.erase(at, end + close.size() - at);
      }
    }
    std::string out;
    bool prev_was_tag = false;
    for (size_t i = 0; i < p.size();) {
      if (p.compare(i, open.size(), open) == 0) {
        const size_t end = p.find(close, i + open.size());
        if (end != std::string::npos) {
          const std::string name = p.substr(i + open.size(), end - i - open.size());
          auto it = pf_.replace_tags.find(name);
          if (it != pf_.replace_tags.end()) {
            if (prev_was_tag) {
              out += inter;
            }
            out += pre + "(?:" + it->second + ")" + post;
            prev_was_tag = true;
            i = end + close.size();
            continue;
          }
        }
      }
      prev_was_tag = false;
      out += p[i++];
    }
    if (auto u = find_unsupported(out)) {
      skip(d, Problem::kUnsupportedRegex,
           "Perl-only construct not supported by Hyperscan (after replace_tags): " + *u);
      return;
    }
    d->regex.pattern = std::move(out);
  }

  // Does the rule's pattern alone match `value`? (compile-time evaluation for absent headers)
  bool matches_alone(const RuleDef& d, const std::string& value) {
    hs_database_t* db = nullptr;
    hs_compile_error_t* cerr = nullptr;
    if (hs_compile(d.regex.pattern.c_str(), class_flags(d) | HS_FLAG_SINGLEMATCH, HS_MODE_BLOCK,
                   nullptr, &db, &cerr) != HS_SUCCESS) {
      hs_free_compile_error(cerr);
      return false;  // the real compile reports the error
    }
    hs_scratch_t* scratch = nullptr;
    bool hit = false;
    if (hs_alloc_scratch(db, &scratch) == HS_SUCCESS) {
      hs_scan(db, value.data(), static_cast<unsigned>(value.size()), 0, scratch,
              [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
                *static_cast<bool*>(ctx) = true;
                return 1;
              },
              &hit);
    }
    hs_free_scratch(scratch);
    hs_free_database(db);
    return hit;
  }

  void apply_settings() {
    for (const Setting& s : pf_.settings) {
      auto it = by_name_.find(s.rule);
      if (it == by_name_.end()) {
        Diagnostic diag{s.file, s.line, s.rule, Problem::kUnknownRule,
                        std::string(s.kind == Setting::Kind::kScore      ? "score"
                                    : s.kind == Setting::Kind::kDescribe ? "describe"
                                                                         : "tflags") +
                            " for an undefined rule"};
        if (opts_.mode == Mode::kStrict) {
          errors_.push_back(std::move(diag));
        } else {
          ++undefined_settings_;
        }
        continue;
      }
      Info& info = info_[s.rule];
      switch (s.kind) {
        case Setting::Kind::kScore:
          info.score = s.score;
          info.has_score = true;
          break;
        case Setting::Kind::kDescribe:
          info.description = s.text;
          break;
        case Setting::Kind::kTflags: {
          std::istringstream ws(s.text);
          std::string flag;
          while (ws >> flag) {
            if (flag == "multiple") {
              info.multiple = true;
            } else if (flag == "nice") {
              info.nice = true;
            } else if (flag == "net") {
              warnings_.push_back(Diagnostic{s.file, s.line, s.rule, Problem::kNote,
                                             "tflags net ignored (no network tests here)"});
            } else if (flag.starts_with("maxhits=")) {
              info.max_hits = static_cast<uint16_t>(
                  std::clamp(std::atoi(flag.c_str() + 8), 1, 255));
            } else if (std::find(std::begin(kHarmlessTflags), std::end(kHarmlessTflags), flag) ==
                       std::end(kHarmlessTflags)) {
              warnings_.push_back(Diagnostic{s.file, s.line, s.rule, Problem::kNote,
                                             "tflags '" + flag + "' not known; ignored"});
            }
          }
          break;
        }
      }
    }
    if (undefined_settings_ > 0) {
      warnings_.push_back(Diagnostic{"", 0, "", Problem::kNote,
                                     std::to_string(undefined_settings_) +
                                         " score/describe/tflags line(s) name rules that are "
                                         "not defined in this set; ignored"});
    }
  }

  // Metas whose references are unknown, skipped, or on a cycle are skipped (fixpoint).
  void resolve_metas() {
    bool changed = true;
    while (changed) {
      changed = false;
      for (RuleDef* d : unique_) {
        if (d->skipped || d->kind != RuleKind::kMeta) {
          continue;
        }
        for (const std::string& n : d->meta.names) {
          auto it = by_name_.find(n);
          if (it == by_name_.end()) {
            skip(d, Problem::kUnknownRule, "meta refers to unknown rule " + n);
            changed = true;
            break;
          }
          if (it->second->skipped) {
            skip(d, Problem::kMetaDependsOnSkipped,
                 "meta depends on " + n + ", which was skipped (" +
                     problem_label(it->second->problem) + ")");
            changed = true;
            break;
          }
        }
      }
      if (!changed) {
        changed = find_cycles();
      }
    }
  }

  // Marks every meta on a cycle; returns true when any was found.
  bool find_cycles() {
    std::map<std::string, int> color;  // 0 white, 1 grey, 2 black
    std::vector<std::string> path;
    bool found = false;
    std::function<void(RuleDef*)> visit = [&](RuleDef* d) {
      color[d->name] = 1;
      path.push_back(d->name);
      for (const std::string& n : d->meta.names) {
        RuleDef* dep = by_name_[n];
        if (dep->kind != RuleKind::kMeta || dep->skipped) {
          continue;
        }
        const int c = color[n];
        if (c == 1) {
          auto start = std::find(path.begin(), path.end(), n);
          std::string cyc;
          for (auto it = start; it != path.end(); ++it) {
            cyc += *it + " -> ";
          }
          cyc += n;
          for (auto it = start; it != path.end(); ++it) {
            RuleDef* m = by_name_[*it];
            if (!m->skipped) {
              skip(m, Problem::kMetaCycle, "meta rules form a cycle: " + cyc);
            }
          }
          found = true;
        } else if (c == 0) {
          visit(dep);
        }
      }
      path.pop_back();
      color[d->name] = 2;
    };
    for (RuleDef* d : unique_) {
      if (!d->skipped && d->kind == RuleKind::kMeta && color[d->name] == 0) {
        visit(d);
      }
    }
    return found;
  }

  bool build(std::unique_ptr<scan::Ruleset>* out);

  struct Info {
    double score = 1.0;
    bool has_score = false;
    std::string description;
    bool multiple = false;
    bool nice = false;
    uint16_t max_hits = 255;
  };

  ParsedFiles pf_;
  CompileOptions opts_;
  std::map<std::string, RuleDef*> by_name_;
  std::vector<RuleDef*> unique_;
  std::map<std::string, Info> info_;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
  unsigned undefined_settings_ = 0;
};

bool Compiler::build(std::unique_ptr<scan::Ruleset>* out) {
  scan::Ruleset::Parts parts;
  std::map<std::string, uint32_t> index;
  bool over_limit = false;
  for (RuleDef* d : unique_) {
    if (d->skipped) {
      continue;
    }
    if (parts.rules.size() >= scan::kMaxRules) {
      skip(d, Problem::kTooManyRules,
           "more than " + std::to_string(scan::kMaxRules) + " rules in one set");
      over_limit = true;
      continue;
    }
    const Info& info = info_[d->name];
    scan::Rule r;
    r.name = d->name;
    r.description = info.description;
    r.file = d->file;
    r.line = d->line;
    r.kind = d->kind;
    r.negated = d->negated;
    // SpamAssassin defaults: 1.0, except __subrules (0, never reported) and T_ tests (0.01).
    r.score = info.has_score ? info.score : d->name.starts_with("__") ? 0.0
                                          : d->name.starts_with("T_") ? 0.01
                                                                       : 1.0;
    r.reported = !d->name.starts_with("__") && r.score != 0.0;
    if (info.multiple) {
      if (parts.multiple_count < scan::kMaxMultipleRules) {
        r.multiple = true;
        r.max_hits = info.max_hits;
        r.counter = static_cast<uint16_t>(parts.multiple_count++);
      } else {
        warnings_.push_back(Diagnostic{d->file, d->line, d->name, Problem::kTooManyRules,
                                       "tflags multiple ignored: more than " +
                                           std::to_string(scan::kMaxMultipleRules) +
                                           " multiple rules"});
      }
    }
    index[d->name] = static_cast<uint32_t>(parts.rules.size());
    if (r.negated) {
      parts.negated_rules.push_back(static_cast<uint32_t>(parts.rules.size()));
    }
    parts.rules.push_back(std::move(r));
  }

  if (over_limit) {
    return false;  // metas may refer to the rules cut off: resolve again
  }
  // Metas in dependency order (post-order DFS), kRule operands resolved to rule indexes.
  std::set<std::string> done;
  std::function<void(RuleDef*)> emit = [&](RuleDef* d) {
    if (!done.insert(d->name).second) {
      return;
    }
    for (const std::string& n : d->meta.names) {
      RuleDef* dep = by_name_[n];
      if (dep->kind == RuleKind::kMeta) {
        emit(dep);
      }
    }
    scan::MetaProgram prog;
    prog.rule = index[d->name];
    for (scan::MetaOp op : d->meta.ops) {
      if (op.op == scan::MetaOpCode::kRule) {
        op.rule = index[d->meta.names[op.rule]];
      }
      prog.ops.push_back(op);
    }
    parts.rules[prog.rule].meta = static_cast<uint32_t>(parts.metas.size());
    parts.metas.push_back(std::move(prog));
  };
  for (RuleDef* d : unique_) {
    if (!d->skipped && d->kind == RuleKind::kMeta && index.count(d->name) != 0) {
      emit(d);
    }
  }

  // Group patterns by database.
  std::array<Group, scan::kEnvelopeFieldCount> env;
  std::map<std::string, std::array<Group, scan::kHeaderVariantCount>> headers;
  std::map<std::string, std::vector<uint32_t>> exists;
  Group uri{"uri", HS_MODE_BLOCK, {}};
  std::array<Group, scan::kStreamClassCount> streams;
  static const char* kEnvNames[] = {"envelope helo", "envelope from", "envelope rcpt",
                                    "envelope auth"};
  static const char* kStreamNames[] = {"body", "rawbody", "full", "ALL", "ALL:raw"};
  static const char* kVariantNames[] = {"", ":raw", ":addr", ":name"};
  for (int i = 0; i < scan::kEnvelopeFieldCount; ++i) {
    env[i] = Group{kEnvNames[i], HS_MODE_BLOCK, {}};
  }
  for (int i = 0; i < scan::kStreamClassCount; ++i) {
    streams[i] = Group{kStreamNames[i], HS_MODE_STREAM, {}};
  }
  for (RuleDef* d : unique_) {
    if (d->skipped || index.count(d->name) == 0) {
      continue;
    }
    const uint32_t id = index[d->name];
    const scan::Rule& r = parts.rules[id];
    const unsigned flags = class_flags(*d) | (r.multiple ? 0u : HS_FLAG_SINGLEMATCH);
    const Pattern p{d->regex.pattern, flags, id};
    if (d->kind == RuleKind::kHeader && d->absent_matches) {
      parts.absent_rules.push_back(scan::AbsentRule{id, d->header_names, {}});
    }
    switch (d->kind) {
      case RuleKind::kHeader:
        for (const std::string& h : d->header_names) {
          auto& g = headers[h][static_cast<int>(d->variant)];
          g.label = "header " + h + kVariantNames[static_cast<int>(d->variant)];
          g.mode = HS_MODE_BLOCK;
          g.patterns.push_back(p);
        }
        break;
      case RuleKind::kExists:
        for (const std::string& h : d->header_names) {
          exists[h].push_back(id);
          headers[h];  // the group must exist for lookups
        }
        break;
      case RuleKind::kAllHeaders:
        streams[static_cast<int>(d->all_raw ? scan::StreamClass::kAllHeadersRaw
                                            : scan::StreamClass::kAllHeaders)]
            .patterns.push_back(p);
        break;
      case RuleKind::kBody:
        streams[static_cast<int>(scan::StreamClass::kBody)].patterns.push_back(p);
        break;
      case RuleKind::kRawBody:
        streams[static_cast<int>(scan::StreamClass::kRawBody)].patterns.push_back(p);
        break;
      case RuleKind::kFull:
        streams[static_cast<int>(scan::StreamClass::kFull)].patterns.push_back(p);
        break;
      case RuleKind::kUri:
        uri.patterns.push_back(p);
        break;
      case RuleKind::kEnvelope:
        env[static_cast<int>(d->envelope)].patterns.push_back(p);
        break;
      case RuleKind::kMeta:
        break;
    }
  }

  uint32_t dbs = 0;
  uint32_t cached = 0;
  size_t bytes = 0;
  bool failed = false;
  auto compile = [&](const Group& g, scan::Database* dst) {
    if (g.patterns.empty() || failed) {
      return;
    }
    bool from_cache = false;
    int64_t bad = -1;
    std::string err;
    hs_database_t* db = build_group(g, opts_.cache_dir, &from_cache, &bad, &err);
    if (db == nullptr) {
      failed = true;
      if (bad >= 0) {
        RuleDef* d = by_name_[parts.rules[static_cast<size_t>(bad)].name];
        skip(d, Problem::kHyperscanError, "Hyperscan rejects " + d->regex.source + ": " + err);
      } else {
        // Not attributable to one pattern (resource limits): every rule of the group goes.
        for (const Pattern& p : g.patterns) {
          RuleDef* d = by_name_[parts.rules[p.id].name];
          skip(d, Problem::kHyperscanError,
               "Hyperscan could not build the " + g.label + " database: " + err);
        }
      }
      return;
    }
    *dst = scan::Database(db);
    ++dbs;
    cached += from_cache ? 1 : 0;
    bytes += dst->size_bytes();
  };
  for (int i = 0; i < scan::kEnvelopeFieldCount; ++i) {
    compile(env[i], &parts.envelope[i]);
  }
  if (headers.size() > scan::kMaxHeaderGroups) {
    errors_.push_back(Diagnostic{"", 0, "", Problem::kTooManyRules,
                                 "rules name " + std::to_string(headers.size()) +
                                     " distinct headers; the limit is " +
                                     std::to_string(scan::kMaxHeaderGroups)});
    return true;
  }
  for (auto& [name, groups] : headers) {
    scan::HeaderGroup hg;
    hg.name = name;
    for (int v = 0; v < scan::kHeaderVariantCount; ++v) {
      compile(groups[v], &hg.dbs[v]);
    }
    if (auto it = exists.find(name); it != exists.end()) {
      hg.exists_rules = it->second;
    }
    parts.headers.push_back(std::move(hg));
  }
  compile(uri, &parts.uri);
  for (int i = 0; i < scan::kStreamClassCount; ++i) {
    compile(streams[i], &parts.streams[i]);
  }
  if (failed) {
    return false;  // a rule was skipped: resolve metas again and rebuild
  }
  parts.required_score = pf_.required_score.value_or(scan::kDefaultRequiredScore);
  parts.info.content_hash = pf_.hash_input_digest;
  parts.info.version = std::stoull(pf_.hash_input_digest.substr(0, 16), nullptr, 16);
  parts.info.rule_count = static_cast<uint32_t>(parts.rules.size());
  parts.info.databases = dbs;
  parts.info.databases_from_cache = cached;
  parts.info.database_bytes = bytes;
  try {
    *out = std::make_unique<scan::Ruleset>(std::move(parts), std::max(1u, opts_.worker_count));
  } catch (const std::exception& e) {
    errors_.push_back(Diagnostic{"", 0, "", Problem::kHyperscanError, e.what()});
    out->reset();
  }
  return true;
}

}  // namespace

std::string_view problem_name(Problem p) {
  switch (p) {
#define SMTPGW_X(name, str) \
  case Problem::name:       \
    return str;
    SMTPGW_RULE_PROBLEMS(SMTPGW_X)
#undef SMTPGW_X
    case Problem::kCount:
      break;
  }
  return "unknown";
}

std::string Diagnostic::to_string() const {
  std::string s;
  if (!file.empty()) {
    s += file + ":" + std::to_string(line) + ": ";
  }
  if (!rule.empty()) {
    s += "rule " + rule + ": ";
  }
  s += message;
  return s;
}

CompileResult compile_sources(const std::vector<Source>& sources, const CompileOptions& opts,
                              const std::filesystem::path& base_dir) {
  Parser parser(opts.mode);
  for (const Source& s : sources) {
    parser.parse(s.name, s.text, base_dir);
  }
  Compiler c(parser.finish(), opts);
  return c.run();
}

CompileResult compile_directory(const std::filesystem::path& dir, const CompileOptions& opts) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".cf" && it->is_regular_file()) {
      files.push_back(it->path());
    }
  }
  if (ec) {
    CompileResult r;
    r.errors.push_back(Diagnostic{dir.string(), 0, "", Problem::kIo,
                                  "cannot read rule directory: " + ec.message()});
    return r;
  }
  std::sort(files.begin(), files.end());
  std::vector<Source> sources;
  std::vector<Diagnostic> io_errors;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      io_errors.push_back(Diagnostic{f.string(), 0, "", Problem::kIo, "cannot read file"});
      continue;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    sources.push_back(Source{f.string(), ss.str()});
  }
  CompileResult r = compile_sources(sources, opts, dir);
  if (!io_errors.empty()) {
    r.errors.insert(r.errors.begin(), io_errors.begin(), io_errors.end());
    r.fatal_errors += static_cast<uint32_t>(io_errors.size());
    if (opts.mode == Mode::kStrict) {
      r.ruleset.reset();
    }
  }
  if (files.empty()) {
    r.warnings.push_back(Diagnostic{dir.string(), 0, "", Problem::kIo, "no *.cf files"});
  }
  return r;
}

bool report(const CompileResult& r, Mode mode, std::FILE* out) {
  for (const Diagnostic& d : r.errors) {
    const bool fatal = mode == Mode::kStrict && d.problem != Problem::kPluginBlock;
    std::fprintf(out, "%s: %s [%s]\n", fatal ? "error" : "skipped", d.to_string().c_str(),
                 std::string(problem_name(d.problem)).c_str());
  }
  return mode == Mode::kStrict ? r.ok() : r.ruleset != nullptr;
}

std::string summarize(const CompileResult& r) {
  std::ostringstream o;
  o << "rules defined: " << r.rules_defined << ", compiled: " << r.compiled_rules
    << ", skipped: " << r.skipped_rules << ", errors: " << r.errors.size()
    << ", warnings: " << r.warnings.size() << "\n";
  if (r.ruleset) {
    const scan::RulesetInfo& i = r.ruleset->info();
    o << "ruleset version " << i.content_hash << " (" << i.rule_count << " rules, "
      << i.databases << " databases, " << i.databases_from_cache << " from cache, "
      << i.database_bytes << " bytes), compiled in " << i.compile_seconds << " s, "
      << "required_score " << r.ruleset->required_score() << "\n";
  } else {
    o << "no ruleset produced\n";
  }
  std::map<std::string, unsigned> by_reason;
  for (const Diagnostic& d : r.errors) {
    ++by_reason[std::string(problem_name(d.problem))];
  }
  for (const auto& [reason, n] : by_reason) {
    o << "  " << reason << ": " << n << "\n";
  }
  return o.str();
}

}  // namespace smtpgw::rules
