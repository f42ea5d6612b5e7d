#include "control/store/store.h"

#include <arpa/inet.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "contract/key_text.h"
#include "control/clock/clock.h"
#include "control/store/sqlite.h"

namespace smtpgw::store {

using detail::connect;
using detail::error_of;
using detail::exec;
using detail::Stmt;

namespace {

// Schema versions, applied in order; version N is kMigrations[N - 1]. PRAGMA user_version
// records the version a database has.
const char* const kMigrations[] = {
    // 1: the message trace and the restrictions.
    "CREATE TABLE trace ("
    "  id INTEGER PRIMARY KEY,"
    "  unix_ns INTEGER NOT NULL, worker INTEGER NOT NULL, flow_id INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  host TEXT NOT NULL, sender TEXT, user TEXT, server TEXT NOT NULL,"
    "  server_port INTEGER NOT NULL, pool TEXT NOT NULL, egress TEXT, egress_port INTEGER,"
    "  action TEXT NOT NULL, gateway_reply INTEGER, outcome TEXT NOT NULL,"
    "  remote_reply INTEGER, remote_enhanced TEXT, verdict TEXT NOT NULL, score REAL,"
    "  recipients INTEGER NOT NULL, recipients_rejected INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    "  bounce INTEGER NOT NULL);"
    "CREATE INDEX trace_time ON trace(unix_ns);"
    "CREATE INDEX trace_sender ON trace(sender);"
    "CREATE INDEX trace_host ON trace(host);"
    "CREATE TABLE trace_recipient ("
    "  trace_id INTEGER NOT NULL, address TEXT NOT NULL, truncated INTEGER NOT NULL,"
    "  reply INTEGER, enhanced TEXT);"
    "CREATE INDEX trace_recipient_trace ON trace_recipient(trace_id);"
    "CREATE INDEX trace_recipient_address ON trace_recipient(address);"
    "CREATE TABLE restriction ("
    "  id INTEGER PRIMARY KEY, key_kind INTEGER NOT NULL, key_data BLOB NOT NULL,"
    "  key TEXT NOT NULL, limit_id INTEGER NOT NULL, limit_name TEXT NOT NULL,"
    "  action INTEGER NOT NULL, until_unix_s INTEGER NOT NULL, applied_unix_ns INTEGER NOT NULL,"
    "  released_unix_ns INTEGER, release_reason TEXT);"
    "CREATE INDEX restriction_key ON restriction(key_kind, key_data);",
    // 2: the alerts.
    "CREATE TABLE alert ("
    "  id INTEGER PRIMARY KEY, unix_ns INTEGER NOT NULL, kind TEXT NOT NULL,"
    "  severity TEXT NOT NULL, subject TEXT NOT NULL, message TEXT NOT NULL,"
    "  details TEXT NOT NULL, repeats INTEGER NOT NULL DEFAULT 0, last_unix_ns INTEGER NOT NULL,"
    "  acknowledged_unix_ns INTEGER, acknowledged_note TEXT);"
    "CREATE INDEX alert_time ON alert(unix_ns);",
    // 3: the versions of the rule set and of the policy pushed through the API, and which is
    // active (version 0: the config file's); the trace by egress address (who used a listed
    // address); the complaints received (ARF).
    "CREATE TABLE config_version ("
    "  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, created_unix_ns INTEGER NOT NULL,"
    "  body TEXT NOT NULL, summary TEXT NOT NULL, note TEXT NOT NULL);"
    "CREATE INDEX config_version_kind ON config_version(kind, id);"
    "CREATE INDEX trace_egress ON trace(egress, unix_ns);"
    "CREATE TABLE complaint ("
    "  id INTEGER PRIMARY KEY, unix_ns INTEGER NOT NULL, feedback_type TEXT NOT NULL,"
    "  sender TEXT, host TEXT, matched_by TEXT NOT NULL, source_ip TEXT, user_agent TEXT,"
    "  arrival_date TEXT, reported_domain TEXT, original_rcpt_to TEXT, incidents INTEGER NOT NULL);"
    "CREATE INDEX complaint_sender ON complaint(sender, unix_ns);"
    "CREATE TABLE config_active ("
    "  kind TEXT PRIMARY KEY, version INTEGER NOT NULL, previous INTEGER NOT NULL,"
    "  since_unix_ns INTEGER NOT NULL);",
    // 4: egress addresses an operator took out of service (draining), kept across a restart.
    "CREATE TABLE address_state ("
    "  address TEXT PRIMARY KEY, state TEXT NOT NULL, since_unix_ns INTEGER NOT NULL);",
    // 5: the rules each traced message hit (the first kTraceRules), how many it hit, and its
    // Subject.
    "ALTER TABLE trace ADD COLUMN rules_hit INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE trace ADD COLUMN subject TEXT;"
    "CREATE TABLE trace_rule ("
    "  trace_id INTEGER NOT NULL, name TEXT NOT NULL, score REAL NOT NULL);"
    "CREATE INDEX trace_rule_trace ON trace_rule(trace_id);",
};
constexpr int kMigrationCount = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);
static_assert(kMigrationCount == kSchemaVersion);

