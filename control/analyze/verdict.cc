#include "control/analyze/verdict.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "dataplane/scan/scan_context.h"

namespace smtpgw::analyze {

namespace {

struct Outcome {
  bool spam = false;
  double score = 0.0;
  double required_score = 0.0;
  std::vector<std::string> rules;
  bool rules_truncated = false;
};

class VerdictExtension final : public RecordExtension {
 public:
  explicit VerdictExtension(std::shared_ptr<const scan::Ruleset> rs)
      : ruleset_(std::move(rs)), ctx_(*ruleset_) {}

  void begin_message() override {
    current_ = begun_++;
    ctx_.begin_message();
  }
  void field(const Field& f) override { ctx_.field(f); }
  void end_message() override {
    ctx_.end_message();
    const scan::Verdict& v = ctx_.verdict();
    if (!v.valid) {
      return;  // counted by the context (kScanError, ...): the record says null
    }
    Outcome o;
    o.spam = v.spam;
    o.score = v.score;
    o.required_score = v.required_score;
    for (uint32_t idx : v.rules) {
      o.rules.emplace_back(ctx_.rule_name(idx));
    }
    o.rules_truncated = v.rule_count > v.rules.size();
    outcomes_[current_] = std::move(o);
  }
  void abort_message() override { ctx_.abort_message(); }

  void annotate(uint64_t message_index, nlohmann::ordered_json& record) override {
    auto it = outcomes_.find(message_index);
    if (it == outcomes_.end()) {
      // Aborted, rejected before DATA, or not scanned: there is no verdict to report.
      record["verdict"] = nullptr;
      return;
    }
    const Outcome& o = it->second;
    record["verdict"] = o.spam ? "spam" : "ham";
    // Rounded to 1/1000: sums of decimal scores print without binary noise (4.999999...).
    record["score"] = std::round(o.score * 1000.0) / 1000.0;
    record["required_score"] = o.required_score;
    record["rules"] = o.rules;
    if (o.rules_truncated) {
      record["rules_truncated"] = true;
    }
    outcomes_.erase(it);
  }

 private:
  std::shared_ptr<const scan::Ruleset> ruleset_;
  scan::ScanContext ctx_;
  uint64_t begun_ = 0;
  uint64_t current_ = 0;
  // Verdicts whose record is not printed yet (the server's reply to the end of data comes later).
  std::map<uint64_t, Outcome> outcomes_;
};

}  // namespace

ExtensionFactory verdict_extension(std::shared_ptr<const scan::Ruleset> ruleset) {
  return [rs = std::move(ruleset)]() -> std::unique_ptr<RecordExtension> {
    return std::make_unique<VerdictExtension>(rs);
  };
}

}  // namespace smtpgw::analyze
