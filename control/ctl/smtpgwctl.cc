// smtpgwctl: the operator's command line for a running gateway's API (control/api/server.h).
// Human-readable tables by default, the API's JSON with --json.
//
//   smtpgwctl [--url URL] [--token T | --token-file F] [--json] COMMAND
//     health
//     restrictions [list]           restrictions in force
//     restrictions release KEY [--reason TEXT]
//     trace [--sender S] [--host H] [--recipient R] [--verdict V] [--action A] [--pool P]
//           [--since UNIX_S] [--until UNIX_S] [--limit N] [--before-id ID]
//     alerts [list] [--open] [--limit N]
//     alerts ack ID [--note TEXT]
//     pools [list]                  every address with its state; each pool's bound prefixes
//     pools drain ADDRESS | pools undrain ADDRESS
//     rules [show]                  the active rule-set version and the stored ones
//     rules push PATH... [--lenient] [--note TEXT]
//                                   PATH a rule file, or a folder (its *.cf files)
//     rules rollback [--to VERSION] (0: rules.dir; default: the version before the active one)
//     policy [show]                 the policy in force and the stored versions
//     policy push FILE [--note TEXT]
//                                   FILE a YAML mapping with one key, limits (as in the config)
//     policy rollback [--to VERSION] (0: the config file's limits)
//     sender KEY                    one key's counters, state and limits
//     complaints [list] [--sender S] [--limit N]
//     complaints submit FILE...     ARF reports (RFC 5965), each as received
//     metrics
//
// The URL defaults to $SMTPGW_URL or http://127.0.0.1:8025, the token to $SMTPGW_TOKEN.
// Exit status: 0 done; 1 the gateway refused the request (its message is printed); 2 usage;
// 3 no gateway answers at the URL; 4 the token is missing or wrong.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/codec/base64.h"

namespace {

using nlohmann::json;

constexpr int kRefused = 1;
constexpr int kUsage = 2;
constexpr int kUnreachable = 3;
constexpr int kAuth = 4;

struct Target {
  std::string url;
  std::string token;
};

// One request; prints the error and returns its exit status unless the API answered 2xx.
// `raw`, when given, is posted as it is (a complaint report) instead of `body`'s JSON.
int request(const Target& t, const std::string& method, const std::string& path,
            const json* body, json& out, std::string* text = nullptr,
            const std::string* raw = nullptr) {
  httplib::Client c(t.url);
  c.set_connection_timeout(5);
  c.set_read_timeout(180);  // a large rule set takes the gateway a while to compile
  if (!t.token.empty()) {
    c.set_bearer_token_auth(t.token);
  }
  httplib::Result r =
      method == "GET"   ? c.Get(path)
      : method == "PUT" ? c.Put(path, raw != nullptr ? *raw : std::string(), "application/yaml")
      : raw != nullptr
          ? c.Post(path, *raw, "message/rfc822")
          : c.Post(path,
                   body != nullptr ? body->dump(-1, ' ', false, json::error_handler_t::replace)
                                   : "{}",
                   "application/json");
  if (!r) {
    std::fprintf(stderr, "smtpgwctl: no gateway answers at %s (%s)\n", t.url.c_str(),
                 httplib::to_string(r.error()).c_str());
    return kUnreachable;
  }
  if (text != nullptr && r->status == 200) {
    *text = r->body;
    return 0;
  }
  out = json::parse(r->body, nullptr, false);
  const std::string message = out.is_object() && out.contains("error") && out["error"].is_string()
                                  ? out["error"].get<std::string>()
                                  : r->body;
  if (r->status == 401) {
    std::fprintf(stderr, "smtpgwctl: %s (give --token, --token-file or SMTPGW_TOKEN)\n",
                 message.c_str());
    return kAuth;
  }
  if (r->status < 200 || r->status >= 300) {
    std::fprintf(stderr, "smtpgwctl: %s %s: %d: %s\n", method.c_str(), path.c_str(), r->status,
                 message.c_str());
    if (out.is_object() && out.contains("errors") && out["errors"].is_array()) {
      for (const json& e : out["errors"]) {  // a rule set's diagnostics, file:line: ...
        std::fprintf(stderr, "  %s\n", e.is_string() ? e.get<std::string>().c_str() : "?");
      }
    }
    return kRefused;
  }
  if (out.is_discarded()) {
    std::fprintf(stderr, "smtpgwctl: %s %s: the answer is not JSON\n", method.c_str(),
                 path.c_str());
    return kRefused;
  }
  return 0;
}

// The files of a rule-set push: each PATH a file, or a folder whose *.cf files are taken in
// name order (as rules.dir is read). False with the reason printed.
bool rule_files(const std::vector<std::string>& paths, json& files) {
  files = json::array();
  for (const std::string& p : paths) {
    std::vector<std::filesystem::path> found;
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
        if (e.is_regular_file() && e.path().extension() == ".cf") {
          found.push_back(e.path());
        }
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) {
        std::fprintf(stderr, "smtpgwctl: %s: no *.cf file in this folder\n", p.c_str());
        return false;
      }
    } else {
      found.emplace_back(p);
    }
    for (const std::filesystem::path& f : found) {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "smtpgwctl: cannot read %s\n", f.c_str());
        return false;
      }
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // base64: a rule file's bytes need not be UTF-8, and JSON strings must be.
      files.push_back({{"name", f.filename().string()}, {"base64", smtpgw::codec::base64_encode(text)}});
    }
  }
  return true;
}

