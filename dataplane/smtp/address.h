// Mail address canonicalisation (RFC 5321 section 4.1.2 paths), used by the SMTP session for the
// envelope and by sender accounting to build sender keys. Pure functions, no allocation, no
// exceptions; any thread may call them.
//
// Canonical form (what two spellings of the same mailbox reduce to):
//   - angle brackets and a source route ("<@a,@b:user@dom>") are dropped;
//   - the domain is lower-cased (ASCII letters only: UTF-8 / IDNA labels are left as written),
//     one trailing dot is removed;
//   - a quoted local part whose content is a valid dot-atom loses its quotes ("\"a.b\"@x" ->
//     "a.b@x"); otherwise it keeps them with only the necessary backslashes ("\"a\\ b\"@x" ->
//     "\"a b\"@x");
//   - the local part keeps its case (RFC 5321 2.4: it is case-sensitive);
//   - "<>" is the null sender: canonical text "" and null == true.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smtpgw::smtp {

// RFC 5321 4.5.3.1: local part 64 octets, domain 255 octets, path 256 octets with brackets.
inline constexpr size_t kMaxLocalPart = 64;
inline constexpr size_t kMaxDomain = 255;
inline constexpr size_t kMaxAddress = 256;

// Why an address was refused; generated from one list (names and counters).
#define SMTPGW_ADDRESS_STATUS(X)                                                        \
  X(kOk, "ok")                                                                          \
  X(kEmpty, "empty")                     /* nothing where a path was expected */        \
  X(kMissingBracket, "missing_bracket")  /* no '<' or no matching '>' */                \
  X(kBadSourceRoute, "bad_source_route") /* "@a,@b:" malformed */                       \
  X(kUnterminatedQuote, "unterminated_quote")                                           \
  X(kBadLocalPart, "bad_local_part")     /* character not allowed, empty atom, ".." */  \
  X(kLocalPartTooLong, "local_part_too_long")                                           \
  X(kNoDomain, "no_domain")              /* no '@' (except RCPT TO:<Postmaster>) */     \
  X(kBadDomain, "bad_domain")            /* empty label, bad character, bad literal */  \
  X(kDomainTooLong, "domain_too_long")                                                  \
  X(kTooLong, "too_long")                /* canonical form over kMaxAddress */          \
  X(kNullNotAllowed, "null_not_allowed") /* "<>" where a mailbox is required */

enum class AddressStatus : uint8_t {
#define SMTPGW_X(name, text) name,
  SMTPGW_ADDRESS_STATUS(SMTPGW_X)
#undef SMTPGW_X
};
inline constexpr size_t kAddressStatusCount = 0
#define SMTPGW_X(name, text) +1
    SMTPGW_ADDRESS_STATUS(SMTPGW_X)
#undef SMTPGW_X
    ;

// Stable lower-case name ("bad_domain"), for logs, JSON and metrics labels.
std::string_view address_status_name(AddressStatus s);

// A canonical address in fixed storage (no allocation). Valid only when the producing call
// returned kOk; otherwise empty.
struct Address {
  std::array<char, kMaxAddress> text{};
  uint16_t len = 0;
  uint16_t at = 0;     // index of the '@' separating local part and domain; == len if none
  bool null = false;   // "<>"
  std::string_view view() const { return {text.data(), len}; }
  std::string_view local_part() const { return {text.data(), at}; }
  // The domain ("" for the null sender and for a bare "postmaster").
  std::string_view domain() const {
    return at < len ? std::string_view(text.data() + at + 1, len - at - 1) : std::string_view();
  }
};

enum class PathKind : uint8_t {
  kReversePath,  // MAIL FROM: "<>" allowed
  kForwardPath,  // RCPT TO: "<Postmaster>" (no domain, any case) allowed, canonical "postmaster"
};

// Parses a path at the start of `in` ("<...>", optionally preceded by spaces; a bare address
// without brackets is accepted too, since real clients send it, but counts as
// `missing_bracket_tolerated` through *bracketless when given). On kOk fills `out` and sets
// *consumed to the number of bytes of `in` the path used (parameters follow). On error `out`
// is empty and *consumed is unspecified. Cost: linear in the path length, at most
// 2 * kMaxAddress bytes are looked at past the '<'.
AddressStatus parse_path(std::string_view in, PathKind kind, Address& out, size_t* consumed,
                         bool* bracketless = nullptr);

// Canonicalises a bare mailbox "local@domain" (no brackets, no route): the form used for
// sender keys built from other sources (an AUTH user name that looks like an address, a
// configured sender). Errors as parse_path. Cost: linear.
AddressStatus canonicalise_mailbox(std::string_view mailbox, Address& out);

// Sender key for an authenticated user name: if it is a valid mailbox its canonical form,
// otherwise the name as given (truncated to kMaxAddress, never fails). Cost: linear.
void canonicalise_user(std::string_view user, Address& out);

}  // namespace smtpgw::smtp
