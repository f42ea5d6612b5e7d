#include "control/alerts/alerts.h"

#include <cstdio>
#include <memory>
#include <vector>

namespace smtpgw::alerts {

const char* kind_name(Kind k) {
  switch (k) {
#define SMTPGW_X(id, name, severity) \
  case Kind::id:                     \
    return name;
    SMTPGW_ALERT_KINDS(SMTPGW_X)
#undef SMTPGW_X
    case Kind::kCount:
      break;
  }
  return "unknown";
}

const char* severity(Kind k) {
  switch (k) {
#define SMTPGW_X(id, name, sev) \
  case Kind::id:                \
    return sev;
    SMTPGW_ALERT_KINDS(SMTPGW_X)
#undef SMTPGW_X
    case Kind::kCount:
      break;
  }
  return "unknown";
}

nlohmann::json to_json(const Alert& a) {
  return {{"kind", kind_name(a.kind)},   {"severity", severity(a.kind)},
          {"subject", a.subject},        {"message", a.message},
          {"details", a.details},        {"unix_ns", a.unix_ns},
          {"repeats", a.repeats}};
}

bool Alerts::raise(Kind kind, const std::string& subject, const std::string& message,
                   nlohmann::json details, uint64_t now) {
  if (now - last_sweep_ns_ >= aggregate_ns_) {  // windows that ended are forgotten
    last_sweep_ns_ = now;
    for (auto it = open_.begin(); it != open_.end();) {
      it = now - it->second.unix_ns >= aggregate_ns_ ? open_.erase(it) : std::next(it);
    }
  }
  auto it = open_.find({kind, subject});
  if (it != open_.end() && now - it->second.unix_ns < aggregate_ns_) {
    ++it->second.repeats;
    ++folded_;
    for (const Sink& s : sinks_) {
      s(it->second, false);
    }
    return false;
  }
  Alert a{kind, subject, message, std::move(details), now, 0};
  ++raised_;
  for (const Sink& s : sinks_) {
    s(a, true);
  }
  open_[{kind, subject}] = std::move(a);
  return true;
}

bool jsonl_sink(const std::string& path, Alerts::Sink* out, std::string* error) {
  std::shared_ptr<FILE> f(std::fopen(path.c_str(), "a"), [](FILE* p) {
    if (p != nullptr) {
      std::fclose(p);
    }
  });
  if (!f) {
    *error = path + ": cannot open for appending";
    return false;
  }
  *out = [f](const Alert& a, bool first) {
    if (!first) {
      return;  // the file has each alert once; repeats are counted in the store
    }
    // A subject from mail need not be UTF-8: replaced, never thrown on the main lcore.
    const std::string line =
        to_json(a).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), f.get());
    std::fflush(f.get());
  };
  return true;
}

}  // namespace smtpgw::alerts