const char* const kActions[] = {"allow", "refuse", "throttle", "defer"};
const char* const kOutcomes[] = {"delivered", "rejected", "aborted", "refused", "unknown"};
const char* const kVerdicts[] = {"clean", "spam", "not_scanned"};

template <size_t N>
const char* name_of(const char* const (&names)[N], uint8_t i) {
  return i < N ? names[i] : "unknown";
}

std::string ip_text(uint8_t family, const uint8_t* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string Store::key_text(const events::KeyBytes& k) { return events::key_text(k); }

Store::Store(const Options& options) : options_(options) {}

std::unique_ptr<Store> Store::open(const Options& options, std::string* error) {
  std::unique_ptr<Store> s(new Store(options));
  s->db_ = connect(options.path, error);
  if (s->db_ == nullptr) {
    return nullptr;
  }
  int version = 0;
  {
    Stmt st(s->db_, "PRAGMA user_version");
    if (!st || sqlite3_step(st.s) != SQLITE_ROW) {
      *error = error_of(s->db_, options.path, "not a usable SQLite database");
      return nullptr;
    }
    version = sqlite3_column_int(st.s, 0);
  }
  if (version > kSchemaVersion) {
    *error = options.path + ": schema version " + std::to_string(version) +
             " is newer than this smtpgw's (" + std::to_string(kSchemaVersion) +
             "); refusing to write to it";
    return nullptr;
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    const std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v] +
                            "PRAGMA user_version=" + std::to_string(v + 1) + ";COMMIT;";
    if (!exec(s->db_, sql.c_str())) {
      *error = error_of(s->db_, options.path, ("schema version " + std::to_string(v + 1)).c_str());
      exec(s->db_, "ROLLBACK");
      return nullptr;
    }
  }
  s->writer_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

Store::~Store() {
  if (writer_.joinable()) {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    writer_.join();
  }
  sqlite3_close(db_);
}

void Store::submit(const events::Event& e) {
  if (e.kind != events::EventKind::kTrace && e.kind != events::EventKind::kTraceRecipient &&
      e.kind != events::EventKind::kTraceRule && e.kind != events::EventKind::kTraceSubject &&
      e.kind != events::EventKind::kRestrictionApplied) {
    return;
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queue_.size() >= options_.queue) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(e);
    submitted_.fetch_add(1, std::memory_order_relaxed);
    wake = queue_.size() >= 1'000;
  }
  if (wake) {
    wake_.notify_one();
  }
}

size_t Store::queued() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size() + alerts_.size();
}

void Store::flush() {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t target = submitted_.load(std::memory_order_relaxed);
  wake_.notify_one();
  done_.wait(l, [&] { return taken_ >= target && queue_.empty() && alerts_.empty() && !busy_; });
}

void Store::run() {
  std::vector<events::Event> batch;
  std::vector<std::pair<nlohmann::json, bool>> alerts;
  uint64_t last_retention_ns = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      wake_.wait_for(l, std::chrono::milliseconds(100),
                     [&] { return stop_ || queue_.size() >= 1'000; });
      if (queue_.empty() && alerts_.empty() && stop_) {
        return;
      }
      const size_t n = std::min<size_t>(queue_.size(), 4'096);
      batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      taken_ += n;
      alerts.swap(alerts_);
      taken_ += alerts.size();
      busy_ = n != 0 || !alerts.empty();
    }
    if (!batch.empty()) {
      write(batch);
    }
    if (!alerts.empty()) {
      write_alerts(alerts);
      alerts.clear();
    }
    const uint64_t now = clock::unix_now_ns();
    if (now - last_retention_ns >= options_.retention_every_s * 1'000'000'000ull) {
      last_retention_ns = now;
      retain(now);
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      busy_ = false;
    }
    done_.notify_all();
  }
}

void Store::submit_alert(const nlohmann::json& alert, bool first) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (alerts_.size() >= 4'096) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    alerts_.emplace_back(alert, first);
    submitted_.fetch_add(1, std::memory_order_relaxed);
  }
  wake_.notify_one();
}

