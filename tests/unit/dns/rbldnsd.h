// A real rbldnsd (Debian's package, as DNSBL operators run it) for the control plane's DNS
// tests: it serves the zones given, from files in a directory of its own, on a loopback port,
// and is stopped at the end. rbldnsd re-reads a file within a second of it changing (-c 1).
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace smtpgw::dns::testing {

inline bool have_rbldnsd() { return std::system("command -v rbldnsd >/dev/null 2>&1") == 0; }

class Rbldnsd {
 public:
  // zones: {"zone:type", file text}, e.g. {"bl.test:ip4set", "127.0.0.2\n"}.
  explicit Rbldnsd(const std::vector<std::pair<std::string, std::string>>& zones) {
    char tmpl[] = "/tmp/sgw-rbldnsd-XXXXXX";
    dir_ = mkdtemp(tmpl);
    chmod(dir_.c_str(), 0755);  // rbldnsd reads as its own user
    std::vector<std::string> specs;
    for (size_t i = 0; i < zones.size(); ++i) {
      const std::string file = "zone" + std::to_string(i);
      write(file, zones[i].second);
      specs.push_back(zones[i].first + ":" + file);
    }
    for (int attempt = 0; attempt < 20 && pid_ <= 0; ++attempt) {
      port_ = 20000 + static_cast<int>((getpid() * 7 + attempt * 131) % 30000);
      const std::string bind = "127.0.0.1/" + std::to_string(port_);
      std::vector<const char*> argv = {"rbldnsd", "-n", "-q", "-c", "1", "-u", "rbldns", "-b",
                                       bind.c_str(), "-w", dir_.c_str()};
      for (const std::string& s : specs) {
        argv.push_back(s.c_str());
      }
      argv.push_back(nullptr);
      const pid_t pid = fork();
      if (pid == 0) {
        execvp("rbldnsd", const_cast<char* const*>(argv.data()));
        _exit(127);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (waitpid(pid, nullptr, WNOHANG) == 0) {
        pid_ = pid;  // still running: bound
      }
    }
  }
  ~Rbldnsd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  Rbldnsd(const Rbldnsd&) = delete;
  Rbldnsd& operator=(const Rbldnsd&) = delete;

  bool running() const { return pid_ > 0; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  // Replaces zone number `i`'s file (rbldnsd notices within a second or two).
  void rewrite(size_t i, const std::string& text) { write("zone" + std::to_string(i), text); }

 private:
  void write(const std::string& file, const std::string& text) {
    const std::string tmp = dir_ + "/" + file + ".tmp";
    std::ofstream(tmp) << text;
    chmod(tmp.c_str(), 0644);
    const std::string path = dir_ + "/" + file;
    std::filesystem::rename(tmp, path);
    // rbldnsd reloads a file whose time changed; within one second of the last write the time
    // may not have, so each write moves it on by a second more.
    std::filesystem::last_write_time(
        path, std::filesystem::last_write_time(path) + std::chrono::seconds(++writes_));
  }

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  int writes_ = 0;
};

}  // namespace smtpgw::dns::testing
