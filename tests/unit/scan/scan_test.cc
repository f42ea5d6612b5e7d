// The scan context: header/body/uri/full/envelope rules, streaming across chunk boundaries,
// negation, meta evaluation, scores, required_score, the on-disk cache.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "control/rules/compiler.h"
#include "dataplane/scan/scan_context.h"

namespace smtpgw::scan {
namespace {

std::unique_ptr<Ruleset> build(const std::string& text, const std::filesystem::path& cache = {}) {
  rules::CompileOptions o;
  o.cache_dir = cache;
  auto r = rules::compile_sources({rules::Source{"t.cf", text}}, o);
  EXPECT_TRUE(r.ruleset) << (r.errors.empty() ? "" : r.errors[0].to_string());
  return std::move(r.ruleset);
}

Field header(std::string_view name, std::string_view value, std::string_view raw = {}) {
  return Field{FieldKind::kHeader, name, value, raw};
}
Field of(FieldKind k, std::string_view v) { return Field{k, {}, v, {}}; }

std::set<std::string> hits(const ScanContext& ctx) {
  std::set<std::string> s;
  for (uint32_t i : ctx.verdict().rules) {
    s.insert(std::string(ctx.rule_name(i)));
  }
  return s;
}

std::set<std::string> scan(const Ruleset& rs, const std::vector<Field>& fields) {
  ScanContext ctx(rs);
  ctx.begin_message();
  for (const Field& f : fields) {
    ctx.field(f);
  }
  ctx.end_message();
  EXPECT_TRUE(ctx.verdict().valid);
  return hits(ctx);
}

using S = std::set<std::string>;

TEST(ScanTest, HeaderVariants) {
  auto rs = build(R"(header SUBJ Subject =~ /free money/i
header SUBJ_RAW Subject:raw =~ /=\?utf-8\?B\?/
header FROM_ADDR From:addr =~ /^bob@example\.com$/
header FROM_NAME From:name =~ /^Bob Smith$/
header EX exists:List-Unsubscribe
header TOCC ToCc =~ /victim/
header MID MESSAGEID =~ /@spamhost>/
header ALLH ALL =~ /^X-Mailer: evil/m
)");
  ASSERT_TRUE(rs);
  EXPECT_EQ(scan(*rs, {header("SUBJECT", "Get FREE MONEY now", "=?utf-8?B?R2V0?="),
                      header("From", "\"Bob Smith\" <bob@example.com>"),
                      header("list-unsubscribe", "<mailto:x@y>"), header("Cc", "the victim"),
                      header("Message-ID", "<1@spamhost>"), header("X-Mailer", "evil 1.0")}),
            (S{"SUBJ", "SUBJ_RAW", "FROM_ADDR", "FROM_NAME", "EX", "TOCC", "MID", "ALLH"}));
  EXPECT_EQ(scan(*rs, {header("Subject", "hello"), header("From", "alice@example.org (Alice)"),
                      header("To", "nobody")}),
            S{});
  // A header name only meets its own patterns: Subject text in another header does not hit.
  EXPECT_EQ(scan(*rs, {header("X-Subject", "free money")}), S{});
}

TEST(ScanTest, NegatedHeaderHitsWhenAbsentOrNotMatching) {
  auto rs = build("header NO_GOOD X-Mailer !~ /good/\n");
  ASSERT_TRUE(rs);
  EXPECT_EQ(scan(*rs, {}), S{"NO_GOOD"});
  EXPECT_EQ(scan(*rs, {header("X-Mailer", "bad")}), S{"NO_GOOD"});
  EXPECT_EQ(scan(*rs, {header("X-Mailer", "good")}), S{});
}

TEST(ScanTest, AbsentHeadersMatchAsEmptyOrIfUnset) {
  auto rs = build(R"(header SUBJ_EMPTY Subject =~ /^\s*$/
header NO_DATE Date =~ /^UNSET$/ [if-unset: UNSET]
header DATE_OK Date !~ /^UNSET$/ [if-unset: UNSET]
header ANY_MAILER X-Mailer =~ /.*/
)");
  ASSERT_TRUE(rs);
  // Absent Subject and Date: "" matches /^\s*$/, the if-unset value matches /^UNSET$/.
  EXPECT_EQ(scan(*rs, {}), (S{"SUBJ_EMPTY", "NO_DATE", "ANY_MAILER"}));
  EXPECT_EQ(scan(*rs, {header("Subject", "  "), header("Date", "Mon, 1 Jan 2024")}),
            (S{"SUBJ_EMPTY", "DATE_OK", "ANY_MAILER"}));
  EXPECT_EQ(scan(*rs, {header("Subject", "hi"), header("Date", "x"), header("X-Mailer", "")}),
            (S{"DATE_OK", "ANY_MAILER"}));
}

TEST(ScanTest, EnvelopeAndUri) {
  auto rs = build(R"(envelope E_FROM from =~ /@spam\.example$/
envelope E_RCPT rcpt =~ /^victim@/
envelope E_HELO helo =~ /^localhost$/
envelope E_AUTH auth =~ /^bob$/
header E_ENVF EnvelopeFrom =~ /^bounce/
uri U_IP /^https?:\/\/\d+\.\d+\.\d+\.\d+/
)");
  ASSERT_TRUE(rs);
  EXPECT_EQ(scan(*rs, {of(FieldKind::kEnvelopeHelo, "localhost"),
                      of(FieldKind::kEnvelopeFrom, "bounce@spam.example"),
                      of(FieldKind::kEnvelopeRcpt, "someone@x"),
                      of(FieldKind::kEnvelopeRcpt, "victim@x"),
                      of(FieldKind::kEnvelopeAuth, "bob"),
                      of(FieldKind::kUri, "http://10.1.2.3/login")}),
            (S{"E_FROM", "E_RCPT", "E_HELO", "E_AUTH", "E_ENVF", "U_IP"}));
  EXPECT_EQ(scan(*rs, {of(FieldKind::kEnvelopeFrom, "a@b.example"),
                      of(FieldKind::kUri, "http://example.com/10.1.2.3")}),
            S{});
}

TEST(ScanTest, StreamsMatchAcrossChunkBoundaries) {
  auto rs = build(R"(body B_PHRASE /wire transfer urgently/
rawbody R_B64 /^Content-Transfer-Encoding: base64/m
full F_RECV /\nReceived: from evil/
body B_LINE /^click here$/
)");
  ASSERT_TRUE(rs);
  EXPECT_EQ(scan(*rs, {of(FieldKind::kBodyText, "please wi"), of(FieldKind::kBodyText, "re tra"),
                      of(FieldKind::kBodyText, "nsfer urg"), of(FieldKind::kBodyText, "ently\n\n"),
                      of(FieldKind::kBodyText, "click "), of(FieldKind::kBodyText, "here\r\n\r"),
                      of(FieldKind::kBodyText, "\nbye"),
                      of(FieldKind::kRawBody, "Content-Transfer-"),
                      of(FieldKind::kRawBody, "Encoding: base64\r\n"),
                      of(FieldKind::kFull, "X: y\nReceived: fr"),
                      of(FieldKind::kFull, "om evil\n")}),
            (S{"B_PHRASE", "R_B64", "F_RECV", "B_LINE"}));
  // Each message has its own streams: the tail of one does not join the next.
  ScanContext ctx(*rs);
  ctx.begin_message();
  ctx.field(of(FieldKind::kBodyText, "wire transfer"));
  ctx.end_message();
  EXPECT_TRUE(hits(ctx).empty());
  ctx.begin_message();
  ctx.field(of(FieldKind::kBodyText, " urgently"));
  ctx.end_message();
  EXPECT_TRUE(hits(ctx).empty());
}

// Body rules see paragraphs (scan/paragraphs.h): a line wrapped by the mailer is joined with a
// space, so `^...$` spans the whole paragraph and a wrapped phrase still matches.
TEST(ScanTest, BodyRulesSeeParagraphs) {
  auto rs = build("body B_WRAPPED /verify your account now/\nbody B_LINE /^click here$/m\n");
  ASSERT_TRUE(rs);
  EXPECT_EQ(scan(*rs, {of(FieldKind::kBodyText, "please verify your\r\naccount\t now\r\n"),
                      of(FieldKind::kBodyText, "click\r\nhere\r\n")}),
            S{"B_WRAPPED"});
  EXPECT_EQ(scan(*rs, {of(FieldKind::kBodyText, "hello\n  \nclick \n here\n\nbye\n")}),
            S{"B_LINE"});
}

TEST(ScanTest, SubjectIsTheFirstBodyLine) {
  auto rs = build("body B_SUBJ /^Act now$/\n");
  ASSERT_TRUE(rs);
  EXPECT_EQ(scan(*rs, {header("Subject", "Act now")}), S{"B_SUBJ"});
  EXPECT_EQ(scan(*rs, {header("Subject", "Act now"), of(FieldKind::kBodyText, "text\n")}),
            S{"B_SUBJ"});
}

TEST(ScanTest, MetaScoresAndRequiredScore) {
  auto rs = build(R"(required_score 4
header __A Subject =~ /aaa/
body __B /bbb/
body __C /ccc/
meta M_AND __A && __B
meta M_NOT __A && !__C
meta M_SUM (__A + __B + __C) >= 2
meta M_META M_AND || M_NOT
uri U_MULTI /x\.example/
tflags U_MULTI multiple maxhits=3
meta M_COUNT U_MULTI > 2
score M_AND 1.5
score M_NOT 1
score M_SUM 1
score M_META 0.5
score U_MULTI 0.1
score M_COUNT 0.25
)");
  ASSERT_TRUE(rs);
  ScanContext ctx(*rs);
  ctx.begin_message();
  ctx.field(header("Subject", "aaa"));
  ctx.field(of(FieldKind::kBodyText, "bbb"));
  for (int i = 0; i < 5; ++i) {
    ctx.field(of(FieldKind::kUri, "http://x.example/"));
  }
  ctx.end_message();
  EXPECT_EQ(hits(ctx), (S{"M_AND", "M_NOT", "M_SUM", "M_META", "U_MULTI", "M_COUNT"}));
  EXPECT_DOUBLE_EQ(ctx.verdict().score, 1.5 + 1 + 1 + 0.5 + 0.1 + 0.25);
  EXPECT_TRUE(ctx.verdict().spam);
  EXPECT_DOUBLE_EQ(ctx.verdict().required_score, 4.0);

  ctx.begin_message();
  ctx.field(header("Subject", "aaa"));
  ctx.field(of(FieldKind::kBodyText, "ccc"));
  ctx.field(of(FieldKind::kUri, "http://x.example/"));
  ctx.end_message();
  EXPECT_EQ(hits(ctx), (S{"M_SUM", "U_MULTI"}));
  EXPECT_FALSE(ctx.verdict().spam);
  EXPECT_DOUBLE_EQ(ctx.verdict().score, 1.1);
}

TEST(ScanTest, GtubeIsSpamAtTheDefaultThreshold) {
  auto rs = build(
      "body GTUBE /XJS\\*C4JDBQADN1\\.NSBN3\\*2IDNEN\\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\\*C\\.34X/\n"
      "score GTUBE 1000\n");
  ASSERT_TRUE(rs);
  ScanContext ctx(*rs);
  ctx.begin_message();
  ctx.field(of(FieldKind::kBodyText,
               "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n"));
  ctx.end_message();
  EXPECT_TRUE(ctx.verdict().spam);
  EXPECT_DOUBLE_EQ(ctx.verdict().required_score, kDefaultRequiredScore);
  ctx.begin_message();
  ctx.field(of(FieldKind::kBodyText, "hello\n"));
  ctx.end_message();
  EXPECT_FALSE(ctx.verdict().spam);
  EXPECT_EQ(ctx.verdict().score, 0.0);
}

TEST(ScanTest, CallOrderViolationsAreCountedNotFatal) {
  auto rs = build("body B /x/\n");
  ASSERT_TRUE(rs);
  ScanContext ctx(*rs);
  ctx.field(of(FieldKind::kBodyText, "x"));
  ctx.end_message();
  EXPECT_EQ(ctx.event_count(ScanEvent::kFieldOutsideMessage), 2u);
  ctx.begin_message();
  ctx.field(of(FieldKind::kBodyText, "x"));
  ctx.abort_message();
  EXPECT_FALSE(ctx.verdict().valid);
  ctx.begin_message();
  ctx.begin_message();  // implicit abort of the first
  ctx.end_message();
  EXPECT_TRUE(ctx.verdict().valid);
  ScanContext wrong_worker(*rs, 7);
  wrong_worker.begin_message();
  wrong_worker.end_message();
  EXPECT_EQ(wrong_worker.event_count(ScanEvent::kNoScratch), 1u);
  EXPECT_FALSE(wrong_worker.verdict().valid);
}

TEST(ScanTest, CacheRoundTrip) {
  const auto dir = std::filesystem::temp_directory_path() / "smtpgw_scan_cache_test";
  std::filesystem::remove_all(dir);
  const std::string text = "header H Subject =~ /cached/\nbody B /streamed/\n";
  auto first = build(text, dir);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->info().databases, 2u);
  EXPECT_EQ(first->info().databases_from_cache, 0u);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    files += e.path().extension() == ".hsdb" ? 1 : 0;
  }
  EXPECT_EQ(files, 2u);
  auto second = build(text, dir);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->info().databases_from_cache, 2u);
  EXPECT_EQ(scan(*second, {header("Subject", "cached"), of(FieldKind::kBodyText, "streamed")}),
            (S{"H", "B"}));
  // A corrupt cache file is recompiled, not trusted.
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ofstream(e.path(), std::ios::trunc) << "garbage";
  }
  auto third = build(text, dir);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->info().databases_from_cache, 0u);
  EXPECT_EQ(scan(*third, {header("Subject", "cached")}), S{"H"});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace smtpgw::scan