void Store::write_alerts(const std::vector<std::pair<nlohmann::json, bool>>& alerts) {
  Stmt add(db_,
           "INSERT INTO alert (unix_ns, kind, severity, subject, message, details, repeats,"
           " last_unix_ns) VALUES (?,?,?,?,?,?,0,?)");
  Stmt repeat(db_,
              "UPDATE alert SET repeats = ?, last_unix_ns = ? WHERE id = (SELECT MAX(id) FROM"
              " alert WHERE kind = ? AND subject = ? AND unix_ns = ?)");
  if (!add || !repeat || !exec(db_, "BEGIN IMMEDIATE")) {
    write_errors_.fetch_add(alerts.size(), std::memory_order_relaxed);
    return;
  }
  const uint64_t now = clock::unix_now_ns();
  bool ok = true;
  for (const auto& [a, first] : alerts) {
    const std::string kind = a.value("kind", ""), subject = a.value("subject", "");
    const int64_t at = a.value("unix_ns", int64_t{0});
    sqlite3_stmt* st = first ? add.s : repeat.s;
    if (first) {
      const std::string severity = a.value("severity", ""), message = a.value("message", "");
      const std::string details = a.contains("details") ? a["details"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : "{}";
      sqlite3_bind_int64(st, 1, at);
      sqlite3_bind_text(st, 2, kind.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, severity.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 4, subject.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 5, message.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 6, details.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 7, at);
    } else {
      sqlite3_bind_int64(st, 1, a.value("repeats", int64_t{0}));
      sqlite3_bind_int64(st, 2, static_cast<int64_t>(now));
      sqlite3_bind_text(st, 3, kind.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 4, subject.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 5, at);
    }
    ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (!ok) {
      break;
    }
  }
  end_batch(ok, alerts.size());
}

bool Store::end_batch(bool ok, size_t rows) {
  if (ok && exec(db_, "COMMIT")) {
    committed_.fetch_add(rows, std::memory_order_relaxed);
    return true;
  }
  exec(db_, "ROLLBACK");
  write_errors_.fetch_add(rows, std::memory_order_relaxed);
  return false;
}

nlohmann::json Store::alerts(uint32_t limit, bool open_only, std::string* error) const {
  nlohmann::json rows = nlohmann::json::array();
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return rows;
  }
  {
    const std::string sql =
        std::string("SELECT id, unix_ns, kind, severity, subject, message, details, repeats,"
                    " last_unix_ns, acknowledged_unix_ns, acknowledged_note FROM alert") +
        (open_only ? " WHERE acknowledged_unix_ns IS NULL" : "") + " ORDER BY id DESC LIMIT ?";
    Stmt st(db, sql.c_str());
    if (!st) {
      *error = error_of(db, options_.path, "list the alerts");
    } else {
      sqlite3_bind_int64(st.s, 1, limit);
      auto text = [&](int c) {
        const unsigned char* t = sqlite3_column_text(st.s, c);
        return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
      };
      while (sqlite3_step(st.s) == SQLITE_ROW) {
        nlohmann::json r{{"id", sqlite3_column_int64(st.s, 0)},
                         {"unix_ns", sqlite3_column_int64(st.s, 1)},
                         {"kind", text(2)},
                         {"severity", text(3)},
                         {"subject", text(4)},
                         {"message", text(5)},
                         {"details", nlohmann::json::parse(text(6), nullptr, false)},
                         {"repeats", sqlite3_column_int64(st.s, 7)},
                         {"last_unix_ns", sqlite3_column_int64(st.s, 8)}};
        r["acknowledged_unix_ns"] = sqlite3_column_type(st.s, 9) == SQLITE_NULL
                                        ? nlohmann::json(nullptr)
                                        : nlohmann::json(sqlite3_column_int64(st.s, 9));
        r["acknowledged_note"] = text(10);
        rows.push_back(std::move(r));
      }
    }
  }
  sqlite3_close(db);
  return rows;
}

