// A compiled ruleset: immutable once built, shared read-only by every worker.
//
// The compiler (control/rules/compiler.h) produces it; workers depend only on this header
// and scan_context.h. Hyperscan match ids are rule indexes into rules(), so a match maps back
// to its rule without a lookup.
//
// Databases (one per field class; see rules/README.md "How rules are compiled"):
//   envelope  — block mode, one database per envelope field (helo, from, rcpt, auth)
//   headers   — block mode, one database per (header name, variant) where variant is the
//               decoded value, :raw, :addr or :name; a header is scanned only against the
//               patterns written for its name (exact, no per-match filtering)
//   uri       — block mode, one scan per URI
//   body, rawbody, full, ALL, ALL:raw — streaming mode, one stream per message and class
// Per-worker scratch: allocated by the control plane for every database of this ruleset
// (hs_alloc_scratch over all of them, then hs_clone_scratch per worker) and published with
// it. Workers never allocate scratch.
#pragma once

#include <hs/hs.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace smtpgw::scan {

// Bounds of the per-message hit set (fixed-size, so scanning never allocates).
inline constexpr uint32_t kMaxRules = 8192;
inline constexpr uint32_t kMaxMultipleRules = 1024;  // rules with tflags multiple (counters)
inline constexpr uint32_t kMaxMetaStack = 64;         // evaluation depth of one meta rule
inline constexpr uint32_t kMaxHeaderGroups = 4096;     // distinct header names with rules
inline constexpr double kDefaultRequiredScore = 5.0;

enum class RuleKind : uint8_t {
  kHeader,    // header NAME Field =~ /re/ (and :raw, :addr, :name, ToCc, MESSAGEID)
  kExists,    // header NAME exists:Field
  kAllHeaders,  // header NAME ALL =~ /re/ (streaming over "Name: value\n" lines)
  kBody,
  kRawBody,
  kUri,
  kFull,
  kEnvelope,  // envelope NAME from|rcpt|helo|auth =~ /re/ (and header EnvelopeFrom)
  kMeta,
};
std::string_view rule_kind_name(RuleKind k);

struct Rule {
  std::string name;
  std::string description;
  std::string file;  // where it was defined
  int line = 0;
  RuleKind kind = RuleKind::kHeader;
  double score = 1.0;
  bool negated = false;   // `!~`: hits when no instance matched
  bool reported = true;   // false for __SUBRULES and score 0 (evaluated, not listed/scored)
  bool multiple = false;  // tflags multiple: counts matches (up to maxhits)
  uint16_t max_hits = 255;
  uint16_t counter = 0;   // multiple rules: index into the per-message counters
  uint32_t meta = 0;      // kMeta: index into metas()
};

// A meta expression compiled to postfix (RPN) over doubles.
enum class MetaOpCode : uint8_t {
  kConst, kRule,  // push constant / push the rule's value (hit count, 0/1 unless multiple)
  kNot, kNeg,     // unary ! and -
  kAnd, kOr, kAdd, kSub, kMul, kDiv, kLt, kLe, kGt, kGe, kEq, kNe,
};
struct MetaOp {
  MetaOpCode op;
  uint32_t rule = 0;
  double value = 0.0;
};
// A rule a meta reads, with what its value comes from (filled by the Ruleset constructor).
struct MetaInput {
  uint32_t rule = 0;
  int32_t counter = -1;  // tflags multiple: its per-message counter; -1: the rule's hit bit
};
struct MetaProgram {
  uint32_t rule = 0;  // the meta rule this program defines
  std::vector<MetaOp> ops;
  // Filled by the Ruleset constructor: the distinct rules the program reads, and its result when
  // all of them are 0. Most messages hit few rules, so most metas are decided by looking at
  // their inputs, without running the program.
  std::vector<MetaInput> inputs;
  bool zero_hit = false;
  bool zero_ok = true;  // the program evaluates (well-formed, within kMaxMetaStack)
};

// Runs a meta program; value(rule) gives each input's value. Returns false (and leaves *out
// alone) when the program is malformed or deeper than kMaxMetaStack. No allocation; any thread.
template <typename Value>
bool eval_meta(const MetaProgram& m, Value&& value, double* out) {
  double stack[kMaxMetaStack];
  size_t sp = 0;
  for (const MetaOp& op : m.ops) {
    if (op.op == MetaOpCode::kConst || op.op == MetaOpCode::kRule) {
      if (sp >= kMaxMetaStack) {
        return false;
      }
      stack[sp++] = op.op == MetaOpCode::kConst ? op.value : value(op.rule);
      continue;
    }
    if (op.op == MetaOpCode::kNot || op.op == MetaOpCode::kNeg) {
      if (sp < 1) {
        return false;
      }
      stack[sp - 1] = op.op == MetaOpCode::kNot ? (stack[sp - 1] == 0.0 ? 1.0 : 0.0)
                                                : -stack[sp - 1];
      continue;
    }
    if (sp < 2) {
      return false;
    }
    const double b = stack[--sp];
    double& a = stack[sp - 1];
    switch (op.op) {
      case MetaOpCode::kAnd: a = (a != 0.0 && b != 0.0) ? 1.0 : 0.0; break;
      case MetaOpCode::kOr: a = (a != 0.0 || b != 0.0) ? 1.0 : 0.0; break;
      case MetaOpCode::kAdd: a = a + b; break;
      case MetaOpCode::kSub: a = a - b; break;
      case MetaOpCode::kMul: a = a * b; break;
      case MetaOpCode::kDiv: a = b == 0.0 ? 0.0 : a / b; break;
      case MetaOpCode::kLt: a = a < b ? 1.0 : 0.0; break;
      case MetaOpCode::kLe: a = a <= b ? 1.0 : 0.0; break;
      case MetaOpCode::kGt: a = a > b ? 1.0 : 0.0; break;
      case MetaOpCode::kGe: a = a >= b ? 1.0 : 0.0; break;
      case MetaOpCode::kEq: a = a == b ? 1.0 : 0.0; break;
      case MetaOpCode::kNe: a = a != b ? 1.0 : 0.0; break;
      default: break;
    }
  }
  if (sp != 1) {
    return false;
  }
  *out = stack[0];
  return true;
}

