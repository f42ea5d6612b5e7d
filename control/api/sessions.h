// The console's sign-in sessions: an operator who gave the API token gets a random session id
// (sent back as an HttpOnly, SameSite=Strict cookie) and a CSRF token the page sends with each
// request that changes something. Ids and CSRF tokens are 32 random bytes (getrandom), in hex.
//
// Bounded: at most `max` sessions; opening one more drops the one that expires first. Expired
// sessions are dropped when met. Thread: any (one mutex; the API's threads share it).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace smtpgw::api {

// `bytes` random bytes from the kernel (getrandom), in lower-case hex. Any thread.
std::string random_hex(size_t bytes);

class Sessions {
 public:
  struct Opened {
    std::string id, csrf;
    uint64_t expires_unix_s = 0;
  };

  Sessions(uint32_t lifetime_s, size_t max) : lifetime_s_(lifetime_s), max_(max) {}

  // A new session, valid for lifetime_s from now_s.
  Opened open(uint64_t now_s);
  // The CSRF token of session `id` while it is valid, else nullopt.
  std::optional<std::string> csrf_of(const std::string& id, uint64_t now_s);
  // Ends session `id` (sign-out); nothing when there is none.
  void close(const std::string& id);
  size_t size() const;
  uint32_t lifetime_s() const { return lifetime_s_; }

 private:
  struct Session {
    std::string csrf;
    uint64_t expires_unix_s;
  };
  const uint32_t lifetime_s_;
  const size_t max_;
  mutable std::mutex mu_;
  std::map<std::string, Session> sessions_;
};

}  // namespace smtpgw::api
