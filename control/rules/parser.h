// Rule files → rule definitions and settings (internal to the compiler). Handles comments,
// include, if/ifplugin/else/endif, and every directive; reports problems as Diagnostics.
// Control plane only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "control/rules/compiler.h"
#include "control/rules/meta.h"
#include "control/rules/regex.h"
#include "dataplane/scan/ruleset.h"

namespace smtpgw::rules {

struct RuleDef {
  std::string name;
  scan::RuleKind kind = scan::RuleKind::kHeader;
  std::string file;
  int line = 0;
  Regex regex;                            // pattern rules
  bool negated = false;                   // `!~`
  std::vector<std::string> header_names;  // lower case; kHeader, kExists
  scan::HeaderVariant variant = scan::HeaderVariant::kValue;
  bool all_raw = false;                   // kAllHeaders over raw values
  scan::EnvelopeField envelope = scan::EnvelopeField::kFrom;
  MetaExpr meta;                          // kMeta
  std::optional<std::string> if_unset;    // header rules: [if-unset: VALUE]
  bool allow_empty = false;               // the pattern can match an empty string
  bool absent_matches = false;            // header absent → matches ("" or if-unset value)
  // Set when the rule cannot be compiled (lenient: skipped; strict: an error).
  bool skipped = false;
  Problem problem = Problem::kSyntax;
  std::string reason;
};

struct Setting {
  enum class Kind : uint8_t { kScore, kDescribe, kTflags } kind;
  std::string rule;
  std::string file;
  int line = 0;
  std::string text;  // describe text / tflags list
  double score = 0.0;
};

struct ParsedFiles {
  std::vector<RuleDef> rules;        // every definition seen, in order (active ones and
                                     // those skipped for a reason, including plugin blocks)
  std::vector<Setting> settings;     // score/describe/tflags in order
  std::optional<double> required_score;
  std::set<std::string> replace_rules;
  // ReplaceTags: replace_tag / replace_pre / replace_inter / replace_post, by name.
  std::map<std::string, std::string> replace_tags, replace_pre, replace_inter, replace_post;
  std::string replace_start = "<";
  std::string replace_end = ">";
  std::vector<Diagnostic> errors;    // line-level errors not tied to a rule definition
  std::vector<Diagnostic> warnings;
  std::string hash_input_digest;     // content hash (hex) over file names and bytes
};

class Parser {
 public:
  explicit Parser(Mode mode) : mode_(mode) {}
  // Parses one file's text. `base_dir` resolves include (empty: include is an error).
  void parse(const std::string& name, std::string_view text,
             const std::filesystem::path& base_dir, int depth = 0);
  ParsedFiles finish();

 private:
  struct Block {
    bool active;        // this branch is taken
    bool parent_active;
    std::string why;    // the condition text, for kPluginBlock reasons
  };
  void parse_line(const std::string& file, int line, std::string_view text,
                  const std::filesystem::path& base_dir, int depth);
  bool active() const { return blocks_.empty() || blocks_.back().active; }
  void error(const std::string& file, int line, const std::string& rule, Problem p,
             std::string msg);
  void warn(const std::string& file, int line, const std::string& rule, Problem p,
            std::string msg);
  void define(RuleDef def);
  bool eval_condition(std::string_view cond, bool* ok);

  Mode mode_;
  ParsedFiles out_;
  std::vector<Block> blocks_;
  std::set<std::string> include_stack_;
  std::map<std::string, unsigned> ignored_directives_;
  unsigned __int128 hash_ = 0;
  bool hash_started_ = false;
};

// FNV-1a 128-bit over bytes (stable across runs and hosts: names the cache and the version).
unsigned __int128 fnv128(std::string_view bytes, unsigned __int128 h);
unsigned __int128 fnv128_init();
std::string hex128(unsigned __int128 v);

}  // namespace smtpgw::rules
