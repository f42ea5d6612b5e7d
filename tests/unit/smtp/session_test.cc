// Golden SMTP transcripts: {description, client/server steps, expected sink log, records,
// anomalies}. Every case is also replayed one byte at a time and in random cuts, and must give
// exactly the same result (segmentation invariance).
#include <gtest/gtest.h>

#include "tests/unit/smtp/harness.h"

namespace smtpgw::smtp::testing {
namespace {

struct Golden {
  const char* description;
  std::vector<Step> steps;
  std::vector<std::string> log;      // empty: not checked
  std::vector<std::string> records;
  std::map<std::string, uint64_t> anomalies;
  std::vector<std::string> contents = {};
};

const std::string kGreet = "220 mx.example ESMTP\r\n";
const std::string kEhloReply =
    "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
    "250-CHUNKING\r\n250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n";

std::vector<Golden> goldens() {
  return {
      {"plain delivery with dot-stuffing and parameters",
       {S(kGreet), C("EHLO client.example\r\n"), S(kEhloReply),
        C("MAIL FROM:<Alice@Example.COM> SIZE=42 BODY=8BITMIME\r\n"), S("250 2.1.0 Ok\r\n"),
        C("RCPT TO:<bob@Dest.Example>\r\n"), S("250 2.1.5 Ok\r\n"), C("DATA\r\n"),
        S("354 End data with <CR><LF>.<CR><LF>\r\n"),
        C("Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\n"),
        S("250 2.0.0 Ok: queued as ABC\r\n"), C("QUIT\r\n"), S("221 2.0.0 Bye\r\n")},
       {"begin", "helo:client.example", "from:Alice@example.com", "rcpt:bob@dest.example",
        "content-begin", "content-end:33", "end", "record"},
       {"#0 helo=client.example from=Alice@example.com SIZE=42 BODY=2 mail=250/2.1.0 "
        "rcpt=[bob@dest.example:250/2.1.5] acc=1 rej=0 size=33 final=250/2.0.0 'Ok: queued as "
        "ABC' delivered"},
       {},
       {"Subject: hi\r\n\r\nhello\r\n.dot line\r\n"}},

      {"pipelined group, one recipient refused, then a null-sender message to Postmaster",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<nobody@y.org>\r\n"
          "RCPT TO:<c@y.org>\r\nDATA\r\n"),
        S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@y.org>: Recipient address "
          "rejected\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"),
        C("body\r\n.\r\n"), S("250 2.0.0 queued\r\n"),
        C("MAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n"), S("250 ok\r\n250 ok\r\n354 go\r\n"),
        C(".\r\n"), S("250 ok\r\n"), C("QUIT\r\n"), S("221 bye\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "rcpt:nobody@y.org", "rcpt:c@y.org",
        "content-begin", "content-end:6", "end", "record", "begin", "helo:c", "from:",
        "rcpt:postmaster", "content-begin", "content-end:0", "end", "record"},
       {"#0 helo=c from=a@x.org mail=250/2.1.0 rcpt=[b@y.org:250/2.1.5,nobody@y.org:550/5.1.1,"
        "c@y.org:250/2.1.5] acc=2 rej=1 size=6 final=250/2.0.0 'queued' delivered",
        "#1 helo=c from=<> mail=250 rcpt=[postmaster:250] acc=1 rej=0 size=0 final=250 'ok' "
        "delivered"},
       {}},

      {"sender refused: the pipelined RCPT and DATA fail, content never starts",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<spam@bad.example>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"),
        S("550 5.7.1 Sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n"),
        C("QUIT\r\n"), S("221 bye\r\n")},
       {"begin", "helo:c", "from:spam@bad.example", "rcpt:b@y.org", "content-begin",
        "content-abort", "abort", "record"},
       {"#0 helo=c from=spam@bad.example mail=550/5.7.1 rcpt=[b@y.org:503/5.5.1] acc=0 rej=1 "
        "size=0 rejected@mail truncated"},
       {}},

