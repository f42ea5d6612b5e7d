// The control plane's persistence (SQLite, WAL): the message trace (one row per transaction the
// workers traced, its recipients in their own table) and the restrictions the accountant
// applied, so that a restart loses neither. Schema versions are applied in order at open
// (schema_version table); a database newer than this binary is refused.
//
// Writes go through one writer thread: the control thread hands events over (never blocking:
// a bounded queue, what does not fit is dropped and counted), the writer commits them in
// batches (every 100 ms or 1,000 events). An event is "acknowledged" once committed
// (committed()); SIGKILL loses at most what was not yet committed. Retention runs on the
// writer: trace rows older than `trace_days` or beyond `trace_max_rows` are deleted.
//
// Threads: submit/flush/counters from the control thread; the queries (restrictions_in_force,
// trace_count) open their own connection and may run on any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "contract/events.h"
#include "control/store/trace_filter.h"

struct sqlite3;

namespace smtpgw::store {

struct Options {
  std::string path;                    // the database file (created if missing)
  uint32_t trace_days = 30;            // trace rows older than this are deleted
  uint64_t trace_max_rows = 10'000'000;  // and beyond this many, the oldest first
  uint32_t queue = 65'536;             // events waiting for the writer
  uint32_t retention_every_s = 60;     // how often the writer applies the retention
  // Pool names by id (flow::PoolId) for the trace's pool column: normal, high_risk, then the
  // named pools. An id beyond them is written as "pool<N>".
  std::vector<std::string> pool_names = {"normal", "high_risk"};
};

// A restriction as stored: enough to write it into the sender table again at start.
struct Restriction {
  events::KeyBytes key;
  events::LimitId limit = events::LimitId::kNone;
  events::ActionTaken action = events::ActionTaken::kBlocked;
  uint64_t until_unix_s = 0;  // 0: until released
  uint64_t applied_unix_ns = 0;
  std::string limit_name;     // the limit's name, or the control plane's reason (limit kNone)
  uint64_t released_unix_ns = 0;  // 0: not released (restriction_history only)
  std::string release_reason;
};

struct ActiveVersion {
  int64_t version = 0;   // 0: the config file's
  int64_t previous = 0;  // the one active before it
  uint64_t since_unix_ns = 0;
};

struct StoredVersion {
  int64_t id = 0;
  uint64_t created_unix_ns = 0;
  std::string body, note;
  nlohmann::json summary;
};

// A complaint as kept: what the report said and whom it was matched to.
struct Complaint {
  uint64_t unix_ns = 0;
  std::string feedback_type;  // abuse, fraud, ... (feedback::Report)
  std::string sender;         // the matched sender ("" when none)
  std::string host;           // the inside host that sent it, from the trace ("" when unknown)
  std::string matched_by;     // original_mail_from|return_path|from|source_ip|none
  std::string source_ip, user_agent, arrival_date, reported_domain, original_rcpt_to;
  uint32_t incidents = 1;
};

// The schema version this binary writes.
inline constexpr int kSchemaVersion = 5;

class Store {
 public:
  // Opens (creating or migrating) the database and starts the writer. Null with `error` set
  // (naming the file) when it cannot be opened, is no SQLite database, or has a newer schema.
  static std::unique_ptr<Store> open(const Options& options, std::string* error);
  // Commits what is queued, then stops the writer.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Hands `e` to the writer if it is stored (trace, trace_recipient, restriction_applied);
  // other kinds are ignored. Never blocks on the database.
  void submit(const events::Event& e);
  // Waits until everything submitted so far is committed (tests, shutdown).
  void flush();

