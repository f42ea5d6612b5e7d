// The operator API's view of the running gateway (control/api/server.h's Backend): reads the
// store on the API's threads (its own connections), and runs everything that touches the
// gateway's state — the sender table's releases, the published pool states and policy, the
// counters of objects the main lcore owns — on the main lcore, which calls run_pending() every
// loop (so an answer takes up to one loop, 100 ms).
#pragma once

#include <deque>
#include <functional>
#include <future>
#include <mutex>

#include "control/api/server.h"
#include "control/app/gateway.h"
#include "control/app/policy_versions.h"
#include "control/app/rule_versions.h"
#include "control/store/store.h"

namespace smtpgw::app {

class ApiBackend final : public api::Backend {
 public:
  // `store` may be null (the store is disabled: the trace and restriction calls answer 503).
  // `extra_metrics` adds lines from objects the main lcore owns (DNS checks), called there.
  // `rules` answers the rule-set endpoints.
  ApiBackend(Gateway& g, store::Store* store, RuleVersions& rules, PolicyVersions& policies,
             std::function<std::string()> extra_metrics);

  // Main lcore, every loop: answers what the API's threads queued.
  void run_pending();
  // Main lcore, before the API stops: answers what is queued with 503.
  void shut();

  api::Reply health() override;
  api::Reply restrictions() override;
  api::Reply restriction_history(uint32_t limit) override;
  api::Reply release(const std::string& key, const std::string& reason) override;
  api::Reply trace(const api::TraceQuery& q) override;
  api::Reply alerts(uint32_t limit, bool open_only) override;
  api::Reply acknowledge(int64_t id, const std::string& note) override;
  api::Reply pools() override;
  api::Reply set_address_state(const std::string& address, const std::string& state) override;
  api::Reply rules() override;
  api::Reply push_rules(const std::vector<api::RuleFile>& files, bool lenient,
                        const std::string& note) override;
  api::Reply rollback_rules(std::optional<int64_t> version) override;
  api::Reply policy() override;
  api::Reply push_policy(const std::string& yaml, const std::string& note) override;
  api::Reply rollback_policy(std::optional<int64_t> version) override;
  api::Reply sender(const std::string& key) override;
  api::Reply complaint(const std::string& report) override;
  api::Reply complaints(const std::string& sender, uint32_t limit) override;
  std::string metrics() override;

  // A counted complaint, matched to a sender, is handed to `hook` on the main lcore (the
  // reputation tracker). Set before the API starts.
  // GET /api/v1/pools: what the blocklist monitor knows of an address (DnsWatch::blocklists),
  // added to each address as "blocklists"; called on the main lcore. Unset: no such field.
  void on_blocklists(std::function<nlohmann::json(uint32_t)> f) { blocklists_ = std::move(f); }
  void on_complaint(std::function<void(const store::Complaint&)> hook) {
    complaint_hook_ = std::move(hook);
  }

 private:
  // Runs `f` on the main lcore and waits for it (503 after 5 s, or once shut).
  api::Reply on_main(std::function<api::Reply()> f);
  void describe_rules(nlohmann::json& rows);
  // on_main as the versioned sets take it.
  const RuleVersions::OnMain via_main_ = [this](std::function<api::Reply()> f) {
    return on_main(std::move(f));
  };

  Gateway& g_;
  store::Store* store_;
  RuleVersions& rules_;
  PolicyVersions& policies_;
  std::function<void(const store::Complaint&)> complaint_hook_;
  std::function<std::string()> extra_metrics_;
  std::function<nlohmann::json(uint32_t)> blocklists_;
  std::mutex mu_;
  std::deque<std::packaged_task<api::Reply()>> tasks_;  // guarded by mu_
  bool shut_ = false;                                    // guarded by mu_
  uint64_t started_unix_s_;
};

// Whether a report of this Feedback-Type is a recipient's complaint (counted against the
// sender): all but not-spam and auth-failure (complaint_intake.cc).
bool counts_as_complaint(const std::string& feedback_type);

// Every pool address with its pool's name and state ({address, pool, state}, and "blocklists"
// from `blocklists` when given), pools in id order: GET /api/v1/pools and the live statistics.
// Main lcore (reads the published pool states).
nlohmann::json pool_addresses(const flow::PoolState& pools,
                              const std::function<nlohmann::json(uint32_t)>& blocklists = {});

// "a@example.org" (a sender), "10.1.0.5" (a host), "user:NAME", "org:NAME" -> a sender-table
// key; false when it is none of them.
bool parse_key(const std::string& text, events::KeyBytes& out);

}  // namespace smtpgw::app
