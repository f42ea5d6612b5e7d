// The versions of the rule set and of the policy pushed through the API, and which is active.
#include <sqlite3.h>

#include "control/store/sqlite.h"
#include "control/store/store.h"

namespace smtpgw::store {

using detail::column_text;
using detail::connect;
using detail::error_of;
using detail::exec;
using detail::Stmt;

namespace {

// Runs `body(db)` on a fresh connection; false (with `error`) when it cannot connect or when
// `body` returns false, naming `what`.
template <class F>
bool with_db(const std::string& path, const char* what, std::string* error, F&& body) {
  sqlite3* db = connect(path, error);
  if (db == nullptr) {
    return false;
  }
  const bool ok = body(db);
  if (!ok && error->empty()) {
    *error = error_of(db, path, what);
  }
  sqlite3_close(db);
  return ok;
}

}  // namespace

int64_t Store::add_version(const std::string& kind, const std::string& body,
                           const nlohmann::json& summary, const std::string& note,
                           uint64_t now_unix_ns, std::string* error) {
  int64_t id = 0;
  with_db(options_.path, "store the version", error, [&](sqlite3* db) {
    Stmt st(db,
            "INSERT INTO config_version (kind, created_unix_ns, body, summary, note)"
            " VALUES (?, ?, ?, ?, ?)");
    if (!st) {
      return false;
    }
    const std::string sum =
        summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    sqlite3_bind_text(st.s, 1, kind.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st.s, 2, static_cast<int64_t>(now_unix_ns));
    sqlite3_bind_text(st.s, 3, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st.s, 4, sum.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st.s, 5, note.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st.s) != SQLITE_DONE) {
      return false;
    }
    id = sqlite3_last_insert_rowid(db);
    return true;
  });
  return id;
}

bool Store::activate_version(const std::string& kind, int64_t version, uint64_t now_unix_ns,
                             std::string* error) {
  return with_db(options_.path, "activate the version", error, [&](sqlite3* db) {
    if (!exec(db, "BEGIN IMMEDIATE")) {
      return false;
    }
    Stmt st(db,
            "INSERT INTO config_active (kind, version, previous, since_unix_ns) VALUES (?, ?, 0, ?)"
            " ON CONFLICT(kind) DO UPDATE SET previous = version, version = excluded.version,"
            " since_unix_ns = excluded.since_unix_ns");
    bool ok = static_cast<bool>(st);
    if (ok) {
      sqlite3_bind_text(st.s, 1, kind.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st.s, 2, version);
      sqlite3_bind_int64(st.s, 3, static_cast<int64_t>(now_unix_ns));
      ok = sqlite3_step(st.s) == SQLITE_DONE;
    }
    ok = ok && exec(db, "COMMIT");
    if (!ok) {
      exec(db, "ROLLBACK");
    }
    return ok;
  });
}

ActiveVersion Store::active_version(const std::string& kind, std::string* error) const {
  ActiveVersion a;
  with_db(options_.path, "read the active version", error, [&](sqlite3* db) {
    Stmt st(db, "SELECT version, previous, since_unix_ns FROM config_active WHERE kind = ?");
    if (!st) {
      return false;
    }
    sqlite3_bind_text(st.s, 1, kind.c_str(), -1, SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st.s);
    if (rc == SQLITE_ROW) {
      a.version = sqlite3_column_int64(st.s, 0);
      a.previous = sqlite3_column_int64(st.s, 1);
      a.since_unix_ns = static_cast<uint64_t>(sqlite3_column_int64(st.s, 2));
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE;
  });
  return a;
}

std::optional<StoredVersion> Store::version(const std::string& kind, int64_t id,
                                            std::string* error) const {
  std::optional<StoredVersion> out;
  with_db(options_.path, "read the version", error, [&](sqlite3* db) {
    Stmt st(db,
            "SELECT id, created_unix_ns, body, summary, note FROM config_version"
            " WHERE kind = ? AND id = ?");
    if (!st) {
      return false;
    }
    sqlite3_bind_text(st.s, 1, kind.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st.s, 2, id);
    const int rc = sqlite3_step(st.s);
    if (rc == SQLITE_ROW) {
      StoredVersion v;
      v.id = sqlite3_column_int64(st.s, 0);
      v.created_unix_ns = static_cast<uint64_t>(sqlite3_column_int64(st.s, 1));
      v.body = column_text(st.s, 2);
      v.summary = nlohmann::json::parse(column_text(st.s, 3), nullptr, false);
      v.note = column_text(st.s, 4);
      out = std::move(v);
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE;
  });
  return out;
}

nlohmann::json Store::versions(const std::string& kind, uint32_t limit, std::string* error) const {
  nlohmann::json rows = nlohmann::json::array();
  with_db(options_.path, "list the versions", error, [&](sqlite3* db) {
    Stmt st(db,
            "SELECT id, created_unix_ns, summary, note FROM config_version WHERE kind = ?"
            " ORDER BY id DESC LIMIT ?");
    if (!st) {
      return false;
    }
    sqlite3_bind_text(st.s, 1, kind.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st.s, 2, limit);
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
      rows.push_back({{"version", sqlite3_column_int64(st.s, 0)},
                      {"created_unix_ns", sqlite3_column_int64(st.s, 1)},
                      {"summary", nlohmann::json::parse(column_text(st.s, 2), nullptr, false)},
                      {"note", column_text(st.s, 3)}});
    }
    return rc == SQLITE_DONE;
  });
  return rows;
}

}  // namespace smtpgw::store
