// The sinks' formats and values, as pure functions: URLs, relays and addresses as the config
// loader checks them, syslog facilities, severities and lines, the mail's headers and body.
#include <gtest/gtest.h>
#include <syslog.h>

#include <string>
#include <vector>

#include "control/alerts/sinks.h"
#include "tests/unit/alerts/sink_test_util.h"

namespace smtpgw::alerts {
namespace {

using test::alert;

TEST(SinkValues, HttpUrls) {
  struct Case {
    const char* url;
    const char* host;  // nullptr: refused, and `error` is part of the message
    uint16_t port;
    const char* target_or_error;
  };
  const std::vector<Case> cases = {
      {"http://127.0.0.1:9000/hook", "127.0.0.1", 9000, "/hook"},
      {"HTTP://hooks.example.net", "hooks.example.net", 80, "/"},
      {"http://[::1]:8080/a/b?x=1", "::1", 8080, "/a/b?x=1"},
      {"http://h.example?x=1", "h.example", 80, "/?x=1"},
      {"https://hooks.example.net/x", nullptr, 0, "https is not supported"},
      {"ftp://h/x", nullptr, 0, "expected an http:// URL"},
      {"hooks.example.net/x", nullptr, 0, "expected an http:// URL"},
      {"http://user:pw@h/x", nullptr, 0, "user:password@"},
      {"http://h:0/x", nullptr, 0, "1..65535"},
      {"http://h:70000/x", nullptr, 0, "1..65535"},
      {"http:///x", nullptr, 0, "the host is empty"},
      {"http://h/x y", nullptr, 0, "white space"},
      {"http://h/x#frag", nullptr, 0, "fragment"},
      {"http://[::1/x", nullptr, 0, "no ']'"},
      {"http://h..example/x", nullptr, 0, "empty label"},
  };
  for (const Case& c : cases) {
    HttpUrl u;
    std::string error;
    const bool ok = parse_http_url(c.url, &u, &error);
    EXPECT_EQ(ok, c.host != nullptr) << c.url << ": " << error;
    if (ok && c.host != nullptr) {
      EXPECT_EQ(u.host, c.host) << c.url;
      EXPECT_EQ(u.port, c.port) << c.url;
      EXPECT_EQ(u.target, c.target_or_error) << c.url;
    } else if (!ok) {
      EXPECT_NE(error.find(c.target_or_error), std::string::npos) << c.url << ": " << error;
    }
  }
}

TEST(SinkValues, RelaysAndAddresses) {
  std::string host, error;
  uint16_t port = 0;
  ASSERT_TRUE(parse_host_port("127.0.0.1:2525", 25, &host, &port, &error)) << error;
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 2525);
  ASSERT_TRUE(parse_host_port("smtp.example.net", 25, &host, &port, &error)) << error;
  EXPECT_EQ(port, 25);
  ASSERT_TRUE(parse_host_port("[2001:db8::25]:587", 25, &host, &port, &error)) << error;
  EXPECT_EQ(host, "2001:db8::25");
  EXPECT_EQ(port, 587);
  EXPECT_FALSE(parse_host_port("relay:", 25, &host, &port, &error));
  EXPECT_FALSE(parse_host_port("re lay", 25, &host, &port, &error));
  EXPECT_FALSE(parse_host_port("", 25, &host, &port, &error));

  for (const char* good : {"noc@example.net", "a.b+c@sub.example.org", "root@localhost"}) {
    EXPECT_TRUE(looks_like_address(good)) << good;
  }
  for (const char* bad :
       {"", "noc", "@example.net", "noc@", "a@b@c", "no c@example.net", "noc@exa mple.net",
        "<noc@example.net>", "noc@example.net\r\nBcc: x", "noc@.example.net", "noc@example..net",
        "n\"oc@example.net", "noc@ex_ample.net"}) {
    EXPECT_FALSE(looks_like_address(bad)) << bad;
  }
}

TEST(SyslogSink, FacilitiesSeveritiesAndTheLine) {
  EXPECT_EQ(parse_syslog_facility("daemon"), SyslogFacility::kDaemon);
  EXPECT_EQ(parse_syslog_facility("local7"), SyslogFacility::kLocal7);
  EXPECT_FALSE(parse_syslog_facility("local8").has_value());
  EXPECT_FALSE(parse_syslog_facility("DAEMON").has_value());
  EXPECT_FALSE(parse_syslog_facility("kern").has_value());  // not ours to write to
  for (size_t i = 0; i < kSyslogFacilityNames.size(); ++i) {
    EXPECT_EQ(parse_syslog_facility(kSyslogFacilityNames[i]), static_cast<SyslogFacility>(i));
  }
  EXPECT_EQ(syslog_facility_value(SyslogFacility::kDaemon), LOG_DAEMON);
  EXPECT_EQ(syslog_facility_value(SyslogFacility::kMail), LOG_MAIL);
  EXPECT_EQ(syslog_facility_value(SyslogFacility::kUser), LOG_USER);
  EXPECT_EQ(syslog_facility_value(SyslogFacility::kLocal0), LOG_LOCAL0);
  EXPECT_EQ(syslog_facility_value(SyslogFacility::kLocal5), LOG_LOCAL5);
  EXPECT_EQ(syslog_severity(Kind::kUserRestricted), LOG_CRIT);
  EXPECT_EQ(syslog_severity(Kind::kLimitExceeded), LOG_WARNING);
  EXPECT_EQ(syslog_severity(Kind::kEgressDelisted), LOG_INFO);
  EXPECT_EQ(syslog_line(alert(Kind::kLimitExceeded, "eve@example.org", "31 > 30 per minute")),
            "sending_limit_exceeded eve@example.org: 31 > 30 per minute");
  const std::string line =
      syslog_line(alert(Kind::kLimitExceeded, "eve@x\r\nforged line", "a\nb\tc"));
  EXPECT_EQ(line, "sending_limit_exceeded eve@x  forged line: a b c");
}

TEST(SyslogSink, SendsOnItsThread) {
  SyslogOptions o;
  o.facility = SyslogFacility::kLocal7;
  SyslogSink s(o);
  Alerts alerts(300);
  alerts.add_sink(s.sink());
  alerts.raise(Kind::kRulesetActivated, "rules v3", "test of the syslog sink", {}, 1);
  alerts.raise(Kind::kRulesetActivated, "rules v3", "folded", {}, 2);
  ASSERT_TRUE(test::eventually([&] { return s.counters().delivered == 1; }));
  EXPECT_EQ(s.counters().accepted, 1u);  // first only
}

TEST(EmailFormat, DateAndDotStuffing) {
  EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(1'751'371'200'000'000'000ull), "Tue, 01 Jul 2025 12:00:00 +0000");
  EXPECT_EQ(dot_stuff(".a\r\nb\r\n..c\r\nd.\r\n."), "..a\r\nb\r\n...c\r\nd.\r\n..");
}