      {"every recipient refused, then RSET: rejected at rcpt",
       {S(kGreet), C("HELO c\r\n"), S("250 mx\r\n"), C("MAIL FROM:<a@x.org>\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<z@y.org>\r\n"), S("550 5.1.1 no such user\r\n"), C("RSET\r\n"),
        S("250 ok\r\n"), C("QUIT\r\n"), S("221 bye\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:z@y.org", "abort", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[z@y.org:550/5.1.1] acc=0 rej=1 size=0 "
        "rejected@rcpt"},
       {}},

      {"RSET abandons a transaction, the next one is delivered",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("MAIL FROM:<a@x.org>\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<b@y.org>\r\n"), S("250 ok\r\n"), C("RSET\r\n"), S("250 ok\r\n"),
        C("MAIL FROM:<a2@x.org>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b2@y.org>\r\n"),
        S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"), C("x\r\n.\r\n"), S("250 done\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "abort", "record", "begin", "helo:c",
        "from:a2@x.org", "rcpt:b2@y.org", "content-begin", "content-end:3", "end", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=0 aborted",
        "#1 helo=c from=a2@x.org mail=250 rcpt=[b2@y.org:250] acc=1 rej=0 size=3 final=250 "
        "'done' delivered"},
       {}},

      {"DATA refused with an accepted recipient",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("MAIL FROM:<a@x.org>\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<b@y.org>\r\n"), S("250 ok\r\n"), C("DATA\r\n"),
        S("451 4.3.0 try later\r\n"), C("QUIT\r\n"), S("221 bye\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-abort",
        "abort", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=0 rejected@data "
        "truncated"},
       {}},

      {"end of data refused (multi-line final reply: text of the first line)",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("MAIL FROM:<a@x.org>\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<b@y.org>\r\n"), S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"),
        C("spam spam\r\n.\r\n"),
        S("554-5.7.1 Message refused as spam\r\n554 5.7.1 see https://example/why\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-end:11",
        "end", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=11 "
        "final=554/5.7.1 'Message refused as spam' rejected@end_of_data"},
       {}},

