#include "control/api/sessions.h"

#include <sys/random.h>

#include <algorithm>
#include <stdexcept>

namespace smtpgw::api {

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    const ssize_t n = getrandom(raw.data() + got, bytes - got, 0);
    if (n <= 0) {
      throw std::runtime_error("getrandom failed");  // the server's handler answers 500
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Sessions::Opened Sessions::open(uint64_t now_s) {
  Opened o{random_hex(32), random_hex(32), now_s + lifetime_s_};
  std::lock_guard<std::mutex> l(mu_);
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second.expires_unix_s <= now_s; });
  if (sessions_.size() >= max_) {
    sessions_.erase(std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.expires_unix_s < b.second.expires_unix_s;
    }));
  }
  sessions_[o.id] = {o.csrf, o.expires_unix_s};
  return o;
}

std::optional<std::string> Sessions::csrf_of(const std::string& id, uint64_t now_s) {
  std::lock_guard<std::mutex> l(mu_);
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return std::nullopt;
  }
  if (it->second.expires_unix_s <= now_s) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second.csrf;
}

void Sessions::close(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  sessions_.erase(id);
}

size_t Sessions::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return sessions_.size();
}

}  // namespace smtpgw::api
