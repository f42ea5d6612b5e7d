// Parser and compiler: every directive, every error with its exact message, strict vs lenient.
#include <gtest/gtest.h>

#include <hs/hs.h>

#include <filesystem>
#include <fstream>

#include "control/rules/compiler.h"
#include "control/rules/meta.h"
#include "control/rules/regex.h"
#include "dataplane/scan/scan_context.h"

namespace smtpgw::rules {
namespace {

CompileResult compile(const std::string& text, Mode mode = Mode::kStrict) {
  CompileOptions o;
  o.mode = mode;
  return compile_sources({Source{"t.cf", text}}, o);
}

std::string first_error(const CompileResult& r) {
  return r.errors.empty() ? std::string("<none>") : r.errors.front().to_string();
}

TEST(RegexTest, FlagsMapToHyperscan) {
  std::string_view rest;
  RegexError err;
  auto r = parse_regex("/abc/ism", &rest, &err);
  ASSERT_TRUE(r) << err.message;
  EXPECT_EQ(r->pattern, "abc");
  EXPECT_EQ(r->hs_flags, unsigned{HS_FLAG_CASELESS | HS_FLAG_DOTALL | HS_FLAG_MULTILINE});
  auto m = parse_regex("m{a{2}b}i [if-unset: x]", &rest, &err);
  ASSERT_TRUE(m) << err.message;
  EXPECT_EQ(m->pattern, "a{2}b");
  EXPECT_EQ(rest, "[if-unset: x]");
  auto bang = parse_regex("m!a/b!", &rest, &err);
  ASSERT_TRUE(bang);
  EXPECT_EQ(bang->pattern, "a/b");
}

TEST(RegexTest, ExtendedFlagStripsWhitespaceAndComments) {
  std::string_view rest;
  RegexError err;
  auto r = parse_regex("/ a b  # comment\n [ x] c /x", &rest, &err);
  ASSERT_TRUE(r) << err.message;
  EXPECT_EQ(r->pattern, "ab[ x]c");
}

TEST(RegexTest, MalformedLiterals) {
  std::string_view rest;
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"/abc", "unterminated regex (no closing '/')"},
      {"abc", "expected a regex literal /.../ or m{...}"},
      {"/abc/q", "unknown regex flag 'q'"},
      {"//", "empty regex"},
  };
  for (const Case& c : cases) {
    RegexError err;
    EXPECT_FALSE(parse_regex(c.text, &rest, &err)) << c.text;
    EXPECT_EQ(err.message, c.message) << c.text;
    EXPECT_FALSE(err.unsupported);
  }
}

TEST(RegexTest, PerlOnlyConstructsAreNamed) {
  struct Case {
    const char* pattern;
    const char* what;
  } cases[] = {
      {"(a)\\1", "backreference \\1 at offset 3"},
      {"\\k<x>", "backreference \\k at offset 0"},
      {"foo(?=bar)", "lookahead (?=...) at offset 3"},
      {"foo(?!bar)", "negative lookahead (?!...) at offset 3"},
      {"(?<=a)b", "lookbehind (?<=...) at offset 0"},
      {"(?<!a)b", "negative lookbehind (?<!...) at offset 0"},
      {"\\Gab", "\\G (previous match anchor) at offset 0"},
      {"(?>ab)", "atomic group (?>...) at offset 0"},
      {"a++", "possessive quantifier at offset 2"},
      {"a{2}+", "possessive quantifier at offset 4"},
      {"(?(1)a|b)", "conditional (?(...)...) at offset 0"},
      {"(?R)", "recursion or subroutine call at offset 0"},
      {"(*SKIP)a", "backtracking control verb (*...) at offset 0"},
      {"ab\\K", "\\K (match start reset) at offset 2"},
  };
  for (const Case& c : cases) {
    auto u = find_unsupported(c.pattern);
    ASSERT_TRUE(u) << c.pattern;
    EXPECT_EQ(*u, c.what) << c.pattern;
  }
  // Things Hyperscan does run are not flagged.
  for (const char* ok : {"[\\1]", "(?i)abc", "(?:a|b)+?", "(?<name>x)", "a+?", "\\Qa+\\E",
                         "(?-i)x", "a\\+\\+"}) {
    EXPECT_FALSE(find_unsupported(ok)) << ok;
  }
}