      {"BDAT chunks with LAST; bytes that look like an end of data inside a chunk are data",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<a@x.org> BODY=BINARYMIME\r\nRCPT TO:<b@y.org>\r\nBDAT 10\r\n0\r\n.\r\n6789"
          "BDAT 5 LAST\r\nabcde"),
        S("250 ok\r\n250 ok\r\n250 2.0.0 10 octets\r\n250 2.0.0 queued\r\n"), C("QUIT\r\n"),
        S("221 bye\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-end:15",
        "end", "record"},
       {"#0 helo=c from=a@x.org BODY=3 mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=15 bdat=2 "
        "final=250/2.0.0 'queued' delivered"},
       {},
       {"0\r\n.\r\n6789abcde"}},

      {"BDAT 0 LAST ends an empty message",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nBDAT 0 LAST\r\n"),
        S("250 ok\r\n250 ok\r\n250 queued\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-end:0",
        "end", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=0 bdat=1 "
        "final=250 'queued' delivered"},
       {}},

      {"AUTH PLAIN with an initial response: user is authcid, domain lower-cased",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("AUTH PLAIN AGFsaWNlQEV4YW1wbGUuT1JHAHMzY3JldFBhc3Mh\r\n"),
        S("235 2.7.0 Authentication successful\r\n"), C("MAIL FROM:<alice@example.org>\r\n"),
        S("250 ok\r\n"), C("QUIT\r\n"), S("221 bye\r\n")},
       {"begin", "helo:c", "auth:alice@example.org", "from:alice@example.org", "abort",
        "record"},
       {"#0 helo=c auth=alice@example.org from=alice@example.org mail=250 rcpt=[] acc=0 rej=0 "
        "size=0 aborted"},
       {}},

      {"AUTH LOGIN challenge/response",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("AUTH LOGIN\r\n"),
        S("334 VXNlcm5hbWU6\r\n"), C("Ym9i\r\n"), S("334 UGFzc3dvcmQ6\r\n"),
        C("aHVudGVyMnh5eg==\r\n"), S("235 2.7.0 ok\r\n"), C("MAIL FROM:<b@x.org>\r\n"),
        S("250 ok\r\n")},
       {"begin", "helo:c", "auth:bob", "from:b@x.org", "abort", "record"},
       {"#0 helo=c auth=bob from=b@x.org mail=250 rcpt=[] acc=0 rej=0 size=0 aborted"},
       {}},

      {"AUTH LOGIN with the user as initial response, then CRAM-MD5 and XOAUTH2 failures",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("AUTH LOGIN Ym9i\r\n"),
        S("334 UGFzc3dvcmQ6\r\n"), C("aHVudGVyMnh5eg==\r\n"), S("535 5.7.8 bad\r\n"),
        C("AUTH CRAM-MD5\r\n"), S("334 PDEyMzQ1QGV4YW1wbGU+\r\n"),
        C("Y2Fyb2wgMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\r\n"), S("535 5.7.8 bad\r\n"),
        C("AUTH XOAUTH2 dXNlcj1kYXZlQGV4YW1wbGUubmV0AWF1dGg9QmVhcmVyIHRvazNuVjRsdWUBAQ==\r\n"),
        S("334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"), C("\r\n"), S("535 5.7.8 bad\r\n"),
        C("MAIL FROM:<x@x.org>\r\n"), S("250 ok\r\n")},
       {"begin", "helo:c", "from:x@x.org", "abort", "record"},
       {"#0 helo=c from=x@x.org mail=250 rcpt=[] acc=0 rej=0 size=0 aborted"},
       {}},

      {"STARTTLS accepted: the session becomes opaque, TLS bytes are not parsed",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("STARTTLS\r\n"), S("220 2.0.0 Ready\r\n"),
        C(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03MAIL FROM:<x@y>\r\n", 28)),
        S(std::string("\x16\x03\x03\x00\x5a\x02garbage\r\n", 15))},
       {},
       {},
       {}},

      {"STARTTLS refused: parsing continues in plain text",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("STARTTLS\r\n"),
        S("454 4.7.0 TLS not available\r\n"), C("MAIL FROM:<a@x.org>\r\n"), S("250 ok\r\n")},
       {"begin", "helo:c", "from:a@x.org", "abort", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[] acc=0 rej=0 size=0 aborted"},
       {}},

      {"NOOP, VRFY, HELP, EXPN: replies matched, no anomaly",
       {S("220-mx.example ESMTP\r\n220 welcome\r\n"), C("HELO c\r\n"), S("250 mx\r\n"),
        C("NOOP\r\nVRFY bob\r\nHELP\r\nEXPN list\r\n"),
        S("250 ok\r\n252 2.1.5 maybe\r\n214-help\r\n214 end\r\n502 5.5.1 no\r\n"),
        C("QUIT\r\n"), S("221 bye\r\n")},
       {},
       {},
       {}},

      {"source route dropped, quoted local part unquoted, SMTPUTF8 and DSN parameters",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<@relay.example,@r2.example:\"john.doe\"@EXAMPLE.com.> SMTPUTF8 RET=HDRS "
          "ENVID=QQ314159 XFOO=1\r\n"),
        S("250 ok\r\n"), C("RCPT TO:<\"odd name\"@Y.org> NOTIFY=NEVER\r\n"), S("250 ok\r\n")},
       {"begin", "helo:c", "from:john.doe@example.com", "rcpt:\"odd name\"@y.org", "abort",
        "record"},
       {"#0 helo=c from=john.doe@example.com SMTPUTF8 RET=2 ENVID=QQ314159 unknown_params=1 "
        "mail=250 rcpt=[\"odd name\"@y.org:250] acc=1 rej=0 size=0 aborted"},
       {}},

      {"bad addresses are recorded raw with their reason, and counted",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("MAIL FROM:<a@@x.org>\r\n"),
        S("501 5.1.7 bad\r\n"), C("MAIL FROM:<ok@x.org>\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<no-domain>\r\n"), S("501 5.1.3 bad\r\n")},
       {"begin", "helo:c", "from:<a@@x.org>", "abort", "record", "begin", "helo:c",
        "from:ok@x.org", "rcpt:<no-domain>", "abort", "record"},
       {"#0 helo=c from=!bad_domain:<a@@x.org> mail=501/5.1.7 rcpt=[] acc=0 rej=0 size=0 "
        "rejected@mail",
        "#1 helo=c from=ok@x.org mail=250 rcpt=[<no-domain>!no_domain:501/5.1.3] acc=0 rej=1 "
        "size=0 rejected@rcpt"},
       {{"bad_address", 2}}},

      {"connection closed in the middle of DATA: aborted, content truncated",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply), C("MAIL FROM:<a@x.org>\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<b@y.org>\r\n"), S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"),
        C("partial body\r\n.")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-abort",
        "abort", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=14 aborted "
        "truncated"},
       {}},

      // The client runs ahead of the replies: the "." of one message and a whole reset
      // transaction are sent before the end-of-data reply, so three transactions await replies
      // at once (the one closing, the one reset, the one being sent).
      {"pipelined after the end of data: MAIL, RCPT, RSET, MAIL, RCPT, DATA before any reply",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"),
        S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
        C("hello\r\n.\r\nMAIL FROM:<c@x.org>\r\nRCPT TO:<d@y.org>\r\nRSET\r\n"
          "MAIL FROM:<e@x.org>\r\nRCPT TO:<f@y.org>\r\nDATA\r\n"),
        S("250 2.0.0 Ok: queued as A1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n"
          "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
        C("second\r\n.\r\n"), S("250 2.0.0 Ok: queued as A2\r\n"), C("QUIT\r\n"),
        S("221 2.0.0 Bye\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-end:7",
        "end", "begin", "helo:c", "from:c@x.org", "rcpt:d@y.org", "abort", "begin", "helo:c",
        "from:e@x.org", "rcpt:f@y.org", "content-begin", "record", "record", "content-end:8",
        "end", "record"},
       {"#0 helo=c from=a@x.org mail=250/2.1.0 rcpt=[b@y.org:250/2.1.5] acc=1 rej=0 size=7 "
        "final=250/2.0.0 'Ok: queued as A1' delivered",
        "#1 helo=c from=c@x.org mail=250/2.1.0 rcpt=[d@y.org:250/2.1.5] acc=1 rej=0 size=0 "
        "aborted",
        "#2 helo=c from=e@x.org mail=250/2.1.0 rcpt=[f@y.org:250/2.1.5] acc=1 rej=0 size=8 "
        "final=250/2.0.0 'Ok: queued as A2' delivered"},
       {},
       {"hello\r\n", "second\r\n"}},

      {"pipelined after the end of data: a second EHLO resets a transaction whose recipient "
       "is then refused",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"),
        S("250 ok\r\n250 ok\r\n354 go\r\n"),
        C("hello\r\n.\r\nMAIL FROM:<c@x.org>\r\nRCPT TO:<nobody@y.org>\r\nEHLO c2\r\n"
          "MAIL FROM:<e@x.org>\r\nRCPT TO:<f@y.org>\r\nDATA\r\n"),
        S("250 queued\r\n250 ok\r\n550 5.1.1 no such user\r\n" + kEhloReply +
          "250 ok\r\n250 ok\r\n354 go\r\n"),
        C(".\r\n"), S("250 queued 2\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-end:7",
        "end", "begin", "helo:c", "from:c@x.org", "rcpt:nobody@y.org", "abort", "begin",
        "helo:c2", "from:e@x.org", "rcpt:f@y.org", "content-begin", "record", "record",
        "content-end:0", "end", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=7 "
        "final=250 'queued' delivered",
        "#1 helo=c from=c@x.org mail=250 rcpt=[nobody@y.org:550/5.1.1] acc=0 rej=1 size=0 "
        "rejected@rcpt",
        "#2 helo=c2 from=e@x.org mail=250 rcpt=[f@y.org:250] acc=1 rej=0 size=0 "
        "final=250 'queued 2' delivered"},
       {}},

      {"pipelined after the end of data: MAIL, RCPT, QUIT before any reply",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"),
        S("250 ok\r\n250 ok\r\n354 go\r\n"),
        C("hello\r\n.\r\nMAIL FROM:<c@x.org>\r\nRCPT TO:<d@y.org>\r\nQUIT\r\n"),
        S("250 queued\r\n250 ok\r\n250 ok\r\n221 bye\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-end:7",
        "end", "begin", "helo:c", "from:c@x.org", "rcpt:d@y.org", "abort", "record", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=7 "
        "final=250 'queued' delivered",
        "#1 helo=c from=c@x.org mail=250 rcpt=[d@y.org:250] acc=1 rej=0 size=0 aborted"},
       {}},

      {"BDAT LAST, then MAIL, RCPT, RSET, MAIL, RCPT, BDAT LAST, all before any reply",
       {S(kGreet), C("EHLO c\r\n"), S(kEhloReply),
        C("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nBDAT 5 LAST\r\nhello"
          "MAIL FROM:<c@x.org>\r\nRCPT TO:<d@y.org>\r\nRSET\r\n"
          "MAIL FROM:<e@x.org>\r\nRCPT TO:<f@y.org>\r\nBDAT 3 LAST\r\nbye"),
        S("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n250 ok\r\n250 ok\r\n250 reset\r\n"
          "250 ok\r\n250 ok\r\n250 2.0.0 queued 2\r\n"),
        C("QUIT\r\n"), S("221 bye\r\n")},
       {"begin", "helo:c", "from:a@x.org", "rcpt:b@y.org", "content-begin", "content-end:5",
        "end", "begin", "helo:c", "from:c@x.org", "rcpt:d@y.org", "abort", "begin", "helo:c",
        "from:e@x.org", "rcpt:f@y.org", "content-begin", "content-end:3", "end", "record",
        "record", "record"},
       {"#0 helo=c from=a@x.org mail=250 rcpt=[b@y.org:250] acc=1 rej=0 size=5 bdat=1 "
        "final=250/2.0.0 'queued' delivered",
        "#1 helo=c from=c@x.org mail=250 rcpt=[d@y.org:250] acc=1 rej=0 size=0 aborted",
        "#2 helo=c from=e@x.org mail=250 rcpt=[f@y.org:250] acc=1 rej=0 size=3 bdat=1 "
        "final=250/2.0.0 'queued 2' delivered"},
       {},
       {"hello", "bye"}},
  };
}

