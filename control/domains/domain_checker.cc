#include "control/domains/domain_checker.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <sys/select.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace smtpgw::domains {

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

const char* counter_name(Counter c) {
  switch (c) {
#define SMTPGW_X(name, text, doc) \
  case Counter::name:             \
    return text;
    SMTPGW_DOMAIN_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
    case Counter::kCount:
      break;
  }
  return "?";
}

namespace {

bool is_marked(Finding f) {
  return f == Finding::kNoDomain || f == Finding::kNoRecords || f == Finding::kNullMx;
}

// A name worth a lookup: 1..253 octets of letters, digits, '-', '.' (and '_' seen in the
// wild), no empty label. Domain literals ("[192.0.2.1]") and IDNA U-labels are not looked up.
bool lookup_name(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') {
    return false;
  }
  char prev = '.';
  for (char c : d) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.';
    if (!ok || (c == '.' && prev == '.')) {
      return false;
    }
    prev = c;
  }
  return true;
}

}  // namespace

struct DomainChecker::Impl {
  ares_channel channel = nullptr;
};

// One DNS query in flight; c-ares hands it back to on_answer (also when the channel is
// destroyed, with ARES_EDESTRUCTION).
struct DomainChecker::Query {
  DomainChecker* owner;
  std::string domain;
  int type;  // ns_t_mx, ns_t_a, ns_t_aaaa
};

DomainChecker::DomainChecker(const Options& options)
    : options_(options), impl_(std::make_unique<Impl>()) {}

DomainChecker::~DomainChecker() {
  if (impl_->channel != nullptr) {
    ares_destroy(impl_->channel);  // answers every query with ARES_EDESTRUCTION
  }
}

std::unique_ptr<DomainChecker> DomainChecker::create(const Options& options, std::string* error) {
  static const int lib = ares_library_init(ARES_LIB_INIT_ALL);
  if (lib != ARES_SUCCESS) {
    *error = std::string("c-ares: ") + ares_strerror(lib);
    return nullptr;
  }
  std::unique_ptr<DomainChecker> c(new DomainChecker(options));
  ares_options o{};
  o.timeout = static_cast<int>(options.timeout_ms);
  o.tries = 2;
  // No search list: a sender domain is absolute, never "domain.local-search-suffix".
  o.ndomains = 0;
  o.domains = nullptr;
  const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS;
  int rc = ares_init_options(&c->impl_->channel, &o, mask);
  if (rc != ARES_SUCCESS) {
    *error = std::string("c-ares: ") + ares_strerror(rc);
    return nullptr;
  }
  if (!options.servers.empty()) {
    rc = ares_set_servers_ports_csv(c->impl_->channel, options.servers.c_str());
    if (rc != ARES_SUCCESS) {
      *error = "c-ares: servers \"" + options.servers + "\": " + ares_strerror(rc);
      return nullptr;
    }
  }
  return c;
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
  count(Counter::kSeen);
  now_s_ = now_s;
  std::string d(domain);
  for (char& ch : d) {
    if (ch >= 'A' && ch <= 'Z') {
      ch = static_cast<char>(ch - 'A' + 'a');
    }
  }
  if (!lookup_name(d)) {
    count(Counter::kInvalid);
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
    count(Counter::kTableFull);
    return;
  }
  if (pending_ >= options_.max_pending) {
    count(Counter::kPendingFull);
    return;
  }
  Entry& e = domains_[d];
  e.seen_s = now_s;
  e.pending = true;
  ++pending_;
  count(Counter::kLookups);
  start(d, ns_t_mx);
}

void DomainChecker::start(const std::string& domain, int type) {
  count(Counter::kQueries);
  auto* q = new Query{this, domain, type};
  ares_query(impl_->channel, domain.c_str(), ns_c_in, type, &DomainChecker::on_answer, q);
}

