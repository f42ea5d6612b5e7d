// The SQLite store on real files: trace rows with their recipients, restrictions and which are
// still in force, reopening (no migration, nothing lost), a database from a newer smtpgw or a
// file that is no database refused with the file named, the writer's bounded queue, retention.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "control/store/store.h"

namespace smtpgw::store {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sgw-store-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

events::KeyBytes text_key(events::KeyKind kind, const std::string& s) {
  events::KeyBytes k;
  k.kind = kind;
  k.len = static_cast<uint8_t>(s.size());
  std::memcpy(k.data, s.data(), s.size());
  return k;
}

events::Event trace(uint64_t flow, const std::string& sender, uint16_t recipients_kept) {
  events::Event e;
  e.kind = events::EventKind::kTrace;
  e.worker = 1;
  e.unix_ns = 1'800'000'000'000'000'000ull;
  e.key = text_key(events::KeyKind::kSender, sender);
  events::Trace& t = e.u.trace;
  t = events::Trace{};
  t.host_family = 4;
  const uint8_t host[4] = {10, 1, 0, 5};
  std::memcpy(t.host_addr, host, 4);
  t.server_family = 4;
  const uint8_t server[4] = {192, 0, 2, 7};
  std::memcpy(t.server_addr, server, 4);
  t.server_port = 25;
  t.pool = 1;
  t.action = 3;  // defer
  t.outcome = 3;
  t.verdict = 1;
  t.gateway_reply = 451;
  t.egress_addr = 0xc0000214;  // 192.0.2.20
  t.egress_port = 1088;
  t.recipients = recipients_kept;
  t.recipients_kept = recipients_kept;
  t.score_milli = 1'000'500;
  t.bytes = 1234;
  t.flow_id = flow;
  return e;
}

events::Event recipient(uint64_t flow, const std::string& address, uint16_t reply) {
  events::Event e;
  e.kind = events::EventKind::kTraceRecipient;
  e.worker = 1;
  events::TraceRecipient& r = e.u.recipient;
  r = events::TraceRecipient{};
  r.flow_id = flow;
  r.reply = reply;
  std::memcpy(r.enhanced, "5.1.1", 5);
  r.len = static_cast<uint8_t>(address.size());
  std::memcpy(r.address, address.data(), address.size());
  return e;
}

events::Event restriction(const std::string& sender, events::ActionTaken action, uint64_t until) {
  events::Event e;
  e.kind = events::EventKind::kRestrictionApplied;
  e.unix_ns = 1'800'000'000'000'000'000ull;
  e.key = text_key(events::KeyKind::kSender, sender);
  e.u.restriction = events::RestrictionApplied{};
  e.u.restriction.limit = events::LimitId::kSenderRecipientsPerMessage;
  e.u.restriction.action = action;
  e.u.restriction.until_unix_s = until;
  return e;
}

// One value from the database, through a connection of the test's own.
std::string query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    out = t != nullptr ? reinterpret_cast<const char*>(t) : "NULL";
  } else {
    out = std::string("error: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

TEST(Store, KeepsTheTraceAndTheRestrictions) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  std::string error;
  {
    auto s = Store::open(o, &error);
    ASSERT_TRUE(s) << error;
    s->submit(trace(7, "a@example.org", 2));
    s->submit(recipient(7, "b@example.net", 250));
    s->submit(recipient(7, "unknown@example.net", 550));
    s->submit(restriction("a@example.org", events::ActionTaken::kBlocked, 0));
    s->submit(restriction("old@example.org", events::ActionTaken::kBlockedForToday, 1'000));
    events::Event other;
    other.kind = events::EventKind::kSpamVerdict;
    s->submit(other);  // not stored
    s->flush();
    EXPECT_EQ(s->submitted(), 5u);
    EXPECT_EQ(s->committed(), 5u);
    EXPECT_EQ(s->write_errors(), 0u);
    EXPECT_EQ(s->trace_count(&error), 1);
  }
  const std::string db = o.path;
  EXPECT_EQ(query(db, "PRAGMA user_version"), std::to_string(kSchemaVersion));
  EXPECT_EQ(query(db, "SELECT host || ' ' || sender || ' ' || server || ':' || server_port || ' ' ||"
                      " pool || ' ' || egress || ':' || egress_port || ' ' || action || ' ' ||"
                      " gateway_reply || ' ' || outcome || ' ' || verdict || ' ' || score || ' ' ||"
                      " bytes FROM trace"),
            "10.1.0.5 a@example.org 192.0.2.7:25 high_risk 192.0.2.20:1088 defer 451 refused spam "
            "1000.5 1234");
  EXPECT_EQ(query(db, "SELECT group_concat(address || '=' || reply || ' ' || enhanced, ', ') FROM"
                      " (SELECT * FROM trace_recipient r JOIN trace t ON r.trace_id = t.id"
                      "  ORDER BY r.rowid)"),
            "b@example.net=250 5.1.1, unknown@example.net=550 5.1.1");
  // Reopened: no migration, nothing lost; the restriction without a term is still in force,
  // the one whose term ended is not.
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->trace_count(&error), 1);
  const auto in_force = s->restrictions_in_force(2'000, &error);
  ASSERT_EQ(in_force.size(), 1u) << error;
  EXPECT_EQ(std::string(in_force[0].key.data, in_force[0].key.len), "a@example.org");
  EXPECT_EQ(in_force[0].key.kind, events::KeyKind::kSender);
  EXPECT_EQ(in_force[0].limit, events::LimitId::kSenderRecipientsPerMessage);
  EXPECT_EQ(in_force[0].action, events::ActionTaken::kBlocked);
  EXPECT_EQ(s->restrictions_in_force(500, &error).size(), 2u);
  // The audit trail: both, newest first; a release is recorded with its reason.
  ASSERT_TRUE(s->release(text_key(events::KeyKind::kSender, "a@example.org"), "customer called",
                         3'000'000'000'000ull, &error)) << error;
  const auto history = s->restriction_history(10, &error);
  ASSERT_EQ(history.size(), 2u) << error;
  EXPECT_EQ(std::string(history[0].key.data, history[0].key.len), "old@example.org");
  EXPECT_EQ(history[0].released_unix_ns, 0u);
  EXPECT_EQ(std::string(history[1].key.data, history[1].key.len), "a@example.org");
  EXPECT_EQ(history[1].released_unix_ns, 3'000'000'000'000ull);
  EXPECT_EQ(history[1].release_reason, "customer called");
  EXPECT_TRUE(s->restrictions_in_force(2'000, &error).empty());
  EXPECT_EQ(s->restriction_history(1, &error).size(), 1u);
}

// The trace's filters: each given one narrows the rows (verdict, action, pool, sender); a
// message's rules and Subject come back with it.
TEST(Store, TraceFiltersByVerdictActionAndPool) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  std::string error;
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  events::Event spam = trace(1, "spam@example.org", 0);  // high_risk, defer, spam
  spam.u.trace.rules_kept = 2;
  spam.u.trace.rules_hit = 3;
  s->submit(spam);
  for (const char* name : {"LOCAL_PHRASE", "BAYES_99"}) {
    events::Event r;
    r.kind = events::EventKind::kTraceRule;
    r.worker = 1;
    r.u.rule = events::TraceRule{};
    r.u.rule.flow_id = 1;
    r.u.rule.score_milli = 2'500;
    r.u.rule.len = static_cast<uint8_t>(std::strlen(name));
    std::memcpy(r.u.rule.name, name, r.u.rule.len);
    s->submit(r);
  }
  events::Event subject;
  subject.kind = events::EventKind::kTraceSubject;
  subject.worker = 1;
  subject.u.subject = events::TraceSubject{};
  subject.u.subject.len = 10;
  std::memcpy(subject.u.subject.text, "<b>Win</b>", 10);
  s->submit(subject);
  events::Event clean = trace(2, "clean@example.org", 1);
  clean.u.trace.pool = 0;
  clean.u.trace.action = 0;  // allow
  clean.u.trace.verdict = 0;
  s->submit(clean);
  s->flush();
  auto senders = [&](TraceFilter f) {
    std::string out;
    for (const auto& r : s->trace(f, &error)) {
      out += (out.empty() ? "" : " ") + r["sender"].get<std::string>();
    }
    return out;
  };
  EXPECT_EQ(senders({}), "clean@example.org spam@example.org");
  // The spam's rules, in the order they came, with their scores; the clean message has none.
  const auto rows = s->trace({}, &error);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["rules_hit"], 3);
  EXPECT_EQ(rows[1]["rules"], nlohmann::json::parse(
                                  R"([{"name":"LOCAL_PHRASE","score":2.5},{"name":"BAYES_99","score":2.5}])"));
  EXPECT_EQ(rows[0]["rules"], nlohmann::json::array());
  EXPECT_EQ(rows[1]["subject"], "<b>Win</b>");
  EXPECT_EQ(rows[0]["subject"], nullptr);
  TraceFilter f;
  f.action = "defer";
  EXPECT_EQ(senders(f), "spam@example.org");
  f.action = "allow";
  EXPECT_EQ(senders(f), "clean@example.org");
  f.verdict = "spam";
  EXPECT_EQ(senders(f), "") << "both filters apply";
  f = {};
  f.verdict = "clean";
  f.pool = "normal";
  EXPECT_EQ(senders(f), "clean@example.org");
  f.pool = "high_risk";
  EXPECT_EQ(senders(f), "");
  EXPECT_EQ(error, "");
}

TEST(Store, RefusesANewerSchemaAndAFileThatIsNoDatabase) {
  TempDir dir;
  std::string error;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.file("new.db").c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  Options o;
  o.path = dir.file("new.db");
  EXPECT_FALSE(Store::open(o, &error));
  EXPECT_NE(error.find("new.db: schema version 99 is newer"), std::string::npos) << error;
  std::ofstream(dir.file("junk.db")) << std::string(8192, 'x');
  o.path = dir.file("junk.db");
  error.clear();
  EXPECT_FALSE(Store::open(o, &error));
  EXPECT_NE(error.find("junk.db"), std::string::npos) << error;
  o.path = dir.file("no/such/dir/x.db");
  error.clear();
  EXPECT_FALSE(Store::open(o, &error));
  EXPECT_NE(error.find("no/such/dir/x.db: cannot open"), std::string::npos) << error;
}

// The queue is bounded: what does not fit is dropped and counted, the rest committed.
TEST(Store, AFullQueueDropsAndCounts) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  o.queue = 16;
  std::string error;
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  for (uint64_t i = 0; i < 2'000; ++i) {
    s->submit(trace(i, "a@example.org", 0));
  }
  s->flush();
  EXPECT_EQ(s->submitted() + s->dropped(), 2'000u);
  EXPECT_GT(s->dropped(), 0u);
  EXPECT_EQ(s->committed(), s->submitted());
  EXPECT_EQ(s->trace_count(&error), static_cast<int64_t>(s->committed()));
}

// Retention keeps the newest trace_max_rows rows, and their recipients only.
TEST(Store, RetentionDropsTheOldestRows) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  o.trace_max_rows = 5;
  o.retention_every_s = 0;
  o.trace_days = 36'500;
  std::string error;
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  for (uint64_t i = 0; i < 20; ++i) {
    s->submit(trace(i, "a@example.org", 1));
    s->submit(recipient(i, "r" + std::to_string(i) + "@example.net", 250));
    s->flush();
  }
  s->submit(trace(99, "b@example.org", 0));  // one more round of the writer: retention ran
  s->flush();
  EXPECT_LE(s->trace_count(&error), 6);
  EXPECT_GT(s->deleted_by_retention(), 0u);
  EXPECT_EQ(query(o.path, "SELECT COUNT(*) FROM trace_recipient WHERE trace_id NOT IN"
                          " (SELECT id FROM trace)"),
            "0");
}

// Alerts: a new one is a row, a repeat updates its count, acknowledging closes it once.
TEST(Store, KeepsAlertsAndTheirAcknowledgement) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  std::string error;
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  const nlohmann::json a{{"kind", "egress_ip_listed"}, {"severity", "critical"},
                         {"subject", "192.0.2.10"},    {"message", "listed on bl.test"},
                         {"details", {{"code", 4}}},   {"unix_ns", 1'000},
                         {"repeats", 0}};
  s->submit_alert(a, true);
  nlohmann::json again = a;
  again["repeats"] = 3;
  s->submit_alert(again, false);
  s->flush();
  auto rows = s->alerts(10, true, &error);
  ASSERT_EQ(rows.size(), 1u) << error;
  EXPECT_EQ(rows[0]["kind"], "egress_ip_listed");
  EXPECT_EQ(rows[0]["repeats"], 3);
  EXPECT_EQ(rows[0]["details"]["code"], 4);
  const int64_t id = rows[0]["id"].get<int64_t>();
  EXPECT_EQ(s->acknowledge_alert(id, "moved the host", 2'000, &error), 1);
  EXPECT_EQ(s->acknowledge_alert(id, "again", 3'000, &error), 0);
  EXPECT_EQ(s->acknowledge_alert(id + 100, "none", 3'000, &error), 0);
  EXPECT_TRUE(s->alerts(10, true, &error).empty());
  rows = s->alerts(10, false, &error);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["acknowledged_note"], "moved the host");
}

// A database of schema 1 (no alert table, no versions) is brought to the current schema at
// open and keeps what it held.
TEST(Store, MigratesAnOlderSchema) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  std::string error;
  {
    auto s = Store::open(o, &error);
    ASSERT_TRUE(s) << error;
    s->submit(trace(1, "a@example.org", 0));
    s->flush();
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(o.path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DROP TABLE alert; DROP TABLE config_version; DROP TABLE config_active;"
                               " DROP TABLE complaint; DROP INDEX trace_egress;"
                               " DROP TABLE address_state;"
                               " DROP TABLE trace_rule; ALTER TABLE trace DROP COLUMN rules_hit;"
                               " ALTER TABLE trace DROP COLUMN subject;"
                               " PRAGMA user_version=1", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  EXPECT_EQ(query(o.path, "PRAGMA user_version"), "1");
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(query(o.path, "PRAGMA user_version"), std::to_string(kSchemaVersion));
  EXPECT_EQ(s->trace_count(&error), 1);
  EXPECT_TRUE(s->alerts(10, false, &error).empty()) << error;
  EXPECT_EQ(s->active_version("rules", &error).version, 0);
  EXPECT_TRUE(s->address_states(&error).empty());
  const auto rows = s->trace({}, &error);
  ASSERT_EQ(rows.size(), 1u) << error;
  EXPECT_EQ(rows[0]["rules_hit"], 0) << "schema 5's column, on a row from before it";
  EXPECT_EQ(rows[0]["rules"], nlohmann::json::array());
  EXPECT_TRUE(error.empty()) << error;
}

// An operator's drain is kept across a reopen; setting the address active again forgets it.
TEST(Store, KeepsDrainedAddresses) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  std::string error;
  {
    auto s = Store::open(o, &error);
    ASSERT_TRUE(s) << error;
    ASSERT_TRUE(s->set_address_state("10.99.2.11", "draining", 5, &error)) << error;
    ASSERT_TRUE(s->set_address_state("10.99.2.10", "draining", 6, &error)) << error;
    ASSERT_TRUE(s->set_address_state("10.99.2.10", "draining", 7, &error)) << error;  // again
    ASSERT_TRUE(s->set_address_state("10.99.2.12", "active", 8, &error)) << error;    // none kept
  }
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  using States = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(s->address_states(&error),
            (States{{"10.99.2.10", "draining"}, {"10.99.2.11", "draining"}}));
  ASSERT_TRUE(s->set_address_state("10.99.2.10", "active", 9, &error)) << error;
  EXPECT_EQ(s->address_states(&error), (States{{"10.99.2.11", "draining"}}));
  EXPECT_TRUE(error.empty()) << error;
}

// Pushed versions are kept with their bodies; activation remembers the one it replaced, per
// kind; all of it survives a reopen (what the gateway re-applies at start).
TEST(Store, KeepsVersionsAndWhichIsActive) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  std::string error;
  int64_t v1 = 0, v2 = 0;
  {
    auto s = Store::open(o, &error);
    ASSERT_TRUE(s) << error;
    EXPECT_EQ(s->active_version("rules", &error).version, 0);
    v1 = s->add_version("rules", "body one", {{"rules", 3}}, "first", 1'000, &error);
    v2 = s->add_version("rules", std::string("body\0two", 8), {{"rules", 4}}, "", 2'000, &error);
    const int64_t p1 = s->add_version("policy", "limits: {}", {}, "", 3'000, &error);
    ASSERT_GT(v1, 0) << error;
    ASSERT_GT(v2, v1);
    ASSERT_GT(p1, v2);  // one sequence of ids for both kinds
    EXPECT_TRUE(s->activate_version("rules", v1, 4'000, &error)) << error;
    EXPECT_TRUE(s->activate_version("rules", v2, 5'000, &error)) << error;
    EXPECT_TRUE(s->activate_version("policy", p1, 6'000, &error)) << error;
    EXPECT_FALSE(s->version("policy", v1, &error).has_value());  // another kind's id
  }
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  const ActiveVersion a = s->active_version("rules", &error);
  EXPECT_EQ(a.version, v2);
  EXPECT_EQ(a.previous, v1);
  EXPECT_EQ(a.since_unix_ns, 5'000u);
  const auto got = s->version("rules", v2, &error);
  ASSERT_TRUE(got.has_value()) << error;
  EXPECT_EQ(got->body, std::string("body\0two", 8));  // bytes as pushed, NUL included
  EXPECT_EQ(got->summary["rules"], 4);
  const nlohmann::json list = s->versions("rules", 10, &error);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["version"], v2);  // newest first
  EXPECT_EQ(list[1]["note"], "first");
  EXPECT_FALSE(list[0].contains("body"));
  EXPECT_TRUE(s->activate_version("rules", 0, 7'000, &error));  // back to the config file's
  EXPECT_EQ(s->active_version("rules", &error).version, 0);
  EXPECT_EQ(s->active_version("rules", &error).previous, v2);
  EXPECT_EQ(s->active_version("policy", &error).previous, 0);
  EXPECT_TRUE(error.empty()) << error;
}

// Who used an egress address (the listing alert's ranking) and a complaint's matching: the
// trace answers by address and by sender; complaints are kept and listed per sender.
TEST(Store, RanksEgressUsersAndKeepsComplaints) {
  TempDir dir;
  Options o;
  o.path = dir.file("gw.db");
  std::string error;
  auto s = Store::open(o, &error);
  ASSERT_TRUE(s) << error;
  s->submit(trace(1, "a@example.org", 0));
  s->submit(trace(2, "a@example.org", 0));
  events::Event clean = trace(3, "b@example.org", 0);
  clean.u.trace.verdict = 0;
  s->submit(clean);
  events::Event elsewhere = trace(4, "c@example.org", 0);
  elsewhere.u.trace.egress_addr = 0xc0000215;  // 192.0.2.21
  s->submit(elsewhere);
  s->flush();
  nlohmann::json users = s->egress_users("192.0.2.20", 0, 10, &error);
  ASSERT_EQ(users.size(), 2u) << error;
  EXPECT_EQ(users[0]["sender"], "a@example.org");  // two spam verdicts rank first
  EXPECT_EQ(users[0]["messages"], 2);
  EXPECT_EQ(users[0]["spam"], 2);
  EXPECT_EQ(users[0]["host"], "10.1.0.5");
  EXPECT_EQ(users[1]["sender"], "b@example.org");
  EXPECT_EQ(users[1]["spam"], 0);
  EXPECT_TRUE(s->egress_users("192.0.2.20", 1'900'000'000'000'000'000ull, 10, &error).empty());
  EXPECT_EQ(s->host_of_sender("c@example.org", &error), std::optional<std::string>("10.1.0.5"));
  EXPECT_FALSE(s->host_of_sender("nobody@example.org", &error).has_value());

  Complaint c;
  c.unix_ns = 5;
  c.feedback_type = "abuse";
  c.sender = "a@example.org";
  c.host = "10.1.0.5";
  c.matched_by = "sender";
  c.source_ip = "192.0.2.20";
  c.user_agent = "Provider/1.0";
  EXPECT_GT(s->add_complaint(c, &error), 0) << error;
  c.sender.clear();
  c.matched_by = "none";
  EXPECT_GT(s->add_complaint(c, &error), 0) << error;
  EXPECT_EQ(s->complaints("", 10, &error).size(), 2u);
  const nlohmann::json mine = s->complaints("a@example.org", 10, &error);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0]["matched_by"], "sender");
  EXPECT_EQ(mine[0]["source_ip"], "192.0.2.20");
  EXPECT_EQ(mine[0]["reported_domain"], "");  // NULL when not given
  EXPECT_TRUE(error.empty()) << error;
}

}  // namespace
}  // namespace smtpgw::store
