// Golden cases: real-looking messages from common mailers, the exact sequence of fields the
// decoder emits, and the summary. Every case is also fed one byte at a time and in random pieces,
// and must give exactly the same fields (the segmentation-invariance contract of decoder.h).
#include <gtest/gtest.h>

#include <functional>

#include "tests/unit/mime/messages.h"
#include "tests/unit/mime/mime_test_util.h"

namespace smtpgw::mime::test {
namespace {

struct Golden {
  const char* name;
  std::string_view message;  // LF form; fed as CRLF
  std::vector<std::string> fields;  // render() of the field sequence
  std::function<void(const Summary&)> check;
};

std::string body_of(const std::string& wire) {
  size_t p = wire.find("\r\n\r\n");
  return p == std::string::npos ? std::string() : wire.substr(p + 4);
}

std::vector<std::string> with_chunks(std::vector<std::string> v, const std::string& wire) {
  v.push_back("R <" + std::to_string(body_of(wire).size()) + ">");
  v.push_back("F <" + std::to_string(wire.size()) + ">");
  return v;
}

const Golden kGolden[] = {
    {"thunderbird_plain",
     kThunderbirdPlain,
     {"H Message-ID: <8f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c@example.org>",
      "H Date: Tue, 24 Nov 2026 09:14:02 +0100",
      "H MIME-Version: 1.0",
      "H User-Agent: Mozilla Thunderbird",
      "H Content-Language: en-US",
      "H To: Bob Example <bob@example.net>",
      "H From: Alice Example <alice@example.org>",
      "H Subject: Minutes of Monday's meeting",
      "H Content-Type: text/plain; charset=UTF-8; format=flowed",
      "H Content-Transfer-Encoding: 8bit",
      "U https://wiki.example.org/meetings/2026-11-23",
      "T Hi Bob,\r\n\r\nthe minutes are on https://wiki.example.org/meetings/2026-11-23. "
      "Caf\xC3\xA9 at 10?\r\n\r\nAlice\r\n"},
     [](const Summary& s) {
       EXPECT_EQ(s.value(SummaryHeader::kFrom), "Alice Example <alice@example.org>");
       EXPECT_EQ(s.value(SummaryHeader::kTo), "Bob Example <bob@example.net>");
       EXPECT_EQ(s.value(SummaryHeader::kSubject), "Minutes of Monday's meeting");
       EXPECT_EQ(s.value(SummaryHeader::kMessageId),
                 "<8f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c@example.org>");
       EXPECT_EQ(s.value(SummaryHeader::kDate), "Tue, 24 Nov 2026 09:14:02 +0100");
       EXPECT_FALSE(s.has(SummaryHeader::kListUnsubscribe));
       EXPECT_FALSE(s.has(SummaryHeader::kDkimSignature));
       EXPECT_FALSE(s.auto_submitted());
       EXPECT_EQ(s.part_count, 1u);
       EXPECT_EQ(s.attachment_count, 0u);
       EXPECT_EQ(s.uri_count, 1u);
     }},
    {"thunderbird_alternative_qp",
     kThunderbirdAlternative,
     {"H Message-ID: <c0ffee00-1111-2222-3333-444455556666@example.org>",
      "H Date: Tue, 24 Nov 2026 10:01:44 +0100",
      "H MIME-Version: 1.0",
      "H From: Alice Example <alice@example.org>",
      "H To: bob@example.net",
      "H Subject: R\xC3\xA9union de lundi | =?UTF-8?Q?R=C3=A9union_de_lundi?=",
      "H Content-Type: multipart/alternative; "
      "boundary=\"------------Mq0BzXkY1vT3nV6cZpWl9sRd\"",
      // The preamble is read as text (nothing hides outside the parts); each part ends a line.
      "T This is a multi-part message in MIME format.\n"
      "Le compte rendu est pr\xC3\xAAt, voir le lien ci-dessous. Une tr\xC3\xA8s longue ligne "
      "coup\xC3\xA9" "e.\r\n",
      "U https://wiki.example.org/cr?id=7&v=2",
      "T Le compte rendu est pr\xC3\xAAt, voir le lien.\n"},
     [](const Summary& s) {
       EXPECT_EQ(s.value(SummaryHeader::kSubject), "R\xC3\xA9union de lundi");
       EXPECT_EQ(s.part_count, 3u);
       EXPECT_EQ(s.max_depth, 1u);
       EXPECT_EQ(s.attachment_count, 0u);
       for (uint32_t n : s.notes) {
         EXPECT_EQ(n, 0u);
       }
     }},
    {"outlook_mixed_cp1252_pdf",
     kOutlookMixed,
     {"H From: \"Dupont, Jean\" <jean.dupont@example.com>",
      "H To: \"Martin, Claire\" <claire.martin@example.com>",
      "H Subject: Facture n\xC2\xB0 2026-114 | =?iso-8859-1?Q?Facture_n=B0_2026-114?=",
      "H Thread-Topic: Facture 2026-114",
      "H Date: Tue, 24 Nov 2026 08:02:11 +0000",
      "H Message-ID: <AM0PR01MB1234567890ABCDEF@AM0PR01MB1234.eurprd01.prod.outlook.com>",
      "H Accept-Language: fr-FR, en-US",
      "H Content-Language: fr-FR",
      "H Content-Type: multipart/mixed;\tboundary=\"_004_AM0PR01MB1234567890ABCDEF_\"",
      "H MIME-Version: 1.0",
      "T Bonjour, \r\n\r\nCi-joint la facture \xE2\x80\x93 montant 120 \xE2\x82\xAC.\r\n\r\n"
      "Cordialement\n"
      "Bonjour,\nCi-joint la facture \xE2\x80\x93 montant 120 \xE2\x82\xAC.\n"},
     [](const Summary& s) {
       EXPECT_EQ(s.part_count, 5u);
       EXPECT_EQ(s.max_depth, 2u);
       ASSERT_EQ(s.attachment_count, 1u);
       EXPECT_EQ(s.attachments[0].name.view(), "Facture n\xC2\xB0 2026-114.pdf");
       EXPECT_EQ(s.attachments[0].type.view(), "application/pdf");
       EXPECT_EQ(s.attachments[0].decoded_size, 41u);
       EXPECT_TRUE(s.attachments[0].disposition_attachment);
       EXPECT_EQ(s.attachments[0].depth, 1u);
     }},
    {"python_email_rfc2231",
     kPythonEmail,
     {"H Subject: Report",
      "H From: reports@example.com",
      "H To: team@example.com",
      "H MIME-Version: 1.0",
      "H Content-Type: multipart/mixed; boundary=\"===============4738291047281937461==\"",
      "U www.example.com/report",
      // The CSV is text: it is rendered (and recorded as an attachment).
      "T The weekly report is attached: www.example.com/report.\nday,sent\nmon,12\n"},
     [](const Summary& s) {
       ASSERT_EQ(s.attachment_count, 1u);
       EXPECT_EQ(s.attachments[0].name.view(), "r\xC3\xA9sum\xC3\xA9 2026.csv");
       EXPECT_EQ(s.attachments[0].type.view(), "text/csv");
       EXPECT_EQ(s.attachments[0].decoded_size, 16u);
       EXPECT_EQ(s.part_count, 3u);
     }},
    {"marketing_html",
     kMarketing,
     {"H DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=news.example.com;\ts=s1; "
      "h=from:to:subject:date:list-unsubscribe;\t"
      "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==",
      "H From: \"Example Deals\" <deals@news.example.com>",
      "H To: <customer@example.net>",
      "H Subject: \xF0\x9F\x8E\x81 -50% this weekend | "
      "=?utf-8?B?8J+OgSAtNTAlIHRoaXMgd2Vla2VuZA==?=",
      "H Date: Tue, 24 Nov 2026 07:00:00 +0000",
      "H Message-ID: <20261124070000.12345@news.example.com>",
      "H List-Unsubscribe: <https://news.example.com/u?c=abc>, <mailto:unsub@news.example.com>",
      "H List-Unsubscribe-Post: List-Unsubscribe=One-Click",
      "H Precedence: bulk",
      "H MIME-Version: 1.0",
      "H Content-Type: text/html; charset=utf-8",
      "H Content-Transfer-Encoding: 7bit",
      "U https://click.example.com/l?u=1&c=2",
      "U https://t.example.com/o.gif",
      // Style, script and comment dropped; &#8203; (zero width) dropped; unknown entity kept.
      "T Black Friday & more\nFr\xC3\xA9" "e shipping \xE2\x82\xAC" "0 \xC2\xA9 2026 &bogus; "
      "AT&T\nShop now \n"},
     [](const Summary& s) {
       EXPECT_TRUE(s.has(SummaryHeader::kDkimSignature));
       EXPECT_EQ(s.value(SummaryHeader::kPrecedence), "bulk");
       EXPECT_EQ(s.value(SummaryHeader::kListUnsubscribe),
                 "<https://news.example.com/u?c=abc>, <mailto:unsub@news.example.com>");
       EXPECT_EQ(s.headers[static_cast<size_t>(SummaryHeader::kListUnsubscribe)].count, 1u);
       EXPECT_EQ(s.uri_count, 2u);
       EXPECT_FALSE(s.auto_submitted());
     }},
    {"auto_reply_latin1",
     kAutoReply,
     {"H From: Carla <carla@example.org>",
      "H To: alice@example.org",
      "H Subject: Abwesenheitsnotiz: Gr\xC3\xBC\xC3\x9F" "e aus M\xC3\xBCnchen | "
      "=?ISO-8859-1?Q?Abwesenheitsnotiz:_Gr=FC=DFe?= =?ISO-8859-1?Q?_aus_M=FCnchen?=",
      "H Auto-Submitted: auto-replied",
      "H Precedence: auto_reply",
      "H Date: Tue, 24 Nov 2026 11:00:00 +0100",
      "H Message-ID: <ooo-1@example.org>",
      "H Content-Type: text/plain; charset=ISO-8859-1",
      "H Content-Transfer-Encoding: quoted-printable",
      "T Ich bin bis Montag nicht im B\xC3\xBCro.\r\n"},
     [](const Summary& s) {
       EXPECT_TRUE(s.auto_submitted());
       EXPECT_EQ(s.value(SummaryHeader::kAutoSubmitted), "auto-replied");
     }},
    {"forward_rfc822",
     kForward,
     {"H From: alice@example.org",
      "H To: bob@example.net",
      "H Subject: Fwd: invoice",
      "H Content-Type: multipart/mixed; boundary=outer",
      "T See below.\n",
      "U http://pay.example.com/x",
      "T Pay at here\n"},
     [](const Summary& s) {
       // message, text part, message/rfc822 part, the embedded message; its headers are not
       // top-level headers.
       EXPECT_EQ(s.part_count, 4u);
       EXPECT_EQ(s.max_depth, 2u);
       EXPECT_EQ(s.header_count, 4u);
       EXPECT_EQ(s.value(SummaryHeader::kSubject), "Fwd: invoice");
     }},
};

class GoldenTest : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenTest, ExactFieldsAndSummary) {
  const Golden& g = GetParam();
  std::string wire = crlf(g.message);
  Decoded d = decode(wire);
  EXPECT_EQ(render(d.fields), with_chunks(g.fields, wire));
  EXPECT_EQ(joined(d.fields, FieldKind::kFull), wire);
  EXPECT_EQ(joined(d.fields, FieldKind::kRawBody), body_of(wire));
  EXPECT_TRUE(d.summary.ended);
  EXPECT_EQ(d.summary.content_bytes, wire.size());
  EXPECT_EQ(d.summary.header_bytes, wire.size() - body_of(wire).size());
  g.check(d.summary);
}

TEST_P(GoldenTest, SameFieldsWhateverTheSplit) {
  std::string wire = crlf(GetParam().message);
  Decoded whole = decode(wire);
  for (unsigned split : {1u, 2u, 3u, 17u, 4242u}) {
    SCOPED_TRACE(split);
    Decoded d = decode(wire, split);
    EXPECT_EQ(d.fields, whole.fields);
  }
  // Small chunk buffers: many chunks, still the same text, and still split-invariant.
  Limits small;
  small.chunk_bytes = 64;
  Decoded a = decode(wire, 0, small);
  Decoded b = decode(wire, 1, small);
  EXPECT_EQ(a.fields, b.fields);
  EXPECT_EQ(joined(a.fields, FieldKind::kBodyText), joined(whole.fields, FieldKind::kBodyText));
  EXPECT_EQ(joined(a.fields, FieldKind::kFull), wire);
  for (const Rec& r : a.fields) {
    if (r.kind == FieldKind::kBodyText || r.kind == FieldKind::kFull ||
        r.kind == FieldKind::kRawBody) {
      EXPECT_LE(r.value.size(), 64u);
    }
  }
}

TEST_P(GoldenTest, LfOnlyLineEndingsGiveTheSameStructure) {
  std::string lf(GetParam().message);
  Decoded d = decode(lf);
  Decoded c = decode(crlf(lf));
  auto kinds = [](const std::vector<Rec>& f) {
    std::vector<std::pair<FieldKind, std::string>> v;
    for (const Rec& r : f) {
      if (r.kind == FieldKind::kHeader || r.kind == FieldKind::kUri) {
        v.emplace_back(r.kind, r.name + ":" + r.value);
      }
    }
    return v;
  };
  EXPECT_EQ(kinds(d.fields), kinds(c.fields));
  EXPECT_EQ(d.summary.part_count, c.summary.part_count);
  EXPECT_EQ(d.summary.attachment_count, c.summary.attachment_count);
  EXPECT_EQ(joined(d.fields, FieldKind::kFull), lf);
}

TEST_P(GoldenTest, DecoderIsReusedAcrossMessages) {
  std::string wire = crlf(GetParam().message);
  RecordingSink sink;
  Decoder d(sink);
  feed(d, crlf(kMarketing), 0);
  sink.fields.clear();
  feed(d, wire, 0);
  EXPECT_EQ(sink.fields, decode(wire).fields);
  EXPECT_EQ(d.stats().messages, 2u);
  EXPECT_EQ(d.stats().ended, 2u);
}

INSTANTIATE_TEST_SUITE_P(Mailers, GoldenTest, ::testing::ValuesIn(kGolden),
                         [](const ::testing::TestParamInfo<Golden>& i) {
                           return std::string(i.param.name);
                         });

}  // namespace
}  // namespace smtpgw::mime::test