int Store::acknowledge_alert(int64_t id, const std::string& note, uint64_t now_unix_ns,
                             std::string* error) {
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return -1;
  }
  int result = -1;
  {
    Stmt st(db,
            "UPDATE alert SET acknowledged_unix_ns = ?, acknowledged_note = ?"
            " WHERE id = ? AND acknowledged_unix_ns IS NULL");
    if (st) {
      sqlite3_bind_int64(st.s, 1, static_cast<int64_t>(now_unix_ns));
      sqlite3_bind_text(st.s, 2, note.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st.s, 3, id);
      if (sqlite3_step(st.s) == SQLITE_DONE) {
        result = sqlite3_changes(db) > 0 ? 1 : 0;
      }
    }
    if (result < 0) {
      *error = error_of(db, options_.path, "acknowledge the alert");
    }
  }
  sqlite3_close(db);
  return result;
}

void Store::write(std::vector<events::Event>& batch) {
  Stmt trace(db_,
             "INSERT INTO trace (unix_ns, worker, flow_id, idx, host, sender, user, server,"
             " server_port, pool, egress, egress_port, action, gateway_reply, outcome,"
             " remote_reply, remote_enhanced, verdict, score, recipients, recipients_rejected,"
             " bytes, bounce, rules_hit) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  Stmt rcpt(db_,
            "INSERT INTO trace_recipient (trace_id, address, truncated, reply, enhanced)"
            " VALUES (?,?,?,?,?)");
  Stmt rule(db_, "INSERT INTO trace_rule (trace_id, name, score) VALUES (?,?,?)");
  Stmt subject(db_, "UPDATE trace SET subject = ? WHERE id = ?");
  Stmt restr(db_,
             "INSERT INTO restriction (key_kind, key_data, key, limit_id, limit_name, action,"
             " until_unix_s, applied_unix_ns) VALUES (?,?,?,?,?,?,?,?)");
  if (!trace || !rcpt || !rule || !subject || !restr || !exec(db_, "BEGIN IMMEDIATE")) {
    write_errors_.fetch_add(batch.size(), std::memory_order_relaxed);
    return;
  }
  bool ok = true;
  for (const events::Event& e : batch) {
    sqlite3_stmt* st = nullptr;
    if (e.kind == events::EventKind::kTrace) {
      const events::Trace& t = e.u.trace;
      st = trace.s;
      int i = 0;
      sqlite3_bind_int64(st, ++i, static_cast<int64_t>(e.unix_ns));
      sqlite3_bind_int(st, ++i, e.worker);
      sqlite3_bind_int64(st, ++i, static_cast<int64_t>(t.flow_id));
      sqlite3_bind_int64(st, ++i, t.index);
      sqlite3_bind_text(st, ++i, ip_text(t.host_family, t.host_addr).c_str(), -1, SQLITE_TRANSIENT);
      const std::string sender = key_text(e.key);
      const std::string user = key_text(e.user);
      if (sender.empty()) {
        sqlite3_bind_null(st, ++i);
      } else {
        sqlite3_bind_text(st, ++i, sender.c_str(), -1, SQLITE_TRANSIENT);
      }
      if (user.empty()) {
        sqlite3_bind_null(st, ++i);
      } else {
        sqlite3_bind_text(st, ++i, user.c_str(), -1, SQLITE_TRANSIENT);
      }
      sqlite3_bind_text(st, ++i, ip_text(t.server_family, t.server_addr).c_str(), -1,
                        SQLITE_TRANSIENT);
      sqlite3_bind_int(st, ++i, t.server_port);
      if (t.pool < options_.pool_names.size()) {
        sqlite3_bind_text(st, ++i, options_.pool_names[t.pool].c_str(), -1, SQLITE_STATIC);
      } else {
        sqlite3_bind_text(st, ++i, ("pool" + std::to_string(t.pool)).c_str(), -1,
                          SQLITE_TRANSIENT);
      }
      if (t.egress_addr != 0) {
        const uint32_t be = htonl(t.egress_addr);
        sqlite3_bind_text(st, ++i, ip_text(4, reinterpret_cast<const uint8_t*>(&be)).c_str(), -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_int(st, ++i, t.egress_port);
      } else {
        sqlite3_bind_null(st, ++i);
        sqlite3_bind_null(st, ++i);
      }
      sqlite3_bind_text(st, ++i, name_of(kActions, t.action), -1, SQLITE_STATIC);
      sqlite3_bind_int(st, ++i, t.gateway_reply);
      sqlite3_bind_text(st, ++i, name_of(kOutcomes, t.outcome), -1, SQLITE_STATIC);
      sqlite3_bind_int(st, ++i, t.remote_reply);
      const std::string enhanced(t.remote_enhanced, strnlen(t.remote_enhanced, sizeof t.remote_enhanced));
      sqlite3_bind_text(st, ++i, enhanced.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, ++i, name_of(kVerdicts, t.verdict), -1, SQLITE_STATIC);
      sqlite3_bind_double(st, ++i, t.score_milli / 1000.0);
      sqlite3_bind_int64(st, ++i, t.recipients);
      sqlite3_bind_int64(st, ++i, t.recipients_rejected);
      sqlite3_bind_int64(st, ++i, static_cast<int64_t>(t.bytes));
      sqlite3_bind_int(st, ++i, t.exempt == 1 ? 1 : 0);
      sqlite3_bind_int(st, ++i, t.rules_hit);
    } else if (e.kind == events::EventKind::kTraceRule) {
      const events::TraceRule& r = e.u.rule;
      if (last_trace_[e.worker] == 0) {
        continue;  // its message was not stored
      }
      st = rule.s;
      sqlite3_bind_int64(st, 1, last_trace_[e.worker]);
      sqlite3_bind_text(st, 2, r.name, std::min<int>(r.len, sizeof r.name), SQLITE_TRANSIENT);
      sqlite3_bind_double(st, 3, r.score_milli / 1000.0);
    } else if (e.kind == events::EventKind::kTraceSubject) {
      const events::TraceSubject& s = e.u.subject;
      if (last_trace_[e.worker] == 0) {
        continue;  // its message was not stored
      }
      st = subject.s;
      sqlite3_bind_text(st, 1, s.text, std::min<int>(s.len, sizeof s.text), SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 2, last_trace_[e.worker]);
    } else if (e.kind == events::EventKind::kTraceRecipient) {
      const events::TraceRecipient& r = e.u.recipient;
      if (last_trace_[e.worker] == 0) {
        continue;  // its message was not stored (dropped before the queue)
      }
      st = rcpt.s;
      sqlite3_bind_int64(st, 1, last_trace_[e.worker]);
      sqlite3_bind_text(st, 2, r.address, std::min<int>(r.len, sizeof r.address), SQLITE_TRANSIENT);
      sqlite3_bind_int(st, 3, r.truncated);
      sqlite3_bind_int(st, 4, r.reply);
      sqlite3_bind_text(st, 5, r.enhanced, static_cast<int>(strnlen(r.enhanced, sizeof r.enhanced)),
                        SQLITE_TRANSIENT);
    } else {
      const events::RestrictionApplied& r = e.u.restriction;
      st = restr.s;
      sqlite3_bind_int(st, 1, static_cast<int>(e.key.kind));
      sqlite3_bind_blob(st, 2, e.key.data, e.key.len, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, key_text(e.key).c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(st, 4, static_cast<int>(r.limit));
      sqlite3_bind_text(st, 5, events::limit_name(r.limit), -1, SQLITE_STATIC);
      sqlite3_bind_int(st, 6, static_cast<int>(r.action));
      sqlite3_bind_int64(st, 7, static_cast<int64_t>(r.until_unix_s));
      sqlite3_bind_int64(st, 8, static_cast<int64_t>(e.unix_ns));
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
      ok = false;
    }
    if (e.kind == events::EventKind::kTrace) {
      last_trace_[e.worker] = sqlite3_last_insert_rowid(db_);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (!ok) {
      break;
    }
  }
  if (!end_batch(ok, batch.size())) {
    std::fill(std::begin(last_trace_), std::end(last_trace_), 0);  // those rows are gone
  }
}

void Store::retain(uint64_t now_unix_ns) {
  const int64_t cut = static_cast<int64_t>(now_unix_ns) -
                      static_cast<int64_t>(options_.trace_days) * 86'400'000'000'000ll;
  int64_t max_id = 0;
  {
    Stmt st(db_, "SELECT COALESCE(MAX(id), 0) FROM trace");
    if (st && sqlite3_step(st.s) == SQLITE_ROW) {
      max_id = sqlite3_column_int64(st.s, 0);
    }
  }
  const int64_t keep_from = max_id - static_cast<int64_t>(options_.trace_max_rows);
  Stmt del(db_, "DELETE FROM trace WHERE unix_ns < ? OR id <= ?");
  // Rows go in id order and the oldest go first, so a recipient older than every message left
  // is an orphan.
  Stmt orphans(db_,
               "DELETE FROM trace_recipient WHERE trace_id < (SELECT COALESCE(MIN(id), ?) FROM trace)");
  Stmt orphan_rules(db_,
                    "DELETE FROM trace_rule WHERE trace_id < (SELECT COALESCE(MIN(id), ?) FROM trace)");
  if (!del || !orphans || !orphan_rules || !exec(db_, "BEGIN IMMEDIATE")) {
    return;
  }
  sqlite3_bind_int64(del.s, 1, cut);
  sqlite3_bind_int64(del.s, 2, keep_from);
  sqlite3_bind_int64(orphans.s, 1, max_id + 1);
  sqlite3_bind_int64(orphan_rules.s, 1, max_id + 1);
  const bool ok = sqlite3_step(del.s) == SQLITE_DONE;
  const int gone = sqlite3_changes(db_);
  if (ok && sqlite3_step(orphans.s) == SQLITE_DONE && sqlite3_step(orphan_rules.s) == SQLITE_DONE &&
      exec(db_, "COMMIT")) {
    retired_.fetch_add(static_cast<uint64_t>(gone), std::memory_order_relaxed);
  } else {
    exec(db_, "ROLLBACK");
  }
}

bool Store::add_restriction(const events::KeyBytes& key, events::ActionTaken action,
                            uint64_t until_unix_s, const std::string& reason,
                            uint64_t now_unix_ns, std::string* error) {
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return false;
  }
  bool ok = false;
  {
    Stmt st(db,
            "INSERT INTO restriction (key_kind, key_data, key, limit_id, limit_name, action,"
            " until_unix_s, applied_unix_ns) VALUES (?,?,?,?,?,?,?,?)");
    if (st) {
      const std::string text = key_text(key);
      sqlite3_bind_int(st.s, 1, static_cast<int>(key.kind));
      sqlite3_bind_blob(st.s, 2, key.data, key.len, SQLITE_TRANSIENT);
      sqlite3_bind_text(st.s, 3, text.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(st.s, 4, static_cast<int>(events::LimitId::kNone));
      sqlite3_bind_text(st.s, 5, reason.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(st.s, 6, static_cast<int>(action));
      sqlite3_bind_int64(st.s, 7, static_cast<int64_t>(until_unix_s));
      sqlite3_bind_int64(st.s, 8, static_cast<int64_t>(now_unix_ns));
      ok = sqlite3_step(st.s) == SQLITE_DONE;
    }
    if (!ok) {
      *error = error_of(db, options_.path, "record the restriction");
    }
  }
  sqlite3_close(db);
  return ok;
}

bool Store::release(const events::KeyBytes& key, const std::string& reason,
                    uint64_t now_unix_ns, std::string* error) {
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return false;
  }
  bool ok = false;
  {
    Stmt st(db,
            "UPDATE restriction SET released_unix_ns = ?, release_reason = ?"
            " WHERE key_kind = ? AND key_data = ? AND released_unix_ns IS NULL");
    if (st) {
      sqlite3_bind_int64(st.s, 1, static_cast<int64_t>(now_unix_ns));
      sqlite3_bind_text(st.s, 2, reason.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(st.s, 3, static_cast<int>(key.kind));
      sqlite3_bind_blob(st.s, 4, key.data, key.len, SQLITE_TRANSIENT);
      ok = sqlite3_step(st.s) == SQLITE_DONE;
    }
    if (!ok) {
      *error = error_of(db, options_.path, "record the release");
    }
  }
  sqlite3_close(db);
  return ok;
}

bool Store::set_address_state(const std::string& address, const std::string& state,
                              uint64_t now_unix_ns, std::string* error) {
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return false;
  }
  bool ok = false;
  {
    // Only what differs from the config's start (every address active) is kept.
    Stmt st(db, state == "active"
                    ? "DELETE FROM address_state WHERE address = ?1"
                    : "INSERT INTO address_state (address, state, since_unix_ns) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT(address) DO UPDATE SET state = ?2, since_unix_ns = ?3");
    if (st) {
      sqlite3_bind_text(st.s, 1, address.c_str(), -1, SQLITE_TRANSIENT);
      if (state != "active") {
        sqlite3_bind_text(st.s, 2, state.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st.s, 3, static_cast<int64_t>(now_unix_ns));
      }
      ok = sqlite3_step(st.s) == SQLITE_DONE;
    }
    if (!ok) {
      *error = error_of(db, options_.path, "record the address state");
    }
  }
  sqlite3_close(db);
  return ok;
}

std::vector<std::pair<std::string, std::string>> Store::address_states(std::string* error) const {
  std::vector<std::pair<std::string, std::string>> out;
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return out;
  }
  {
    Stmt st(db, "SELECT address, state FROM address_state ORDER BY address");
    if (!st) {
      *error = error_of(db, options_.path, "read the address states");
    } else {
      while (sqlite3_step(st.s) == SQLITE_ROW) {
        out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0)),
                         reinterpret_cast<const char*>(sqlite3_column_text(st.s, 1)));
      }
    }
  }
  sqlite3_close(db);
  return out;
}

