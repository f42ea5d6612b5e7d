// Text of bounded length kept inline, for records that must not allocate: SMTP message records
// (HELO name, user, reply texts) and the MIME summary (header values, attachment names).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace smtpgw::text {

// Up to N bytes in place. Input beyond N is cut at N bytes and `truncated` is set; the cut may
// fall inside a UTF-8 sequence, so consumers treat the bytes as opaque. Callers may write
// data[0, len) directly (to fold case in place, say) and may set `truncated` themselves when
// they cut the text before assigning it. Every call is O(bytes copied), never allocates, and
// touches only this object.
template <size_t N>
struct FixedText {
  static_assert(N <= UINT16_MAX, "len is 16 bits");

  std::array<char, N> data{};
  uint16_t len = 0;
  bool truncated = false;

  std::string_view view() const { return {data.data(), len}; }
  void clear() {
    len = 0;
    truncated = false;
  }
  // Replaces the text with s (cut at N); `truncated` says whether s was cut.
  void assign(std::string_view s) {
    clear();
    append(s);
  }
  // Adds s after the text, as much as fits; once anything was cut, `truncated` stays set until
  // the next assign or clear.
  void append(std::string_view s) {
    const size_t room = N - len;
    const size_t n = s.size() < room ? s.size() : room;
    if (n != 0) {
      std::memcpy(data.data() + len, s.data(), n);
    }
    len = static_cast<uint16_t>(len + n);
    truncated = truncated || n < s.size();
  }
};

}  // namespace smtpgw::text
