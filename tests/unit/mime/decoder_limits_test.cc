// Every bound and malformation of SMTPGW_MIME_NOTES: the defined outcome (exact fields) and the
// counted note, each also fed one byte at a time and in random pieces.
#include <gtest/gtest.h>

#include <map>

#include "tests/unit/mime/messages.h"
#include "tests/unit/mime/mime_test_util.h"

namespace smtpgw::mime::test {
namespace {

using namespace std::string_literals;

struct Case {
  const char* name;
  std::string message;  // LF form unless raw_wire
  Limits limits;
  std::vector<std::string> fields;  // render() without the trailing R/F chunk lines
  std::map<Note, uint32_t> notes;   // every other note must be 0
  bool raw_wire = false;
};

Limits with(void (*f)(Limits&)) {
  Limits l;
  f(l);
  return l;
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  const std::string mp = "Content-Type: multipart/mixed; boundary=b\n\n";
  v.push_back({"unterminated_multipart",
               mp + "--b\nContent-Type: text/plain\n\nhello\n",
               {},
               {"H Content-Type: multipart/mixed; boundary=b", "T hello\r\n"},
               {{Note::kUnterminatedMultipart, 1}}});
  v.push_back({"boundary_never_used",
               mp + "just text\n",
               {},
               {"H Content-Type: multipart/mixed; boundary=b", "T just text\r\n"},
               {{Note::kUnterminatedMultipart, 1}, {Note::kNoDelimiter, 1}}});
  v.push_back({"multipart_without_boundary",
               "Content-Type: multipart/mixed\n\n--x\nbody\n",
               {},
               {"H Content-Type: multipart/mixed", "T --x\r\nbody\r\n"},
               {{Note::kMissingBoundary, 1}}});
  v.push_back({"boundary_too_long",
               "Content-Type: multipart/mixed; boundary=" + repeat("z", 201) + "\n\nbody\n",
               {},
               {"H Content-Type: multipart/mixed; boundary=" + repeat("z", 201), "T body\r\n"},
               {{Note::kMissingBoundary, 1}}});
  v.push_back({"outer_boundary_closes_inner",
               mp + "--b\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\ninner\n--b\n"
                    "\nsecond\n--b--\n",
               {},
               {"H Content-Type: multipart/mixed; boundary=b", "T inner\nsecond\n"},
               {{Note::kUnterminatedMultipart, 1}}});
  v.push_back({"delimiter_cut_at_end",
               mp + "--b\n\nfirst\n--b",
               {},
               {"H Content-Type: multipart/mixed; boundary=b", "T first\n"},
               {{Note::kUnterminatedMultipart, 1}}});
  v.push_back({"bad_base64_char_skipped",
               "Content-Transfer-Encoding: base64\n\naGVsbG8g*d29ybGQ=\n",
               {},
               {"H Content-Transfer-Encoding: base64", "T hello world\n"},
               {{Note::kBadBase64, 1}}});
  v.push_back({"base64_dangling_sextet",
               "Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=X",
               {},
               {"H Content-Transfer-Encoding: base64", "T hello world\n"},
               {{Note::kBadBase64, 1}}});
  v.push_back({"base64_unpadded_tail_decoded",
               "Content-Transfer-Encoding: base64\n\naGk",
               {},
               {"H Content-Transfer-Encoding: base64", "T hi\n"},
               {}});
  v.push_back({"qp_truncated_escape",
               "Content-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 lo=\nng =4",
               {},
               {"H Content-Transfer-Encoding: quoted-printable", "T caf\xC3\xA9 long =4\n"},
               {{Note::kBadQuotedPrintable, 1}}});
  v.push_back({"qp_bad_escape_kept",
               "Content-Transfer-Encoding: quoted-printable\n\na=ZZb =\rc\n",
               {},
               {"H Content-Transfer-Encoding: quoted-printable", "T a=ZZb c\r\n"},
               {{Note::kBadQuotedPrintable, 1}}});
  v.push_back({"unknown_transfer_encoding",
               "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n",
               {},
               {"H Content-Transfer-Encoding: x-uuencode", "T begin 644 f\r\n"},
               {{Note::kUnknownEncoding, 1}}});
  v.push_back({"garbage_headers_and_nul",
               "From: a@example.com\nthis is not a header\nX-Nul: a\0b\n: no name\n\nbody\n"s,
               {},
               {"H From: a@example.com", "H X-Nul: a\0b"s, "T body\r\n"},
               {{Note::kGarbageHeader, 2}, {Note::kNulByte, 1}}});
  v.push_back({"continuation_before_any_header",
               " folded\nSubject: x\n\nb",
               {},
               {"H Subject: x", "T b\n"},
               {{Note::kGarbageHeader, 1}}});
  v.push_back({"no_blank_line",
               "Subject: hi\nFrom: x@example.com",
               {},
               {"H Subject: hi", "H From: x@example.com"},
               {{Note::kHeaderUnterminated, 1}}});
  v.push_back({"encoded_words",
               "Subject: =?koi8-r?B?8NLJ18XU?= =?utf-8?q?broken =?utf-8?Q?ok?=  "
               "=?utf-8?Q?_too?=\n\n",
               {},
               {"H Subject: \xF0\xD2\xC9\xD7\xC5\xD4 =?utf-8?q?broken ok too | "
                "=?koi8-r?B?8NLJ18XU?= =?utf-8?q?broken =?utf-8?Q?ok?=  =?utf-8?Q?_too?="},
               {{Note::kUnknownCharset, 1}, {Note::kBadEncodedWord, 1}}});
  v.push_back({"unknown_body_charset",
               "Content-Type: text/plain; charset=shift_jis\n\n\x82\xa0\n",
               {},
               {"H Content-Type: text/plain; charset=shift_jis", "T \x82\xa0\r\n"},
               {{Note::kUnknownCharset, 1}}});
  v.push_back({"depth_limit",
               "Content-Type: multipart/mixed; boundary=b1\n\n--b1\n"
               "Content-Type: multipart/mixed; boundary=b2\n\n--b2\nContent-Type: text/plain\n\n"
               "level two\n--b2\nContent-Type: multipart/mixed; boundary=b3\n\n--b3\n"
               "Content-Type: text/plain\n\nlevel three hidden\n--b3--\n--b2--\n--b1--\n",
               with([](Limits& l) { l.max_depth = 2; }),
               {"H Content-Type: multipart/mixed; boundary=b1", "T level two\n"},
               {{Note::kDepthLimit, 1}}});
  v.push_back({"part_limit",
               mp + "--b\n\none\n--b\n\ntwo\n--b\n\nthree\n--b\n\nfour\n--b--\n",
               with([](Limits& l) { l.max_parts = 3; }),
               {"H Content-Type: multipart/mixed; boundary=b", "T one\ntwo\n"},
               {{Note::kPartLimit, 2}}});
  v.push_back({"header_truncated",
               "Subject: " + repeat("0123456789", 10) + "\n\n",
               with([](Limits& l) { l.max_header_bytes = 64; }),
               {"H Subject: " + repeat("0123456789", 10).substr(0, 55)},
               {{Note::kHeaderTruncated, 1}}});
  v.push_back({"header_section_limit",
               "X-A: " + repeat("a", 33) + "\nX-B: " + repeat("b", 33) + "\nX-C: c\n\nbody\n",
               with([](Limits& l) { l.max_header_section_bytes = 80; }),
               // A header is kept while the section, up to its line break, fits in the limit.
               {"H X-A: " + repeat("a", 33), "H X-B: " + repeat("b", 33), "T body\r\n"},
               {{Note::kHeaderSectionLimit, 1}}});
  v.push_back({"long_line",
               "\n" + repeat("x", 20) + "\nshort\n" + repeat("y", 20) + "\n",
               with([](Limits& l) { l.max_line_bytes = 10; }),
               {"T " + repeat("x", 20) + "\r\nshort\r\n" + repeat("y", 20) + "\r\n"},
               {{Note::kLongLine, 1}}});
  // The check looks for a line break within max_line_bytes + 1 bytes of each line start; CR
  // counts. Lines of exactly the limit (9 + CR) are not long, one byte more is.
  v.push_back({"line_at_limit",
               "\n" + repeat(repeat("a", 9) + "\n", 150) + repeat("b", 9) + "\n",
               with([](Limits& l) { l.max_line_bytes = 10; }),
               {"T " + repeat(repeat("a", 9) + "\r\n", 150) + repeat("b", 9) + "\r\n"},
               {}});
  v.push_back({"line_over_limit_after_short_lines",
               "\n" + repeat("a\n", 300) + repeat("c", 10) + "\n" + repeat("d\n", 5),
               with([](Limits& l) { l.max_line_bytes = 10; }),
               {"T " + repeat("a\r\n", 300) + repeat("c", 10) + "\r\n" + repeat("d\r\n", 5)},
               {{Note::kLongLine, 1}}});
  v.push_back({"long_last_line_without_break",
               "\n" + repeat("e\n", 3) + repeat("f", 11),
               with([](Limits& l) { l.max_line_bytes = 10; }),
               {"T " + repeat("e\r\n", 3) + repeat("f", 11) + "\n"},
               {{Note::kLongLine, 1}}});
  v.push_back({"last_line_at_limit_without_break",
               "\n" + repeat("e\n", 3) + repeat("f", 10),
               with([](Limits& l) { l.max_line_bytes = 10; }),
               {"T " + repeat("e\r\n", 3) + repeat("f", 10) + "\n"},
               {}});
  v.push_back({"uri_limits",
               "\nsee http://a.example/1 and https://b.example/" + repeat("p", 40) +
                   " or www.c.example.\n",
               with([](Limits& l) {
                 l.max_uris = 2;
                 l.max_uri_bytes = 24;
               }),
               {"U http://a.example/1", "U https://b.example/pppppp",
                "T see http://a.example/1 and https://b.example/" + repeat("p", 40) +
                    " or www.c.example.\r\n"},
               {{Note::kUriTruncated, 1}, {Note::kUriLimit, 1}}});
  std::string many = mp;
  for (int i = 0; i < 18; ++i) {
    many += "--b\nContent-Type: image/png; name=\"i" + std::to_string(i) +
            ".png\"\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n";
  }
  many += "--b--\n";
  v.push_back({"attachment_limit",
               many,
               {},
               {"H Content-Type: multipart/mixed; boundary=b"},
               {{Note::kAttachmentLimit, 2}}});
  v.push_back({"html_edge_cases",
               "Content-Type: text/html\n\n<p>a &lt;b&gt; &#x41;&#66;&#0; x<3 &amp</p><a\nhref = "
               "'http://x.example/?a=1&amp;b=2' >l</a><a href=/rel>r</a><!-- <a href=hidden> -->"
               "<script>document.write('<a href=\"http://s.example\">')</script><a href=\"cut",
               {},
               // Links are emitted when complete; the text chunk when the part ends.
               {"H Content-Type: text/html", "U http://x.example/?a=1&b=2", "U /rel", "U cut",
                "T a <b> AB\xEF\xBF\xBD x<3 &\nlr\n"},
               {}});
  // Regression (fuzzer): a multipart right after a header section read without the classifier.
  v.push_back({"top_level_rfc822_holding_multipart",
               "Content-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/mixed;"
               " boundary=b\n\n--b\n\ninner text\n--b--\n",
               {},
               {"H Content-Type: message/rfc822", "T inner text\n"},
               {}});
  v.push_back({"bare_lf_multipart",
               "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nline\n--b--\n",
               {},
               {"H Content-Type: multipart/mixed; boundary=b", "T line\n"},
               {},
               true});
  return v;
}

class LimitsTest : public ::testing::TestWithParam<Case> {};

TEST_P(LimitsTest, DefinedOutcomeAndNote) {
  const Case& c = GetParam();
  std::string wire = c.raw_wire ? c.message : crlf(c.message);
  Decoded d = decode(wire, 0, c.limits);
  std::vector<std::string> got = render(d.fields);
  while (!got.empty() && (got.back()[0] == 'R' || got.back()[0] == 'F')) {
    got.pop_back();
  }
  EXPECT_EQ(got, c.fields);
  EXPECT_EQ(joined(d.fields, FieldKind::kFull), wire);
  for (size_t i = 0; i < kNoteCount; ++i) {
    Note n = static_cast<Note>(i);
    auto it = c.notes.find(n);
    EXPECT_EQ(d.summary.note(n), it == c.notes.end() ? 0u : it->second) << note_name(n);
  }
  for (unsigned split : {1u, 5u, 77u}) {
    SCOPED_TRACE(split);
    EXPECT_EQ(decode(wire, split, c.limits).fields, d.fields);
  }
}

INSTANTIATE_TEST_SUITE_P(Notes, LimitsTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.name);
                         });

