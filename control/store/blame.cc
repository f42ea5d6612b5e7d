// Who used an egress address before a blocklist listed it: the trace grouped by sender and host
// (the alert egress_ip_listed names them, so an operator knows whom to call).
#include <sqlite3.h>

#include "control/store/sqlite.h"
#include "control/store/store.h"

namespace smtpgw::store {

nlohmann::json Store::egress_users(const std::string& egress, uint64_t since_unix_ns,
                                   uint32_t limit, std::string* error) const {
  nlohmann::json rows = nlohmann::json::array();
  sqlite3* db = detail::connect(options_.path, error);
  if (db == nullptr) {
    return rows;
  }
  {
    detail::Stmt st(db,
                    "SELECT COALESCE(sender, ''), host, COUNT(*) AS n,"
                    " SUM(verdict = 'spam') AS spam, SUM(recipients_rejected) AS rejected"
                    " FROM trace WHERE egress = ? AND unix_ns >= ?"
                    " GROUP BY sender, host ORDER BY spam DESC, n DESC LIMIT ?");
    if (!st) {
      *error = detail::error_of(db, options_.path, "rank the users of an egress address");
    } else {
      sqlite3_bind_text(st.s, 1, egress.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st.s, 2, static_cast<int64_t>(since_unix_ns));
      sqlite3_bind_int64(st.s, 3, limit);
      int rc;
      while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        rows.push_back({{"sender", detail::column_text(st.s, 0)},
                        {"host", detail::column_text(st.s, 1)},
                        {"messages", sqlite3_column_int64(st.s, 2)},
                        {"spam", sqlite3_column_int64(st.s, 3)},
                        {"recipients_rejected", sqlite3_column_int64(st.s, 4)}});
      }
      if (rc != SQLITE_DONE) {
        *error = detail::error_of(db, options_.path, "rank the users of an egress address");
      }
    }
  }
  sqlite3_close(db);
  return rows;
}

}  // namespace smtpgw::store
