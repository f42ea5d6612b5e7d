#include "control/dns/dnsbl_monitor.h"

#include <ares.h>
#include <netdb.h>

#include <algorithm>
#include <utility>

namespace smtpgw::dns {

const char* counter_name(DnsblCounter c) {
  switch (c) {
#define SMTPGW_X(name, text, doc) \
  case DnsblCounter::name:        \
    return text;
    SMTPGW_DNSBL_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
    case DnsblCounter::kCount:
      break;
  }
  return "?";
}

namespace {

enum class Answer : uint8_t { kListed, kClean, kError };

// What a blocklist's answer says (see the header); `code` gets the listing's last octet.
Answer classify(Status s, const unsigned char* answer, int length, uint8_t* code) {
  if (s == Status::kNoDomain) {
    return Answer::kClean;
  }
  if (s != Status::kAnswer) {
    return Answer::kError;
  }
  hostent* h = nullptr;
  Answer a = Answer::kError;
  if (ares_parse_a_reply(answer, length, &h, nullptr, nullptr) == ARES_SUCCESS && h != nullptr &&
      h->h_addr_list != nullptr && h->h_addr_list[0] != nullptr) {
    const auto* b = reinterpret_cast<const uint8_t*>(h->h_addr_list[0]);
    if (b[0] == 127 && b[1] == 0 && b[2] == 0 && b[3] >= 2 && b[3] <= 254) {
      a = Answer::kListed;
      *code = b[3];
    }
  }
  if (h != nullptr) {
    ares_free_hostent(h);
  }
  return a;
}

// "11.2.99.10.zone" for 10.99.2.11.
std::string reversed(uint32_t a, const std::string& zone) {
  return std::to_string(a & 0xff) + "." + std::to_string((a >> 8) & 0xff) + "." +
         std::to_string((a >> 16) & 0xff) + "." + std::to_string(a >> 24) + "." + zone;
}

constexpr uint32_t kLoopback2 = 0x7f000002;  // 127.0.0.2: every list lists it
constexpr uint32_t kLoopback1 = 0x7f000001;  // 127.0.0.1: no list may list it

}  // namespace

DnsblMonitor::DnsblMonitor(const DnsblOptions& options, const std::vector<uint32_t>& addresses,
                           std::unique_ptr<Resolver> resolver)
    : options_(options),
      resolver_(std::move(resolver)),
      addresses_(addresses),
      listed_(addresses.size(), false) {
  for (const std::string& name : options_.zones) {
    Zone z;
    z.name = name;
    z.tokens = options_.zone_rate;
    z.checks.resize(addresses_.size());
    zones_.push_back(std::move(z));
  }
}

std::unique_ptr<DnsblMonitor> DnsblMonitor::create(const DnsblOptions& options,
                                                   const std::vector<uint32_t>& addresses,
                                                   std::string* error) {
  std::unique_ptr<Resolver> r = Resolver::create(options.servers, options.timeout_ms, error);
  if (!r) {
    return nullptr;
  }
  return std::unique_ptr<DnsblMonitor>(new DnsblMonitor(options, addresses, std::move(r)));
}

bool DnsblMonitor::take_token(Zone& z, uint64_t now_ms) {
  const double rate = options_.zone_rate;
  z.tokens = std::min(rate, z.tokens + static_cast<double>(now_ms - z.tokens_ms) * rate / 1000.0);
  z.tokens_ms = now_ms;
  if (z.tokens < 1.0) {
    count(DnsblCounter::kRateLimited);
    return false;
  }
  z.tokens -= 1.0;
  return true;
}

DnsblMonitor::Changes DnsblMonitor::poll(uint64_t now_ms) {
  now_ms_ = now_ms;
  resolver_->poll();
  for (size_t zi = 0; zi < zones_.size(); ++zi) {
    Zone& z = zones_[zi];
    if (!z.testing && now_ms >= z.test_due_ms) {
      if (resolver_->pending() + 2 > options_.max_pending || !take_token(z, now_ms) ||
          !take_token(z, now_ms)) {
        continue;
      }
      test_zone(zi, now_ms);
    }
    if (!z.trusted) {
      continue;
    }
    for (size_t ai = 0; ai < addresses_.size(); ++ai) {
      Check& c = z.checks[ai];
      if (c.pending || now_ms < c.due_ms) {
        continue;
      }
      if (resolver_->pending() >= options_.max_pending || !take_token(z, now_ms)) {
        break;
      }
      check(zi, ai, now_ms);
    }
  }
  return std::exchange(changes_, {});
}

void DnsblMonitor::test_zone(size_t zi, uint64_t) {
  Zone& z = zones_[zi];
  z.testing = true;
  z.test_pending = 2;
  z.test_error = false;
  z.test_ok = true;
  z.test_why.clear();
  for (const uint32_t point : {kLoopback2, kLoopback1}) {
    count(DnsblCounter::kQueries);
    resolver_->query(reversed(point, z.name), 1,
                     [this, zi, point](Status s, const unsigned char* answer, int length) {
                       tested(zi, point, s, answer, length);
                     });
  }
}

void DnsblMonitor::tested(size_t zi, uint32_t point, Status s, const unsigned char* answer,
                          int length) {
  Zone& z = zones_[zi];
  uint8_t code = 0;
  const Answer a = classify(s, answer, length, &code);
  const char* name = point == kLoopback2 ? "127.0.0.2" : "127.0.0.1";
  if (a == Answer::kError) {
    count(DnsblCounter::kErrors);
    z.test_error = true;
  } else if ((point == kLoopback2) != (a == Answer::kListed)) {
    z.test_ok = false;
    z.test_why += std::string(z.test_why.empty() ? "" : ", ") + name +
                  (point == kLoopback2 ? " is not listed" : " is listed");
  }
  if (--z.test_pending > 0) {
    return;
  }
  z.testing = false;
  if (z.test_error) {
    // Nothing concluded: the zone keeps its standing and is tested again soon.
    z.test_due_ms = now_ms_ + 1000ull * std::min<uint32_t>(options_.interval_s, 60);
    return;
  }
  z.test_due_ms = now_ms_ + 1000ull * options_.interval_s;
  const bool was_known = z.tested;
  z.tested = true;
  if (was_known && z.test_ok == z.trusted) {
    return;
  }
  z.trusted = z.test_ok;
  if (!z.trusted) {
    count(DnsblCounter::kZonesDisabled);
    changes_.zones.push_back({z.name, true, z.test_why});
  } else if (was_known) {
    changes_.zones.push_back({z.name, false, "its test points answer right again"});
  }
  for (size_t ai = 0; ai < addresses_.size(); ++ai) {
    z.checks[ai].due_ms = 0;  // looked up again as soon as the zone is trusted
    refresh(ai);              // a disabled zone's listings are withdrawn
  }
}

void DnsblMonitor::check(size_t zi, size_t ai, uint64_t) {
  Zone& z = zones_[zi];
  z.checks[ai].pending = true;
  count(DnsblCounter::kQueries);
  resolver_->query(reversed(addresses_[ai], z.name), 1,
                   [this, zi, ai](Status s, const unsigned char* answer, int length) {
                     checked(zi, ai, s, answer, length);
                   });
}

void DnsblMonitor::checked(size_t zi, size_t ai, Status s, const unsigned char* answer,
                           int length) {
  Zone& z = zones_[zi];
  Check& c = z.checks[ai];
  c.pending = false;
  c.checked_ms = now_ms_;
  uint8_t code = 0;
  const Answer a = classify(s, answer, length, &code);
  c.last_error = a == Answer::kError;
  switch (a) {
    case Answer::kError:
      count(DnsblCounter::kErrors);
      c.due_ms = now_ms_ + 1000ull * std::min(options_.recheck_min_s, options_.interval_s);
      return;  // the address keeps the state it had
    case Answer::kListed:
      count(DnsblCounter::kListedAnswers);
      c.verdict = Verdict::kListed;
      c.code = code;
      c.backoff_s = c.backoff_s == 0 ? options_.recheck_min_s
                                     : std::min(2 * c.backoff_s, options_.interval_s);
      c.due_ms = now_ms_ + 1000ull * c.backoff_s;
      break;
    case Answer::kClean:
      count(DnsblCounter::kCleanAnswers);
      c.verdict = Verdict::kClean;
      c.code = 0;
      c.backoff_s = 0;
      c.due_ms = now_ms_ + 1000ull * options_.interval_s;
      break;
  }
  refresh(ai);
}

void DnsblMonitor::refresh(size_t ai) {
  const Zone* by = nullptr;
  for (const Zone& z : zones_) {
    if (z.trusted && z.checks[ai].verdict == Verdict::kListed) {
      by = &z;
      break;
    }
  }
  const bool now_listed = by != nullptr;
  if (now_listed == listed_[ai]) {
    return;
  }
  listed_[ai] = now_listed;
  changes_.addresses.push_back(
      {addresses_[ai], now_listed, by != nullptr ? by->name : std::string(),
       by != nullptr ? by->checks[ai].code : uint8_t{0}});
}

bool DnsblMonitor::listed(uint32_t address) const {
  for (size_t ai = 0; ai < addresses_.size(); ++ai) {
    if (addresses_[ai] == address) {
      return listed_[ai];
    }
  }
  return false;
}

std::vector<DnsblMonitor::Result> DnsblMonitor::results(uint32_t address) const {
  std::vector<Result> out;
  for (size_t ai = 0; ai < addresses_.size(); ++ai) {
    if (addresses_[ai] != address) {
      continue;
    }
    for (const Zone& z : zones_) {
      const Check& c = z.checks[ai];
      const char* verdict = c.verdict == Verdict::kListed  ? "listed"
                            : c.verdict == Verdict::kClean ? "clean"
                                                           : "unknown";
      out.push_back({&z.name, z.trusted, verdict, c.code, c.last_error, c.checked_ms});
    }
    break;
  }
  return out;
}

bool DnsblMonitor::zone_trusted(const std::string& zone) const {
  for (const Zone& z : zones_) {
    if (z.name == zone) {
      return z.trusted;
    }
  }
  return false;
}

}  // namespace smtpgw::dns
