#include "dataplane/enforce/domain_marks.h"

#include <algorithm>

#include "dataplane/text/ascii.h"

namespace smtpgw::enforce {

uint64_t DomainMarks::hash(std::string_view domain) {
  uint64_t h = 14695981039346656037ull;
  for (char c : domain) {
    h ^= static_cast<uint8_t>(text::ascii_lower(c));
    h *= 1099511628211ull;
  }
  return h;
}

DomainMarks::DomainMarks(const std::vector<std::string>& domains) {
  hashes_.reserve(domains.size());
  for (const std::string& d : domains) {
    hashes_.push_back(hash(d));
  }
  std::sort(hashes_.begin(), hashes_.end());
  hashes_.erase(std::unique(hashes_.begin(), hashes_.end()), hashes_.end());
}

bool DomainMarks::marked(std::string_view domain) const {
  return !domain.empty() && std::binary_search(hashes_.begin(), hashes_.end(), hash(domain));
}

}  // namespace smtpgw::enforce
