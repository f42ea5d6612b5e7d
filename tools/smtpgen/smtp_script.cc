#include "tools/smtpgen/smtp_script.h"

#include <algorithm>
#include <cctype>

namespace smtpgw::smtpgen {

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

// The address between < and > ("" when there is none).
std::string path_of(std::string_view line) {
  const size_t open = line.find('<');
  const size_t close = line.find('>', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) {
    return "";
  }
  return std::string(line.substr(open + 1, close - open - 1));
}

bool positive(int code) { return code >= 200 && code < 300; }

// Splits complete lines off `buffer` (CRLF or LF; the line without its end).
template <class Each>
void lines(std::string& buffer, std::string_view in, Each each) {
  buffer.append(in);
  size_t start = 0;
  for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(buffer.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!each(line)) {
      start = nl + 1;
      break;
    }
  }
  buffer.erase(0, start);
}

}  // namespace

SmtpClient::SmtpClient(std::string helo, std::vector<MessageSpec> messages, bool use_bdat)
    : helo_(std::move(helo)), messages_(std::move(messages)), use_bdat_(use_bdat) {}

void SmtpClient::on_bytes(std::string_view in, std::string& out) {
  lines(line_, in, [&](std::string_view line) {
    if (done_) {
      return false;
    }
    if (line.size() < 3) {
      return true;  // not a reply line: ignored
    }
    const bool more = line.size() > 3 && line[3] == '-';
    if (first_line_.empty()) {
      first_line_ = std::string(line);
    }
    if (step_ == Step::kEhlo && line.size() > 4) {
      const std::string_view keyword = line.substr(4);
      pipelining_ = pipelining_ || starts_with_nocase(keyword, "PIPELINING");
      chunking_ = chunking_ || starts_with_nocase(keyword, "CHUNKING");
    }
    if (!more) {
      const int code = std::atoi(std::string(line.substr(0, 3)).c_str());
      const std::string first = std::move(first_line_);
      first_line_.clear();
      reply(code, first, out);
    }
    return true;
  });
}

void SmtpClient::reply(int code, std::string_view first_line, std::string& out) {
  last_reply_ = std::string(first_line);
  if (code == 421) {
    done_ = true;  // the server (or the gateway) ends the session
    return;
  }
  MessageResult* r = current_ < results_.size() ? &results_[current_] : nullptr;
  const bool bdat = use_bdat_ && chunking_;
  switch (step_) {
    case Step::kGreeting:
      if (code == 220) {
        out += "EHLO " + helo_ + "\r\n";
        step_ = Step::kEhlo;
      } else {
        out += "QUIT\r\n";
        step_ = Step::kQuit;
      }
      return;
    case Step::kEhlo:
      if (positive(code)) {
        begin_message(out);
      } else {
        out += "QUIT\r\n";
        step_ = Step::kQuit;
      }
      return;
    case Step::kMail:
      r->mail = code;
      if (pipelining_) {
        step_ = Step::kRcpt;  // the RCPTs (and DATA) went with it
      } else if (positive(code)) {
        out += "RCPT TO:<" + messages_[current_].rcpts[0] + ">\r\n";
        step_ = Step::kRcpt;
      } else {
        out += "RSET\r\n";
        step_ = Step::kRset;
      }
      return;
    case Step::kRcpt: {
      r->rcpts.push_back(code);
      const MessageSpec& m = messages_[current_];
      if (r->rcpts.size() < m.rcpts.size()) {
        if (!pipelining_) {
          out += "RCPT TO:<" + m.rcpts[r->rcpts.size()] + ">\r\n";
        }
        return;
      }
      const bool any = std::any_of(r->rcpts.begin(), r->rcpts.end(), positive);
      if (!bdat && pipelining_) {
        step_ = Step::kData;  // DATA went with them
      } else if (positive(r->mail) && any) {
        if (bdat) {
          send_content(out);
          step_ = Step::kEnd;
        } else {
          out += "DATA\r\n";
          step_ = Step::kData;
        }
      } else {
        out += "RSET\r\n";
        step_ = Step::kRset;
      }
      return;
    }
    case Step::kData:
      r->data = code;
      if (code == 354) {
        send_content(out);
        step_ = Step::kEnd;
      } else {
        out += "RSET\r\n";
        step_ = Step::kRset;
      }
      return;
    case Step::kEnd:
      if (bdat) {
        r->data = code;
      }
      r->end = code;
      r->end_text = std::string(first_line);
      ++current_;
      begin_message(out);
      return;
    case Step::kRset:
      ++current_;
      begin_message(out);
      return;
    case Step::kQuit:
      quit_ = code;
      done_ = true;
      return;
  }
}