TEST(MetaTest, ParsesPerlPrecedence) {
  std::string err;
  auto m = parse_meta("A && !B || (C + D > 1)", &err);
  ASSERT_TRUE(m) << err;
  EXPECT_EQ(m->names, (std::vector<std::string>{"A", "B", "C", "D"}));
  EXPECT_FALSE(parse_meta("A &&", &err));
  EXPECT_EQ(err, "missing operand at end of expression");
  EXPECT_FALSE(parse_meta("(A || B", &err));
  EXPECT_EQ(err, "unbalanced '(' at offset 0");
  EXPECT_FALSE(parse_meta("A $ B", &err));
  EXPECT_EQ(err, "unexpected '$' at offset 2");
}

TEST(CompilerTest, EveryDirectiveCompiles) {
  auto r = compile(R"(# comment line
required_score 6.5
header H_SUBJ Subject =~ /hello/i
header H_RAW Subject:raw =~ /=\?utf-8\?/i
header H_ADDR From:addr =~ /@example\.com$/
header H_NAME From:name =~ /^Bob/
header H_NEG X-Mailer !~ /good/
header H_EX exists:List-Unsubscribe
header H_ALL ALL =~ /^X-Foo: bar$/m
header H_TOCC ToCc =~ /victim/
header H_MID MESSAGEID =~ /@spam/
header H_ENVF EnvelopeFrom =~ /bounce/
body B_TEXT /free   money/
rawbody R_TEXT /<html>/i
uri U_SHORT /bit\.ly/
full F_TEXT /^Received: from evil/m
envelope E_FROM from =~ /@spam\.example$/
envelope E_RCPT rcpt =~ /victim/
envelope E_HELO helo =~ /localhost/
envelope E_AUTH auth =~ /^bob$/
meta M_ANY (H_SUBJ || B_TEXT) && !H_EX
meta M_SUM (H_SUBJ + B_TEXT + U_SHORT) >= 2
score H_SUBJ 2.5
score B_TEXT 0 1 2 3
score H_NEG -1
describe H_SUBJ Subject says hello
tflags H_NEG nice
tflags U_SHORT multiple maxhits=3
tflags B_TEXT net
lang de describe H_SUBJ Betreff
ifplugin Mail::SpamAssassin::Plugin::Foo
body IN_PLUGIN /x/
endif
if (version >= 3.004000)
body IN_IF /yyy/
endif
if can(Mail::SpamAssassin::Conf::feature_x)
body IN_CAN /zzz/
else
body IN_ELSE /www/
endif
)");
  ASSERT_TRUE(r.ruleset) << first_error(r);
  EXPECT_TRUE(r.ok());
  // Rules in false blocks are listed (plugin_block) but do not fail strict mode.
  ASSERT_EQ(r.errors.size(), 2u) << first_error(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "t.cf:32: rule IN_PLUGIN: inside a block whose condition is false here (ifplugin "
            "Mail::SpamAssassin::Plugin::Foo: plugin not available)");
  EXPECT_EQ(r.errors[1].problem, Problem::kPluginBlock);
  EXPECT_EQ(r.errors[1].rule, "IN_CAN");
  EXPECT_EQ(r.fatal_errors, 0u);
  const auto& rs = *r.ruleset;
  EXPECT_GE(rs.find_rule("IN_IF"), 0);
  EXPECT_GE(rs.find_rule("IN_ELSE"), 0);
  EXPECT_LT(rs.find_rule("IN_PLUGIN"), 0);
  EXPECT_DOUBLE_EQ(rs.required_score(), 6.5);
  EXPECT_DOUBLE_EQ(rs.rules()[rs.find_rule("H_SUBJ")].score, 2.5);
  EXPECT_EQ(rs.rules()[rs.find_rule("H_SUBJ")].description, "Subject says hello");
  EXPECT_DOUBLE_EQ(rs.rules()[rs.find_rule("B_TEXT")].score, 0.0);
  EXPECT_TRUE(rs.rules()[rs.find_rule("U_SHORT")].multiple);
  EXPECT_EQ(rs.rules()[rs.find_rule("U_SHORT")].max_hits, 3);
  EXPECT_TRUE(rs.rules()[rs.find_rule("H_NEG")].negated);
  EXPECT_EQ(rs.rules()[rs.find_rule("H_ENVF")].kind, scan::RuleKind::kEnvelope);
  EXPECT_EQ(rs.rules()[rs.find_rule("H_ALL")].kind, scan::RuleKind::kAllHeaders);
  EXPECT_EQ(rs.rules()[rs.find_rule("M_SUM")].kind, scan::RuleKind::kMeta);
  bool net_note = false;
  for (const Diagnostic& w : r.warnings) {
    net_note |= w.rule == "B_TEXT" && w.message == "tflags net ignored (no network tests here)";
  }
  EXPECT_TRUE(net_note);
}

