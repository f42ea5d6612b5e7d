// The `reputation:` section: how the control plane judges each sender's ratios over a sliding
// window (control/reputation/reputation.h; docs/config.md, "reputation"). The organisations are
// those of `limits.organisations`.
#include <charconv>
#include <cmath>

#include "control/config/reader.h"

namespace smtpgw::config::detail {

namespace {

// A ratio within 0..1: a number ("0.1", "1e-3") or a percentage ("0.1%", "10%").
std::optional<double> read_ratio(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  const char* const expected =
      "expected a ratio within 0..1 such as 0.05 or a percentage such as 5%";
  if (!n.IsScalar()) {
    ctx.error(n, path, std::string(expected) + ", got " + describe(n));
    return std::nullopt;
  }
  std::string s = n.Scalar();
  const bool percent = !s.empty() && s.back() == '%';
  if (percent) {
    s.pop_back();
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(v)) {
    ctx.error(n, path, std::string(expected) + ", got " + quote(n.Scalar()));
    return std::nullopt;
  }
  if (percent) {
    v /= 100.0;
  }
  if (v < 0.0 || v > 1.0) {
    ctx.error(n, path, "out of range 0..1 (0%..100%), got " + quote(n.Scalar()));
    return std::nullopt;
  }
  return v;
}

// Reads `key` into `out` when present; returns its node (for later cross-checks), if any.
std::optional<YAML::Node> read_ratio_into(Ctx& ctx, MapReader& m, std::string_view key,
                                          double& out) {
  auto n = m.get(key);
  if (n) {
    if (auto v = read_ratio(ctx, *n, m.path(key))) {
      out = *v;
    }
  }
  return n;
}

}  // namespace

void read_reputation(Ctx& ctx, const YAML::Node& node, ReputationConfig& d) {
  MapReader m(ctx, node, "reputation");
  if (!m.valid()) {
    return;
  }
  read_bool_into(ctx, m, "enabled", d.enabled);
  bool sizes_read = true;  // both as given (or defaulted): only then are they checked together
  auto window = m.get("window");
  if (window) {
    auto v = read_duration(ctx, *window, m.path("window"), 60, 2'592'000);
    sizes_read = sizes_read && v;
    d.window = v.value_or(d.window);
  }
  auto buckets = m.get("buckets");
  if (buckets) {
    auto v = read_uint(ctx, *buckets, m.path("buckets"), 1, 1'440);
    sizes_read = sizes_read && v;
    d.buckets = static_cast<uint32_t>(v.value_or(d.buckets));
  }
  if (sizes_read && d.window % d.buckets != 0) {
    const YAML::Node& at = window ? *window : *buckets;
    ctx.error(at, m.path(window ? "window" : "buckets"),
              "window (" + std::to_string(d.window) + " s) is not a whole number of " +
                  std::to_string(d.buckets) + " buckets");
  }
  read_uint_into(ctx, m, "min_messages", d.min_messages, 1, 1'000'000'000);
  read_ratio_into(ctx, m, "spam_ratio", d.spam_ratio);
  read_ratio_into(ctx, m, "rejection_ratio", d.rejection_ratio);
  const size_t errors = ctx.error_count();
  auto warn = read_ratio_into(ctx, m, "complaint_warn", d.complaint_warn);
  auto restrict_node = read_ratio_into(ctx, m, "complaint_restrict", d.complaint_restrict);
  if (ctx.error_count() == errors && d.complaint_warn > d.complaint_restrict) {
    const YAML::Node& at = warn ? *warn : *restrict_node;
    ctx.error(at, m.path(warn ? "complaint_warn" : "complaint_restrict"),
              "complaint_warn (" + std::to_string(d.complaint_warn) +
                  ") is above complaint_restrict (" + std::to_string(d.complaint_restrict) +
                  "): a sender would be restricted before it is warned about");
  }
  read_uint_into(ctx, m, "complaint_min_messages", d.complaint_min_messages, 1, 1'000'000'000);
  read_ratio_into(ctx, m, "org_suspicious_share", d.org_suspicious_share);
  read_uint_into(ctx, m, "org_min_messages", d.org_min_messages, 1, 1'000'000'000);
  if (auto n = read_ratio_into(ctx, m, "clear_factor", d.clear_factor); n && d.clear_factor < 0.5) {
    ctx.error(*n, m.path("clear_factor"), "out of range 0.5..1, got " + quote(n->Scalar()));
  }
  read_uint_into(ctx, m, "max_subjects", d.max_subjects, 16, 10'000'000);
  m.finish();
}

}  // namespace smtpgw::config::detail