void SmtpClient::begin_message(std::string& out) {
  if (current_ >= messages_.size()) {
    out += "QUIT\r\n";
    step_ = Step::kQuit;
    return;
  }
  results_.emplace_back();
  const MessageSpec& m = messages_[current_];
  out += "MAIL FROM:<" + m.from + ">\r\n";
  if (pipelining_) {
    for (const std::string& rcpt : m.rcpts) {
      out += "RCPT TO:<" + rcpt + ">\r\n";
    }
    if (!(use_bdat_ && chunking_)) {
      out += "DATA\r\n";
    }
  }
  step_ = Step::kMail;
}

void SmtpClient::send_content(std::string& out) {
  std::string content = messages_[current_].content;
  if (!content.empty() && content.back() != '\n') {
    content += "\r\n";
  }
  if (use_bdat_ && chunking_) {
    out += "BDAT " + std::to_string(content.size()) + " LAST\r\n" + content;
    return;
  }
  // Dot-stuffing (RFC 5321 4.5.2): a line that starts with "." gets another.
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '.') {
      out += '.';
    }
    out += c;
    line_start = c == '\n';
  }
  out += ".\r\n";
}

SmtpServer::SmtpServer(std::string name) : name_(std::move(name)) {}

void SmtpServer::open(std::string& out) { out += "220 " + name_ + " ESMTP Postfix\r\n"; }

void SmtpServer::on_bytes(std::string_view in, std::string& out) {
  while (!in.empty()) {
    if (bdat_left_ > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(bdat_left_, in.size()));
      current_.content.append(in.substr(0, n));
      in.remove_prefix(n);
      bdat_left_ -= n;
      if (bdat_left_ == 0) {
        if (!bdat_last_) {
          out += "250 2.0.0 chunk received\r\n";
        } else if (current_.rcpts.empty()) {
          out += "554 5.5.1 Error: no valid recipients\r\n";
        } else {
          messages_.push_back(std::move(current_));
          out += "250 2.0.0 Ok: queued as Q" + std::to_string(++queued_) + "\r\n";
          current_ = {};
          have_mail_ = false;
        }
      }
      continue;
    }
    // Lines up to a BDAT command, whose chunk follows at once.
    const size_t nl = in.find('\n');
    const std::string_view part = nl == std::string_view::npos ? in : in.substr(0, nl + 1);
    in.remove_prefix(part.size());
    lines(line_, part, [&](std::string_view line) {
      if (in_data_) {
        if (line == ".") {
          in_data_ = false;
          messages_.push_back(std::move(current_));
          out += "250 2.0.0 Ok: queued as Q" + std::to_string(++queued_) + "\r\n";
          current_ = {};
          have_mail_ = false;
        } else {
          current_.content.append(line.starts_with("..") ? line.substr(1) : line);
          current_.content += "\r\n";
        }
      } else {
        command(line, out);
      }
      return true;
    });
  }
}

void SmtpServer::command(std::string_view line, std::string& out) {
  if (starts_with_nocase(line, "EHLO")) {
    out += "250-" + name_ + "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-CHUNKING\r\n"
           "250-8BITMIME\r\n250 SMTPUTF8\r\n";
  } else if (starts_with_nocase(line, "HELO")) {
    out += "250 " + name_ + "\r\n";
  } else if (starts_with_nocase(line, "MAIL FROM:")) {
    current_ = {};
    current_.from = path_of(line);
    have_mail_ = true;
    out += "250 2.1.0 Ok\r\n";
  } else if (starts_with_nocase(line, "RCPT TO:")) {
    const std::string rcpt = path_of(line);
    if (!have_mail_) {
      out += "503 5.5.1 Error: need MAIL command\r\n";
    } else if (rcpt.starts_with("unknown")) {
      out += "550 5.1.1 <" + rcpt + ">: Recipient address rejected: User unknown\r\n";
    } else {
      current_.rcpts.push_back(rcpt);
      out += "250 2.1.5 Ok\r\n";
    }
  } else if (starts_with_nocase(line, "DATA")) {
    if (current_.rcpts.empty()) {
      out += "554 5.5.1 Error: no valid recipients\r\n";
    } else {
      in_data_ = true;
      out += "354 End data with <CR><LF>.<CR><LF>\r\n";
    }
  } else if (starts_with_nocase(line, "BDAT ")) {
    const std::string_view args = line.substr(5);
    bdat_left_ = std::strtoull(std::string(args).c_str(), nullptr, 10);
    bdat_last_ = args.find("LAST") != std::string_view::npos ||
                 args.find("last") != std::string_view::npos;
  } else if (starts_with_nocase(line, "RSET")) {
    current_ = {};
    have_mail_ = false;
    out += "250 2.0.0 Ok\r\n";
  } else if (starts_with_nocase(line, "NOOP")) {
    out += "250 2.0.0 Ok\r\n";
  } else if (starts_with_nocase(line, "QUIT")) {
    quit_ = true;
    out += "221 2.0.0 Bye\r\n";
  } else {
    out += "502 5.5.2 Error: command not recognized\r\n";
  }
}

}  // namespace smtpgw::smtpgen