TEST(Limits, AttachmentsBeyondCapacityAreCounted) {
  std::string many = "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
  for (int i = 0; i < 18; ++i) {
    many += "--b\r\nContent-Type: image/png; name=\"i" + std::to_string(i) +
            ".png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n";
  }
  Decoded d = decode(many + "--b--\r\n");
  EXPECT_EQ(d.summary.attachment_count, kMaxAttachments);
  EXPECT_EQ(d.summary.attachments_dropped, 2u);
  EXPECT_EQ(d.summary.attachments[15].name.view(), "i15.png");
  EXPECT_EQ(d.summary.attachments[15].decoded_size, 8u);
  EXPECT_EQ(d.summary.attachments[15].type.view(), "image/png");
}

TEST(Limits, CallsOutOfOrderAreIgnoredAndCounted) {
  RecordingSink sink;
  Decoder d(sink);
  d.content("Subject: x\r\n\r\n");
  d.end_content();
  EXPECT_TRUE(sink.fields.empty());
  EXPECT_EQ(d.stats().notes[static_cast<size_t>(Note::kOutOfOrderCall)], 2u);
}

TEST(Limits, AbortEmitsNothingMore) {
  RecordingSink sink;
  Decoder d(sink);
  d.begin_content();
  d.content("Subject: x\r\n\r\nbody text that is never flushed");
  d.abort_content();
  d.end_content();  // after abort: out of order
  ASSERT_EQ(sink.fields.size(), 1u);
  EXPECT_EQ(sink.fields[0].kind, FieldKind::kHeader);
  EXPECT_TRUE(d.summary().aborted);
  EXPECT_FALSE(d.summary().ended);
  EXPECT_EQ(d.stats().aborted, 1u);
}

