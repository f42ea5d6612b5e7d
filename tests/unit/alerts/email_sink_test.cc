// The e-mail sink against real SMTP servers on loopback: aiosmtpd (tools/lib/smtp_sink.py, a
// subprocess) receives the alert as the admins would; an in-test relay that refuses recipients
// (550: failed at once; 451: retried) or never greets (stop is prompt).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/alerts/sinks.h"
#include "tests/unit/alerts/sink_test_util.h"

namespace smtpgw::alerts {
namespace {

using namespace std::chrono_literals;
using test::alert;
using test::eventually;
using test::seconds_since;

constexpr const char* kPython = "/usr/bin/python3";

// tools/lib/smtp_sink.py as a child process, killed and reaped by the destructor whatever the
// test's outcome.
class SmtpSinkProcess {
 public:
  SmtpSinkProcess() {
    char tmpl[] = "/tmp/smtpgw_sinks_XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    record_ = dir_ + "/record.jsonl";
    const std::string ready = dir_ + "/ready";
    port_ = test::unused_port();
    const std::string script = std::string(SMTPGW_SOURCE_ROOT) + "/tools/lib/smtp_sink.py";
    const std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, STDOUT_FILENO);  // its per-message lines; errors stay on stderr
      ::execl(kPython, kPython, script.c_str(), "--host", "127.0.0.1", "--port", port.c_str(),
              "--record", record_.c_str(), "--ready", ready.c_str(), "--record-content",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ready_ = eventually([&] {
               if (std::filesystem::exists(ready)) {
                 return true;
               }
               int status = 0;
               if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                 pid_ = -1;  // exited: reaped here
                 return true;
               }
               return false;
             }) &&
             pid_ > 0;
  }
  ~SmtpSinkProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      if (!eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 10s)) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }
  std::vector<nlohmann::json> records() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(record_);
    std::string line;
    while (std::getline(in, line)) {
      out.push_back(nlohmann::json::parse(line));
    }
    return out;
  }

 private:
  std::string dir_, record_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
};

bool have_aiosmtpd(std::string* why) {
  if (::access(kPython, X_OK) != 0) {
    *why = std::string(kPython) + " is missing";
    return false;
  }
  if (std::system("/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1") != 0) {
    *why = "python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)";
    return false;
  }
  return true;
}

EmailOptions options(uint16_t port) {
  EmailOptions o;
  o.relay_host = "127.0.0.1";
  o.relay_port = port;
  o.from = "smtpgw@example.net";
  o.to = {"noc@example.net", "ops@example.net"};
  o.helo = "gw1.example.net";
  o.timeout = 10s;
  o.delivery.backoff_initial = 20ms;
  o.delivery.backoff_max = 100ms;
  return o;
}

TEST(EmailSink, DeliversToEveryAdminThroughARealServer) {
  std::string why;
  if (!have_aiosmtpd(&why)) {
    GTEST_SKIP() << why;
  }
  SmtpSinkProcess server;
  ASSERT_TRUE(server.ready()) << "smtp_sink.py did not start";
  EmailSink mail(options(server.port()));
  Alerts alerts(300);
  alerts.add_sink(mail.sink());
  // A message line that starts with '.' must survive dot-stuffing.
  alerts.raise(Kind::kUserRestricted, "alice@example.com", "blocked until released\n.hidden",
               {{"limit", "messages_per_hour"}, {"count", 31}}, 1'751'371'200'000'000'000ull);
  alerts.raise(Kind::kUserRestricted, "alice@example.com", "again", {},
               1'751'371'201'000'000'000ull);  // folded: not mailed
  ASSERT_TRUE(eventually([&] { return mail.counters().delivered == 1; })) << mail.last_error();
  ASSERT_TRUE(eventually([&] { return server.records().size() == 1; }));
  const nlohmann::json r = server.records()[0];
  EXPECT_EQ(r["mail_from"], "smtpgw@example.net");
  EXPECT_EQ(r["rcpt_tos"], (nlohmann::json{"noc@example.net", "ops@example.net"}));
  EXPECT_EQ(r["helo"], "gw1.example.net");
  EXPECT_EQ(r["subject"], "[smtpgw] critical: user_restricted_from_sending alice@example.com");
  const std::string content = r["content"];
  EXPECT_EQ(content.rfind("Date: Tue, 01 Jul 2025 12:00:00 +0000\r\n", 0), 0u) << content;
  for (const char* h :
       {"\r\nFrom: smtpgw@example.net\r\n", "\r\nMessage-ID: <", "@example.net>\r\n",
        "\r\nMIME-Version: 1.0\r\n", "\r\nContent-Type: text/plain; charset=utf-8\r\n",
        "\r\nTo: noc@example.net,\r\n    ops@example.net\r\n",
        "\r\n\r\nblocked until released\r\n.hidden\r\n", "\"limit\": \"messages_per_hour\""}) {
    EXPECT_NE(content.find(h), std::string::npos) << h << "\n" << content;
  }
  const SinkCounters c = mail.counters();
  EXPECT_EQ(c.accepted, 1u);
  EXPECT_EQ(c.retried, 0u);
  EXPECT_EQ(c.recipients_refused, 0u);
}

