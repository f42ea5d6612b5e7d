// Fuzzes address canonicalisation (the sender keys). Checks: no crash; an accepted address fits
// its storage, its domain has no upper-case ASCII, consumed stays inside the input, and
// canonicalising the canonical form again gives the same text (keys are stable).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dataplane/smtp/address.h"

namespace {

using namespace smtpgw::smtp;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void check_accepted(const Address& a) {
  check(a.len <= kMaxAddress && a.at <= a.len);
  for (char c : a.domain()) {
    check(!(c >= 'A' && c <= 'Z'));
  }
  if (!a.null && a.at < a.len) {
    check(a.local_part().size() <= kMaxLocalPart);
    check(a.domain().size() <= kMaxDomain);
    Address again;
    check(canonicalise_mailbox(a.view(), again) == AddressStatus::kOk);
    check(again.view() == a.view());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (PathKind kind : {PathKind::kReversePath, PathKind::kForwardPath}) {
    Address a;
    size_t consumed = 0;
    bool bracketless = false;
    AddressStatus st = parse_path(in, kind, a, &consumed, &bracketless);
    check(!address_status_name(st).empty());
    if (st == AddressStatus::kOk) {
      check(consumed <= in.size());
      check_accepted(a);
    } else {
      check(a.len == 0);
    }
  }
  Address m;
  if (canonicalise_mailbox(in, m) == AddressStatus::kOk) {
    check_accepted(m);
  }
  Address u;
  canonicalise_user(in, u);
  check(u.len <= kMaxAddress);
  return 0;
}
