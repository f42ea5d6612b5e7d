// The SMTP sides smtpgen plays over its TCP peers (issue 13, step 2): a client that sends a
// session's messages as a mail server relaying outbound would (EHLO, PIPELINING when offered,
// several transactions per session, DATA with dot-stuffing or BDAT when CHUNKING is offered,
// RSET after a transaction that failed before its content, QUIT), and a server that answers
// like Postfix and keeps every message it accepted. Both record every reply, so the verifier can
// compare what happened with what the gateway's policy had to decide.
//
// Bytes in, bytes out: no TCP and no clock here. Not thread-safe: one generator thread owns a
// session.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smtpgw::smtpgen {

struct MessageSpec {
  std::string from;                 // the reverse path's address ("" for the null sender)
  std::vector<std::string> rcpts;
  std::string content;              // header and body, CRLF lines, not dot-stuffed
};

// What became of one message on the client's side.
struct MessageResult {
  int mail = 0;                     // the reply code to MAIL FROM (0: never answered)
  std::vector<int> rcpts;           // to each RCPT TO, in order
  int data = 0;                     // to DATA (354) or BDAT; 0: not sent
  int end = 0;                      // to the end of the content ("." or BDAT LAST); 0: none
  std::string end_text;             // that reply's first line
};

class SmtpClient {
 public:
  SmtpClient(std::string helo, std::vector<MessageSpec> messages, bool use_bdat = true);
  // The server's bytes (any split); appends what the client sends now to `out`.
  void on_bytes(std::string_view in, std::string& out);
  // The server closed the connection (FIN or RST): the session ends where it stood.
  void on_closed() { done_ = true; }
  bool done() const { return done_; }
  bool quit_answered() const { return quit_ == 221; }
  const std::vector<MessageResult>& results() const { return results_; }
  // The last reply's first line (a 421's text, say).
  const std::string& last_reply() const { return last_reply_; }

 private:
  enum class Step : uint8_t { kGreeting, kEhlo, kMail, kRcpt, kData, kEnd, kRset, kQuit };
  void reply(int code, std::string_view first_line, std::string& out);
  void begin_message(std::string& out);
  void send_content(std::string& out);

  std::string helo_;
  std::vector<MessageSpec> messages_;
  bool use_bdat_;
  bool pipelining_ = false, chunking_ = false;
  std::vector<MessageResult> results_;
  size_t current_ = 0;     // the message in progress
  size_t rcpt_replies_ = 0;
  Step step_ = Step::kGreeting;
  std::string line_, first_line_;
  bool done_ = false;
  int quit_ = 0;
  std::string last_reply_;
};

// A message the server accepted.
struct Received {
  std::string from;
  std::vector<std::string> rcpts;
  std::string content;  // as the client meant it (dot-stuffing removed, BDAT chunks joined)
};

class SmtpServer {
 public:
  explicit SmtpServer(std::string name = "mx.outside.test");
  // The greeting, sent when the connection opens.
  void open(std::string& out);
  // The client's bytes (any split); appends the replies to `out`.
  void on_bytes(std::string_view in, std::string& out);
  bool quit() const { return quit_; }  // QUIT answered: the server closes
  const std::vector<Received>& messages() const { return messages_; }

 private:
  void command(std::string_view line, std::string& out);

  std::string name_;
  std::string line_;
  bool in_data_ = false, quit_ = false;
  uint64_t bdat_left_ = 0;
  bool bdat_last_ = false;
  Received current_;
  bool have_mail_ = false;
  std::vector<Received> messages_;
  uint64_t queued_ = 0;
};

}  // namespace smtpgw::smtpgen