// An SMTP relay in the test: greets, accepts EHLO and MAIL FROM, answers every RCPT TO with
// `rcpt_reply`, records each command. With `greet` false it accepts and never says a word.
class FakeRelay {
 public:
  explicit FakeRelay(std::string rcpt_reply, bool greet = true)
      : rcpt_reply_(std::move(rcpt_reply)), greet_(greet) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_, 8), 0);
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeRelay() {
    stop_ = true;
    thread_.join();
    ::close(listen_);
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  std::vector<std::string> commands() {
    std::lock_guard lk(mu_);
    return commands_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listen_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) {
        continue;
      }
      const int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        continue;
      }
      ++connections_;
      serve(fd);
      ::close(fd);
    }
  }

  void serve(int fd) {
    auto say = [&](const std::string& s) { ::send(fd, s.data(), s.size(), MSG_NOSIGNAL); };
    if (!greet_) {
      while (!stop_) {  // holds the connection, silent, until the client goes away
        pollfd p{fd, POLLIN, 0};
        char b[256];
        if (::poll(&p, 1, 20) > 0 && ::recv(fd, b, sizeof b, 0) <= 0) {
          return;
        }
      }
      return;
    }
    say("220 relay.test ESMTP\r\n");
    std::string buf;
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) {
        continue;
      }
      char b[1024];
      const ssize_t n = ::recv(fd, b, sizeof b, 0);
      if (n <= 0) {
        return;
      }
      buf.append(b, static_cast<size_t>(n));
      for (size_t eol; (eol = buf.find("\r\n")) != std::string::npos;) {
        const std::string line = buf.substr(0, eol);
        buf.erase(0, eol + 2);
        {
          std::lock_guard lk(mu_);
          commands_.push_back(line);
        }
        if (line.rfind("EHLO", 0) == 0) {
          say("250-relay.test\r\n250 8BITMIME\r\n");
        } else if (line.rfind("MAIL FROM:", 0) == 0) {
          say("250 2.1.0 ok\r\n");
        } else if (line.rfind("RCPT TO:", 0) == 0) {
          say(rcpt_reply_ + "\r\n");
        } else if (line == "QUIT") {
          say("221 bye\r\n");
          return;
        } else {
          say("503 5.5.1 not expected here\r\n");
        }
      }
    }
  }

  std::string rcpt_reply_;
  bool greet_;
  int listen_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<std::string> commands_;
};

TEST(EmailSink, RecipientsRefusedForGoodFailAtOnce) {
  FakeRelay relay("550 5.1.1 no such user");
  EmailOptions o = options(relay.port());
  o.delivery.max_attempts = 5;
  EmailSink mail(o);
  mail.offer(alert(Kind::kEgressListed, "192.0.2.7"));
  ASSERT_TRUE(eventually([&] { return mail.counters().failed == 1; })) << mail.last_error();
  const SinkCounters c = mail.counters();
  EXPECT_EQ(c.delivered, 0u);
  EXPECT_EQ(c.retried, 0u);  // 5xx is final: no retry
  EXPECT_EQ(c.recipients_refused, 2u);
  EXPECT_EQ(relay.connections(), 1);
  EXPECT_NE(mail.last_error().find("550 5.1.1 no such user"), std::string::npos)
      << mail.last_error();
  ASSERT_TRUE(eventually([&] { return relay.commands().size() == 5; }));
  EXPECT_EQ(relay.commands(),
            (std::vector<std::string>{"EHLO gw1.example.net", "MAIL FROM:<smtpgw@example.net>",
                                      "RCPT TO:<noc@example.net>", "RCPT TO:<ops@example.net>",
                                      "QUIT"}));  // never DATA
}

TEST(EmailSink, RecipientsRefusedForNowAreRetried) {
  FakeRelay relay("451 4.3.0 try later");
  EmailOptions o = options(relay.port());
  o.delivery.max_attempts = 3;
  EmailSink mail(o);
  mail.offer(alert(Kind::kEgressListed, "192.0.2.7"));
  ASSERT_TRUE(eventually([&] { return mail.counters().failed == 1; })) << mail.last_error();
  const SinkCounters c = mail.counters();
  EXPECT_EQ(c.retried, 2u);
  EXPECT_EQ(c.recipients_refused, 0u);
  EXPECT_EQ(relay.connections(), 3);
}

TEST(EmailSink, RelayDownFailsAfterMaxAttempts) {
  EmailOptions o = options(test::unused_port());
  o.delivery.max_attempts = 2;
  EmailSink mail(o);
  mail.offer(alert(Kind::kEgressListed, "192.0.2.7"));
  ASSERT_TRUE(eventually([&] { return mail.counters().failed == 1; }));
  EXPECT_EQ(mail.counters().retried, 1u);
  EXPECT_NE(mail.last_error().find("connect to 127.0.0.1:"), std::string::npos)
      << mail.last_error();
}

TEST(EmailSink, StopWhileTheRelayIsSilentIsPrompt) {
  FakeRelay relay("250 ok", /*greet=*/false);
  EmailOptions o = options(relay.port());
  o.timeout = 30s;
  o.delivery.shutdown_grace = 200ms;
  EmailSink mail(o);
  mail.offer(alert(Kind::kEgressListed, "192.0.2.7"));
  ASSERT_TRUE(eventually([&] { return relay.connections() == 1; }));
  const auto t = std::chrono::steady_clock::now();
  mail.stop();
  EXPECT_LT(seconds_since(t), 5.0);  // the grace, not the 30 s read timeout
  EXPECT_EQ(mail.counters().abandoned, 1u);
  EXPECT_EQ(mail.counters().delivered, 0u);
}

TEST(EmailSink, BadOptionsAreRefusedAtConstruction) {
  auto message = [](EmailOptions o) -> std::string {
    try {
      EmailSink s(std::move(o));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  EmailOptions o = options(25);
  o.to = {"noc@example.net", "bad address@example.net"};
  EXPECT_NE(message(o).find("is not a mail address"), std::string::npos) << message(o);
  o.to.clear();
  EXPECT_NE(message(o).find("no admin address"), std::string::npos) << message(o);
  o = options(25);
  o.from = "smtpgw@example.net>\r\nRCPT TO:<x@y";
  EXPECT_NE(message(o).find("from"), std::string::npos) << message(o);
}

}  // namespace
}  // namespace smtpgw::alerts