void DomainChecker::on_answer(void* arg, int status, int, unsigned char* abuf, int alen) {
  std::unique_ptr<Query> q(static_cast<Query*>(arg));
  if (status == ARES_EDESTRUCTION) {
    return;  // the checker is going away
  }
  q->owner->answered(*q, status, abuf, alen);
}

void DomainChecker::answered(Query& q, int status, const unsigned char* abuf, int alen) {
  if (status == ARES_ENOTFOUND) {
    finish(q.domain, Finding::kNoDomain, false);
    return;
  }
  if (status != ARES_SUCCESS && status != ARES_ENODATA) {
    finish(q.domain, Finding::kUnknown, true);
    return;
  }
  if (q.type == ns_t_mx) {
    ares_mx_reply* mx = nullptr;
    const int rc = status == ARES_SUCCESS ? ares_parse_mx_reply(abuf, alen, &mx) : ARES_ENODATA;
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
        finish(q.domain, any_host ? Finding::kMailHost : Finding::kNullMx, false);
        return;
      }
    } else if (rc != ARES_ENODATA) {
      finish(q.domain, Finding::kUnknown, true);  // a reply c-ares cannot read
      return;
    }
    start(q.domain, ns_t_a);
    return;
  }
  // A or AAAA: any address is an implicit MX.
  hostent* h = nullptr;
  int rc = ARES_ENODATA;
  if (status == ARES_SUCCESS) {
    rc = q.type == ns_t_a ? ares_parse_a_reply(abuf, alen, &h, nullptr, nullptr)
                          : ares_parse_aaaa_reply(abuf, alen, &h, nullptr, nullptr);
  }
  const bool address = rc == ARES_SUCCESS && h != nullptr && h->h_addr_list != nullptr &&
                       h->h_addr_list[0] != nullptr;
  if (h != nullptr) {
    ares_free_hostent(h);
  }
  if (address) {
    finish(q.domain, Finding::kMailHost, false);
  } else if (rc != ARES_SUCCESS && rc != ARES_ENODATA) {
    finish(q.domain, Finding::kUnknown, true);
  } else if (q.type == ns_t_a) {
    start(q.domain, ns_t_aaaa);
  } else {
    finish(q.domain, Finding::kNoRecords, false);
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
    --pending_;
  }
  if (failed) {
    // A failure keeps what the last answer said (a marked domain stays marked) and is tried
    // again sooner than a TTL.
    count(Counter::kFailed);
    e.next_check_s = now_s_ + options_.failed_retry_s;
    return;
  }
  count(is_marked(f) ? Counter::kMarked : Counter::kMailHost);
  const bool was = is_marked(e.finding);
  e.finding = f;
  e.next_check_s = now_s_ + ttl_of(e);
  if (was != is_marked(f)) {
    changes_.push_back({domain, f, is_marked(f)});
  }
}

std::vector<DomainChecker::Change> DomainChecker::poll(uint64_t now_s) {
  now_s_ = now_s;
  fd_set r;
  fd_set w;
  FD_ZERO(&r);
  FD_ZERO(&w);
  const int nfds = ares_fds(impl_->channel, &r, &w);
  if (nfds > 0) {
    timeval zero{0, 0};
    if (select(nfds, &r, &w, nullptr, &zero) < 0) {
      FD_ZERO(&r);
      FD_ZERO(&w);
    }
  }
  ares_process(impl_->channel, &r, &w);  // also expires queries whose time-out passed
  if (now_s >= last_sweep_s_ + 60) {
    last_sweep_s_ = now_s;
    for (auto it = domains_.begin(); it != domains_.end();) {
      const Entry& e = it->second;
      if (!e.pending && now_s > e.seen_s + 2 * ttl_of(e)) {
        if (is_marked(e.finding)) {
          changes_.push_back({it->first, Finding::kUnknown, false});
        }
        it = domains_.erase(it);
        count(Counter::kForgotten);
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

}  // namespace smtpgw::domains
