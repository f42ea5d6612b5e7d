// The control plane's asynchronous DNS client: one c-ares channel, polled without blocking from
// the control thread's loop (the sender-domain check and the blocklist monitor each own one).
// Never used on a worker.
//
// Threads: one control thread owns it (not thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace smtpgw::dns {

// What a query came back with (c-ares' status folded to what callers act on).
enum class Status : uint8_t {
  kAnswer,    // NOERROR with records of the type asked
  kNoData,    // NOERROR, the name exists but has no record of that type
  kNoDomain,  // NXDOMAIN
  kFailed,    // SERVFAIL, REFUSED, time-out, a reply that does not parse: nothing is known
};

class Resolver {
 public:
  // `answer` is the raw DNS reply (valid during the call; empty unless kAnswer).
  using Callback = std::function<void(Status status, const unsigned char* answer, int length)>;

  // `servers`: c-ares CSV ("127.0.0.1:5353,[::1]:53"), empty for /etc/resolv.conf; each query
  // is tried twice with `timeout_ms` per try; no search domains (names are absolute). Null with
  // `error` set when c-ares cannot start or refuses the servers.
  static std::unique_ptr<Resolver> create(const std::string& servers, uint32_t timeout_ms,
                                          std::string* error);
  // Pending queries are dropped without their callbacks.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Sends one query (`type`: 1 A, 15 MX, 28 AAAA, ...); `done` runs from a later poll().
  void query(const std::string& name, int type, Callback done);
  // Reads the answers that arrived and expires queries past their time-out; runs their
  // callbacks. Never blocks.
  void poll();
  uint32_t pending() const { return pending_; }

 private:
  struct Impl;
  struct Query;
  Resolver();
  static void on_answer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);

  std::unique_ptr<Impl> impl_;
  uint32_t pending_ = 0;
  bool closing_ = false;
};

}  // namespace smtpgw::dns