  // Restrictions whose term has not ended at `now_unix_s` (and that no release lifted), newest
  // per key. Own connection; any thread.
  std::vector<Restriction> restrictions_in_force(uint64_t now_unix_s, std::string* error) const;
  // The audit trail: the newest `limit` restrictions ever applied, newest first, each with
  // when and why an operator released it. Own connection; any thread.
  std::vector<Restriction> restriction_history(uint32_t limit, std::string* error) const;
  // A restriction the control plane decided (not a worker's limit: `limit` is kNone and
  // `reason` names why, e.g. "complaint_rate"), recorded so a restart re-applies it. Own
  // connection; any thread.
  bool add_restriction(const events::KeyBytes& key, events::ActionTaken action,
                       uint64_t until_unix_s, const std::string& reason, uint64_t now_unix_ns,
                       std::string* error);
  // Records that an operator released `key` (every restriction of it still in force), with
  // the reason. Own connection; any thread.
  bool release(const events::KeyBytes& key, const std::string& reason, uint64_t now_unix_ns,
               std::string* error);
  // An operator's state for a pool address ("draining"; "active" forgets it), kept so a restart
  // applies it again. Own connection; any thread.
  bool set_address_state(const std::string& address, const std::string& state,
                         uint64_t now_unix_ns, std::string* error);
  // The kept address states: (address text, state), by address.
  std::vector<std::pair<std::string, std::string>> address_states(std::string* error) const;
  // The trace rows matching `f`, newest first, each with its recipients' replies, as JSON. Own
  // connection; any thread.
  nlohmann::json trace(const TraceFilter& f, std::string* error) const;
  // Hands an alert (alerts::to_json's form) to the writer: `first`, a new row; else the
  // repeat count of the row it was folded into. Never blocks on the database.
  void submit_alert(const nlohmann::json& alert, bool first);
  // The newest `limit` alerts (only those not acknowledged when `open_only`), as JSON. Own
  // connection; any thread.
  nlohmann::json alerts(uint32_t limit, bool open_only, std::string* error) const;
  // Marks alert `id` acknowledged with a note: 1 done, 0 no such alert open, -1 error. Own
  // connection; any thread.
  int acknowledge_alert(int64_t id, const std::string& note, uint64_t now_unix_ns,
                        std::string* error);
  // Who used egress address `egress` (text, "10.99.2.10") since `since_unix_ns`: its senders
  // and hosts, each with messages, spam verdicts and recipients rejected by the servers,
  // ranked by spam verdicts then messages, at most `limit` (blame.cc). Own connection; any
  // thread; one indexed range scan of the trace.
  nlohmann::json egress_users(const std::string& egress, uint64_t since_unix_ns, uint32_t limit,
                              std::string* error) const;
  // A complaint received (complaints.cc): its id, or 0 with `error`.
  int64_t add_complaint(const Complaint& c, std::string* error);
  // The newest `limit` complaints (of `sender` only, when not empty), as JSON.
  nlohmann::json complaints(const std::string& sender, uint32_t limit, std::string* error) const;
  // The inside host of `sender`'s newest trace row (what a complaint is matched with); nullopt
  // when the trace has no message of it.
  std::optional<std::string> host_of_sender(const std::string& sender, std::string* error) const;
  // Rows in the trace table. Own connection; any thread.
  int64_t trace_count(std::string* error) const;

  // Versions of what the operator pushes through the API (versions.cc): `kind` is "rules" or
  // "policy"; `body` is kept as pushed, so a version can be compiled again at start or on a
  // roll-back. Version 0 is the config file's own (rules.dir, limits), never stored. Own
  // connection; any thread; each call one transaction.
  //
  // Stores a new version (not active); its id, or 0 with `error`.
  int64_t add_version(const std::string& kind, const std::string& body,
                      const nlohmann::json& summary, const std::string& note,
                      uint64_t now_unix_ns, std::string* error);
  // Makes `version` (0: the config file's) the active one of `kind`, remembering the one it
  // replaces as `previous`.
  bool activate_version(const std::string& kind, int64_t version, uint64_t now_unix_ns,
                        std::string* error);
  // The active version of `kind` and the one before it (both 0 when nothing was pushed).
  ActiveVersion active_version(const std::string& kind, std::string* error) const;
  // Version `id` of `kind` with its body; nullopt when there is none (or on error, with `error`).
  std::optional<StoredVersion> version(const std::string& kind, int64_t id,
                                       std::string* error) const;
  // The newest `limit` versions of `kind`, without their bodies, as JSON.
  nlohmann::json versions(const std::string& kind, uint32_t limit, std::string* error) const;

  uint64_t submitted() const { return submitted_.load(std::memory_order_relaxed); }
  // Events and alerts waiting for the writer now. Any thread (takes the queue's lock).
  size_t queued() const;
  uint64_t committed() const { return committed_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  uint64_t deleted_by_retention() const { return retired_.load(std::memory_order_relaxed); }
  const std::string& path() const { return options_.path; }

  // Text of a sender key as stored ("10.1.0.5", "a@example.org", ...): events::key_text
  // (contract/key_text.h).
  static std::string key_text(const events::KeyBytes& k);

 private:
  std::vector<Restriction> restriction_rows(const char* sql, int64_t parameter,
                                            std::string* error) const;
  explicit Store(const Options& options);
  void run();
  void write(std::vector<events::Event>& batch);
  void write_alerts(const std::vector<std::pair<nlohmann::json, bool>>& alerts);
  // Ends the writer's transaction of `rows`: committed (counted) when `ok`, else rolled back
  // (counted as write errors). True when committed.
  bool end_batch(bool ok, size_t rows);
  void retain(uint64_t now_unix_ns);

  Options options_;
  sqlite3* db_ = nullptr;  // the writer's connection
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<events::Event> queue_;  // guarded by mu_
  std::vector<std::pair<nlohmann::json, bool>> alerts_;  // guarded by mu_
  bool stop_ = false;                // guarded by mu_
  uint64_t taken_ = 0;               // guarded by mu_: events the writer took
  bool busy_ = false;                // guarded by mu_: a batch is being written
  std::atomic<uint64_t> submitted_{0}, committed_{0}, dropped_{0}, write_errors_{0}, retired_{0};
  int64_t last_trace_[256] = {};     // writer: per worker, the row its recipients belong to
  std::thread writer_;
};

}  // namespace smtpgw::store
