// Internet checksum (RFC 1071) and its incremental update (RFC 1624). Header-only: these run
// per packet. All values are in host order unless the name says otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace smtpgw::packet {

// Ones-complement sum of `len` bytes starting at `p`, big-endian 16-bit words, folded to 32 bits
// plus `initial`. Cost: O(len). Callers fold with checksum_fold().
inline uint32_t checksum_add(const uint8_t* p, size_t len, uint32_t initial = 0) {
  // The ones-complement sum is byte-order independent (RFC 1071 §2(B)): sum native-order 32-bit
  // words into 64 bits, fold, and swap the bytes once at the end.
  uint64_t sum = 0;
  while (len >= 16) {
    uint32_t w[4];
    std::memcpy(w, p, 16);
    sum += uint64_t{w[0]} + w[1] + w[2] + w[3];
    p += 16;
    len -= 16;
  }
  while (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    sum += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len) {
    sum += *p;  // the odd byte is the high byte of a big-endian word: low byte in native order
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  const uint32_t swapped = static_cast<uint16_t>((sum >> 8) | (sum << 8));
  uint64_t total = uint64_t{swapped} + initial;
  while (total >> 32) {
    total = (total & 0xffffffffu) + (total >> 32);
  }
  return static_cast<uint32_t>(total);
}

inline uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

// The checksum field value for data whose ones-complement sum is `sum`.
inline uint16_t checksum_finish(uint32_t sum) { return static_cast<uint16_t>(~checksum_fold(sum)); }

// RFC 1624 eqn. 3: new checksum after a 16-bit word changes from `old_word` to `new_word`.
inline uint16_t checksum_update16(uint16_t check, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = static_cast<uint16_t>(~check) + static_cast<uint16_t>(~old_word) + uint32_t{new_word};
  return static_cast<uint16_t>(~checksum_fold(sum));
}

// The same for a 32-bit value (an IPv4 address), as two 16-bit words.
inline uint16_t checksum_update32(uint16_t check, uint32_t old_value, uint32_t new_value) {
  check = checksum_update16(check, static_cast<uint16_t>(old_value >> 16),
                            static_cast<uint16_t>(new_value >> 16));
  return checksum_update16(check, static_cast<uint16_t>(old_value), static_cast<uint16_t>(new_value));
}

}  // namespace smtpgw::packet
