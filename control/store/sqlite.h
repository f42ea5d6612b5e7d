// The store's SQLite helpers, shared by its files (store.cc, versions.cc); not a public
// interface. Each function is safe on any thread for its own connection.
#pragma once

#include <sqlite3.h>

#include <string>

namespace smtpgw::store::detail {

inline std::string error_of(sqlite3* db, const std::string& path, const char* what) {
  return path + ": " + what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

inline bool exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

// Opens `path` with the settings every connection uses: WAL (readers never block the writer),
// synchronous NORMAL (a committed transaction survives the process being killed; a power cut
// may lose the last ones), a busy timeout for the other connection's moments.
inline sqlite3* connect(const std::string& path, std::string* error) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    *error = error_of(db, path, "cannot open");
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5'000);
  if (!exec(db, "PRAGMA journal_mode=WAL") || !exec(db, "PRAGMA synchronous=NORMAL")) {
    *error = error_of(db, path, "not a usable SQLite database");
    sqlite3_close(db);
    return nullptr;
  }
  return db;
}

// A prepared statement, finalized at scope end.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
  ~Stmt() { sqlite3_finalize(s); }
  explicit operator bool() const { return s != nullptr; }
};

// The text of column `c` of the current row, every byte of it ("" for NULL).
inline std::string column_text(sqlite3_stmt* s, int c) {
  const unsigned char* t = sqlite3_column_text(s, c);
  return t == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(t),
                                    static_cast<size_t>(sqlite3_column_bytes(s, c)));
}

}  // namespace smtpgw::store::detail