nlohmann::json Store::trace(const TraceFilter& f, std::string* error) const {
  nlohmann::json rows = nlohmann::json::array();
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return rows;
  }
  {
    std::string sql =
        "SELECT id, unix_ns, host, sender, user, server, server_port, pool, egress, egress_port,"
        " action, gateway_reply, outcome, remote_reply, remote_enhanced, verdict, score,"
        " recipients, recipients_rejected, bytes, bounce,"
        " (SELECT json_group_array(json_object('address', address, 'reply', reply,"
        "   'enhanced', enhanced)) FROM trace_recipient WHERE trace_id = trace.id),"
        " rules_hit,"
        " (SELECT json_group_array(json_object('name', name, 'score', score))"
        "   FROM (SELECT name, score FROM trace_rule WHERE trace_id = trace.id ORDER BY rowid)),"
        " subject"
        " FROM trace WHERE 1";
    if (!f.sender.empty()) sql += " AND sender = :sender";
    if (!f.host.empty()) sql += " AND host = :host";
    if (!f.verdict.empty()) sql += " AND verdict = :verdict";
    if (!f.pool.empty()) sql += " AND pool = :pool";
    if (!f.action.empty()) sql += " AND action = :action";
    if (!f.recipient.empty())
      sql += " AND id IN (SELECT trace_id FROM trace_recipient WHERE address = :recipient)";
    if (f.since_unix_s != 0) sql += " AND unix_ns >= :since";
    if (f.until_unix_s != 0) sql += " AND unix_ns < :until";
    if (f.before_id != 0) sql += " AND id < :before";
    sql += " ORDER BY id DESC LIMIT :limit";
    Stmt st(db, sql.c_str());
    if (!st) {
      *error = error_of(db, options_.path, "query the trace");
    } else {
      auto bind_text = [&](const char* name, const std::string& v) {
        const int i = sqlite3_bind_parameter_index(st.s, name);
        if (i > 0) sqlite3_bind_text(st.s, i, v.c_str(), -1, SQLITE_TRANSIENT);
      };
      auto bind_int = [&](const char* name, int64_t v) {
        const int i = sqlite3_bind_parameter_index(st.s, name);
        if (i > 0) sqlite3_bind_int64(st.s, i, v);
      };
      bind_text(":sender", f.sender);
      bind_text(":host", f.host);
      bind_text(":verdict", f.verdict);
      bind_text(":pool", f.pool);
      bind_text(":action", f.action);
      bind_text(":recipient", f.recipient);
      bind_int(":since", static_cast<int64_t>(f.since_unix_s) * 1'000'000'000ll);
      bind_int(":until", static_cast<int64_t>(f.until_unix_s) * 1'000'000'000ll);
      bind_int(":before", f.before_id);
      bind_int(":limit", f.limit);
      auto text = [&](int c) -> nlohmann::json {
        const unsigned char* t = sqlite3_column_text(st.s, c);
        return t == nullptr ? nlohmann::json(nullptr)
                            : nlohmann::json(reinterpret_cast<const char*>(t));
      };
      auto integer = [&](int c) -> nlohmann::json {
        return sqlite3_column_type(st.s, c) == SQLITE_NULL
                   ? nlohmann::json(nullptr)
                   : nlohmann::json(sqlite3_column_int64(st.s, c));
      };
      while (sqlite3_step(st.s) == SQLITE_ROW) {
        nlohmann::json r;
        r["id"] = integer(0);
        r["unix_ns"] = integer(1);
        r["host"] = text(2);
        r["sender"] = text(3);
        r["user"] = text(4);
        r["server"] = text(5);
        r["server_port"] = integer(6);
        r["pool"] = text(7);
        r["egress"] = text(8);
        r["egress_port"] = integer(9);
        r["action"] = text(10);
        r["gateway_reply"] = integer(11);
        r["outcome"] = text(12);
        r["remote_reply"] = integer(13);
        r["remote_enhanced"] = text(14);
        r["verdict"] = text(15);
        r["score"] = sqlite3_column_double(st.s, 16);
        r["recipients"] = integer(17);
        r["recipients_rejected"] = integer(18);
        r["bytes"] = integer(19);
        r["bounce"] = sqlite3_column_int(st.s, 20) != 0;
        const unsigned char* list = sqlite3_column_text(st.s, 21);
        r["recipient_replies"] = nlohmann::json::parse(
            list != nullptr ? reinterpret_cast<const char*>(list) : "[]", nullptr, false);
        r["rules_hit"] = integer(22);
        const unsigned char* hit = sqlite3_column_text(st.s, 23);
        r["rules"] = nlohmann::json::parse(
            hit != nullptr ? reinterpret_cast<const char*>(hit) : "[]", nullptr, false);
        r["subject"] = text(24);
        rows.push_back(std::move(r));
      }
    }
  }
  sqlite3_close(db);
  return rows;
}

// Restriction rows: `sql` selects key_kind, key_data, limit_id, action, until_unix_s,
// applied_unix_ns, limit_name, released_unix_ns, release_reason, with one integer parameter.
std::vector<Restriction> Store::restriction_rows(const char* sql, int64_t parameter,
                                                 std::string* error) const {
  std::vector<Restriction> out;
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return out;
  }
  {
    Stmt st(db, sql);
    if (!st) {
      *error = error_of(db, options_.path, "query restrictions");
    } else {
      sqlite3_bind_int64(st.s, 1, parameter);
      while (sqlite3_step(st.s) == SQLITE_ROW) {
        Restriction r;
        r.key.kind = static_cast<events::KeyKind>(sqlite3_column_int(st.s, 0));
        const int n = std::min<int>(sqlite3_column_bytes(st.s, 1), events::kKeyDataMax);
        std::memcpy(r.key.data, sqlite3_column_blob(st.s, 1), static_cast<size_t>(n));
        r.key.len = static_cast<uint8_t>(n);
        r.limit = static_cast<events::LimitId>(sqlite3_column_int(st.s, 2));
        r.action = static_cast<events::ActionTaken>(sqlite3_column_int(st.s, 3));
        r.until_unix_s = static_cast<uint64_t>(sqlite3_column_int64(st.s, 4));
        r.applied_unix_ns = static_cast<uint64_t>(sqlite3_column_int64(st.s, 5));
        r.limit_name = detail::column_text(st.s, 6);
        r.released_unix_ns = static_cast<uint64_t>(sqlite3_column_int64(st.s, 7));
        r.release_reason = detail::column_text(st.s, 8);
        out.push_back(r);
      }
    }
  }
  sqlite3_close(db);
  return out;
}

