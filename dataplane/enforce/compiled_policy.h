// The policy as the workers read it: the control plane's policy::Policy with its inside
// prefixes parsed once, at publication, instead of by every worker at every look-up. The
// gateway publishes it through publish::Publisher (PolicySource); each hold point reads the
// version active then, so a new policy applies from the next hold point of every session
// (a changed limit binds the message in flight at its next command).
//
// Threads: built on a control thread; immutable once published, read by any worker.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "contract/ip_prefix.h"
#include "contract/policy.h"
#include "dataplane/count/key.h"
#include "dataplane/publish/publisher.h"
#include "dataplane/smtp/message_record.h"

namespace smtpgw::enforce {

class CompiledPolicy {
 public:
  // `p` with its org_prefixes and starttls_prefixes parsed. A prefix that does not parse (or an
  // organisation name that is no valid key) is left out and counted in skipped(): the config
  // loader refuses both, so only a hand-built policy has any. Cost: linear in the prefixes.
  explicit CompiledPolicy(policy::Policy p);

  const policy::Policy& policy() const { return policy_; }
  // The organisation key an operator mapped `host` to (first matching prefix), or nullptr.
  // Cost: linear in the mapped prefixes (operators map a handful).
  const count::KeyBytes* org_of(const smtp::Endpoint& host) const;
  // Whether STARTTLS is masked for `client` (the longest matching starttls prefix, else the
  // default), before dry_run is considered.
  bool inspect_starttls(const smtp::Endpoint& client) const;
  uint32_t skipped() const { return skipped_; }

 private:
  struct OrgPrefix {
    ip::Prefix prefix;
    count::KeyBytes key;
  };
  struct TlsPrefix {
    ip::Prefix prefix;
    bool inspect = true;
  };

  policy::Policy policy_;
  std::vector<OrgPrefix> orgs_;
  std::vector<TlsPrefix> tls_;  // longest first
  uint32_t skipped_ = 0;
};

// Where a worker's Enforcer reads the active policy (in the gateway's Qsbr domain).
using PolicySource = publish::Publisher<CompiledPolicy>;

}  // namespace smtpgw::enforce
