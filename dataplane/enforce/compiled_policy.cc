#include "dataplane/enforce/compiled_policy.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace smtpgw::enforce {

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
    if (o.prefix.contains(host.v6, host.addr.data())) {
      return &o.key;
    }
  }
  return nullptr;
}

bool CompiledPolicy::inspect_starttls(const smtp::Endpoint& client) const {
  for (const TlsPrefix& t : tls_) {
    if (t.prefix.contains(client.v6, client.addr.data())) {
      return t.inspect;
    }
  }
  return policy_.starttls == policy::Starttls::kInspect;
}

}  // namespace smtpgw::enforce