TEST(CompilerTest, StrictRejectsAndLenientSkips) {
  const std::string text = R"(header OK Subject =~ /ok/
body BAD /(?=x)y/
meta NEEDS_BAD BAD && OK
)";
  auto strict = compile(text);
  EXPECT_FALSE(strict.ruleset);
  auto lenient = compile(text, Mode::kLenient);
  ASSERT_TRUE(lenient.ruleset);
  EXPECT_EQ(lenient.ruleset->rules().size(), 1u);
  EXPECT_EQ(lenient.skipped_rules, 2u);
  ASSERT_EQ(lenient.errors.size(), 2u);
  EXPECT_EQ(lenient.errors[0].to_string(),
            "t.cf:2: rule BAD: Perl-only construct not supported by Hyperscan: lookahead (?=...) "
            "at offset 0");
  EXPECT_EQ(lenient.errors[1].to_string(),
            "t.cf:3: rule NEEDS_BAD: meta depends on BAD, which was skipped (unsupported_regex)");
}

struct ErrorCase {
  const char* name;
  const char* text;
  Problem problem;
  const char* message;  // Diagnostic::to_string()
};

class CompilerErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(CompilerErrorTest, ExactMessage) {
  const ErrorCase& c = GetParam();
  auto r = compile(c.text);
  EXPECT_FALSE(r.ruleset);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors.front().problem, c.problem) << first_error(r);
  EXPECT_EQ(r.errors.front().to_string(), c.message);
}

