// The egress addresses watched on DNS blocklists (DESIGN.md "Control plane"): every address on
// every configured zone (the reversed-octet query "11.2.99.10.zone A"), each address checked
// again every `interval`; a listed one with backoff from `recheck_min` (doubling, up to
// `interval`) until it clears.
//
// What an answer means (the conventions of the lists operators use):
//   A 127.0.0.2 .. 127.0.0.254   listed, with that code
//   NXDOMAIN                     not listed
//   A 127.255.255.x, any other A, NODATA, SERVFAIL, REFUSED, time-out
//                                an error (Spamhaus answers 127.255.255.252..255 for "query
//                                refused", "rate limited", ...): never a listing, and the
//                                address keeps the state it had
// Each cycle also queries each zone's test points: 127.0.0.2 must be listed, 127.0.0.1 must not.
// A zone that answers them wrongly — a dead list that lists everything, or one that lists
// nothing — is disabled (its listings are withdrawn) until its test points answer right again.
// An address is listed when one trusted zone lists it.
//
// Bounds: at most `max_pending` queries in flight, at most `zone_rate` queries a second to one
// zone (a token bucket). Counted.
//
// Threads: one control thread owns it (not thread-safe). Memory: O(addresses x zones).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/dns/resolver.h"

namespace smtpgw::dns {

struct DnsblOptions {
  std::vector<std::string> zones;  // "zen.spamhaus.org", ...
  std::string servers;             // c-ares CSV; empty: /etc/resolv.conf
  uint32_t interval_s = 900;       // each address on each zone at least this often
  uint32_t recheck_min_s = 60;     // a listed address: first re-check after this, then doubling
  uint32_t timeout_ms = 2'000;
  uint32_t max_pending = 32;
  uint32_t zone_rate = 20;         // queries per second to one zone
};

#define SMTPGW_DNSBL_COUNTERS(X)                                                      \
  X(kQueries, "queries", "queries sent (addresses and test points)")                 \
  X(kListedAnswers, "listed_answers", "answers 127.0.0.2-254: listed")               \
  X(kCleanAnswers, "clean_answers", "NXDOMAIN: not listed")                         \
  X(kErrors, "errors", "error codes, SERVFAIL, time-outs: nothing concluded")        \
  X(kRateLimited, "rate_limited", "queries held back by a zone's rate")              \
  X(kZonesDisabled, "zones_disabled", "zones disabled by their test points")

enum class DnsblCounter : uint8_t {
#define SMTPGW_X(name, text, doc) name,
  SMTPGW_DNSBL_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};
const char* counter_name(DnsblCounter c);

class DnsblMonitor {
 public:
  // An address listed (or no longer listed) since the last poll().
  struct AddressChange {
    uint32_t address;  // IPv4, host order
    bool listed;
    std::string zone;  // the zone that lists it (listed), or that cleared last
    uint8_t code;      // the last octet of the answer (listed), else 0
  };
  // A zone disabled (or trusted again) since the last poll().
  struct ZoneChange {
    std::string zone;
    bool disabled;
    std::string why;  // what its test points answered
  };
  struct Changes {
    std::vector<AddressChange> addresses;
    std::vector<ZoneChange> zones;
    bool empty() const { return addresses.empty() && zones.empty(); }
  };

  // `addresses` (IPv4, host order) on `options.zones`. Null with `error` set when c-ares cannot
  // start.
  static std::unique_ptr<DnsblMonitor> create(const DnsblOptions& options,
                                              const std::vector<uint32_t>& addresses,
                                              std::string* error);

  // Sends what is due (within the bounds), reads the answers; never blocks. `now_ms`: any
  // monotonic clock in milliseconds.
  Changes poll(uint64_t now_ms);
  bool listed(uint32_t address) const;

  // What one zone last said of an address (the pools page): "listed" with its code, "clean",
  // "unknown" (not answered yet), and whether the last query gave an error (the verdict before
  // it stands). `checked_ms` is when the last answer came (now_ms's clock; 0: none yet).
  struct Result {
    const std::string* zone;
    bool trusted;
    const char* verdict;
    uint8_t code;
    bool last_error;
    uint64_t checked_ms;
  };
  // One Result per zone, in the configured order; empty for an address not watched.
  std::vector<Result> results(uint32_t address) const;
  bool zone_trusted(const std::string& zone) const;
  uint32_t pending() const { return resolver_->pending(); }
  uint64_t counter(DnsblCounter c) const { return counters_[static_cast<size_t>(c)]; }

 private:
  enum class Verdict : uint8_t { kUnknown, kClean, kListed };
  struct Check {  // one address on one zone
    Verdict verdict = Verdict::kUnknown;
    uint8_t code = 0;
    bool pending = false;
    bool last_error = false;  // the last answer concluded nothing
    uint32_t backoff_s = 0;  // while listed: the next re-check's delay
    uint64_t due_ms = 0;
    uint64_t checked_ms = 0;  // when the last answer came
  };
  struct Zone {
    std::string name;
    bool trusted = false;      // its test points answered right last time
    bool tested = false;       // they have answered at least once
    bool testing = false;      // a test is in flight
    int test_pending = 0;      // test points not answered yet this round
    bool test_error = false;   // one of them gave an error: nothing concluded this round
    bool test_ok = true;
    std::string test_why;
    uint64_t test_due_ms = 0;
    double tokens = 0;         // the rate limit's bucket (burst: one second of zone_rate)
    uint64_t tokens_ms = 0;
    std::vector<Check> checks;  // one per address
  };

  DnsblMonitor(const DnsblOptions& options, const std::vector<uint32_t>& addresses,
               std::unique_ptr<Resolver> resolver);
  bool take_token(Zone& z, uint64_t now_ms);
  void test_zone(size_t zi, uint64_t now_ms);
  void tested(size_t zi, uint32_t point, Status s, const unsigned char* answer, int length);
  void check(size_t zi, size_t ai, uint64_t now_ms);
  void checked(size_t zi, size_t ai, Status s, const unsigned char* answer, int length);
  // Reports the address's change, if its standing over the trusted zones changed.
  void refresh(size_t ai);
  void count(DnsblCounter c) { ++counters_[static_cast<size_t>(c)]; }

  DnsblOptions options_;
  std::unique_ptr<Resolver> resolver_;
  std::vector<uint32_t> addresses_;
  std::vector<bool> listed_;  // per address: what was last reported
  std::vector<Zone> zones_;
  Changes changes_;
  uint64_t now_ms_ = 0;
  uint64_t counters_[static_cast<size_t>(DnsblCounter::kCount)] = {};
};

}  // namespace smtpgw::dns
