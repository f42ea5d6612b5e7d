// The shipped rule set (rules/*.cf) against its test messages (tests/data/rules/).
//
// What this proves:
// - the shipped set compiles in strict mode with no error, has at least 150 scored rules of its
//   own, required_score 5.0 and GTUBE at 1000;
// - every scored rule has a positive and a negative message, and every message names a rule;
// - every rule hits its positive message and misses its negative one, through the real pipeline
//   (envelope fields, mime::Decoder over the message bytes, scan::ScanContext);
// - the verdict does not depend on how the message bytes are split into chunks;
// - clean mail (newsletter with List-Unsubscribe, personal, transactional) stays well below
//   required_score, and GTUBE and typical phishing/scam samples are spam.
// Message file format: tests/data/rules/README.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "control/rules/compiler.h"
#include "dataplane/mime/decoder.h"
#include "dataplane/scan/ruleset.h"
#include "dataplane/scan/scan_context.h"

namespace {

namespace fs = std::filesystem;
using smtpgw::Field;
using smtpgw::FieldKind;

#ifndef SMTPGW_SOURCE_ROOT
#error "SMTPGW_SOURCE_ROOT must be defined by the build"
#endif

const fs::path kRulesDir = fs::path(SMTPGW_SOURCE_ROOT) / "rules";
const fs::path kDataDir = fs::path(SMTPGW_SOURCE_ROOT) / "tests" / "data" / "rules";
const fs::path kVerdictDir = kDataDir / "verdict";

constexpr int kMinScoredRules = 150;
// "Well below" the threshold: clean samples must stay under half of required_score.
constexpr double kCleanMargin = 0.5;

// A test message: envelope from the X-Test-Envelope-* lines at the top, content with CRLF.
struct TestMessage {
  std::string helo = "mail.example.org";
  std::string from = "sender@example.org";
  std::vector<std::string> rcpts;
  std::string auth;  // empty: no AUTH
  std::string content;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TestMessage load_message(const fs::path& p) {
  TestMessage m;
  const std::string text = read_file(p);
  size_t pos = 0;
  constexpr std::string_view kPrefix = "X-Test-Envelope-";
  while (pos < text.size() && std::string_view(text).substr(pos).starts_with(kPrefix)) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) {
      eol = text.size();
    }
    std::string line = text.substr(pos + kPrefix.size(), eol - pos - kPrefix.size());
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    const size_t colon = line.find(':');
    std::string key = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (value == "<>") {
      value.clear();  // the null sender
    }
    if (key == "Helo") {
      m.helo = value;
    } else if (key == "From") {
      m.from = value;
    } else if (key == "Rcpt") {
      m.rcpts.push_back(value);
    } else if (key == "Auth") {
      m.auth = value;
    } else {
      ADD_FAILURE() << p << ": unknown envelope line X-Test-Envelope-" << key;
    }
    pos = eol + 1;
  }
  if (m.rcpts.empty()) {
    m.rcpts.emplace_back("rcpt@example.net");
  }
  // Messages are stored with LF; SMTP carries CRLF.
  m.content.reserve(text.size() + text.size() / 16);
  for (size_t i = pos; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
      m.content.push_back('\r');
    }
    m.content.push_back(text[i]);
  }
  return m;
}

struct ScanResult {
  bool valid = false;
  bool spam = false;
  double score = 0.0;
  std::set<std::string> rules;

  std::string describe() const {
    std::ostringstream os;
    os << "score " << score << (spam ? " (spam)" : " (ham)") << ", rules:";
    for (const std::string& r : rules) {
      os << ' ' << r;
    }
    return os.str();
  }
};

