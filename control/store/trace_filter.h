// What to read from the message trace: the store's query and the API's, one struct (the API
// fills it from a request's parameters, the store turns it into SQL). All given filters apply.
#pragma once

#include <cstdint>
#include <string>

namespace smtpgw::store {

struct TraceFilter {
  std::string sender, host, recipient;
  std::string verdict;  // clean, spam or not_scanned ("": any)
  std::string action;   // allow, refuse, throttle or defer: what the gateway did ("": any)
  std::string pool;     // a pool's name ("": any)
  uint64_t since_unix_s = 0, until_unix_s = 0;  // 0: open
  int64_t before_id = 0;                        // 0: from the newest
  uint32_t limit = 100;                         // the API allows 1..1000
};

}  // namespace smtpgw::store
