// Sender keys: the four kinds of identity the sender table counts under (inside host, envelope
// sender, authenticated user, organisation), built into fixed 64-byte storage.
//
// The SMTP session canonicalises addresses (dataplane/smtp/address.h); these builders only
// validate what they are given and normalise what identity needs:
//   - host: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes the IPv4 key; an IPv6 zone id ("%eth0")
//     is stripped (a zone names the link, not the host; the gateway sees one inside link);
//   - sender: must be "local@domain" with both parts non-empty; the domain is lower-cased
//     (the local part keeps its case, RFC 5321 2.4); a space only in a quoted local part
//     ("john doe"@x.org, as the SMTP session writes it);
//   - user: as given (the SMTP session decides its form);
//   - org: lower-cased.
// Pure functions, no allocation, no exceptions; any thread. Cost: O(length).
#pragma once

#include <cstdint>
#include <string_view>

#include "contract/events.h"

namespace smtpgw::count {

using events::KeyBytes;
using events::KeyKind;

// Why a key was refused; generated from one list (names and counters).
#define SMTPGW_KEY_STATUS(X)                                                        \
  X(kOk, "ok")                                                                     \
  X(kEmpty, "empty")                      /* nothing given (or the null sender) */ \
  X(kTooLong, "too_long")                 /* over events::kKeyDataMax bytes */     \
  X(kControlChar, "control_char")         /* < 0x21 or 0x7f (see sender_key) */    \
  X(kNoAt, "no_at")                       /* sender without '@' */                 \
  X(kEmptyLocal, "empty_local")           /* "@domain" */                          \
  X(kEmptyDomain, "empty_domain")         /* "local@" */                           \
  X(kBadDomain, "bad_domain")             /* org/domain with a forbidden byte */   \
  X(kBadAddress, "bad_ip")                /* host text that is not an IP address */

enum class KeyStatus : uint8_t {
#define SMTPGW_X(id, name) id,
  SMTPGW_KEY_STATUS(SMTPGW_X)
#undef SMTPGW_X
};
inline constexpr int kKeyStatusCount = 9;
const char* key_status_name(KeyStatus s);

// Host keys from binary addresses. IPv4 in network byte order (as in the packet).
KeyBytes host_key_v4(const uint8_t addr[4]);
// IPv6 (network byte order); an IPv4-mapped address yields the IPv4 key.
KeyBytes host_key_v6(const uint8_t addr[16]);
// From text ("10.1.2.3", "2001:db8::1", "fe80::1%eth0", "::ffff:10.1.2.3").
// Errors: kEmpty, kTooLong (over 63 bytes of text), kBadAddress.
KeyStatus host_key_text(std::string_view text, KeyBytes& out);

// The pair (inside host, destination server) a bounce steers (count/accountant.h does not count
// it): both addresses' host key data, IPv4-mapped IPv6 as IPv4.
KeyBytes pair_key(const KeyBytes& host, const KeyBytes& destination);

// Envelope sender. Errors: kEmpty (also for the null sender ""), kTooLong, kControlChar, kNoAt,
// kEmptyLocal, kEmptyDomain, kBadDomain.
KeyStatus sender_key(std::string_view address, KeyBytes& out);
// Authenticated user. Errors: kEmpty, kTooLong, kControlChar.
KeyStatus user_key(std::string_view user, KeyBytes& out);
// Organisation name or domain (lower-cased). Errors: kEmpty, kTooLong, kControlChar,
// kBadDomain (a '@' or a leading/trailing '.').
KeyStatus org_key(std::string_view org, KeyBytes& out);
// The organisation of an envelope sender: its domain (after the last '@'). Same errors as
// org_key, plus kNoAt.
KeyStatus org_key_of_sender(std::string_view address, KeyBytes& out);

// Equality and hash over the 64 bytes (keys are zero-padded, so equal identities are equal).
bool key_equal(const KeyBytes& a, const KeyBytes& b);
uint64_t key_hash(const KeyBytes& k);

}  // namespace smtpgw::count