class GoldenTest : public ::testing::TestWithParam<size_t> {};

TEST_P(GoldenTest, TranscriptGivesExpectedRecords) {
  const Golden g = goldens()[GetParam()];
  SCOPED_TRACE(g.description);
  RunResult r = run(g.steps);
  if (!g.log.empty()) {
    EXPECT_EQ(r.log, g.log);
  }
  EXPECT_EQ(r.records, g.records);
  EXPECT_EQ(r.anomalies, g.anomalies);
  if (!g.contents.empty()) {
    EXPECT_EQ(r.contents, g.contents);
  }
  EXPECT_FALSE(r.order_error);
  EXPECT_FALSE(r.desync);
  EXPECT_TRUE(r.monotonic);
}

TEST_P(GoldenTest, AnySegmentationGivesTheSameResult) {
  const Golden g = goldens()[GetParam()];
  SCOPED_TRACE(g.description);
  RunResult whole = run(g.steps, Cut::kWhole);
  RunResult bytes = run(g.steps, Cut::kBytes);
  EXPECT_EQ(bytes.log, whole.log);
  EXPECT_EQ(bytes.records, whole.records);
  EXPECT_EQ(bytes.contents, whole.contents);
  EXPECT_EQ(bytes.counters, whole.counters);
  EXPECT_EQ(bytes.release, whole.release);
  EXPECT_TRUE(bytes == whole);
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    RunResult cut = run(g.steps, Cut::kRandom, {}, seed);
    EXPECT_TRUE(cut == whole) << "seed " << seed;
  }
}

