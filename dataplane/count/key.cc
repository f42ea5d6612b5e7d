#include "dataplane/count/key.h"

#include <arpa/inet.h>

#include <cstring>

#include "dataplane/text/ascii.h"

namespace smtpgw::count {

const char* key_status_name(KeyStatus s) {
  switch (s) {
#define SMTPGW_X(id, name) \
  case KeyStatus::id:      \
    return name;
    SMTPGW_KEY_STATUS(SMTPGW_X)
#undef SMTPGW_X
  }
  return "unknown";
}

namespace {

KeyBytes make(KeyKind kind, const void* data, size_t len) {
  KeyBytes k;
  k.kind = kind;
  k.len = static_cast<uint8_t>(len);
  std::memcpy(k.data, data, len);
  return k;
}

bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x21 || u == 0x7f;
}

// `space_ok`: a space is kept (a sender's quoted local part, "john doe"@x.org, where it is
// part of a distinct, legitimate address: refusing it would leave such senders uncounted).
KeyStatus check_plain(std::string_view s, bool space_ok = false) {
  if (s.empty()) {
    return KeyStatus::kEmpty;
  }
  if (s.size() > events::kKeyDataMax) {
    return KeyStatus::kTooLong;
  }
  for (char c : s) {
    if (is_control(c) && !(space_ok && c == ' ')) {
      return KeyStatus::kControlChar;
    }
  }
  return KeyStatus::kOk;
}

// A domain or organisation name: no '@', no leading/trailing dot, no empty label.
KeyStatus check_domain(std::string_view d) {
  if (d.front() == '.' || d.back() == '.' || d.find("..") != std::string_view::npos ||
      d.find('@') != std::string_view::npos) {
    return KeyStatus::kBadDomain;
  }
  return KeyStatus::kOk;
}

}  // namespace

KeyBytes host_key_v4(const uint8_t addr[4]) {
  uint8_t buf[5] = {4, addr[0], addr[1], addr[2], addr[3]};
  return make(KeyKind::kHost, buf, sizeof(buf));
}

KeyBytes host_key_v6(const uint8_t addr[16]) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(addr, kMapped, sizeof(kMapped)) == 0) {
    return host_key_v4(addr + 12);
  }
  uint8_t buf[17];
  buf[0] = 6;
  std::memcpy(buf + 1, addr, 16);
  return make(KeyKind::kHost, buf, sizeof(buf));
}

KeyBytes pair_key(const KeyBytes& host, const KeyBytes& destination) {
  uint8_t buf[34];  // two host keys' data: at most 17 bytes each
  std::memcpy(buf, host.data, host.len);
  std::memcpy(buf + host.len, destination.data, destination.len);
  return make(KeyKind::kPair, buf, size_t{host.len} + destination.len);
}

KeyStatus host_key_text(std::string_view text, KeyBytes& out) {
  if (text.empty()) {
    return KeyStatus::kEmpty;
  }
  char buf[64];
  if (text.size() >= sizeof(buf)) {
    return KeyStatus::kTooLong;
  }
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (text.find(':') != std::string_view::npos) {
    // The zone id names the link the host is on, not the host: stripped.
    if (char* pct = std::strchr(buf, '%')) {
      if (pct[1] == '\0') {
        return KeyStatus::kBadAddress;
      }
      *pct = '\0';
    }
    uint8_t a6[16];
    if (inet_pton(AF_INET6, buf, a6) != 1) {
      return KeyStatus::kBadAddress;
    }
    out = host_key_v6(a6);
    return KeyStatus::kOk;
  }
  uint8_t a4[4];
  if (inet_pton(AF_INET, buf, a4) != 1) {
    return KeyStatus::kBadAddress;
  }
  out = host_key_v4(a4);
  return KeyStatus::kOk;
}

KeyStatus sender_key(std::string_view address, KeyBytes& out) {
  // The SMTP session writes a local part with a space quoted; unquoted, a space is refused.
  if (KeyStatus st = check_plain(address, !address.empty() && address.front() == '"');
      st != KeyStatus::kOk) {
    return st;
  }
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) {
    return KeyStatus::kNoAt;
  }
  if (at == 0) {
    return KeyStatus::kEmptyLocal;
  }
  if (at + 1 == address.size()) {
    return KeyStatus::kEmptyDomain;
  }
  if (KeyStatus st = check_domain(address.substr(at + 1)); st != KeyStatus::kOk) {
    return st;
  }
  KeyBytes k = make(KeyKind::kSender, address.data(), address.size());
  for (size_t i = at + 1; i < address.size(); ++i) {
    k.data[i] = text::ascii_lower(k.data[i]);
  }
  out = k;
  return KeyStatus::kOk;
}

KeyStatus user_key(std::string_view user, KeyBytes& out) {
  if (KeyStatus st = check_plain(user); st != KeyStatus::kOk) {
    return st;
  }
  out = make(KeyKind::kUser, user.data(), user.size());
  return KeyStatus::kOk;
}

KeyStatus org_key(std::string_view org, KeyBytes& out) {
  if (KeyStatus st = check_plain(org); st != KeyStatus::kOk) {
    return st;
  }
  if (KeyStatus st = check_domain(org); st != KeyStatus::kOk) {
    return st;
  }
  KeyBytes k = make(KeyKind::kOrg, org.data(), org.size());
  for (size_t i = 0; i < org.size(); ++i) {
    k.data[i] = text::ascii_lower(k.data[i]);
  }
  out = k;
  return KeyStatus::kOk;
}

KeyStatus org_key_of_sender(std::string_view address, KeyBytes& out) {
  if (address.empty()) {
    return KeyStatus::kEmpty;
  }
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) {
    return KeyStatus::kNoAt;
  }
  if (at + 1 == address.size()) {
    return KeyStatus::kEmptyDomain;
  }
  return org_key(address.substr(at + 1), out);
}

bool key_equal(const KeyBytes& a, const KeyBytes& b) {
  return std::memcmp(&a, &b, sizeof(KeyBytes)) == 0;
}

uint64_t key_hash(const KeyBytes& k) {
  // Eight 64-bit words, each multiplied into the state (a multiply-xorshift mix): cheap, and a
  // one-byte change anywhere changes every output bit with high probability.
  uint64_t w[8];
  std::memcpy(w, &k, sizeof(w));
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint64_t x : w) {
    h ^= x;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  h *= 0x94d049bb133111ebull;
  h ^= h >> 29;
  return h;
}

}  // namespace smtpgw::count