TEST(Limits, FloorsKeepTinyLimitsUsable) {
  Limits l;
  l.chunk_bytes = 1;
  l.max_header_bytes = 0;
  l.max_depth = 0;
  l.max_uri_bytes = 0;
  RecordingSink sink;
  Decoder d(sink, l);
  EXPECT_EQ(d.limits().chunk_bytes, 64u);
  EXPECT_EQ(d.limits().max_header_bytes, 64u);
  EXPECT_EQ(d.limits().max_depth, 1u);
  EXPECT_GT(Decoder::memory_bytes(l), 0u);
  feed(d, crlf(kOutlookMixed), 1);
  EXPECT_EQ(joined(sink.fields, FieldKind::kFull), crlf(kOutlookMixed));
}

// An attachment's base64 is counted, not decoded (16 bytes at a time while only alphabet and
// line breaks come): its size must still be the decoded length, whatever the line layout,
// padding, blanks or invalid characters, and the split.
std::string base64_of(size_t n, size_t line, const std::string& brk) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string raw;
  for (size_t i = 0; i < n; ++i) {
    raw += static_cast<char>(i * 7919 + 13);
  }
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint8_t>(raw[i]) << 16;
    v |= i + 1 < n ? static_cast<uint8_t>(raw[i + 1]) << 8 : 0;
    v |= i + 2 < n ? static_cast<uint8_t>(raw[i + 2]) : 0;
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += i + 1 < n ? a[(v >> 6) & 63] : '=';
    out += i + 2 < n ? a[v & 63] : '=';
  }
  std::string lines;
  for (size_t i = 0; i < out.size(); i += line) {
    lines += out.substr(i, line) + brk;
  }
  return lines;
}

