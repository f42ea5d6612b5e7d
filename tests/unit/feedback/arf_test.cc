// control/feedback: ARF complaint reports (RFC 5965). The Appendix B examples and real-world
// shapes (tests/data/arf/*.eml: Microsoft JMRP with a base64 message/rfc822, Yahoo with a
// quoted-printable report and base64 text/rfc822-headers), CRLF and bare LF, folding, quoting,
// preamble and epilogue; then every error path, table-driven, with its message and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "control/feedback/arf.h"
#include "control/feedback/mime.h"

#ifndef SMTPGW_SOURCE_ROOT
#error "SMTPGW_SOURCE_ROOT must be defined by the build"
#endif

namespace smtpgw::feedback {
namespace {

namespace fs = std::filesystem;
const fs::path kDataDir = fs::path(SMTPGW_SOURCE_ROOT) / "tests" / "data" / "arf";

std::string read_sample(const std::string& name) {
  std::ifstream in(kDataDir / name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string without_cr(std::string s) {
  std::erase(s, '\r');
  return s;
}

const Report& ok(const Result& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
  static const Report kEmpty;
  return r.ok() ? r.report() : kEmpty;
}

// A small report whose line numbers the error cases rely on:
//   1-5 message headers (Content-Type on line 5), 6 empty, 7 "--b1", 8-10 part 1,
//   11 "--b1", 12 part 2's Content-Type, 13 empty, 14.. the report fields;
//   then "--b1", part 3 (text/rfc822-headers), "--b1--".
constexpr std::string_view kFields =
    "Feedback-Type: abuse\n"
    "User-Agent: TestFBL/1.0\n"
    "Version: 1\n";
constexpr std::string_view kOriginal =
    "Return-Path: <bounce@sender.example>\n"
    "From: Sender <news@sender.example>\n";
constexpr std::string_view kContentType =
    "multipart/report; report-type=feedback-report; boundary=\"b1\"";

std::string make(std::string_view fields = kFields, std::string_view original = kOriginal,
                 std::string_view content_type = kContentType,
                 std::string_view part2_headers = "Content-Type: message/feedback-report\n") {
  std::string s =
      "From: fbl@isp.example\nTo: abuse@gw.example\nSubject: complaint\n"
      "MIME-Version: 1.0\nContent-Type: ";
  s.append(content_type);
  s += "\n\n--b1\nContent-Type: text/plain\n\nA complaint.\n--b1\n";
  s.append(part2_headers);
  s += "\n";
  s.append(fields);
  s += "--b1\nContent-Type: text/rfc822-headers\n\n";
  s.append(original);
  s += "--b1--\n";
  return s;
}

TEST(Arf, Rfc5965SimpleReport) {
  const Result r = parse(read_sample("rfc5965_b1_simple.eml"));
  const Report& a = ok(r);
  EXPECT_EQ(a.feedback_type, "abuse");
  EXPECT_EQ(a.feedback_type_received, "abuse");
  EXPECT_EQ(a.user_agent, "SomeGenerator/1.0");
  EXPECT_EQ(a.version, "1");
  EXPECT_EQ(a.incidents, 1u);
  EXPECT_TRUE(a.original_mail_from.empty());
  EXPECT_TRUE(a.source_ip.empty());
  EXPECT_EQ(a.original_type, "message/rfc822");
  EXPECT_EQ(a.orig_from, "<somespammer@example.net>");
  EXPECT_EQ(a.orig_to, "<Undisclosed Recipients>");
  EXPECT_EQ(a.orig_subject, "Earn money");
  EXPECT_EQ(a.orig_message_id, "8787KJKJ3K4J3K4J3K4J3.mail@example.net");
  EXPECT_EQ(a.orig_date, "Thu, 02 Sep 2004 12:31:03 -0500");
  EXPECT_TRUE(a.orig_return_path.empty());
  ASSERT_EQ(a.orig_received.size(), 1u);
  EXPECT_EQ(a.orig_received[0],
            "from mailserver.example.net (mailserver.example.net [192.0.2.1]) by example.com "
            "with ESMTP id M63d4137594e46; Thu, 08 Mar 2005 14:00:00 -0400");
  EXPECT_EQ(sender_of(a), "somespammer@example.net");
}

TEST(Arf, Rfc5965CompleteReport) {
  const Result r = parse(read_sample("rfc5965_b2_complete.eml"));
  const Report& a = ok(r);
  EXPECT_EQ(a.feedback_type, "abuse");
  EXPECT_EQ(a.original_mail_from, "somespammer@example.net");
  EXPECT_EQ(a.original_rcpt_to, std::vector<std::string>{"user@example.com"});
  EXPECT_EQ(a.arrival_date, "Thu, 8 Mar 2005 14:00:00 EDT");
  EXPECT_EQ(a.reporting_mta, "dns; mail.example.com");
  EXPECT_EQ(a.source_ip, "192.0.2.1");
  EXPECT_EQ(
      a.authentication_results,
      std::vector<std::string>{"mail.example.com; spf=fail smtp.mail=somespammer@example.com"});
  EXPECT_EQ(a.reported_domains, std::vector<std::string>{"example.net"});
  EXPECT_EQ(a.reported_uris, (std::vector<std::string>{"http://example.net/earn_money.html",
                                                       "mailto:user@example.com"}));
  EXPECT_EQ(a.orig_received.size(), 1u);
  EXPECT_EQ(sender_of(a), "somespammer@example.net");
}

TEST(Arf, BareLfAndCrlfGiveTheSameReport) {
  const std::string crlf = read_sample("rfc5965_b1_simple.eml");
  ASSERT_NE(crlf.find("\r\n"), std::string::npos);
  const Result a = parse(crlf);
  const Result b = parse(without_cr(crlf));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.report().orig_received, b.report().orig_received);
  EXPECT_EQ(a.report().orig_date, b.report().orig_date);
  EXPECT_EQ(a.report().user_agent, b.report().user_agent);
  // And a line-ending mix: CRLF headers, bare LF parts.
  std::string mixed = crlf.substr(0, crlf.find("\r\n\r\n") + 4) +
                      without_cr(crlf.substr(crlf.find("\r\n\r\n") + 4));
  EXPECT_TRUE(parse(mixed).ok());
}

TEST(Arf, MicrosoftJmrpShape) {
  const Result r = parse(read_sample("microsoft_jmrp.eml"));
  const Report& a = ok(r);
  EXPECT_EQ(a.user_agent, "Hotmail FBL");
  EXPECT_EQ(a.source_ip, "198.51.100.23");
  EXPECT_EQ(a.arrival_date, "Tue, 04 Jun 2024 09:12:44 -0700");
  EXPECT_EQ(a.original_type, "message/rfc822");  // base64
  EXPECT_EQ(a.orig_return_path, "<bounce-7731@mail.shop.example>");
  EXPECT_EQ(a.orig_from, "\"Shop Example, Deals\" <Deals@Shop.Example>");
  EXPECT_EQ(a.orig_message_id, "<20240604161239.7731@shop.example>");
  EXPECT_EQ(a.orig_subject, "=?UTF-8?Q?Your_weekly_deals_=E2=80=94_50%_off?=");
  ASSERT_EQ(a.orig_received.size(), 2u);
  EXPECT_EQ(a.orig_received[0].substr(0, 25), "from mx.gw.example (out-3");
  EXPECT_EQ(a.orig_received[1].substr(0, 26), "from app1.internal.example");
  EXPECT_EQ(sender_of(a), "bounce-7731@mail.shop.example");
  Report from_only = a;
  from_only.orig_return_path.clear();
  EXPECT_EQ(sender_of(from_only), "Deals@shop.example");
}

TEST(Arf, YahooShape) {
  const Result r = parse(read_sample("yahoo_cfl.eml"));
  const Report& a = ok(r);
  EXPECT_EQ(a.user_agent, "Yahoo!-Mail-Feedback/2.0");
  // Quoted-printable: =3D decoded, the soft line break joined.
  EXPECT_EQ(a.original_mail_from, "bounce-9902=redacted@mail.shop.example");
  EXPECT_EQ(
      a.authentication_results,
      std::vector<std::string>{"mta1012.mail.ne1.yahoo.example; dkim=pass header.i=@shop.example"});
  EXPECT_EQ(a.arrival_date, "Tue, 04 Jun 2024 16:12:44 +0000");  // from Received-Date
  EXPECT_EQ(a.source_ip, "2001:db8::17");                        // canonical, comment dropped
  EXPECT_EQ(a.incidents, 3u);
  EXPECT_EQ(a.original_rcpt_to, std::vector<std::string>{"redacted@yahoo.example"});
  EXPECT_EQ(a.original_type, "text/rfc822-headers");  // base64
  EXPECT_EQ(a.orig_return_path, "<>");
  EXPECT_EQ(a.orig_from, "Shop Example <news@SHOP.example>");
  ASSERT_EQ(a.orig_received.size(), 1u);
  EXPECT_EQ(sender_of(a), "bounce-9902=redacted@mail.shop.example");
  Report b = a;
  b.original_mail_from.clear();  // Return-Path <> is no address: From it is
  EXPECT_EQ(sender_of(b), "news@shop.example");
}

TEST(Arf, FeedbackTypes) {
  for (std::string_view t : {"abuse", "fraud", "virus", "other", "not-spam", "auth-failure"}) {
    const std::string fields = "Feedback-Type: " + std::string(t) + "\nUser-Agent: x\nVersion: 1\n";
    const Result r = parse(make(fields));
    EXPECT_EQ(ok(r).feedback_type, t);
  }
  const Result upper =
      parse(make("Feedback-Type: ABUSE (user clicked)\nUser-Agent: x\nVersion: 1\n"));
  EXPECT_EQ(ok(upper).feedback_type, "abuse");
  // Unregistered: counted as "other", the type as sent kept.
  const Result unknown = parse(make("Feedback-Type: Opt-Out\nUser-Agent: x\nVersion: 1\n"));
  EXPECT_EQ(ok(unknown).feedback_type, "other");
  EXPECT_EQ(ok(unknown).feedback_type_received, "opt-out");
}

TEST(Arf, MissingThirdPartLeavesTheOriginalEmpty) {
  std::string s = make(std::string(kFields) + "Original-Mail-From: <Env@X.Example>\n");
  s = s.substr(0, s.find("--b1\nContent-Type: text/rfc822-headers")) + "--b1--\n";
  const Result r = parse(s);
  const Report& a = ok(r);
  EXPECT_TRUE(a.original_type.empty());
  EXPECT_TRUE(a.orig_from.empty());
  EXPECT_TRUE(a.orig_return_path.empty());
  EXPECT_TRUE(a.orig_received.empty());
  EXPECT_EQ(sender_of(a), "Env@x.example");
  s = make();
  s = s.substr(0, s.find("--b1\nContent-Type: text/rfc822-headers")) + "--b1--\n";
  EXPECT_EQ(sender_of(ok(parse(s))), "");
}

TEST(Arf, PartsAfterTheThirdAreIgnored) {
  std::string s = make();
  s.replace(s.rfind("--b1--"), 6, "--b1\nContent-Type: application/pdf\n\n%PDF\n--b1--");
  EXPECT_TRUE(parse(s).ok());
}

TEST(Arf, FoldingQuotingPaddingAndComments) {
  // Content-Type folded over three lines, unquoted boundary, a comment, quoted report-type.
  std::string s = make(kFields, kOriginal,
                       "multipart/report;\n\treport-type=\"Feedback-Report\";\n"
                       "  (the boundary follows) boundary=b1");
  EXPECT_TRUE(parse(s).ok()) << parse(s).error().what;
  // Transport padding after delimiters; a "--b1x" line is content, not a delimiter.
  std::string padded = make();
  padded.replace(padded.find("--b1\n"), 5, "--b1 \t\n");
  padded.replace(padded.rfind("--b1--"), 6, "--b1--  ");
  padded.replace(padded.find("A complaint."), 0, "--b1x\n");
  EXPECT_TRUE(parse(padded).ok()) << parse(padded).error().what;
  // Folded report fields and original headers.
  const Result r = parse(
      make("Feedback-Type: abuse\nUser-Agent: Test\n   FBL/1.0\nVersion:\n 1\nSource-IP: \n "
           "[192.0.2.9]\n",
           "Received: from a\n  by b;\n  Mon, 1 Jan 2024 00:00:00 +0000\nReceived: from c by a\n"
           "not a header line\nFrom: x@y.example\n"));
  const Report& a = ok(r);
  EXPECT_EQ(a.user_agent, "Test FBL/1.0");
  EXPECT_EQ(a.source_ip, "192.0.2.9");
  EXPECT_EQ(a.orig_received, (std::vector<std::string>{
                                 "from a by b; Mon, 1 Jan 2024 00:00:00 +0000", "from c by a"}));
  EXPECT_EQ(a.orig_from, "x@y.example");
}

TEST(Arf, MboxFromLineIsSkipped) {
  const std::string s = "From fbl@isp.example Mon Jun  3 10:00:00 2024\n" + make();
  EXPECT_TRUE(parse(s).ok());
  // Line numbers still count the input's lines.
  const Result bad = parse("From fbl@isp.example Mon Jun  3 10:00:00 2024\n" +
                           make("Feedback-Type: abuse\nUser-Agent: x\nVersion: 2\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().line, 17u);
}

TEST(Arf, IncidentsBounds) {
  const Result max = parse(make(std::string(kFields) + "Incidents: 4294967295\n"));
  EXPECT_EQ(ok(max).incidents, 4294967295u);
}

TEST(Arf, SenderOf) {
  Report r;
  EXPECT_EQ(sender_of(r), "");
  r.orig_from = "\"Doe, <John>\" (comment) <John.Doe@Example.COM>";
  EXPECT_EQ(sender_of(r), "John.Doe@example.com");
  r.orig_from = "a@X.example, b@y.example";
  EXPECT_EQ(sender_of(r), "a@x.example");
  r.orig_from = "(team) news@Z.example (bulk)";
  EXPECT_EQ(sender_of(r), "news@z.example");
  r.orig_from = "Undisclosed recipients:;";
  EXPECT_EQ(sender_of(r), "");
  r.orig_return_path = "<@relay.example:bounce@R.example>";
  EXPECT_EQ(sender_of(r), "bounce@r.example");
  r.original_mail_from = "not an address";
  EXPECT_EQ(sender_of(r), "bounce@r.example");
  r.original_mail_from = "Env@Mail.Example";
  EXPECT_EQ(sender_of(r), "Env@mail.example");
}

struct ErrorCase {
  const char* description;
  std::string input;
  std::string what;
  size_t line;
  size_t part;
  Limits limits = {};
};

std::string b64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    v |= i + 1 < in.size() ? static_cast<uint8_t>(in[i + 1]) << 8 : 0;
    v |= i + 2 < in.size() ? static_cast<uint8_t>(in[i + 2]) : 0;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[v & 63] : '=';
  }
  return out + "\n";
}

std::vector<ErrorCase> error_cases() {
  const std::string good = make();
  const std::string body_only = good.substr(good.find("\n\n") + 2);
  auto top = [&](std::string headers) { return headers + "\n" + body_only; };
  auto fields = [](std::string extra) { return make(std::string(kFields) + extra); };
  const std::string p2 = "part 2 (message/feedback-report): ";
  const std::string head = "Content-Type: " + std::string(kContentType) + "\n\n";
  std::vector<ErrorCase> c = {
      {"oversize", good,
       "message: " + std::to_string(good.size()) + " bytes, more than the limit of 100", 0, 0,
       Limits{100, 8, 1000}},
      {"empty", "", "message: the input is empty", 0, 0},
      {"top line without colon",
       top("Garbage line\nContent-Type: " + std::string(kContentType) + "\n"),
       "message: line 1: line \"Garbage line\" is not a header field (no ':')", 1, 0},
      {"top continuation first", top(" folded\nContent-Type: x/y\n"),
       "message: line 1: continuation line \" folded\" with no header field before it", 1, 0},
      {"bad field name", top("Bad Name: x\n"),
       "message: line 1: \"Bad Name\" is not a header field name", 1, 0},
      {"too many header lines", good, "message: line 4: more than 3 header lines", 4, 0,
       Limits{1 << 20, 8, 3}},
      {"no content type", top("From: a@b.example\n"),
       "message: Content-Type is missing: a feedback report is multipart/report; "
       "report-type=feedback-report",
       0, 0},
      {"content type twice",
       top("Content-Type: " + std::string(kContentType) + "\nContent-type: text/plain\n"),
       "message: line 2: Content-Type appears more than once (first on line 1)", 2, 0},
      {"not type/subtype", make(kFields, kOriginal, "multipart"),
       "message: line 5: Content-Type \"multipart\" is not type/subtype", 5, 0},
      {"not multipart/report", make(kFields, kOriginal, "text/plain; boundary=b1"),
       "message: line 5: Content-Type \"text/plain\" is not multipart/report", 5, 0},
      {"no report-type", make(kFields, kOriginal, "multipart/report; boundary=b1"),
       "message: line 5: Content-Type multipart/report has no report-type parameter (a "
       "feedback report has report-type=feedback-report)",
       5, 0},
      {"other report-type",
       make(kFields, kOriginal, "multipart/report; report-type=delivery-status; boundary=b1"),
       "message: line 5: report-type \"delivery-status\" is not feedback-report", 5, 0},
      {"no boundary", make(kFields, kOriginal, "multipart/report; report-type=feedback-report"),
       "message: line 5: Content-Type multipart/report has no boundary parameter", 5, 0},
      {"empty boundary",
       make(kFields, kOriginal, "multipart/report; report-type=feedback-report; boundary=\"\""),
       "message: line 5: the boundary parameter is empty", 5, 0},
      {"unclosed quote",
       make(kFields, kOriginal, "multipart/report; report-type=feedback-report; boundary=\"b1"),
       "message: line 5: Content-Type \"multipart/report; report-type=feedback-report; "
       "boundary=\\\"b1\": the quoted value of parameter \"boundary\" is not closed",
       5, 0},
      {"parameter without value",
       make(kFields, kOriginal, "multipart/report; report-type; boundary=b1"),
       "message: line 5: Content-Type \"multipart/report; report-type; boundary=b1\": "
       "parameter \"report-type\" has no value",
       5, 0},
      {"missing semicolon",
       make(kFields, kOriginal, "multipart/report report-type=feedback-report"),
       "message: line 5: Content-Type \"multipart/report report-type=feedback-report\": "
       "expected ';' before \"report-type=feedback...\"",
       5, 0},
      {"encoded multipart",
       top("Content-Type: " + std::string(kContentType) + "\nContent-Transfer-Encoding: base64\n"),
       "message: line 2: Content-Transfer-Encoding \"base64\" on a multipart body (RFC 2045 "
       "6.4 allows only 7bit, 8bit or binary)",
       2, 0},
      {"no body", "Content-Type: " + std::string(kContentType) + "\n",
       "message: the header block runs to the end of the input: there is no body", 0, 0},
      {"wrong boundary",
       make(kFields, kOriginal, "multipart/report; report-type=feedback-report; boundary=b2"),
       "message: no line \"--b2\" starts a body part (wrong boundary?)", 0, 0},
      {"truncated", good.substr(0, good.size() - 7),
       "message: the closing delimiter \"--b1--\" is missing: the report is truncated", 0, 0},
      {"too many parts", good, "message: line 17: more than 2 body parts", 17, 0,
       Limits{1 << 20, 2, 1000}},
      {"close before any part", head + "--b1--\n",
       "message: line 3: the closing delimiter \"--b1--\" comes before any body part", 3, 0},
      {"one part", head + "--b1\nContent-Type: text/plain\n\nhi\n--b1--\n",
       "message: 1 body part: a feedback report has at least 2 (text for people, then "
       "message/feedback-report)",
       0, 0},
      {"part 1 not text", std::string(good).replace(good.find("text/plain"), 10, "image/png"),
       "part 1: line 8: Content-Type \"image/png\": the first part of a feedback report is "
       "text for people (text/* or multipart/alternative)",
       8, 1},
      {"part 2 text/plain", make(kFields, kOriginal, kContentType, "Content-Type: text/plain\n"),
       "part 2: line 12: Content-Type \"text/plain\", not message/feedback-report", 12, 2},
      {"part 2 without content type", make(kFields, kOriginal, kContentType, "X-Note: y\n"),
       "part 2: no Content-Type (text/plain), not message/feedback-report", 0, 2},
      {"part 2 header garbage",
       make(kFields, kOriginal, kContentType, "Content-Type: message/feedback-report\nnonsense\n"),
       "part 2: line 13: line \"nonsense\" is not a header field (no ':')", 13, 2},
      {"part 2 unknown encoding",
       make(kFields, kOriginal, kContentType,
            "Content-Type: message/feedback-report\nContent-Transfer-Encoding: x-uuencode\n"),
       "part 2: line 13: Content-Transfer-Encoding \"x-uuencode\" is not one of 7bit, 8bit, "
       "binary, base64, quoted-printable",
       13, 2},
      {"part 3 wrong type",
       std::string(good).replace(good.find("text/rfc822-headers"), 19, "application/octet-stream"),
       "part 3: line 18: Content-Type \"application/octet-stream\", neither message/rfc822 nor "
       "text/rfc822-headers",
       18, 3},
      {"part 3 too many lines", make(kFields, "A: 1\nB: 2\nC: 3\nD: 4\nE: 5\nF: 6\n"),
       "part 3 (text/rfc822-headers): line 25: more than 5 header lines", 25, 3,
       Limits{1 << 20, 8, 5}},
      {"feedback-type missing", make("User-Agent: x\nVersion: 1\n"),
       p2 + "Feedback-Type is missing", 0, 2},
      {"user-agent missing", make("Feedback-Type: abuse\nVersion: 1\n"),
       p2 + "User-Agent is missing", 0, 2},
      {"version missing", make("Feedback-Type: abuse\nUser-Agent: x\n"), p2 + "Version is missing",
       0, 2},
      {"version 0.1", make("Feedback-Type: abuse\nUser-Agent: x\nVersion: 0.1\n"),
       p2 + "line 16: Version \"0.1\" is not 1 (the only version, RFC 5965 3.1)", 16, 2},
      {"feedback-type empty", make("Feedback-Type: (none)\nUser-Agent: x\nVersion: 1\n"),
       p2 + "line 14: Feedback-Type is empty", 14, 2},
      {"user-agent empty", make("Feedback-Type: abuse\nUser-Agent:\nVersion: 1\n"),
       p2 + "line 15: User-Agent is empty", 15, 2},
      {"feedback-type twice", fields("feedback-type: fraud\n"),
       p2 + "line 17: Feedback-Type appears more than once (first on line 14)", 17, 2},
      {"arrival and received date",
       fields("Received-Date: Mon, 1 Jan 2024 00:00:00 +0000\nArrival-Date: Mon, 1 Jan 2024 "
              "00:00:00 +0000\n"),
       p2 + "line 18: Arrival-Date and Received-Date are both present (Received-Date is the "
            "historic name of Arrival-Date; first on line 17)",
       18, 2},
      {"source-ip", fields("Source-IP: 300.1.2.3\n"),
       p2 + "line 17: Source-IP \"300.1.2.3\" is not an IP address", 17, 2},
      {"source-ip hostname", fields("Source-IP: mx.example.com\n"),
       p2 + "line 17: Source-IP \"mx.example.com\" is not an IP address", 17, 2},
      {"incidents zero", fields("Incidents: 0\n"),
       p2 + "line 17: Incidents \"0\" is not a positive 32-bit integer", 17, 2},
      {"incidents text", fields("Incidents: many\n"),
       p2 + "line 17: Incidents \"many\" is not a positive 32-bit integer", 17, 2},
      {"incidents too big", fields("Incidents: 4294967296\n"),
       p2 + "line 17: Incidents \"4294967296\" is not a positive 32-bit integer", 17, 2},
      {"report continuation first", make(" abuse\nFeedback-Type: abuse\n"),
       p2 + "line 14: continuation line \" abuse\" with no header field before it", 14, 2},
      {"decoded line",
       make(b64(std::string(kFields) + "Source-IP: 1.2.3\n"), kOriginal, kContentType,
            "Content-Type: message/feedback-report\n"
            "Content-Transfer-Encoding: base64\n"),
       p2 + "decoded line 4: Source-IP \"1.2.3\" is not an IP address", 15, 2},
      {"control bytes quoted", fields("Source-IP: 1.2.3.4\x01\"\n"),
       p2 + "line 17: Source-IP \"1.2.3.4\\x01\\\"\" is not an IP address", 17, 2},
  };
  return c;
}

TEST(Arf, EveryErrorSaysWhatAndWhere) {
  for (const ErrorCase& c : error_cases()) {
    SCOPED_TRACE(c.description);
    const Result r = parse(c.input, c.limits);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, c.what);
    EXPECT_EQ(r.error().line, c.line);
    EXPECT_EQ(r.error().part, c.part);
  }
}

TEST(Arf, TemplateIsValid) {
  const Result r = parse(make());
  const Report& a = ok(r);
  EXPECT_EQ(a.orig_return_path, "<bounce@sender.example>");
  EXPECT_EQ(sender_of(a), "bounce@sender.example");
}

TEST(ArfMime, Decoders) {
  using detail::decode_base64;
  using detail::decode_quoted_printable;
  EXPECT_EQ(decode_base64("aGVs\r\nbG8=\r\n"), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8"), "hello");        // no padding
  EXPECT_EQ(decode_base64("aG*VsbG8=junk"), "hello");  // outside the alphabet: ignored
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_quoted_printable("a=3Db=\r\nc  \r\nd=\n"), "a=bc\nd");
  EXPECT_EQ(decode_quoted_printable("x=4"), "x=4");
  EXPECT_EQ(decode_quoted_printable("=ZZ="), "=ZZ");
}

TEST(ArfMime, MultipartSplit) {
  std::vector<detail::Part> parts;
  ASSERT_FALSE(detail::split_multipart("pre\n--b\n--b\r\nx\r\n\r\n--b--\nepi", "b", 8, &parts));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].text, "");
  EXPECT_EQ(parts[1].text, "x\r\n");
  EXPECT_EQ(parts[1].line, 4u);
}

}  // namespace
}  // namespace smtpgw::feedback
