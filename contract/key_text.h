// The text forms of a sender key (events::KeyBytes), in one place for every control-plane
// module that shows or stores keys: the store's rows, alert subjects, the reputation tracker's
// subjects and the API's answers. Header only; no state.
//
// Threads: any. Cost: one inet_ntop or one copy of at most kKeyDataMax bytes.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "contract/events.h"

namespace smtpgw::events {

// The key's data as text, without its kind: "10.1.0.5", "2001:db8::1" (host),
// "a@example.org" (sender), the user name, the organisation name. Empty for kNone and for a
// host key shorter than a family byte and four address bytes. The store writes this form (the
// kind is a column of its own).
inline std::string key_text(const KeyBytes& k) {
  if (k.kind == KeyKind::kHost) {
    if (k.len < 5) {
      return {};
    }
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(k.data[0] == 6 ? AF_INET6 : AF_INET, k.data + 1, buf, sizeof buf);
    return buf;
  }
  if (k.kind == KeyKind::kNone) {
    return {};
  }
  return std::string(k.data, std::min<size_t>(k.len, kKeyDataMax));
}

// The key as one unambiguous text: hosts and senders as key_text, "user:NAME" and "org:NAME"
// for the other kinds (the forms the operator API accepts as a key). Empty for kNone.
inline std::string subject_text(const KeyBytes& k) {
  switch (k.kind) {
    case KeyKind::kUser:
      return "user:" + key_text(k);
    case KeyKind::kOrg:
      return "org:" + key_text(k);
    default:
      return key_text(k);
  }
}

}  // namespace smtpgw::events