const ErrorCase kErrors[] = {
    {"duplicate", "body A /x/\nbody A /y/\n", Problem::kDuplicateRule,
     "t.cf:2: rule A: duplicate rule name (first defined at t.cf:1)"},
    {"unknown_envelope", "envelope E size =~ /x/\n", Problem::kUnknownField,
     "t.cf:1: rule E: unknown envelope field 'size' (from, rcpt, helo or auth)"},
    {"unknown_modifier", "header H From:host =~ /x/\n", Problem::kUnknownField,
     "t.cf:1: rule H: unknown header modifier ':host' (raw, addr or name)"},
    {"pseudo_header", "header H X-Spam-Relays-External =~ /x/\n", Problem::kUnknownField,
     "t.cf:1: rule H: pseudo-header 'X-Spam-Relays-External' needs SpamAssassin's relay "
     "analysis; not available"},
    {"meta_unknown", "meta M A && B\nbody A /x/\n", Problem::kUnknownRule,
     "t.cf:1: rule M: meta refers to unknown rule B"},
    {"meta_cycle", "meta M1 M2\nmeta M2 M1\n", Problem::kMetaCycle,
     "t.cf:1: rule M1: meta rules form a cycle: M1 -> M2 -> M1"},
    {"meta_syntax", "meta M (A\n", Problem::kMetaSyntax,
     "t.cf:1: rule M: bad meta expression: unbalanced '(' at offset 0"},
    {"bad_flag", "body B /x/z\n", Problem::kBadRegex, "t.cf:1: rule B: unknown regex flag 'z'"},
    {"backref", "body B /(a)\\1/\n", Problem::kUnsupportedRegex,
     "t.cf:1: rule B: Perl-only construct not supported by Hyperscan: backreference \\1 at "
     "offset 3"},
    {"hyperscan", "body B /a{2,1}/\n", Problem::kHyperscanError,
     "t.cf:1: rule B: Hyperscan rejects /a{2,1}/: Invalid repeat at index 1."},
    {"empty_match_multiple", "body B /a*/\ntflags B multiple\n", Problem::kHyperscanError,
     "t.cf:1: rule B: pattern /a*/ can match the empty string; with tflags multiple it would "
     "count every position"},
    {"bad_option", "header H Subject =~ /x/ [if-set: y]\n", Problem::kUnsupportedOption,
     "t.cf:1: rule H: option '[if-set: y]' is not supported"},
    {"eval", "body B eval:check_foo()\n", Problem::kEvalRule,
     "t.cf:1: rule B: eval test 'eval:check_foo' runs Perl code; not supported"},
    {"unsupported_type", "mimeheader M Content-Type =~ /x/\n", Problem::kUnsupportedRuleType,
     "t.cf:1: rule M: rule type 'mimeheader' is not supported"},
    {"bad_op", "header H Subject == /x/\n", Problem::kSyntax,
     "t.cf:1: rule H: expected =~ or !~ after 'Subject', got '=='"},
    {"trailing", "body B /x/ junk\n", Problem::kSyntax,
     "t.cf:1: rule B: unexpected text after the regex: 'junk'"},
    {"glued_flags", "body B /x/i+\n", Problem::kBadRegex,
     "t.cf:1: rule B: unexpected text after the regex flags: '+'"},
    {"no_test", "body B\n", Problem::kSyntax, "t.cf:1: rule B: body rule without a test"},
    {"bad_name", "body B-1 /x/\n", Problem::kSyntax,
     "t.cf:1: rule B-1: invalid rule name (letters, digits and _ only)"},
    {"bad_score", "body B /x/\nscore B lots\n", Problem::kBadScore,
     "t.cf:2: rule B: score 'lots' is not a number"},
    {"score_count", "body B /x/\nscore B 1 2\n", Problem::kBadScore,
     "t.cf:2: rule B: score takes 1 or 4 numbers, got 2"},
    {"score_undefined", "score NOPE 1\n", Problem::kUnknownRule,
     "t.cf:1: rule NOPE: score for an undefined rule"},
    {"required_score", "required_score high\n", Problem::kBadScore,
     "t.cf:1: required_score 'high' is not a number"},
    {"unknown_directive", "frobnicate X\n", Problem::kUnknownDirective,
     "t.cf:1: unknown directive 'frobnicate'"},
    {"endif", "endif\n", Problem::kSyntax, "t.cf:1: endif without if"},
    {"unclosed_if", "ifplugin Foo\nbody B /x/\n", Problem::kSyntax,
     "t.cf:2: 1 if/ifplugin block(s) not closed by endif at end of file"},
    {"include_memory", "include other.cf\n", Problem::kInclude,
     "t.cf:1: include 'other.cf': no base directory for in-memory sources"},
};