TEST_P(GoldenTest, HoldingEverythingAndAllowingChangesNothing) {
  const Golden g = goldens()[GetParam()];
  SCOPED_TRACE(g.description);
  SessionLimits all;
  all.hold_mask = hold_bit(HoldKind::kAuth) | hold_bit(HoldKind::kMailFrom) |
                  hold_bit(HoldKind::kRcptTo) | hold_bit(HoldKind::kEndOfData);
  RunResult plain = run(g.steps);
  RunResult held = run(g.steps, Cut::kBytes, all);
  EXPECT_EQ(held.log, plain.log);
  EXPECT_EQ(held.records, plain.records);
  EXPECT_TRUE(held.monotonic);
}

// Two sessions of one context take and give back active parts in turn (each often gets the
// part the other just left, buffers and record slots as that one left them): every golden
// transcript, next to every other as its neighbour, gives exactly what it gives alone, and the
// pool ends with every part given back.
TEST_P(GoldenTest, SharingAContextWithAnotherSessionChangesNothing) {
  const Golden g = goldens()[GetParam()];
  SCOPED_TRACE(g.description);
  RunResult alone = run(g.steps, Cut::kRandom, {}, 5);
  for (const Golden& other : goldens()) {
    SCOPED_TRACE(std::string("neighbour: ") + other.description);
    Neighbour nb{other.steps, run(other.steps).counters};
    RunResult shared = run(g.steps, Cut::kRandom, {}, 5, true, nullptr, nullptr, &nb);
    EXPECT_TRUE(shared == alone);
  }
}

INSTANTIATE_TEST_SUITE_P(Transcripts, GoldenTest, ::testing::Range<size_t>(0, goldens().size()));

