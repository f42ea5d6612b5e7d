// Helpers of the sink tests: polling waits (never fixed sleeps: the machine may be busy), alerts
// to send, a loopback port nobody listens on.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "control/alerts/alerts.h"

namespace smtpgw::alerts::test {

// Polls `done` every 5 ms until it holds or `limit` passes; the result is its last value.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) {
      return done();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline Alert alert(Kind k, std::string subject, std::string message = "m",
                   nlohmann::json details = {{"count", 31}, {"max", 30}}) {
  return Alert{
      k, std::move(subject), std::move(message), std::move(details), 1'751'371'200'000'000'000ull,
      0};
}

// A loopback TCP port that was free a moment ago (bound, read, closed): connecting to it is
// refused unless something else took it since, which nothing in these tests does.
inline uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace smtpgw::alerts::test