INSTANTIATE_TEST_SUITE_P(All, CompilerErrorTest, ::testing::ValuesIn(kErrors),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CompilerTest, DirectoryIncludeAndLoop) {
  const auto dir = std::filesystem::temp_directory_path() / "smtpgw_rules_include_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "10_main.cf") << "include extra.inc\nbody MAIN /main/\n";
  std::ofstream(dir / "extra.inc") << "body EXTRA /extra/\ninclude extra.inc\n";
  CompileOptions o;
  o.mode = Mode::kLenient;
  auto r = compile_directory(dir, o);
  ASSERT_TRUE(r.ruleset);
  EXPECT_GE(r.ruleset->find_rule("EXTRA"), 0);
  EXPECT_GE(r.ruleset->find_rule("MAIN"), 0);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].problem, Problem::kInclude);
  EXPECT_NE(r.errors[0].message.find("include loop"), std::string::npos);
  auto missing = compile_directory(dir / "nope", o);
  EXPECT_FALSE(missing.ruleset);
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].problem, Problem::kIo);
  std::filesystem::remove_all(dir);
}

TEST(CompilerTest, ReplaceTags) {
  auto r = compile(R"(replace_tag A (?:a|4)
replace_tag B (?:b|8)
replace_inter W1 \W?
replace_post P2 {1,2}
body FUZZY /<inter W1><post P2><A><B>x/i
replace_rules FUZZY
body BAD_PRE /<pre NOPE><A>/
replace_rules BAD_PRE
)",
                   Mode::kLenient);
  ASSERT_TRUE(r.ruleset) << first_error(r);
  const auto& rs = *r.ruleset;
  ASSERT_GE(rs.find_rule("FUZZY"), 0);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(), "t.cf:7: rule BAD_PRE: replace_pre 'NOPE' is not defined");
  scan::ScanContext ctx(rs);
  for (const auto& [text, expect] : std::vector<std::pair<std::string, bool>>{
           {"44-88x", true}, {"a.bx", true}, {"abx", true}, {"a..bx", false}}) {
    ctx.begin_message();
    ctx.field(Field{FieldKind::kBodyText, {}, text, {}});
    ctx.end_message();
    EXPECT_EQ(ctx.verdict().rule_count == 1, expect) << text;
  }
}

TEST(CompilerTest, ScoresAndDefaults) {
  auto r = compile(
      "body A /a/\nbody __SUB /s/\nbody T_TEST /t/\nbody B /b/\nscore B 0.5 9 9 9\n"
      "body Z /z/\nscore Z 0\n");
  ASSERT_TRUE(r.ruleset) << first_error(r);
  const auto& rs = *r.ruleset;
  EXPECT_DOUBLE_EQ(rs.rules()[rs.find_rule("A")].score, 1.0);
  EXPECT_DOUBLE_EQ(rs.rules()[rs.find_rule("__SUB")].score, 0.0);
  EXPECT_FALSE(rs.rules()[rs.find_rule("__SUB")].reported);
  EXPECT_DOUBLE_EQ(rs.rules()[rs.find_rule("T_TEST")].score, 0.01);
  EXPECT_DOUBLE_EQ(rs.rules()[rs.find_rule("B")].score, 0.5);  // first of the 4-value form
  EXPECT_FALSE(rs.rules()[rs.find_rule("Z")].reported);
  EXPECT_DOUBLE_EQ(rs.required_score(), 5.0);
}

TEST(CompilerTest, ContentHashIsStable) {
  auto a = compile("body A /a/\n");
  auto b = compile("body A /a/\n");
  auto c = compile("body A /b/\n");
  ASSERT_TRUE(a.ruleset && b.ruleset && c.ruleset);
  EXPECT_EQ(a.ruleset->info().content_hash, b.ruleset->info().content_hash);
  EXPECT_NE(a.ruleset->info().content_hash, c.ruleset->info().content_hash);
  EXPECT_EQ(a.ruleset->info().content_hash.size(), 32u);
}

}  // namespace
}  // namespace smtpgw::rules