TEST(Limits, AttachmentSizeIsTheDecodedLength) {
  struct Body {
    std::string b64;
    uint64_t size;
    uint32_t bad;
  };
  std::vector<Body> bodies;
  for (size_t n : {0u, 1u, 2u, 3u, 4u, 47u, 48u, 49u, 57u, 1000u, 4096u, 12289u, 300000u}) {
    bodies.push_back({base64_of(n, 76, "\r\n"), n, 0});
    bodies.push_back({base64_of(n, 64, "\n"), n, 0});
    bodies.push_back({base64_of(n, 1000000, ""), n, 0});  // one line, no break
  }
  std::string spaced;  // a blank every 333 characters
  for (char c : base64_of(3000, 76, "\r\n")) {
    spaced += c;
    if (spaced.size() % 333 == 100) {
      spaced += spaced.size() % 2 ? ' ' : '\t';
    }
  }
  bodies.push_back({spaced, 3000, 0});
  std::string bad = base64_of(3000, 76, "\r\n");
  bad.insert(1500, "*!");
  bodies.push_back({bad, 3000, 1});
  // Padding in the middle ends a group: "QQ==" is one byte, then decoding goes on.
  bodies.push_back({"QQ==" + base64_of(999, 76, "\r\n"), 1000, 0});
  for (const Body& b : bodies) {
    std::string msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                      "Content-Type: application/octet-stream\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\n" +
                      b.b64 + "\r\n--b--\r\n";
    for (unsigned split : {0u, 1u, 9u}) {
      SCOPED_TRACE(std::to_string(b.size) + " bytes, split " + std::to_string(split));
      Decoded d = decode(msg, split);
      ASSERT_EQ(d.summary.attachment_count, 1u);
      EXPECT_EQ(d.summary.attachments[0].decoded_size, b.size);
      EXPECT_EQ(d.summary.note(Note::kBadBase64), b.bad);
    }
  }
}

