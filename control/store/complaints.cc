// The complaints received through the API (ARF reports, control/feedback), each with the sender
// it was matched to.
#include <sqlite3.h>

#include "control/store/sqlite.h"
#include "control/store/store.h"

namespace smtpgw::store {

using detail::column_text;
using detail::connect;
using detail::error_of;
using detail::Stmt;

int64_t Store::add_complaint(const Complaint& c, std::string* error) {
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return 0;
  }
  int64_t id = 0;
  {
    Stmt st(db,
            "INSERT INTO complaint (unix_ns, feedback_type, sender, host, matched_by, source_ip,"
            " user_agent, arrival_date, reported_domain, original_rcpt_to, incidents)"
            " VALUES (?, ?, NULLIF(?, ''), NULLIF(?, ''), ?, NULLIF(?, ''), ?, NULLIF(?, ''),"
            " NULLIF(?, ''), NULLIF(?, ''), ?)");
    if (st) {
      int i = 0;
      sqlite3_bind_int64(st.s, ++i, static_cast<int64_t>(c.unix_ns));
      for (const std::string* t : {&c.feedback_type, &c.sender, &c.host, &c.matched_by,
                                   &c.source_ip, &c.user_agent, &c.arrival_date,
                                   &c.reported_domain, &c.original_rcpt_to}) {
        sqlite3_bind_text(st.s, ++i, t->data(), static_cast<int>(t->size()), SQLITE_TRANSIENT);
      }
      sqlite3_bind_int64(st.s, ++i, c.incidents);
      if (sqlite3_step(st.s) == SQLITE_DONE) {
        id = sqlite3_last_insert_rowid(db);
      }
    }
    if (id == 0) {
      *error = error_of(db, options_.path, "store the complaint");
    }
  }
  sqlite3_close(db);
  return id;
}

nlohmann::json Store::complaints(const std::string& sender, uint32_t limit,
                                 std::string* error) const {
  nlohmann::json rows = nlohmann::json::array();
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return rows;
  }
  {
    Stmt st(db,
            "SELECT id, unix_ns, feedback_type, sender, host, matched_by, source_ip, user_agent,"
            " arrival_date, reported_domain, original_rcpt_to, incidents FROM complaint"
            " WHERE ?1 = '' OR sender = ?1 ORDER BY id DESC LIMIT ?2");
    if (!st) {
      *error = error_of(db, options_.path, "list the complaints");
    } else {
      sqlite3_bind_text(st.s, 1, sender.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st.s, 2, limit);
      int rc;
      while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        nlohmann::json r{{"id", sqlite3_column_int64(st.s, 0)},
                         {"unix_ns", sqlite3_column_int64(st.s, 1)},
                         {"incidents", sqlite3_column_int64(st.s, 11)}};
        const char* names[] = {"feedback_type", "sender", "host", "matched_by", "source_ip",
                               "user_agent", "arrival_date", "reported_domain",
                               "original_rcpt_to"};
        for (int k = 0; k < 9; ++k) {
          r[names[k]] = column_text(st.s, 2 + k);
        }
        rows.push_back(std::move(r));
      }
      if (rc != SQLITE_DONE) {
        *error = error_of(db, options_.path, "list the complaints");
      }
    }
  }
  sqlite3_close(db);
  return rows;
}

std::optional<std::string> Store::host_of_sender(const std::string& sender,
                                                 std::string* error) const {
  std::optional<std::string> host;
  sqlite3* db = connect(options_.path, error);
  if (db == nullptr) {
    return host;
  }
  {
    Stmt st(db, "SELECT host FROM trace WHERE sender = ? ORDER BY id DESC LIMIT 1");
    if (!st) {
      *error = error_of(db, options_.path, "find the sender in the trace");
    } else {
      sqlite3_bind_text(st.s, 1, sender.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st.s) == SQLITE_ROW) {
        host = column_text(st.s, 0);
      }
    }
  }
  sqlite3_close(db);
  return host;
}

}  // namespace smtpgw::store
