// Real-looking messages, as the named mailers write them (LF here; crlf() makes the wire form).
#pragma once

#include <string>
#include <string_view>

namespace smtpgw::mime::test {

inline std::string crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 16);
  for (char c : s) {
    if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Thunderbird 115, plain text, format=flowed, 8bit UTF-8.
inline constexpr std::string_view kThunderbirdPlain = R"(Message-ID: <8f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c@example.org>
Date: Tue, 24 Nov 2026 09:14:02 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-US
To: Bob Example <bob@example.net>
From: Alice Example <alice@example.org>
Subject: Minutes of Monday's meeting
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Hi Bob,

the minutes are on https://wiki.example.org/meetings/2026-11-23. Café at 10?

Alice
)";

// Thunderbird, multipart/alternative with quoted-printable parts.
inline constexpr std::string_view kThunderbirdAlternative = R"(Message-ID: <c0ffee00-1111-2222-3333-444455556666@example.org>
Date: Tue, 24 Nov 2026 10:01:44 +0100
MIME-Version: 1.0
From: Alice Example <alice@example.org>
To: bob@example.net
Subject: =?UTF-8?Q?R=C3=A9union_de_lundi?=
Content-Type: multipart/alternative;
 boundary="------------Mq0BzXkY1vT3nV6cZpWl9sRd"

This is a multi-part message in MIME format.
--------------Mq0BzXkY1vT3nV6cZpWl9sRd
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: quoted-printable

Le compte rendu est pr=C3=AAt, voir le lien ci-dessous. Une tr=C3=A8s lon=
gue ligne coup=C3=A9e.

--------------Mq0BzXkY1vT3nV6cZpWl9sRd
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<!DOCTYPE html>
<html>
  <head>
    <meta http-equiv=3D"content-type" content=3D"text/html; charset=3DUTF-8">
  </head>
  <body>
    <p>Le compte rendu est pr=C3=AAt, voir <a class=3D"moz-txt-link-freetext" =
href=3D"https://wiki.example.org/cr?id=3D7&amp;v=3D2">le lien</a>.</p>
  </body>
</html>

--------------Mq0BzXkY1vT3nV6cZpWl9sRd--
)";

// Outlook 16: mixed > alternative (Windows-1252 QP text, HTML) + a base64 PDF whose name is an
// RFC 2047 word.
inline constexpr std::string_view kOutlookMixed = R"(From: "Dupont, Jean" <jean.dupont@example.com>
To: "Martin, Claire" <claire.martin@example.com>
Subject: =?iso-8859-1?Q?Facture_n=B0_2026-114?=
Thread-Topic: Facture 2026-114
Date: Tue, 24 Nov 2026 08:02:11 +0000
Message-ID: <AM0PR01MB1234567890ABCDEF@AM0PR01MB1234.eurprd01.prod.outlook.com>
Accept-Language: fr-FR, en-US
Content-Language: fr-FR
Content-Type: multipart/mixed;
	boundary="_004_AM0PR01MB1234567890ABCDEF_"
MIME-Version: 1.0

--_004_AM0PR01MB1234567890ABCDEF_
Content-Type: multipart/alternative;
	boundary="_000_AM0PR01MB1234567890ABCDEF_"

--_000_AM0PR01MB1234567890ABCDEF_
Content-Type: text/plain; charset="Windows-1252"
Content-Transfer-Encoding: quoted-printable

Bonjour,=20

Ci-joint la facture =96 montant 120 =80.

Cordialement
--_000_AM0PR01MB1234567890ABCDEF_
Content-Type: text/html; charset="Windows-1252"
Content-Transfer-Encoding: quoted-printable

<html><head><style><!-- p.MsoNormal {margin:0cm;} --></style></head><body>
<p class=3D"MsoNormal">Bonjour,</p><p class=3D"MsoNormal">Ci-joint la factu=
re =96 montant 120 =80.</p></body></html>

--_000_AM0PR01MB1234567890ABCDEF_--

--_004_AM0PR01MB1234567890ABCDEF_
Content-Type: application/pdf;
	name="=?iso-8859-1?Q?Facture_n=B0_2026-114.pdf?="
Content-Description: =?iso-8859-1?Q?Facture_n=B0_2026-114.pdf?=
Content-Disposition: attachment;
	filename="=?iso-8859-1?Q?Facture_n=B0_2026-114.pdf?="; size=32;
	creation-date="Tue, 24 Nov 2026 08:01:00 GMT"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+Pgo=

--_004_AM0PR01MB1234567890ABCDEF_--
)";

// Python email package (EmailMessage, set_content + add_attachment): RFC 2231 file name.
inline constexpr std::string_view kPythonEmail = R"(Subject: Report
From: reports@example.com
To: team@example.com
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="===============4738291047281937461=="

--===============4738291047281937461==
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

VGhlIHdlZWtseSByZXBvcnQgaXMgYXR0YWNoZWQ6IHd3dy5leGFtcGxlLmNvbS9yZXBvcnQuCg==

--===============4738291047281937461==
Content-Type: text/csv; charset="utf-8"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9%202026.csv
MIME-Version: 1.0

ZGF5LHNlbnQKbW9uLDEyCg==

--===============4738291047281937461==--
)";

// A marketing mailer: list headers, a folded DKIM signature, HTML only with style, script, a
// comment, a tracking pixel, entities and invisible characters.
inline constexpr std::string_view kMarketing = R"(DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=news.example.com;
	s=s1; h=from:to:subject:date:list-unsubscribe;
	bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==
From: "Example Deals" <deals@news.example.com>
To: <customer@example.net>
Subject: =?utf-8?B?8J+OgSAtNTAlIHRoaXMgd2Vla2VuZA==?=
Date: Tue, 24 Nov 2026 07:00:00 +0000
Message-ID: <20261124070000.12345@news.example.com>
List-Unsubscribe: <https://news.example.com/u?c=abc>, <mailto:unsub@news.example.com>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

<html><head><style>.x{color:red}</style><script>var u="http://evil.example/";</script></head>
<body><!-- tracking --><h1>Black&nbsp;Friday &amp; more</h1>
<p>Fr&#xE9;e sh&#8203;ipping &#8364;0 &copy; 2026 &bogus; AT&T</p>
<a href="https://click.example.com/l?u=1&amp;c=2">Shop now</a>
<img src=https://t.example.com/o.gif width=1 height=1>
</body></html>
)";

// An out-of-office reply (RFC 3834), subject in ISO-8859-1 Q words across a fold.
inline constexpr std::string_view kAutoReply = R"(From: Carla <carla@example.org>
To: alice@example.org
Subject: =?ISO-8859-1?Q?Abwesenheitsnotiz:_Gr=FC=DFe?=
 =?ISO-8859-1?Q?_aus_M=FCnchen?=
Auto-Submitted: auto-replied
Precedence: auto_reply
Date: Tue, 24 Nov 2026 11:00:00 +0100
Message-ID: <ooo-1@example.org>
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable

Ich bin bis Montag nicht im B=FCro.
)";

// A forwarded message (message/rfc822 inside multipart/mixed).
inline constexpr std::string_view kForward = R"(From: alice@example.org
To: bob@example.net
Subject: Fwd: invoice
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

See below.
--outer
Content-Type: message/rfc822

From: someone@example.com
Subject: invoice
Content-Type: text/html

<p>Pay at <a href='http://pay.example.com/x'>here</a></p>
--outer--
)";

}  // namespace smtpgw::mime::test
