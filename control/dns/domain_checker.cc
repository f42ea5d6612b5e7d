#include "control/dns/domain_checker.h"

#include "dataplane/text/ascii.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace smtpgw::dns {

const char* finding_name(Finding f) {
  switch (f) {
    case Finding::kUnknown:
      return "unknown";
    case Finding::kMailHost:
      return "mail_host";
    case Finding::kNoDomain:
      return "no_domain";
    case Finding::kNoRecords:
      return "no_mx_or_address";
    case Finding::kNullMx:
      return "null_mx";
  }
  return "?";
}

const char* counter_name(DomainCounter c) {
  switch (c) {
#define SMTPGW_X(name, text, doc) \
  case DomainCounter::name:       \
    return text;
    SMTPGW_DOMAIN_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
    case DomainCounter::kCount:
      break;
  }
  return "?";
}

namespace {

bool is_marked(Finding f) {
  return f == Finding::kNoDomain || f == Finding::kNoRecords || f == Finding::kNullMx;
}

}  // namespace

DomainChecker::DomainChecker(const DomainOptions& options, std::unique_ptr<Resolver> resolver)
    : options_(options), resolver_(std::move(resolver)) {}

std::unique_ptr<DomainChecker> DomainChecker::create(const DomainOptions& options,
                                                     std::string* error) {
  std::unique_ptr<Resolver> r = Resolver::create(options.servers, options.timeout_ms, error);
  if (!r) {
    return nullptr;
  }
  return std::unique_ptr<DomainChecker>(new DomainChecker(options, std::move(r)));
}

uint64_t DomainChecker::ttl_of(const Entry& e) const {
  if (e.finding == Finding::kMailHost) {
    return options_.found_ttl_s;
  }
  if (is_marked(e.finding)) {
    return options_.missing_ttl_s;
  }
  return options_.failed_retry_s;
}

void DomainChecker::seen(std::string_view domain, uint64_t now_s) {
  count(DomainCounter::kSeen);
  now_s_ = now_s;
  std::string d(domain);
  for (char& ch : d) {
    ch = text::ascii_lower(ch);
  }
  if (!text::is_dns_name(d, 253)) {
    count(DomainCounter::kInvalid);
    return;
  }
  auto it = domains_.find(d);
  if (it != domains_.end()) {
    Entry& e = it->second;
    e.seen_s = now_s;
    if (e.pending || now_s < e.next_check_s) {
      return;
    }
  } else if (domains_.size() >= options_.max_domains) {
    count(DomainCounter::kTableFull);
    return;
  }
  if (lookups_pending_ >= options_.max_pending) {
    count(DomainCounter::kPendingFull);
    return;
  }
  Entry& e = domains_[d];
  e.seen_s = now_s;
  e.pending = true;
  ++lookups_pending_;
  count(DomainCounter::kLookups);
  start(d, ns_t_mx);
}

void DomainChecker::start(const std::string& domain, int type) {
  count(DomainCounter::kQueries);
  resolver_->query(domain, type,
                   [this, domain, type](Status s, const unsigned char* answer, int length) {
                     answered(domain, type, s, answer, length);
                   });
}

void DomainChecker::answered(const std::string& domain, int type, Status status,
                             const unsigned char* answer, int length) {
  if (status == Status::kNoDomain) {
    finish(domain, Finding::kNoDomain, false);
    return;
  }
  if (status == Status::kFailed) {
    finish(domain, Finding::kUnknown, true);
    return;
  }
  if (type == ns_t_mx) {
    ares_mx_reply* mx = nullptr;
    const int rc = status == Status::kAnswer ? ares_parse_mx_reply(answer, length, &mx)
                                             : ARES_ENODATA;
    if (rc == ARES_SUCCESS) {
      bool any_host = false;
      bool null_mx = false;
      for (ares_mx_reply* r = mx; r != nullptr; r = r->next) {
        const bool root = r->host == nullptr || r->host[0] == '\0' || std::strcmp(r->host, ".") == 0;
        any_host = any_host || !root;
        null_mx = null_mx || root;
      }
      ares_free_data(mx);
      if (any_host || null_mx) {
        finish(domain, any_host ? Finding::kMailHost : Finding::kNullMx, false);
        return;
      }
    } else if (rc != ARES_ENODATA) {
      finish(domain, Finding::kUnknown, true);  // a reply c-ares cannot read
      return;
    }
    start(domain, ns_t_a);
    return;
  }
  // A or AAAA: any address is an implicit MX.
  hostent* h = nullptr;
  int rc = ARES_ENODATA;
  if (status == Status::kAnswer) {
    rc = type == ns_t_a ? ares_parse_a_reply(answer, length, &h, nullptr, nullptr)
                        : ares_parse_aaaa_reply(answer, length, &h, nullptr, nullptr);
  }
  const bool address = rc == ARES_SUCCESS && h != nullptr && h->h_addr_list != nullptr &&
                       h->h_addr_list[0] != nullptr;
  if (h != nullptr) {
    ares_free_hostent(h);
  }
  if (address) {
    finish(domain, Finding::kMailHost, false);
  } else if (rc != ARES_SUCCESS && rc != ARES_ENODATA) {
    finish(domain, Finding::kUnknown, true);
  } else if (type == ns_t_a) {
    start(domain, ns_t_aaaa);
  } else {
    finish(domain, Finding::kNoRecords, false);
  }
}

void DomainChecker::finish(const std::string& domain, Finding f, bool failed) {
  auto it = domains_.find(domain);
  if (it == domains_.end()) {
    return;
  }
  Entry& e = it->second;
  if (e.pending) {
    e.pending = false;
    --lookups_pending_;
  }
  if (failed) {
    // A failure keeps what the last answer said (a marked domain stays marked) and is tried
    // again sooner than a TTL.
    count(DomainCounter::kFailed);
    e.next_check_s = now_s_ + options_.failed_retry_s;
    return;
  }
  count(is_marked(f) ? DomainCounter::kMarked : DomainCounter::kMailHost);
  const bool was = is_marked(e.finding);
  e.finding = f;
  e.next_check_s = now_s_ + ttl_of(e);
  if (was != is_marked(f)) {
    changes_.push_back({domain, f, is_marked(f)});
  }
}

std::vector<DomainChecker::Change> DomainChecker::poll(uint64_t now_s) {
  now_s_ = now_s;
  resolver_->poll();
  if (now_s >= last_sweep_s_ + 60) {
    last_sweep_s_ = now_s;
    for (auto it = domains_.begin(); it != domains_.end();) {
      const Entry& e = it->second;
      if (!e.pending && now_s > e.seen_s + 2 * ttl_of(e)) {
        if (is_marked(e.finding)) {
          changes_.push_back({it->first, Finding::kUnknown, false});
        }
        it = domains_.erase(it);
        count(DomainCounter::kForgotten);
      } else {
        ++it;
      }
    }
  }
  return std::exchange(changes_, {});
}

std::vector<std::string> DomainChecker::marked() const {
  std::vector<std::string> out;
  for (const auto& [d, e] : domains_) {
    if (is_marked(e.finding)) {
      out.push_back(d);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Finding DomainChecker::finding(std::string_view domain) const {
  auto it = domains_.find(std::string(domain));
  return it == domains_.end() ? Finding::kUnknown : it->second.finding;
}

}  // namespace smtpgw::dns