TEST(Limits, NoteNamesAreDistinct) {
  for (size_t i = 0; i < kNoteCount; ++i) {
    for (size_t j = i + 1; j < kNoteCount; ++j) {
      EXPECT_NE(note_name(static_cast<Note>(i)), note_name(static_cast<Note>(j)));
    }
  }
  EXPECT_EQ(note_name(Note::kDepthLimit), "depth_limit");
}


// Decoders on one thread share a HeaderScratch (a worker's do): fed in interleaved random
// pieces, so each completes headers while the other holds half of one, two sharing decoders
// give exactly the fields and summaries each gives alone with its own buffers.
TEST(HeaderScratch, SharedByInterleavedDecodersChangesNothing) {
  const std::string a = crlf(kOutlookMixed);          // RFC 2047 subject, RFC 2231 filename
  const std::string b = crlf(kThunderbirdAlternative);  // RFC 2047 subject, other charset
  const Decoded alone_a = decode(a);
  const Decoded alone_b = decode(b);
  HeaderScratch shared;
  for (unsigned seed = 2; seed < 40; ++seed) {
    RecordingSink sink_a, sink_b;
    Decoder da(sink_a, {}, &shared), db(sink_b, {}, &shared);
    da.begin_content();
    db.begin_content();
    std::mt19937 rng(seed);
    size_t ia = 0, ib = 0;
    while (ia < a.size() || ib < b.size()) {
      const size_t n = std::uniform_int_distribution<size_t>(1, 60)(rng);
      const size_t ta = std::min(n, a.size() - ia), tb = std::min(n, b.size() - ib);
      da.content(std::string_view(a).substr(ia, ta));
      db.content(std::string_view(b).substr(ib, tb));
      ia += ta;
      ib += tb;
    }
    da.end_content();
    db.end_content();
    ASSERT_EQ(sink_a.fields, alone_a.fields) << "seed " << seed;
    ASSERT_EQ(sink_b.fields, alone_b.fields) << "seed " << seed;
    for (size_t h = 0; h < kSummaryHeaderCount; ++h) {
      EXPECT_EQ(da.summary().headers[h].value.view(), alone_a.summary.headers[h].value.view());
      EXPECT_EQ(db.summary().headers[h].value.view(), alone_b.summary.headers[h].value.view());
    }
  }
}

// A shared scratch made for smaller limits than the decoder's is not used (the decoder makes
// its own): an encoded header longer than the small scratch still decodes whole.
TEST(HeaderScratch, TooSmallForTheDecodersLimitsIsNotUsed) {
  Limits small;
  small.max_header_bytes = 64;
  HeaderScratch shared(small);
  const std::string msg = "Subject: =?UTF-8?Q?" + std::string(3000, 'x') + "?=\r\n\r\nbody\r\n";
  RecordingSink sink;
  Decoder d(sink, {}, &shared);
  feed(d, msg, 0);
  EXPECT_EQ(sink.fields, decode(msg).fields);
  EXPECT_EQ(joined(sink.fields, FieldKind::kHeader), std::string(3000, 'x'));
}

}  // namespace
}  // namespace smtpgw::mime::test