// The header section (up to the first empty line) as lines.
std::vector<std::string> header_lines(const std::string& m) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t end = m.find("\r\n", start);
    if (end == std::string::npos || end == start) {
      return out;
    }
    out.push_back(m.substr(start, end - start));
    start = end + 2;
  }
}

void expect_well_formed(const std::string& m) {
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
    }
    if (m[i] == '\r') {
      ASSERT_TRUE(i + 1 < m.size() && m[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  size_t start = 0;
  for (size_t end; (end = m.find("\r\n", start)) != std::string::npos; start = end + 2) {
    EXPECT_LE(end - start, 998u);
  }
}

EmailOptions mail_options() {
  EmailOptions o;
  o.relay_host = "127.0.0.1";
  o.from = "smtpgw@example.net";
  o.to = {"noc@example.net"};
  return o;
}

TEST(EmailFormat, SubjectCannotInjectHeaders) {
  const std::string m = email_message(
      alert(Kind::kUserRestricted, "eve@example.org\r\nBcc: victim@example.com\nX-A: 1"),
      mail_options(), "<1@example.net>");
  expect_well_formed(m);
  const std::vector<std::string> h = header_lines(m);
  std::vector<std::string> names;
  for (const std::string& l : h) {
    ASSERT_NE(l.find(':'), std::string::npos) << l;  // no continuation line here
    names.push_back(l.substr(0, l.find(':')));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Date", "From", "To", "Subject", "Message-ID",
                                             "MIME-Version", "Content-Type",
                                             "Content-Transfer-Encoding", "Auto-Submitted"}));
  EXPECT_EQ(h[3],
            "Subject: [smtpgw] critical: user_restricted_from_sending "
            "eve@example.org  Bcc: victim@example.com X-A: 1");
  EXPECT_EQ(h[7], "Content-Transfer-Encoding: 7bit");
}

TEST(EmailFormat, NonAsciiSubjectIsEncodedAndBodyQuotedPrintable) {
  const std::string subject = "j\xC3\xBCrgen." + std::string(60, 'x') +
                              "@b\xC3\xA4"
                              "ckerei.example";
  const std::string m =
      email_message(alert(Kind::kLimitExceeded, subject, "caf\xC3\xA9 = " + std::string(300, 'y')),
                    mail_options(), "<1@example.net>");
  expect_well_formed(m);
  EXPECT_NE(m.find("Subject: =?utf-8?B?"), std::string::npos) << m;
  EXPECT_NE(m.find("?=\r\n =?utf-8?B?"), std::string::npos) << m;  // folded encoded-words
  for (const std::string& l : header_lines(m)) {
    EXPECT_LE(l.size(), 78u) << l;
  }
  EXPECT_NE(m.find("Content-Transfer-Encoding: quoted-printable\r\n"), std::string::npos);
  EXPECT_NE(m.find("caf=C3=A9 =3D yyy"), std::string::npos) << m;
  const std::string body = m.substr(m.find("\r\n\r\n") + 4);
  size_t start = 0;
  for (size_t end; (end = body.find("\r\n", start)) != std::string::npos; start = end + 2) {
    EXPECT_LE(end - start, 76u);
  }
  for (char c : body) {
    EXPECT_LT(static_cast<unsigned char>(c), 0x80);
  }
}

}  // namespace
}  // namespace smtpgw::alerts
