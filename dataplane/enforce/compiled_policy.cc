#include "dataplane/enforce/compiled_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace smtpgw::enforce {

namespace {

bool prefix_match(const uint8_t* a, const uint8_t* p, unsigned len) {
  const unsigned bytes = len / 8;
  if (std::memcmp(a, p, bytes) != 0) {
    return false;
  }
  const unsigned bits = len % 8;
  if (bits == 0) {
    return true;
  }
  const auto mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (a[bytes] & mask) == (p[bytes] & mask);
}

}  // namespace

bool Prefix::parse(const std::string& text) {
  const size_t slash = text.find('/');
  const std::string a = text.substr(0, slash);
  v6 = a.find(':') != std::string::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, a.c_str(), addr.data()) != 1) {
    return false;
  }
  const unsigned max = v6 ? 128 : 32;
  if (slash == std::string::npos) {
    len = static_cast<uint8_t>(max);
    return true;
  }
  const std::string l = text.substr(slash + 1);
  if (l.empty() || l.size() > 3 || !std::all_of(l.begin(), l.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return false;
  }
  const unsigned n = static_cast<unsigned>(std::stoul(l));
  if (n > max) {
    return false;
  }
  len = static_cast<uint8_t>(n);
  return true;
}

bool Prefix::contains(const smtp::Endpoint& e) const {
  return e.v6 == v6 && prefix_match(e.addr.data(), addr.data(), len);
}

CompiledPolicy::CompiledPolicy(policy::Policy p) : policy_(std::move(p)) {
  for (const policy::OrgPrefix& op : policy_.org_prefixes) {
    OrgPrefix o;
    if (o.prefix.parse(op.prefix) && count::org_key(op.org, o.key) == count::KeyStatus::kOk) {
      orgs_.push_back(o);
    } else {
      ++skipped_;
    }
  }
  for (const policy::StarttlsPrefix& sp : policy_.starttls_prefixes) {
    TlsPrefix t;
    t.inspect = sp.starttls == policy::Starttls::kInspect;
    if (t.prefix.parse(sp.prefix)) {
      tls_.push_back(t);
    } else {
      ++skipped_;
    }
  }
  std::stable_sort(tls_.begin(), tls_.end(), [](const TlsPrefix& a, const TlsPrefix& b) {
    return a.prefix.len > b.prefix.len;
  });
}

const count::KeyBytes* CompiledPolicy::org_of(const smtp::Endpoint& host) const {
  for (const OrgPrefix& o : orgs_) {
    if (o.prefix.contains(host)) {
      return &o.key;
    }
  }
  return nullptr;
}

bool CompiledPolicy::inspect_starttls(const smtp::Endpoint& client) const {
  for (const TlsPrefix& t : tls_) {
    if (t.prefix.contains(client)) {
      return t.inspect;
    }
  }
  return policy_.starttls == policy::Starttls::kInspect;
}

}  // namespace smtpgw::enforce