// Which stream classes exist (index into Ruleset::streams()).
enum class StreamClass : uint8_t { kBody, kRawBody, kFull, kAllHeaders, kAllHeadersRaw };
inline constexpr int kStreamClassCount = 5;

enum class EnvelopeField : uint8_t { kHelo, kFrom, kRcpt, kAuth };
inline constexpr int kEnvelopeFieldCount = 4;

enum class HeaderVariant : uint8_t { kValue, kRaw, kAddr, kName };
inline constexpr int kHeaderVariantCount = 4;

// Owns one Hyperscan database (null when the class has no rules).
class Database {
 public:
  Database() = default;
  explicit Database(hs_database_t* db) : db_(db) {}
  Database(Database&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Database& operator=(Database&& o) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();
  hs_database_t* get() const { return db_; }
  explicit operator bool() const { return db_ != nullptr; }
  size_t size_bytes() const;

 private:
  hs_database_t* db_ = nullptr;
};

// A header rule whose pattern matches the value an absent header stands for (SpamAssassin
// matches a missing header as "" or as its [if-unset: VALUE]): at end of message, when none of
// `headers` was seen, the rule counts as matched.
struct AbsentRule {
  uint32_t rule = 0;
  std::vector<std::string> headers;  // lower case
  std::vector<uint32_t> groups;      // indexes into header_groups(), filled by Ruleset
};

struct HeaderGroup {
  std::string name;  // lower case header name
  std::array<Database, kHeaderVariantCount> dbs;
  std::vector<uint32_t> exists_rules;  // exists:Name rules
};

// Summary of what was compiled (printed by `smtpgw rules check`, logged on publish).
struct RulesetInfo {
  std::string content_hash;   // hex, over every source file's name and bytes
  uint64_t version = 0;       // first 64 bits of the content hash (a short id for logs)
  uint32_t rule_count = 0;    // rules compiled (including __subrules and metas)
  uint32_t skipped_count = 0; // rules skipped in lenient mode (their reasons: compiler result)
  double compile_seconds = 0.0;
  uint32_t databases = 0;
  uint32_t databases_from_cache = 0;
  size_t database_bytes = 0;
};

// Everything the compiler fills in. Workers see it only through const Ruleset.
class Ruleset {
 public:
  struct Parts {
    RulesetInfo info;
    double required_score = kDefaultRequiredScore;
    std::vector<Rule> rules;
    std::vector<MetaProgram> metas;          // in evaluation (topological) order
    std::vector<uint32_t> negated_rules;     // `!~` rules (hit = not matched)
    std::vector<AbsentRule> absent_rules;
    std::array<Database, kEnvelopeFieldCount> envelope;
    std::vector<HeaderGroup> headers;        // sorted by name
    Database uri;
    std::array<Database, kStreamClassCount> streams;
    uint32_t multiple_count = 0;
  };

  // Allocates one scratch per worker over every database (control plane only).
  // Throws std::runtime_error with Hyperscan's message when scratch allocation fails.
  Ruleset(Parts parts, unsigned worker_count);
  ~Ruleset();
  Ruleset(const Ruleset&) = delete;
  Ruleset& operator=(const Ruleset&) = delete;

  const RulesetInfo& info() const { return p_.info; }
  double required_score() const { return p_.required_score; }
  const std::vector<Rule>& rules() const { return p_.rules; }
  const std::vector<MetaProgram>& metas() const { return p_.metas; }
  const std::vector<uint32_t>& negated_rules() const { return p_.negated_rules; }
  const std::vector<AbsentRule>& absent_rules() const { return p_.absent_rules; }
  const Database& envelope(EnvelopeField f) const { return p_.envelope[static_cast<int>(f)]; }
  const Database& uri() const { return p_.uri; }
  const Database& stream(StreamClass c) const { return p_.streams[static_cast<int>(c)]; }
  const std::vector<HeaderGroup>& header_groups() const { return p_.headers; }
  uint32_t multiple_count() const { return p_.multiple_count; }
  // The group for a header name (case-insensitive), or nullptr. O(log groups), no allocation.
  const HeaderGroup* find_header(std::string_view name) const;
  // The scratch of one worker (worker < worker_count()); only that worker may use it.
  hs_scratch_t* scratch(unsigned worker) const { return scratch_[worker]; }
  unsigned worker_count() const { return static_cast<unsigned>(scratch_.size()); }

  // Index of a rule by exact name, or -1 (control plane / tests; O(log n)).
  int64_t find_rule(std::string_view name) const;

 private:
  Parts p_;
  std::vector<hs_scratch_t*> scratch_;
  std::vector<uint32_t> by_name_;  // rule indexes sorted by name
};

}  // namespace smtpgw::scan
