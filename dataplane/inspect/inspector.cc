#include "dataplane/inspect/inspector.h"

#include <memory>

namespace smtpgw::inspect {

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kAllow:
      return "allow";
    case Action::kRefuse:
      return "refuse";
    case Action::kThrottle:
      return "throttle";
    case Action::kDefer:
      return "defer";
  }
  return "?";
}

std::string_view pool_name(EgressPool p) { return p == EgressPool::kHighRisk ? "high_risk" : "normal"; }

std::string_view counter_name(Counter c) {
  static constexpr std::string_view kNames[] = {
#define SMTPGW_X(name, text, doc) text,
      SMTPGW_INSPECT_COUNTERS(SMTPGW_X)
#undef SMTPGW_X
  };
  return kNames[static_cast<size_t>(c)];
}

Inspector::Inspector(const Config& config, Decisions& decisions, tcp::OwnerOps owner_ops)
    : config_(config),
      decisions_(decisions),
      reasm_(config.tcp, owner_ops),
      sessions_(config.session, config.max_active_sessions),
      header_scratch_(config.mime),
      decoders_(config.reserve_decoders, config.max_decoders,
                [this] {
                  return std::make_unique<mime::Decoder>(null_sink_, config_.mime,
                                                         &header_scratch_);
                }),
      scans_(scanning() ? config.reserve_scans : 0, config.max_scans,
             [this]() -> std::unique_ptr<scan::ScanContext> {
               if (config_.ruleset != nullptr) {
                 return std::make_unique<scan::ScanContext>(*config_.ruleset, config_.worker);
               }
               return std::make_unique<scan::ScanContext>(*config_.rules_source, config_.worker);
             }),
      messages_(config.reserve_messages, config.max_messages,
                [] { return std::make_unique<Message>(); }) {
  sessions_.reserve(config.reserve_active_sessions);
  if (config.prefault) {
    decoders_.for_each([](mime::Decoder& d) { d.prefault(); });
    scans_.for_each([](scan::ScanContext& s) { s.open_streams(); });
  }
}

Inspector::~Inspector() = default;

void Inspector::refresh_rules(uint32_t budget) {
  const scan::ScanContext::Source* src = config_.rules_source;
  if (src == nullptr) {
    return;
  }
  if (src->read() != rules_seen_.get()) {
    rules_seen_ = src->pin();
    rules_moving_ = true;
  }
  if (!rules_moving_) {
    return;
  }
  uint32_t moved = 0;
  scans_.for_each_free([&](scan::ScanContext& s) {
    if (moved < budget && !s.current()) {
      s.release();
      s.open_streams();
      ++moved;
    }
  });
  // Keep going while any context, idle or lent, still holds an older version.
  rules_moving_ = !rules_current();
}

bool Inspector::rules_current() const {
  bool all = true;
  scans_.for_each([&](const scan::ScanContext& s) { all = all && s.current(); });
  return all;
}

void Inspector::register_counters(stats::Registry& r) const {
  r.add({"inspect", counters_.data(), kCounterCount,
         [](size_t i) { return counter_name(static_cast<Counter>(i)); }});
  r.add({"smtp", sessions_.counters().value.data(), smtp::kCounterCount,
         [](size_t i) { return smtp::counter_name(static_cast<smtp::Counter>(i)); }});
  r.add({"tcp", reasm_.counters().data(), tcp::kCounterCount,
         [](size_t i) { return tcp::counter_name(static_cast<tcp::Counter>(i)); }});
}

bool Inspector::starts_new_flow(const Flow* f) {
  if (f == nullptr || f->done()) {
    return true;
  }
  const tcp::DirectionState& c = f->tcp.of(tcp::Direction::kClientToServer);
  return (c.flags & tcp::kDirIsnKnown) == 0 || c.next > 0;
}

void Inspector::close(Flow& f) {
  f.close();
  reasm_.close_flow(f.tcp);
}

mime::Stats Inspector::mime_stats() const {
  mime::Stats total;
  decoders_.for_each([&total](const mime::Decoder& d) {
    const mime::Stats& s = d.stats();
    total.messages += s.messages;
    total.ended += s.ended;
    total.aborted += s.aborted;
    total.bytes += s.bytes;
    for (size_t i = 0; i < mime::kNoteCount; ++i) {
      total.notes[i] += s.notes[i];
    }
  });
  return total;
}

}  // namespace smtpgw::inspect
