// Sender domains the control plane found to have no mail exchanger: no MX and no A/AAAA record
// (RFC 5321 5.1: the implicit MX), no such domain, or a null MX (RFC 7505). Mail from such a
// domain can never receive its bounces and is a mark of forged or throw-away senders; on a
// normal flow it is deferred like a bounce and only its (inside host, destination) pair is
// steered to the high-risk pool (enforce/enforcer.h). The control plane's domain checker
// (control/domains/) builds a new set when its answers change and publishes it.
//
// Threads: built on a control thread; immutable once published, read by any worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/publish/publisher.h"

namespace smtpgw::enforce {

class DomainMarks {
 public:
  DomainMarks() = default;
  // The domains (any case; compared case-insensitively). Cost: O(n log n).
  explicit DomainMarks(const std::vector<std::string>& domains);

  // Whether `domain` is marked. Kept as 64-bit hashes (FNV-1a of the lower-case name), sorted:
  // O(log n), no allocation; two names share a hash with a probability of about n / 2^64.
  bool marked(std::string_view domain) const;
  size_t size() const { return hashes_.size(); }

  static uint64_t hash(std::string_view domain);

 private:
  std::vector<uint64_t> hashes_;
};

using DomainMarksSource = publish::Publisher<DomainMarks>;

}  // namespace smtpgw::enforce
