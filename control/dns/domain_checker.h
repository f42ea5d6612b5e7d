// The control plane's check of sender domains: each domain seen in the workers' message events
// is looked up once per TTL — MX, then A, then AAAA (RFC 5321 5.1: with no MX the address
// records are the implicit MX) — and the ones that cannot receive mail are marked: no such
// domain (NXDOMAIN), no MX and no address, or a null MX (RFC 7505, "MX 0 ."). The marked set is
// what the gateway publishes to the workers (enforce::DomainMarks); a marked sender's mail on a
// normal flow is deferred and its (host, server) pair steered to the high-risk pool.
//
// A lookup that fails (time-out, SERVFAIL, refused) marks nothing: a resolver outage must not
// defer everybody's mail. The first message of a domain not yet checked is not held for the
// answer; the check is asynchronous (c-ares), on the control thread, never on a worker.
//
// Bounds, each counted: domains remembered (max_domains; a new domain beyond it is not checked),
// lookups in flight (max_pending; a domain seen then is checked when seen again).
//
// Threads: one control thread owns it (not thread-safe). Memory: O(max_domains) names.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "control/dns/resolver.h"

namespace smtpgw::dns {

struct DomainOptions {
  std::string servers;           // c-ares CSV ("127.0.0.1:5353,[::1]:53"); empty: /etc/resolv.conf
  uint32_t found_ttl_s = 86'400;   // a domain with a mail exchanger is checked again after this
  uint32_t missing_ttl_s = 3'600;  // ... one without, after this (it stays marked meanwhile)
  uint32_t failed_retry_s = 60;    // a lookup that failed is tried again after this
  uint32_t timeout_ms = 2'000;     // per try; two tries per query
  uint32_t max_domains = 65'536;
  uint32_t max_pending = 256;
};

// Why a domain is marked, or what its lookup found.
enum class Finding : uint8_t {
  kUnknown,     // never answered (pending, or every lookup failed)
  kMailHost,    // an MX, or (without MX) an A or AAAA record
  kNoDomain,    // NXDOMAIN
  kNoRecords,   // the name exists but has no MX, A or AAAA
  kNullMx,      // RFC 7505: the domain accepts no mail
};
const char* finding_name(Finding f);

#define SMTPGW_DOMAIN_COUNTERS(X)                                                   \
  X(kSeen, "seen", "sender domains handed to the checker")                          \
  X(kLookups, "lookups", "domains looked up (a first check or a recheck)")          \
  X(kQueries, "queries", "DNS queries sent (MX, A, AAAA)")                          \
  X(kMailHost, "mail_host", "lookups that found a mail exchanger")                  \
  X(kMarked, "marked", "lookups that found none: the domain was marked")           \
  X(kFailed, "failed", "lookups that failed (time-out, SERVFAIL): nothing marked")  \
  X(kTableFull, "table_full", "new domains not checked: max_domains remembered")    \
  X(kPendingFull, "pending_full", "domains not checked yet: max_pending in flight") \
  X(kInvalid, "invalid", "names that are no domain (literal, too long, empty)")     \
  X(kForgotten, "forgotten", "domains dropped after a TTL without being seen")

enum class DomainCounter : uint8_t {
#define SMTPGW_X(name, text, doc) name,
  SMTPGW_DOMAIN_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};
const char* counter_name(DomainCounter c);

class DomainChecker {
 public:
  // A domain whose marking changed at the last poll() (newly marked, or no longer marked).
  struct Change {
    std::string domain;
    Finding finding;  // what the lookup found now
    bool marked;
  };

  // Null with `error` set when c-ares cannot start (a bad servers list, no resolver).
  static std::unique_ptr<DomainChecker> create(const DomainOptions& options, std::string* error);
  DomainChecker(const DomainChecker&) = delete;
  DomainChecker& operator=(const DomainChecker&) = delete;

  // A sender domain (any case) seen at unix time `now_s`: looked up when it is new, or its
  // last answer is older than its TTL. Cost: a hash look-up; a query when one starts.
  void seen(std::string_view domain, uint64_t now_s);
  // Reads what answers arrived and sends the follow-up queries, without blocking; forgets
  // domains not seen for twice their TTL. Returns the changes to the marked set since the last
  // call (empty: nothing to publish).
  std::vector<Change> poll(uint64_t now_s);
  // The domains marked now (lower case).
  std::vector<std::string> marked() const;
  // The last finding for `domain` (kUnknown if none).
  Finding finding(std::string_view domain) const;

  uint64_t counter(DomainCounter c) const { return counters_[static_cast<size_t>(c)]; }
  size_t size() const { return domains_.size(); }
  uint32_t pending() const { return lookups_pending_; }

 private:
  struct Entry {
    Finding finding = Finding::kUnknown;
    bool pending = false;
    uint64_t next_check_s = 0;  // looked up again when seen from then on
    uint64_t seen_s = 0;      // last seen in traffic
  };

  DomainChecker(const DomainOptions& options, std::unique_ptr<Resolver> resolver);
  void start(const std::string& domain, int type);
  void answered(const std::string& domain, int type, Status status, const unsigned char* answer,
                int length);
  void finish(const std::string& domain, Finding f, bool failed);
  uint64_t ttl_of(const Entry& e) const;
  void count(DomainCounter c) { ++counters_[static_cast<size_t>(c)]; }

  DomainOptions options_;
  std::unique_ptr<Resolver> resolver_;
  std::unordered_map<std::string, Entry> domains_;
  std::vector<Change> changes_;
  uint32_t lookups_pending_ = 0;  // domains, not queries
  uint64_t now_s_ = 0;
  uint64_t last_sweep_s_ = 0;
  uint64_t counters_[static_cast<size_t>(DomainCounter::kCount)] = {};
};

}  // namespace smtpgw::dns
