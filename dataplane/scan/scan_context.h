// The per-message scanner: a FieldSink (contract/fields.h) that scans each field of a message
// with a compiled Ruleset and produces a Verdict at end_message.
//
//   begin_message   takes the ruleset for this message (fixed, or pinned from a Publisher) —
//                   the message keeps that version until its verdict is released
//   field           envelope/header/uri: block scans; body/rawbody/full: the stream of that
//                   class is opened on its first chunk and written to; header fields are also
//                   written to the ALL / ALL:raw streams as "Name: value\n". Body text goes
//                   through Paragraphs first (SpamAssassin's paragraph semantics), after the
//                   Subject as the body's first paragraph
//   end_message     ends the streams (end-of-data matches, then a reset for the next
//                   message), applies `!~`, evaluates metas in order, sums scores → verdict()
//   abort_message   resets the streams without a verdict
//
// No heap allocation per field: the hit set and counters are fixed-size members. Hyperscan
// allocates a stream's state (hs_open_stream) the first time the context needs that stream
// class; at the end of each message the stream is reset (hs_reset_stream), not freed, so a
// context that scans message after message with one ruleset allocates nothing. The streams are
// freed when the ruleset changes, by release(), and by the destructor. A publisher-fed context
// keeps its version pinned between messages (so it keeps its streams); its owner moves an idle
// one to a newer version with release() and open_streams() (inspect::Inspector::refresh_rules).
// Threads: one context is used by one thread (a worker, or the offline analyzer); many
// contexts of one worker share that worker's scratch (sequential use only).
#pragma once

#include <bitset>
#include <cstdint>
#include <span>
#include <string_view>

#include "contract/fields.h"
#include "dataplane/publish/publisher.h"
#include "dataplane/scan/paragraphs.h"
#include "dataplane/scan/ruleset.h"

namespace smtpgw::scan {

// Why a scan context produced no verdict, or what it had to give up; one counter each.
#define SMTPGW_SCAN_EVENTS(X)                                                      \
  X(kNoRuleset, "no_ruleset")             /* begin_message without a ruleset */    \
  X(kNoScratch, "no_scratch")   /* worker index >= the ruleset's worker_count */         \
  X(kScanError, "scan_error")             /* Hyperscan returned an error */        \
  X(kStreamOpenFailed, "stream_open_failed")                                       \
  X(kFieldOutsideMessage, "field_outside_message") /* call order violated */      \
  X(kVerdictRulesTruncated, "verdict_rules_truncated") /* > kMaxVerdictRules */   \
  X(kSubjectTruncated, "subject_truncated")  /* Subject longer than the buffer */ \
  X(kMetaStackOverflow, "meta_stack_overflow")

enum class ScanEvent : uint8_t {
#define SMTPGW_X(name, str) name,
  SMTPGW_SCAN_EVENTS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};
std::string_view scan_event_name(ScanEvent e);

inline constexpr uint32_t kMaxVerdictRules = 128;  // rule names kept per verdict
inline constexpr size_t kSubjectBufferBytes = 1024;

struct Verdict {
  bool valid = false;      // a verdict was produced (end_message with a ruleset)
  bool spam = false;       // score >= required_score
  double score = 0.0;
  double required_score = kDefaultRequiredScore;
  uint64_t ruleset_version = 0;
  uint32_t rule_count = 0;        // reported rules that hit (may exceed rules.size())
  std::span<const uint32_t> rules;  // their indexes, in rule order (≤ kMaxVerdictRules)
};

class ScanContext final : public FieldSink {
 public:
  using Source = publish::Publisher<Ruleset>;

  // Scans with a fixed ruleset (the offline analyzer, tests). `worker` selects the scratch.
  ScanContext(const Ruleset& ruleset, unsigned worker = 0);
  // Scans with whatever `source` publishes: begin_message pins the active version, which stays
  // pinned until release() or the next begin_message (so verdict() names stay valid). Called on
  // a registered reader thread of the publisher's Qsbr; `worker` selects the scratch.
  ScanContext(const Source& source, unsigned worker);
  ~ScanContext() override;
  ScanContext(const ScanContext&) = delete;
  ScanContext& operator=(const ScanContext&) = delete;

  void begin_message() override;
  void field(const Field& f) override;
  void end_message() override;
  void abort_message() override;

  // The verdict of the last end_message(); valid (and its rules' names resolvable through
  // ruleset()) until the next begin_message() or release().
  const Verdict& verdict() const { return verdict_; }
  // The ruleset of the current or last message (nullptr after release()).
  const Ruleset* ruleset() const { return active_; }
  std::string_view rule_name(uint32_t index) const { return active_->rules()[index].name; }
  // The message's first Subject as decoded (at most kSubjectBufferBytes; "" without one);
  // valid until the next begin_message().
  std::string_view subject() const { return {subject_, subject_len_}; }
  // Drops the pin on the last message's ruleset (a publisher-fed context should call this
  // once the verdict was consumed, so an idle flow does not hold an old version).
  void release();
  // Opens now the stream of every stream database of the rule set — the fixed one, or the
  // version the publisher has now, which it pins — which otherwise open at the first message
  // that needs them (hs_open_stream allocates: a worker calls this at start and when it moves
  // idle contexts to a new version, so the packet path does not). Cost: one allocation per
  // stream database. Thread: the owner's (a registered reader of the publisher's Qsbr, or any
  // thread while nothing is published).
  void open_streams();
  // Whether the context holds the version its source publishes now (always, for a fixed rule
  // set). Cost: one load.
  bool current() const { return source_ == nullptr || active_ == source_->read(); }
  bool in_message() const { return in_message_; }

  uint64_t event_count(ScanEvent e) const { return events_[static_cast<int>(e)]; }

  // Per-match hook for the scan callbacks (internal; public for the C callbacks).
  void on_match(unsigned id);

 private:
  void count(ScanEvent e) { ++events_[static_cast<int>(e)]; }
  void scan_block(const Database& db, std::string_view data);
  void write_stream(StreamClass c, std::string_view data);
  void scan_header(const Field& f);
  void write_body(std::string_view text);
  void end_streams(bool deliver);
  void drop_streams();
  void finish();

  const Ruleset* fixed_ = nullptr;
  const Source* source_ = nullptr;
  Source::Pin pin_;
  const Ruleset* active_ = nullptr;
  unsigned worker_ = 0;
  bool in_message_ = false;
  bool stream_failed_[kStreamClassCount] = {};
  hs_stream_t* streams_[kStreamClassCount] = {};
  bool stream_used_[kStreamClassCount] = {};  // written by the current message
  const Ruleset* streams_of_ = nullptr;       // whose databases the open streams belong to
  std::bitset<kMaxRules> matched_;  // a pattern matched (before `!~` and metas)
  std::bitset<kMaxRules> hits_;     // final rule hits
  std::bitset<kMaxHeaderGroups> seen_groups_;  // header names present in this message
  uint8_t counts_[kMaxMultipleRules] = {};
  uint32_t verdict_rules_[kMaxVerdictRules] = {};
  Verdict verdict_;
  char subject_[kSubjectBufferBytes] = {};
  size_t subject_len_ = 0;
  bool subject_seen_ = false;
  bool body_started_ = false;  // the Subject paragraph went into paragraphs_
  Paragraphs paragraphs_;
  uint64_t events_[static_cast<int>(ScanEvent::kCount)] = {};
};

}  // namespace smtpgw::scan
