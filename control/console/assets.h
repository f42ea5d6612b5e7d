// The operator console's files (HTML, CSS, JavaScript), compiled into the binary at build time
// from control/console/ by embed.py: the gateway serves them under /ui/ with nothing fetched or
// installed at run time.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace smtpgw::console {

struct Asset {
  const char* path;          // "/ui/index.html"
  const char* content_type;  // "text/html; charset=utf-8"
  const unsigned char* data;
  size_t size;
  bool is_public;  // served without a session: the sign-in page and what it loads
};

// Every file, in the order meson lists them. Any thread; static data.
std::span<const Asset> assets();

// The asset served at `path`, or nullptr. Cost: linear in the (few) assets.
inline const Asset* find(std::string_view path) {
  for (const Asset& a : assets()) {
    if (path == a.path) {
      return &a;
    }
  }
  return nullptr;
}

}  // namespace smtpgw::console