// Runs one message through envelope → mime::Decoder → scan::ScanContext, feeding the content
// in chunks of `chunk` bytes (0: all at once).
ScanResult scan_message(const smtpgw::scan::Ruleset& rs, const TestMessage& m, size_t chunk = 0) {
  smtpgw::scan::ScanContext ctx(rs);
  smtpgw::mime::Decoder decoder(ctx);
  ctx.begin_message();
  ctx.field(Field{FieldKind::kEnvelopeHelo, {}, m.helo, {}});
  if (!m.auth.empty()) {
    ctx.field(Field{FieldKind::kEnvelopeAuth, {}, m.auth, {}});
  }
  ctx.field(Field{FieldKind::kEnvelopeFrom, {}, m.from, {}});
  for (const std::string& r : m.rcpts) {
    ctx.field(Field{FieldKind::kEnvelopeRcpt, {}, r, {}});
  }
  decoder.begin_content();
  std::string_view rest = m.content;
  const size_t step = chunk == 0 ? rest.size() : chunk;
  while (!rest.empty()) {
    const size_t n = std::min(step, rest.size());
    decoder.content(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  decoder.end_content();
  ctx.end_message();

  ScanResult r;
  const smtpgw::scan::Verdict& v = ctx.verdict();
  r.valid = v.valid;
  r.spam = v.spam;
  r.score = v.score;
  for (uint32_t idx : v.rules) {
    r.rules.emplace(ctx.rule_name(idx));
  }
  EXPECT_EQ(v.rule_count, v.rules.size()) << "verdict rule list truncated";
  return r;
}

// The shipped set, compiled once for the whole binary.
class ShippedSet {
 public:
  static const smtpgw::rules::CompileResult& get() {
    static const smtpgw::rules::CompileResult result = [] {
      smtpgw::rules::CompileOptions opts;
      opts.mode = smtpgw::rules::Mode::kStrict;
      return smtpgw::rules::compile_directory(kRulesDir, opts);
    }();
    return result;
  }
  static const smtpgw::scan::Ruleset* ruleset() { return get().ruleset.get(); }
};

bool is_scored(const smtpgw::scan::Rule& r) { return r.reported && r.score != 0.0; }

// Rule names that have a .pos.eml message (the parameter list of the per-rule test).
std::vector<std::string> rules_with_messages() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kDataDir, ec)) {
    const std::string f = e.path().filename().string();
    constexpr std::string_view kPos = ".pos.eml";
    if (f.size() > kPos.size() && f.ends_with(kPos)) {
      names.push_back(f.substr(0, f.size() - kPos.size()));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ShippedRuleset, CompilesStrictWithoutErrors) {
  const auto& r = ShippedSet::get();
  for (const auto& d : r.errors) {
    ADD_FAILURE() << d.to_string();
  }
  ASSERT_TRUE(r.ok()) << "strict compile of " << kRulesDir << " failed";
  std::printf("%s", smtpgw::rules::summarize(r).c_str());
  EXPECT_EQ(r.skipped_rules, 0u);
}

TEST(ShippedRuleset, HasEnoughScoredRulesAndTheThreshold) {
  const auto* rs = ShippedSet::ruleset();
  ASSERT_NE(rs, nullptr);
  int scored = 0;
  for (const auto& rule : rs->rules()) {
    if (is_scored(rule)) {
      ++scored;
      EXPECT_FALSE(rule.description.empty()) << rule.name << " has no describe line";
    }
  }
  std::printf("scored rules: %d of %zu\n", scored, rs->rules().size());
  EXPECT_GE(scored, kMinScoredRules);
  EXPECT_DOUBLE_EQ(rs->required_score(), 5.0);
  const int64_t gtube = rs->find_rule("GTUBE");
  ASSERT_GE(gtube, 0);
  EXPECT_DOUBLE_EQ(rs->rules()[static_cast<size_t>(gtube)].score, 1000.0);
}

TEST(ShippedRuleset, NiceRulesHaveNegativeScores) {
  const auto* rs = ShippedSet::ruleset();
  ASSERT_NE(rs, nullptr);
  int nice = 0;
  for (const auto& rule : rs->rules()) {
    if (rule.name.starts_with("NICE_")) {
      ++nice;
      EXPECT_LT(rule.score, 0.0) << rule.name;
    } else if (rule.reported) {
      EXPECT_GT(rule.score, 0.0) << rule.name << ": only NICE_ rules may lower the score";
    }
  }
  EXPECT_GE(nice, 3);
}

TEST(ShippedRuleset, EveryScoredRuleHasBothMessagesAndNoMessageIsOrphaned) {
  const auto* rs = ShippedSet::ruleset();
  ASSERT_NE(rs, nullptr);
  for (const auto& rule : rs->rules()) {
    if (!is_scored(rule)) {
      continue;
    }
    EXPECT_TRUE(fs::exists(kDataDir / (rule.name + ".pos.eml"))) << rule.name << ": no .pos.eml";
    EXPECT_TRUE(fs::exists(kDataDir / (rule.name + ".neg.eml"))) << rule.name << ": no .neg.eml";
  }
  for (const auto& e : fs::directory_iterator(kDataDir)) {
    const std::string f = e.path().filename().string();
    if (!f.ends_with(".eml")) {
      continue;
    }
    const std::string name = f.substr(0, f.find('.'));
    const int64_t idx = rs->find_rule(name);
    EXPECT_TRUE(idx >= 0 && is_scored(rs->rules()[static_cast<size_t>(idx)]))
        << f << " names no scored rule";
    EXPECT_TRUE(f.ends_with(".pos.eml") || f.ends_with(".neg.eml")) << f;
  }
}

class RuleMessages : public ::testing::TestWithParam<std::string> {};

TEST_P(RuleMessages, PositiveHitsNegativeMisses) {
  const auto* rs = ShippedSet::ruleset();
  ASSERT_NE(rs, nullptr) << "shipped set did not compile";
  const std::string& name = GetParam();
  ASSERT_GE(rs->find_rule(name), 0) << name << " is not a rule of the shipped set";

  const ScanResult pos = scan_message(*rs, load_message(kDataDir / (name + ".pos.eml")));
  ASSERT_TRUE(pos.valid);
  EXPECT_TRUE(pos.rules.count(name)) << name << ".pos.eml does not hit " << name << "; "
                                     << pos.describe();

  const fs::path neg_path = kDataDir / (name + ".neg.eml");
  ASSERT_TRUE(fs::exists(neg_path)) << neg_path;
  const ScanResult neg = scan_message(*rs, load_message(neg_path));
  ASSERT_TRUE(neg.valid);
  EXPECT_FALSE(neg.rules.count(name)) << name << ".neg.eml hits " << name << "; "
                                      << neg.describe();
  if (std::getenv("RULESET_TEST_VERBOSE") != nullptr) {
    std::printf("%s.pos: %s\n%s.neg: %s\n", name.c_str(), pos.describe().c_str(), name.c_str(),
                neg.describe().c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(Shipped, RuleMessages, ::testing::ValuesIn(rules_with_messages()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// The decoder and the scanner stream: a message split into odd-sized pieces must give the same
// hits as the whole message (body rules spanning chunk boundaries, headers split mid-line).
TEST(ShippedRuleset, VerdictDoesNotDependOnChunking) {
  const auto* rs = ShippedSet::ruleset();
  ASSERT_NE(rs, nullptr);
  int checked = 0;
  for (const auto& e : fs::directory_iterator(kDataDir)) {
    if (e.path().extension() != ".eml") {
      continue;
    }
    const TestMessage m = load_message(e.path());
    const ScanResult whole = scan_message(*rs, m);
    for (size_t chunk : {1u, 7u, 64u}) {
      const ScanResult split = scan_message(*rs, m, chunk);
      EXPECT_EQ(whole.rules, split.rules)
          << e.path().filename() << " in chunks of " << chunk << ": " << split.describe()
          << " vs whole: " << whole.describe();
      EXPECT_DOUBLE_EQ(whole.score, split.score) << e.path().filename();
    }
    ++checked;
  }
  EXPECT_GT(checked, 2 * kMinScoredRules);
}

// SpamAssassin joins the lines of a paragraph before body rules run (whitespace runs become one
// space), so its phrase rules, and ours, are written with plain spaces. A phrase that a text/plain
// mailer wrapped across two lines must still hit (scan/paragraphs.h).
TEST(ShippedRuleset, BodyPhrasesWrappedAcrossLines) {
  const auto* rs = ShippedSet::ruleset();
  ASSERT_NE(rs, nullptr);
  TestMessage m;
  m.rcpts.emplace_back("user@example.net");
  const std::string text =
      "From: Mail Service <service@mailcenter.example.top>\n"
      "To: user@example.net\n"
      "Subject: Action needed\n"
      "Date: Tue, 24 Nov 2026 13:00:00 +0000\n"
      "Message-ID: <wrap-1@mailcenter.example.top>\n"
      "MIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "We could not process your last sign-in. Please verify your\n"
      "account to keep using mail. Your mailbox is\n"
      "full.\n";
  for (char c : text) {
    if (c == '\n') {
      m.content.push_back('\r');
    }
    m.content.push_back(c);
  }
  const ScanResult r = scan_message(*rs, m);
  ASSERT_TRUE(r.valid);
  EXPECT_TRUE(r.rules.count("PHISH_VERIFY_ACCOUNT")) << r.describe();
  EXPECT_TRUE(r.rules.count("PHISH_MAILBOX_FULL")) << r.describe();
}

// Samples in tests/data/rules/verdict/: ham_*.eml must be well below the threshold, spam_*.eml
// at or above it. Each sample's score and rules are printed (they document the balance).
TEST(ShippedRuleset, CleanMailIsHamAndSpamSamplesAreSpam) {
  const auto* rs = ShippedSet::ruleset();
  ASSERT_NE(rs, nullptr);
  int ham = 0;
  int spam = 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kVerdictDir)) {
    if (e.path().extension() == ".eml") {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    const std::string f = p.filename().string();
    const ScanResult r = scan_message(*rs, load_message(p));
    ASSERT_TRUE(r.valid) << f;
    std::printf("%-34s %s\n", f.c_str(), r.describe().c_str());
    if (f.starts_with("ham_")) {
      ++ham;
      EXPECT_FALSE(r.spam) << f << ": " << r.describe();
      EXPECT_LT(r.score, rs->required_score() * kCleanMargin) << f << ": " << r.describe();
    } else if (f.starts_with("spam_")) {
      ++spam;
      EXPECT_TRUE(r.spam) << f << ": " << r.describe();
    } else {
      ADD_FAILURE() << f << ": verdict samples are named ham_* or spam_*";
    }
  }
  EXPECT_GE(ham, 3);
  EXPECT_GE(spam, 2);
}

}  // namespace