std::string cell(const json& v) {
  if (v.is_null()) {
    return "-";
  }
  if (v.is_string()) {
    return v.get<std::string>();
  }
  return v.dump();
}

// A table: a header row and rows, columns as wide as their widest cell.
void table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(head.size());
  for (size_t i = 0; i < head.size(); ++i) {
    w[i] = head[i].size();
    for (const auto& r : rows) {
      w[i] = std::max(w[i], r[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) {
      s += r[i];
      if (i + 1 < r.size()) {
        s += std::string(w[i] - r[i].size() + 2, ' ');
      }
    }
    std::printf("%s\n", s.c_str());
  };
  line(head);
  for (const auto& r : rows) {
    line(r);
  }
}

std::string when(uint64_t unix_s) {
  if (unix_s == 0) {
    return "until released";
  }
  const std::time_t t = static_cast<std::time_t>(unix_s);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"smtpgwctl: the operator's command line for a running smtpgw"};
  app.require_subcommand(1);
  Target t;
  const char* env_url = std::getenv("SMTPGW_URL");
  const char* env_token = std::getenv("SMTPGW_TOKEN");
  t.url = env_url != nullptr ? env_url : "http://127.0.0.1:8025";
  t.token = env_token != nullptr ? env_token : "";
  std::string token_file;
  bool as_json = false;
  app.add_option("--url", t.url, "the gateway's API (default $SMTPGW_URL or http://127.0.0.1:8025)");
  app.add_option("--token", t.token, "the bearer token (default $SMTPGW_TOKEN)");
  app.add_option("--token-file", token_file, "a file whose first line is the token");
  app.add_flag("--json", as_json, "print the API's JSON instead of a table");

  auto* health = app.add_subcommand("health", "the gateway's state in brief");
  auto* restr = app.add_subcommand("restrictions", "restrictions in force; release one");
  restr->add_subcommand("list", "restrictions in force (the default)");
  auto* release = restr->add_subcommand("release", "lift the restrictions of a sender key");
  std::string key, reason;
  release->add_option("KEY", key, "a@example.org, 10.1.0.5, user:NAME or org:NAME")->required();
  release->add_option("--reason", reason, "why (kept with the release)");
  auto* trace = app.add_subcommand("trace", "the message trace, newest first");
  std::string sender, host, recipient, verdict, action, pool;
  uint64_t since = 0, until = 0, before = 0;
  uint32_t limit = 20;
  trace->add_option("--sender", sender);
  trace->add_option("--host", host);
  trace->add_option("--recipient", recipient);
  trace->add_option("--verdict", verdict, "clean, spam or not_scanned");
  trace->add_option("--action", action, "the gateway's: allow, refuse, throttle or defer");
  trace->add_option("--pool", pool, "the pool's name: normal, high_risk or a named one");
  trace->add_option("--since", since, "unix seconds");
  trace->add_option("--until", until, "unix seconds");
  trace->add_option("--limit", limit, "rows, 1..1000 (default 20)");
  trace->add_option("--before-id", before, "the page before this row id");
  auto* alerts = app.add_subcommand("alerts", "the alerts; acknowledge one");
  auto* alerts_list =
      alerts->add_subcommand("list", "the newest alerts (the default)")->fallthrough();
  bool open_only = false;
  uint32_t alerts_limit = 50;
  alerts->add_flag("--open", open_only, "only those not acknowledged");
  alerts->add_option("--limit", alerts_limit, "rows, 1..1000 (default 50)");
  (void)alerts_list;
  auto* ack = alerts->add_subcommand("ack", "acknowledge alert ID");
  int64_t alert_id = 0;
  std::string note;
  ack->add_option("ID", alert_id)->required();
  ack->add_option("--note", note, "what was done (kept with it)");
  auto* pools = app.add_subcommand("pools", "the egress pools; drain an address");
  pools->add_subcommand("list", "every address with its state (the default)");
  std::string address;
  auto* drain = pools->add_subcommand("drain", "no new flow takes ADDRESS; bound flows go on");
  drain->add_option("ADDRESS", address)->required();
  auto* undrain = pools->add_subcommand("undrain", "ADDRESS takes new flows again");
  undrain->add_option("ADDRESS", address)->required();
  auto* rules = app.add_subcommand("rules", "the rule set: show, push a new version, roll back");
  rules->add_subcommand("show", "the active version and the stored ones (the default)");
  auto* push = rules->add_subcommand("push", "compile and activate a rule set");
  std::vector<std::string> rule_paths;
  bool lenient = false;
  std::string push_note;
  push->add_option("PATH", rule_paths, "a rule file, or a folder of *.cf files")->required();
  push->add_flag("--lenient", lenient, "skip bad rules (listed) instead of refusing the set");
  push->add_option("--note", push_note, "why (kept with the version)");
  auto* rollback = rules->add_subcommand("rollback", "activate an earlier version again");
  int64_t to_version = -1;
  rollback->add_option("--to", to_version, "the version (0: rules.dir); default: the one before")
      ->check(CLI::NonNegativeNumber);
  auto* policy_cmd = app.add_subcommand("policy", "the limits: show, push a new version, roll back");
  policy_cmd->add_subcommand("show", "the policy in force and the stored versions (the default)");
  auto* policy_push = policy_cmd->add_subcommand("push", "validate and publish a limits: section");
  std::string policy_file, policy_note;
  policy_push->add_option("FILE", policy_file, "YAML with one key, limits")->required();
  policy_push->add_option("--note", policy_note, "why (kept with the version)");
  auto* policy_rollback = policy_cmd->add_subcommand("rollback", "an earlier version again");
  int64_t policy_to = -1;
  policy_rollback->add_option("--to", policy_to, "the version (0: the config file's)")
      ->check(CLI::NonNegativeNumber);
  auto* sender_cmd = app.add_subcommand("sender", "one sender key's counters, state and limits");
  std::string sender_key;
  sender_cmd->add_option("KEY", sender_key, "a@example.org, 10.1.0.5, user:NAME or org:NAME")
      ->required();
  auto* complaints = app.add_subcommand("complaints", "complaint reports (ARF): list, submit");
  // --sender and --limit are the parent's: `complaints list --sender X` passes them up.
  complaints->add_subcommand("list", "the newest complaints (the default)")->fallthrough();
  std::string complaint_sender;
  uint32_t complaints_limit = 50;
  complaints->add_option("--sender", complaint_sender, "only those matched to this sender");
  complaints->add_option("--limit", complaints_limit, "rows, 1..1000 (default 50)");
  auto* submit = complaints->add_subcommand("submit", "hand ARF reports to the gateway");
  std::vector<std::string> report_files;
  submit->add_option("FILE", report_files, "a report as received (.eml)")->required();
  auto* metrics = app.add_subcommand("metrics", "the Prometheus metrics, as text");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kUsage;
  }
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in || !std::getline(in, t.token)) {
      std::fprintf(stderr, "smtpgwctl: --token-file: cannot read %s\n", token_file.c_str());
      return kUsage;
    }
    while (!t.token.empty() && (t.token.back() == '\r' || t.token.back() == ' ')) {
      t.token.pop_back();
    }
  }

  json out;
  int rc = 0;
  if (health->parsed()) {
    if ((rc = request(t, "GET", "/api/v1/health", nullptr, out)) != 0) return rc;
    if (!as_json) {
      table({"status", "workers", "uptime_s", "policy_version", "rules", "store"},
            {{cell(out["status"]), cell(out["workers"]), cell(out["uptime_s"]),
              cell(out["policy_version"]), cell(out["rules"]), cell(out["store"])}});
      return 0;
    }
  } else if (restr->parsed() && release->parsed()) {
    json body{{"key", key}, {"reason", reason}};
    if ((rc = request(t, "POST", "/api/v1/restrictions/release", &body, out)) != 0) return rc;
    if (!as_json) {
      std::printf("released %s\n", key.c_str());
      if (out.contains("warning")) {
        std::printf("warning: %s\n", cell(out["warning"]).c_str());
      }
      return 0;
    }
  } else if (restr->parsed()) {
    if ((rc = request(t, "GET", "/api/v1/restrictions", nullptr, out)) != 0) return rc;
    if (!as_json) {
      std::vector<std::vector<std::string>> rows;
      for (const json& r : out["restrictions"]) {
        rows.push_back({cell(r["key"]), cell(r["kind"]), cell(r["limit"]), cell(r["action"]),
                        when(r["until_unix_s"].get<uint64_t>())});
      }
      table({"key", "kind", "limit", "action", "until"}, rows);
      return 0;
    }
  } else if (trace->parsed()) {
    std::string q = "/api/v1/trace?limit=" + std::to_string(limit);
    if (!sender.empty()) q += "&sender=" + url_encode(sender);
    if (!host.empty()) q += "&host=" + url_encode(host);
    if (!recipient.empty()) q += "&recipient=" + url_encode(recipient);
    if (!verdict.empty()) q += "&verdict=" + url_encode(verdict);
    if (!action.empty()) q += "&action=" + url_encode(action);
    if (!pool.empty()) q += "&pool=" + url_encode(pool);
    if (since != 0) q += "&since=" + std::to_string(since);
    if (until != 0) q += "&until=" + std::to_string(until);
    if (before != 0) q += "&before_id=" + std::to_string(before);
    if ((rc = request(t, "GET", q, nullptr, out)) != 0) return rc;
    if (!as_json) {
      std::vector<std::vector<std::string>> rows;
      for (const json& m : out["messages"]) {
        rows.push_back({cell(m["id"]), when(m["unix_ns"].get<uint64_t>() / 1'000'000'000ull),
                        cell(m["host"]), cell(m["sender"]), cell(m["recipients"]),
                        cell(m["pool"]), cell(m["egress"]), cell(m["verdict"]),
                        cell(m["action"]), cell(m["outcome"]), cell(m["remote_reply"])});
      }
      table({"id", "time", "host", "sender", "rcpts", "pool", "egress", "verdict", "action",
             "outcome", "reply"},
            rows);
      if (out.contains("next_before_id")) {
        std::printf("(more: --before-id %s)\n", cell(out["next_before_id"]).c_str());
      }
      return 0;
    }
  } else if (alerts->parsed() && ack->parsed()) {
    json body{{"id", alert_id}, {"note", note}};
    if ((rc = request(t, "POST", "/api/v1/alerts/acknowledge", &body, out)) != 0) return rc;
    if (!as_json) {
      std::printf("acknowledged %lld\n", static_cast<long long>(alert_id));
      return 0;
    }
  } else if (alerts->parsed()) {
    const std::string q = "/api/v1/alerts?limit=" + std::to_string(alerts_limit) +
                          (open_only ? "&open=1" : "");
    if ((rc = request(t, "GET", q, nullptr, out)) != 0) return rc;
    if (!as_json) {
      std::vector<std::vector<std::string>> rows;
      for (const json& a : out["alerts"]) {
        rows.push_back({cell(a["id"]), when(a["unix_ns"].get<uint64_t>() / 1'000'000'000ull),
                        cell(a["severity"]), cell(a["kind"]), cell(a["subject"]),
                        cell(a["repeats"]), a["acknowledged_unix_ns"].is_null() ? "open" : "ack",
                        cell(a["message"])});
      }
      table({"id", "time", "severity", "kind", "subject", "repeats", "state", "message"}, rows);
      return 0;
    }
  } else if (pools->parsed() && (drain->parsed() || undrain->parsed())) {
    json body{{"address", address}, {"state", drain->parsed() ? "draining" : "active"}};
    if ((rc = request(t, "POST", "/api/v1/pools/state", &body, out)) != 0) return rc;
    if (!as_json) {
      std::printf("%s %s\n", address.c_str(), cell(out["state"]).c_str());
      return 0;
    }
  } else if (pools->parsed()) {
    if ((rc = request(t, "GET", "/api/v1/pools", nullptr, out)) != 0) return rc;
    if (!as_json) {
      std::vector<std::vector<std::string>> rows;
      for (const json& a : out["addresses"]) {
        rows.push_back({cell(a["address"]), cell(a["pool"]), cell(a["state"])});
      }
      table({"address", "pool", "state"}, rows);
      // Then each pool: its states and the inside prefixes bound to it.
      std::vector<std::vector<std::string>> pools_rows;
      for (const json& p : out["pools"]) {
        std::string bound;
        for (const json& b : p["bound"]) {
          bound += (bound.empty() ? "" : " ") + b.get<std::string>();
        }
        pools_rows.push_back({cell(p["name"]), cell(p["states"]["active"]),
                              cell(p["states"]["listed"]), cell(p["states"]["draining"]),
                              bound.empty() ? "-" : bound});
      }
      std::printf("\n");
      table({"pool", "active", "listed", "draining", "bound"}, pools_rows);
      return 0;
    }
  } else if (rules->parsed() && push->parsed()) {
    json body{{"lenient", lenient}, {"note", push_note}};
    if (!rule_files(rule_paths, body["files"])) {
      return kUsage;
    }
    if ((rc = request(t, "POST", "/api/v1/rules", &body, out)) != 0) return rc;
    if (!as_json) {
      std::printf("version %s active: %s rules\n", cell(out["version"]).c_str(),
                  cell(out["rules"]).c_str());
      for (const json& e : out.value("skipped", json::array())) {
        std::printf("  skipped: %s\n", cell(e).c_str());
      }
      return 0;
    }
  } else if (rules->parsed() && rollback->parsed()) {
    json body = json::object();
    if (to_version >= 0) {
      body["version"] = to_version;
    }
    if ((rc = request(t, "POST", "/api/v1/rules/rollback", &body, out)) != 0) return rc;
    if (!as_json) {
      std::printf("version %s active: %s rules\n", cell(out["version"]).c_str(),
                  cell(out["rules"]).c_str());
      return 0;
    }
  } else if (rules->parsed()) {
    if ((rc = request(t, "GET", "/api/v1/rules", nullptr, out)) != 0) return rc;
    if (!as_json) {
      const json& a = out["active"];
      std::printf("active: version %s (%s), %s rules\n", cell(a["version"]).c_str(),
                  cell(a["source"]).c_str(), cell(a["rules"]).c_str());
      std::vector<std::vector<std::string>> rows;
      for (const json& v : out["versions"]) {
        rows.push_back({cell(v["version"]),
                        when(v["created_unix_ns"].get<uint64_t>() / 1'000'000'000ull),
                        cell(v["summary"]["rules"]), cell(v["summary"]["skipped"]),
                        cell(v["note"])});
      }
      table({"version", "pushed", "rules", "skipped", "note"}, rows);
      return 0;
    }
  } else if (policy_cmd->parsed() && policy_push->parsed()) {
    std::ifstream in(policy_file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "smtpgwctl: cannot read %s\n", policy_file.c_str());
      return kUsage;
    }
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if ((rc = request(t, "PUT", "/api/v1/policy?note=" + url_encode(policy_note), nullptr, out,
                      nullptr, &text)) != 0)
      return rc;
    if (!as_json) {
      std::printf("version %s in force (published as policy version %s)\n",
                  cell(out["version"]).c_str(), cell(out["policy_version"]).c_str());
      if (out.contains("warning")) {
        std::printf("warning: %s\n", cell(out["warning"]).c_str());
      }
      return 0;
    }
  } else if (policy_cmd->parsed() && policy_rollback->parsed()) {
    json body = json::object();
    if (policy_to >= 0) {
      body["version"] = policy_to;
    }
    if ((rc = request(t, "POST", "/api/v1/policy/rollback", &body, out)) != 0) return rc;
    if (!as_json) {
      std::printf("version %s in force (published as policy version %s)\n",
                  cell(out["version"]).c_str(), cell(out["policy_version"]).c_str());
      return 0;
    }
  } else if (policy_cmd->parsed()) {
    if ((rc = request(t, "GET", "/api/v1/policy", nullptr, out)) != 0) return rc;
    if (!as_json) {
      const json& a = out["active"];
      std::printf("in force: version %s (%s), published as policy version %s\n",
                  cell(a["version"]).c_str(), cell(a["source"]).c_str(),
                  cell(a["policy_version"]).c_str());
      std::vector<std::vector<std::string>> rows;
      for (const char* kind : {"sender", "host"}) {
        for (const auto& [name, l] : a["limits"][kind].items()) {
          rows.push_back({std::string(kind) + "." + name, cell(l["max"]), cell(l["action"])});
        }
      }
      const json& spam = a["limits"]["spam"];
      rows.push_back({"spam.verdicts_to_restrict", cell(spam["verdicts_to_restrict"]),
                      cell(spam["action"])});
      table({"limit", "max", "action"}, rows);
      rows.clear();
      for (const json& v : out["versions"]) {
        rows.push_back({cell(v["version"]),
                        when(v["created_unix_ns"].get<uint64_t>() / 1'000'000'000ull),
                        cell(v["note"])});
      }
      table({"version", "pushed", "note"}, rows);
      return 0;
    }
  } else if (sender_cmd->parsed()) {
    if ((rc = request(t, "GET", "/api/v1/senders?key=" + url_encode(sender_key), nullptr, out)) != 0)
      return rc;
    if (!as_json) {
      std::printf("%s: %s", sender_key.c_str(), cell(out["state"]).c_str());
      if (!out["restriction"].is_null()) {
        std::printf(" (%s, until %s)", cell(out["restriction"]["limit"]).c_str(),
                    when(out["restriction"]["until_unix_s"].get<uint64_t>()).c_str());
      }
      std::printf("\n");
      std::vector<std::vector<std::string>> rows;
      for (const auto& [name, w] : out["counters"].items()) {
        rows.push_back({name, cell(w["minute"]), cell(w["hour"]), cell(w["day"])});
      }
      table({"counter", "minute", "hour", "day"}, rows);
      rows.clear();
      for (const json& l : out["limits"]) {
        rows.push_back({cell(l["limit"]), cell(l["observed"]), cell(l["max"]), cell(l["action"])});
      }
      table({"limit", "observed", "max", "action"}, rows);
      return 0;
    }
  } else if (complaints->parsed() && submit->parsed()) {
    json all = json::array();
    for (const std::string& f : report_files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "smtpgwctl: cannot read %s\n", f.c_str());
        return kUsage;
      }
      const std::string report((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
      if ((rc = request(t, "POST", "/api/v1/complaints", nullptr, out, nullptr, &report)) != 0) {
        std::fprintf(stderr, "smtpgwctl: %s: refused\n", f.c_str());
        return rc;
      }
      if (!as_json) {
        std::printf("%s: complaint %s (%s) matched to %s by %s%s\n", f.c_str(),
                    cell(out["id"]).c_str(), cell(out["feedback_type"]).c_str(),
                    out["sender"].get<std::string>().empty() ? "no sender"
                                                             : cell(out["sender"]).c_str(),
                    cell(out["matched_by"]).c_str(), out["counted"] == true ? "" : ", not counted");
      }
      all.push_back(out);
    }
    if (!as_json) {
      return 0;
    }
    out = all;
  } else if (complaints->parsed()) {
    const std::string q = "/api/v1/complaints?limit=" + std::to_string(complaints_limit) +
                          (complaint_sender.empty() ? "" : "&sender=" + url_encode(complaint_sender));
    if ((rc = request(t, "GET", q, nullptr, out)) != 0) return rc;
    if (!as_json) {
      std::vector<std::vector<std::string>> rows;
      for (const json& c : out["complaints"]) {
        rows.push_back({cell(c["id"]), when(c["unix_ns"].get<uint64_t>() / 1'000'000'000ull),
                        cell(c["feedback_type"]), cell(c["sender"]), cell(c["host"]),
                        cell(c["matched_by"]), cell(c["source_ip"]), cell(c["user_agent"])});
      }
      table({"id", "time", "type", "sender", "host", "matched_by", "source_ip", "reporter"}, rows);
      return 0;
    }
  } else if (metrics->parsed()) {
    std::string text;
    if ((rc = request(t, "GET", "/metrics", nullptr, out, &text)) != 0) return rc;
    std::printf("%s", text.c_str());
    return 0;
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
