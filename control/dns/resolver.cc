#include "control/dns/resolver.h"

#include <ares.h>
#include <sys/select.h>

namespace smtpgw::dns {

struct Resolver::Impl {
  ares_channel channel = nullptr;
};

struct Resolver::Query {
  Resolver* owner;
  Callback done;
};

Resolver::Resolver() : impl_(std::make_unique<Impl>()) {}

Resolver::~Resolver() {
  closing_ = true;
  if (impl_->channel != nullptr) {
    ares_destroy(impl_->channel);  // answers every query with ARES_EDESTRUCTION
  }
}

std::unique_ptr<Resolver> Resolver::create(const std::string& servers, uint32_t timeout_ms,
                                           std::string* error) {
  static const int lib = ares_library_init(ARES_LIB_INIT_ALL);
  if (lib != ARES_SUCCESS) {
    *error = std::string("c-ares: ") + ares_strerror(lib);
    return nullptr;
  }
  std::unique_ptr<Resolver> r(new Resolver());
  ares_options o{};
  o.timeout = static_cast<int>(timeout_ms);
  o.tries = 2;
  o.ndomains = 0;  // no search list: "example.org" never becomes "example.org.local.suffix"
  o.domains = nullptr;
  int rc = ares_init_options(&r->impl_->channel, &o,
                             ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS);
  if (rc != ARES_SUCCESS) {
    *error = std::string("c-ares: ") + ares_strerror(rc);
    return nullptr;
  }
  if (!servers.empty()) {
    rc = ares_set_servers_ports_csv(r->impl_->channel, servers.c_str());
    if (rc != ARES_SUCCESS) {
      *error = "c-ares: servers \"" + servers + "\": " + ares_strerror(rc);
      return nullptr;
    }
  }
  return r;
}

void Resolver::query(const std::string& name, int type, Callback done) {
  ++pending_;
  auto* q = new Query{this, std::move(done)};
  ares_query(impl_->channel, name.c_str(), 1 /* IN */, type, &Resolver::on_answer, q);
}

void Resolver::on_answer(void* arg, int status, int, unsigned char* abuf, int alen) {
  std::unique_ptr<Query> q(static_cast<Query*>(arg));
  Resolver& r = *q->owner;
  --r.pending_;
  if (status == ARES_EDESTRUCTION || r.closing_) {
    return;
  }
  Status s = Status::kFailed;
  if (status == ARES_SUCCESS) {
    s = Status::kAnswer;
  } else if (status == ARES_ENODATA) {
    s = Status::kNoData;
  } else if (status == ARES_ENOTFOUND) {
    s = Status::kNoDomain;
  }
  q->done(s, s == Status::kAnswer ? abuf : nullptr, s == Status::kAnswer ? alen : 0);
}

void Resolver::poll() {
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
}

}  // namespace smtpgw::dns