std::vector<Restriction> Store::restrictions_in_force(uint64_t now_unix_s,
                                                      std::string* error) const {
  // The newest restriction of each key; in force when not released and its term not ended.
  return restriction_rows(
      "SELECT key_kind, key_data, limit_id, action, until_unix_s, applied_unix_ns,"
      " limit_name, released_unix_ns, release_reason FROM restriction r"
      " WHERE released_unix_ns IS NULL"
      " AND id = (SELECT MAX(id) FROM restriction s"
      "           WHERE s.key_kind = r.key_kind AND s.key_data = r.key_data)"
      " AND (until_unix_s = 0 OR until_unix_s > ?) ORDER BY id",
      static_cast<int64_t>(now_unix_s), error);
}

std::vector<Restriction> Store::restriction_history(uint32_t limit, std::string* error) const {
  return restriction_rows(
      "SELECT key_kind, key_data, limit_id, action, until_unix_s, applied_unix_ns,"
      " limit_name, released_unix_ns, release_reason FROM restriction"
      " ORDER BY id DESC LIMIT ?",
      limit, error);
}

int64_t Store::trace_count(std::string* error) const {
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return -1;
  }
  int64_t n = -1;
  {
    Stmt st(db, "SELECT COUNT(*) FROM trace");
    if (st && sqlite3_step(st.s) == SQLITE_ROW) {
      n = sqlite3_column_int64(st.s, 0);
    } else {
      *error = error_of(db, options_.path, "count the trace");
    }
  }
  sqlite3_close(db);
  return n;
}

}  // namespace smtpgw::store
