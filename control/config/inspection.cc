// The `smtp:`, `inspection:` and `rules:` sections: which traffic is SMTP (and what becomes of
// the rest), the per-worker pools for inspecting its messages, and the rule set they are scanned
// with. The STARTTLS keys of `inspection:` fill the policy (limits.cc).
#include "control/config/reader.h"

namespace smtpgw::config::detail {

void read_smtp(Ctx& ctx, const YAML::Node& node, SmtpConfig& smtp) {
  MapReader m(ctx, node, "smtp");
  if (!m.valid()) {
    return;
  }
  if (auto n = m.get("ports")) {
    const std::string path = m.path("ports");
    std::vector<uint16_t> ports;
    if (n->IsScalar()) {
      if (auto v = read_uint(ctx, *n, path, 1, 65'535)) {
        ports.push_back(static_cast<uint16_t>(*v));
      }
    } else if (auto list = read_list(ctx, *n, path)) {
      for (size_t i = 0; i < list->size(); ++i) {
        if (auto v = read_uint(ctx, (*list)[i], index(path, i), 1, 65'535)) {
          bool dup = false;
          for (auto p : ports) {
            dup = dup || p == *v;
          }
          if (dup) {
            ctx.error((*list)[i], index(path, i),
                      "port " + std::to_string(*v) + " is listed twice");
          } else {
            ports.push_back(static_cast<uint16_t>(*v));
          }
        }
      }
      if (list->empty()) {
        ctx.error(*n, path, "needs at least one SMTP port (the default is [25])");
      }
    }
    if (!ports.empty()) {
      smtp.ports = std::move(ports);
    }
  }
  if (auto n = m.get("other_traffic")) {
    if (auto v = read_enum(ctx, *n, m.path("other_traffic"), {"forward", "nat", "drop"})) {
      static constexpr OtherTraffic kValues[] = {OtherTraffic::kForward, OtherTraffic::kNat,
                                                 OtherTraffic::kDrop};
      smtp.other_traffic = kValues[*v];
    }
  }
  m.finish();
}

void read_inspection(Ctx& ctx, const YAML::Node& node, InspectionConfig& inspection,
                     policy::Policy& limits) {
  MapReader m(ctx, node, "inspection");
  if (!m.valid()) {
    return;
  }
  read_bool_into(ctx, m, "enabled", inspection.enabled);
  read_uint_into(ctx, m, "messages", inspection.messages, 1, 1u << 20);
  read_uint_into(ctx, m, "active_sessions", inspection.active_sessions, 1, 1'048'576);
  read_uint_into(ctx, m, "decoders", inspection.decoders, 1, 1'048'576);
  read_uint_into(ctx, m, "segments", inspection.segments, 16, 16'777'216);
  read_uint_into(ctx, m, "scan_contexts", inspection.scan_contexts, 1, 1u << 20);
  if (auto n = m.get("uninspected")) {
    if (auto v = read_enum(ctx, *n, m.path("uninspected"), {"defer", "pass"})) {
      inspection.pass_uninspected = *v == 1;
    }
  }
  read_starttls(ctx, m, limits);
  m.finish();
}

void read_rules(Ctx& ctx, const YAML::Node& node, RulesConfig& rules) {
  MapReader m(ctx, node, "rules");
  if (!m.valid()) {
    return;
  }
  read_bool_into(ctx, m, "enabled", rules.enabled);
  if (auto n = m.get("dir")) {
    if (auto s = read_string(ctx, *n, m.path("dir"))) {
      if (s->empty()) {
        ctx.error(*n, m.path("dir"), "is empty; leave the key out for the shipped rule set");
      } else {
        rules.dir = *s;
      }
    }
  }
  read_bool_into(ctx, m, "lenient", rules.lenient);
  m.finish();
}

}  // namespace smtpgw::config::detail