// The whole client stream first, then the whole server stream (a capture whose directions were
// split): the same fields, content and records; only the early content is counted.
TEST(SessionTest, DirectionsFedOneAfterTheOtherGiveTheSameRecords) {
  for (size_t index : {0u, 1u, 4u, 6u, 7u, 8u, 18u, 19u, 21u}) {
    const Golden g = goldens()[index];
    SCOPED_TRACE(g.description);
    std::string client, server;
    for (const Step& st : g.steps) {
      (st.dir == Dir::kClient ? client : server) += st.bytes;
    }
    RunResult split = run({C(client), S(server)});
    RunResult bytes = run({C(client), S(server)}, Cut::kBytes);
    // Records are reported when the replies arrive, so only their place in the log differs.
    auto without_records = [](std::vector<std::string> log) {
      std::erase(log, std::string("record"));
      return log;
    };
    EXPECT_EQ(without_records(split.log), without_records(g.log));
    EXPECT_EQ(split.records, g.records);
    EXPECT_TRUE(bytes == split);
    for (const auto& [name, n] : split.anomalies) {
      EXPECT_EQ(name, "client_ahead_of_reply");
    }
  }
}

TEST(SessionTest, EhloExtensionsAreRecorded) {
  Recorder rec;
  Session s({}, &rec, &rec, &rec);
  s.on_server_data(kGreet);
  s.on_client_data("EHLO c\r\n");
  s.on_server_data(kEhloReply);
  const ServerExtensions& e = s.extensions();
  EXPECT_TRUE(e.esmtp);
  EXPECT_TRUE(e.pipelining);
  EXPECT_TRUE(e.chunking);
  EXPECT_TRUE(e.starttls);
  EXPECT_TRUE(e.eightbitmime);
  EXPECT_TRUE(e.smtputf8);
  EXPECT_TRUE(e.size);
  EXPECT_EQ(e.size_limit, 10240000u);
  EXPECT_EQ(e.auth_mechanisms, (1u << static_cast<int>(AuthMechanism::kPlain)) |
                                   (1u << static_cast<int>(AuthMechanism::kLogin)));
  EXPECT_FALSE(e.dsn);
  EXPECT_EQ(s.helo(), "c");
  EXPECT_EQ(s.counters()[Counter::kReplies], 2u);
}

TEST(SessionTest, StarttlsMakesTheSessionOpaqueAndReleasesEverything) {
  Recorder rec;
  Session s({}, &rec, &rec, &rec);
  s.on_server_data(kGreet);
  s.on_client_data("EHLO c\r\nSTARTTLS\r\n");
  EXPECT_EQ(s.release_limit(), 8u + 10u);
  s.on_server_data(kEhloReply);
  s.on_server_data("220 ready\r\n");
  EXPECT_TRUE(s.opaque());
  s.on_client_data("\x16\x03\x01 MAIL FROM:<a@b.c>\r\n");
  EXPECT_EQ(s.release_limit(), s.client_offset());
  EXPECT_EQ(s.counters()[Counter::kOpaque], 1u);
  EXPECT_EQ(s.counters()[Counter::kCommands], 2u);
  EXPECT_TRUE(rec.records.empty());
}

TEST(SessionTest, ContentFlowsWithoutAFieldSink) {
  Recorder rec;
  Session s({}, nullptr, &rec, &rec);
  s.on_server_data(kGreet);
  s.on_client_data("MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n");
  s.on_server_data("250 ok\r\n250 ok\r\n354 go\r\n");
  s.on_client_data("hi\r\n.\r\n");
  s.on_server_data("250 ok\r\n");
  ASSERT_EQ(rec.contents.size(), 1u);
  EXPECT_EQ(rec.contents[0], "hi\r\n");
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_NE(rec.records[0].find("size=4 final=250 'ok' delivered"), std::string::npos);
}

TEST(SessionTest, EndpointsAreCopiedIntoRecords) {
  struct Obs : SessionObserver {
    Endpoint client, server;
    void on_message(const MessageRecord& r) override {
      client = r.client;
      server = r.server;
    }
  } obs;
  Session s({}, nullptr, nullptr, &obs);
  Endpoint c;
  c.addr = {10, 0, 0, 1};
  c.port = 40000;
  Endpoint sv;
  sv.addr = {192, 0, 2, 25};
  sv.port = 25;
  s.set_endpoints(c, sv);
  s.on_server_data("220 hi\r\n");
  s.on_client_data("MAIL FROM:<a@b.c>\r\n");
  s.on_close();
  EXPECT_EQ(obs.client.port, 40000);
  EXPECT_EQ(obs.server.port, 25);
  EXPECT_EQ(obs.server.addr[3], 25);
}

}  // namespace
}  // namespace smtpgw::smtp::testing
