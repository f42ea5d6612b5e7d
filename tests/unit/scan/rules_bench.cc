// tools/bench rules: compile time, database size and scan throughput of rule sets over a
// synthetic mail corpus, next to the raw hs_scan / hs_scan_stream rate of the same bytes with
// the same databases; compile time for 5,000 patterns; the slowest rules of each set.
// usage: rules_bench OUT.json [SHIPPED_DIR] [SPAMASSASSIN_DIR]
#include <hs/hs.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "control/rules/compiler.h"
#include "dataplane/scan/scan_context.h"

namespace {

using smtpgw::Field;
using smtpgw::FieldKind;
// Thread CPU time: the benchmark machine is shared, so wall time would measure the neighbours.
struct Clock {
  using time_point = double;
  static double now() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
  }
};
namespace scan = smtpgw::scan;
namespace rules = smtpgw::rules;

struct Header {
  std::string name, value;
};
struct Message {
  std::vector<Header> headers;
  std::string body;
  std::vector<std::string> uris;
};

// Deterministic synthetic mail: business-like text with some spam phrasing and links.
std::vector<Message> make_corpus(size_t count, size_t body_bytes) {
  static const char* kWords[] = {
      "the", "meeting", "project", "report", "please", "review", "attached", "invoice",
      "schedule", "customer", "account", "update", "team", "thanks", "regards", "tomorrow",
      "quarter", "budget", "delivery", "order", "shipping", "contract", "support", "service",
      "password", "verify", "free", "money", "offer", "click", "here", "limited", "time",
      "winner", "bank", "transfer", "urgent", "deal", "price", "discount", "unsubscribe"};
  static const char* kPhrases[] = {"click here to claim your prize", "wire transfer urgently",
                                   "verify your account now", "100% free", "act now"};
  std::mt19937 rng(42);
  std::vector<Message> out;
  for (size_t i = 0; i < count; ++i) {
    Message m;
    m.headers = {{"From", "\"User " + std::to_string(i) + "\" <user" + std::to_string(i) +
                              "@example.com>"},
                 {"To", "partner" + std::to_string(i % 17) + "@example.org"},
                 {"Subject", std::string(kWords[rng() % 41]) + " " + kWords[rng() % 41] +
                                 " " + kWords[rng() % 41]},
                 {"Date", "Mon, 2 Jun 2025 10:00:00 +0000"},
                 {"Message-ID", "<" + std::to_string(rng()) + "@mail.example.com>"},
                 {"X-Mailer", "Mailer " + std::to_string(i % 5)},
                 {"MIME-Version", "1.0"},
                 {"Content-Type", "text/plain; charset=utf-8"}};
    std::string& b = m.body;
    size_t col = 0;
    while (b.size() < body_bytes) {
      std::string w = (rng() % 200 == 0) ? kPhrases[rng() % 5] : kWords[rng() % 41];
      if (rng() % 300 == 0) {
        const std::string uri = "http://www.site" + std::to_string(rng() % 50) + ".example/p?id=" +
                                std::to_string(rng() % 1000);
        m.uris.push_back(uri);
        w = uri;
      }
      b += w;
      col += w.size() + 1;
      if (col > 70) {
        b += '\n';
        col = 0;
      } else {
        b += ' ';
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

constexpr size_t kChunk = 4096;

double seconds_since(Clock::time_point t0) { return Clock::now() - t0; }

struct Rates {
  double ours_gbps = 0, raw_gbps = 0;
  size_t bytes = 0;
};

// Our side of a comparison: every message of the corpus, `reps` times, through one scan context;
// feed(ctx, message) gives the fields. Returns the seconds taken.
template <typename Feed>
double time_ours(const scan::Ruleset& rs, const std::vector<Message>& corpus, int reps, Feed feed) {
  scan::ScanContext ctx(rs);
  const auto t0 = Clock::now();
  for (int rep = 0; rep < reps; ++rep) {
    for (const Message& m : corpus) {
      ctx.begin_message();
      feed(ctx, m);
      ctx.end_message();
    }
  }
  return seconds_since(t0);
}

// Streaming: body text through the scan context vs hs_scan_stream with the same database.
Rates bench_stream(const scan::Ruleset& rs, const std::vector<Message>& corpus, int reps) {
  Rates r;
  const scan::Database& db = rs.stream(scan::StreamClass::kBody);
  if (!db) {
    return r;
  }
  for (const Message& m : corpus) {
    r.bytes += m.body.size();
  }
  r.bytes *= reps;
  r.ours_gbps = static_cast<double>(r.bytes) /
                time_ours(rs, corpus, reps, [](scan::ScanContext& ctx, const Message& m) {
                  for (size_t off = 0; off < m.body.size(); off += kChunk) {
                    ctx.field(Field{FieldKind::kBodyText, {},
                                    std::string_view(m.body).substr(off, kChunk), {}});
                  }
                }) / 1e9;
  hs_scratch_t* scratch = rs.scratch(0);
  std::vector<uint8_t> hit(rs.rules().size());
  auto cb = [](unsigned id, unsigned long long, unsigned long long, unsigned, void* c) -> int {
    static_cast<uint8_t*>(c)[id] = 1;
    return 0;
  };
  auto t0 = Clock::now();
  for (int rep = 0; rep < reps; ++rep) {
    for (const Message& m : corpus) {
      hs_stream_t* s = nullptr;
      hs_open_stream(db.get(), 0, &s);
      for (size_t off = 0; off < m.body.size(); off += kChunk) {
        const size_t n = std::min(kChunk, m.body.size() - off);
        hs_scan_stream(s, m.body.data() + off, static_cast<unsigned>(n), 0, scratch, cb, hit.data());
      }
      hs_close_stream(s, scratch, cb, hit.data());
    }
  }
  r.raw_gbps = static_cast<double>(r.bytes) / seconds_since(t0) / 1e9;
  return r;
}

// Block: header fields through the scan context vs hs_scan of each value with its database.
Rates bench_block(const scan::Ruleset& rs, const std::vector<Message>& corpus, int reps) {
  Rates r;
  // The raw loop does the same Hyperscan work: every variant database of the header's name
  // over its value, and the ALL / ALL:raw streams ("Name: value\n") per message.
  struct Raw {
    hs_database_t* db;
    std::string_view value;
  };
  std::vector<std::vector<Raw>> raw(corpus.size());
  for (size_t i = 0; i < corpus.size(); ++i) {
    for (const Header& h : corpus[i].headers) {
      r.bytes += h.value.size();
      if (const scan::HeaderGroup* g = rs.find_header(h.name)) {
        for (const scan::Database& d : g->dbs) {
          if (d) {
            raw[i].push_back(Raw{d.get(), h.value});
          }
        }
      }
    }
  }
  hs_database_t* all_dbs[] = {rs.stream(scan::StreamClass::kAllHeaders).get(),
                              rs.stream(scan::StreamClass::kAllHeadersRaw).get()};
  hs_database_t* body_db = rs.stream(scan::StreamClass::kBody).get();
  r.bytes *= reps;
  r.ours_gbps = static_cast<double>(r.bytes) /
                time_ours(rs, corpus, reps, [](scan::ScanContext& ctx, const Message& m) {
                  for (const Header& h : m.headers) {
                    ctx.field(Field{FieldKind::kHeader, h.name, h.value, h.value});
                  }
                }) / 1e9;
  hs_scratch_t* scratch = rs.scratch(0);
  std::vector<uint8_t> hit(rs.rules().size() + 1);
  auto cb = [](unsigned id, unsigned long long, unsigned long long, unsigned, void* c) -> int {
    static_cast<uint8_t*>(c)[id] = 1;
    return 0;
  };
  // Streams opened once and reset per message, as the scan context does.
  hs_stream_t* all_streams[2] = {};
  for (int k = 0; k < 2; ++k) {
    if (all_dbs[k] != nullptr) {
      hs_open_stream(all_dbs[k], 0, &all_streams[k]);
    }
  }
  hs_stream_t* body = nullptr;
  if (body_db != nullptr) {
    hs_open_stream(body_db, 0, &body);
  }
  auto t0 = Clock::now();
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t i = 0; i < corpus.size(); ++i) {
      for (const Raw& x : raw[i]) {
        hs_scan(x.db, x.value.data(), static_cast<unsigned>(x.value.size()), 0, scratch, cb,
                hit.data());
      }
      for (hs_stream_t* s : all_streams) {
        if (s == nullptr) {
          continue;
        }
        for (const Header& h : corpus[i].headers) {
          hs_scan_stream(s, h.name.data(), static_cast<unsigned>(h.name.size()), 0, scratch, cb, hit.data());
          hs_scan_stream(s, ": ", 2, 0, scratch, cb, hit.data());
          hs_scan_stream(s, h.value.data(), static_cast<unsigned>(h.value.size()), 0, scratch, cb, hit.data());
          hs_scan_stream(s, "\n", 1, 0, scratch, cb, hit.data());
        }
        hs_reset_stream(s, 0, scratch, cb, hit.data());
      }
      if (body != nullptr) {
        for (const Header& h : corpus[i].headers) {
          if (h.name == "Subject") {
            hs_scan_stream(body, h.value.data(), static_cast<unsigned>(h.value.size()), 0, scratch,
                           cb, hit.data());
            hs_scan_stream(body, "\n\n", 2, 0, scratch, cb, hit.data());
          }
        }
        hs_reset_stream(body, 0, scratch, cb, hit.data());
      }
    }
  }
  for (hs_stream_t* s : {all_streams[0], all_streams[1], body}) {
    if (s != nullptr) {
      hs_close_stream(s, nullptr, nullptr, nullptr);
    }
  }
  r.raw_gbps = static_cast<double>(r.bytes) / seconds_since(t0) / 1e9;
  return r;
}

std::vector<rules::Source> read_dir(const std::filesystem::path& dir) {
  std::vector<rules::Source> out;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".cf") {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    out.push_back(rules::Source{f.string(), ss.str()});
  }
  return out;
}

// Each pattern rule of the set compiled alone and scanned over the corpus (all its fields);
// the slowest first.
nlohmann::json slowest_rules(const std::vector<rules::Source>& sources, const scan::Ruleset& rs,
                             const std::vector<Message>& corpus, size_t top) {
  struct Cost {
    std::string name;
    double seconds;
  };
  std::vector<Cost> costs;
  size_t bytes = 0;
  for (const Message& m : corpus) {
    bytes += m.body.size();
    for (const Header& h : m.headers) {
      bytes += h.value.size();
    }
  }
  for (const rules::Source& src : sources) {
    std::istringstream in(src.text);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ws(line);
      std::string kind, name;
      ws >> kind >> name;
      if (kind != "body" && kind != "rawbody" && kind != "header" && kind != "uri" &&
          kind != "full") {
        continue;
      }
      const int64_t idx = rs.find_rule(name);
      if (idx < 0 || rs.rules()[idx].kind == scan::RuleKind::kMeta) {
        continue;
      }
      rules::CompileOptions o;
      o.mode = rules::Mode::kLenient;
      auto one = rules::compile_sources({rules::Source{"one.cf", line}}, o);
      if (!one.ruleset || one.ruleset->rules().empty()) {
        continue;
      }
      scan::ScanContext ctx(*one.ruleset);
      const auto t0 = Clock::now();
      for (const Message& m : corpus) {
        ctx.begin_message();
        for (const Header& h : m.headers) {
          ctx.field(Field{FieldKind::kHeader, h.name, h.value, h.value});
        }
        for (const std::string& u : m.uris) {
          ctx.field(Field{FieldKind::kUri, {}, u, {}});
        }
        for (size_t off = 0; off < m.body.size(); off += kChunk) {
          const std::string_view chunk = std::string_view(m.body).substr(off, kChunk);
          ctx.field(Field{FieldKind::kBodyText, {}, chunk, {}});
          ctx.field(Field{FieldKind::kRawBody, {}, chunk, {}});
          ctx.field(Field{FieldKind::kFull, {}, chunk, {}});
        }
        ctx.end_message();
      }
      costs.push_back(Cost{name, seconds_since(t0)});
    }
  }
  std::sort(costs.begin(), costs.end(), [](const Cost& a, const Cost& b) { return a.seconds > b.seconds; });
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < std::min(top, costs.size()); ++i) {
    out.push_back({{"rule", costs[i].name},
                   {"seconds", costs[i].seconds},
                   {"mb_per_s", static_cast<double>(bytes) / costs[i].seconds / 1e6}});
  }
  return out;
}

nlohmann::json bench_set(const std::string& label, const std::vector<rules::Source>& sources,
                         const std::vector<Message>& corpus, const std::vector<Message>& small,
                         int reps) {
  nlohmann::json j;
  j["set"] = label;
  rules::CompileOptions o;
  o.mode = rules::Mode::kLenient;
  const auto t0 = Clock::now();
  auto r = rules::compile_sources(sources, o);
  j["compile_seconds"] = seconds_since(t0);
  if (!r.ruleset) {
    j["error"] = "no ruleset produced";
    return j;
  }
  const scan::Ruleset& rs = *r.ruleset;
  j["rules"] = rs.rules().size();
  j["skipped"] = r.skipped_rules;
  j["databases"] = rs.info().databases;
  j["database_bytes"] = rs.info().database_bytes;
  const Rates s = bench_stream(rs, corpus, reps);
  const Rates b = bench_block(rs, corpus, reps);
  j["stream"] = {{"bytes", s.bytes}, {"ours_gbps", s.ours_gbps}, {"raw_gbps", s.raw_gbps},
                 {"ratio", s.raw_gbps > 0 ? s.ours_gbps / s.raw_gbps : 0.0}};
  j["block_headers"] = {{"bytes", b.bytes}, {"ours_gbps", b.ours_gbps}, {"raw_gbps", b.raw_gbps},
                        {"ratio", b.raw_gbps > 0 ? b.ours_gbps / b.raw_gbps : 0.0}};
  std::printf("%-14s %5zu rules  compile %7.3f s  db %9zu B  stream %.3f GB/s (raw %.3f, x%.2f)"
              "  headers %.3f GB/s (raw %.3f, x%.2f)\n",
              label.c_str(), rs.rules().size(), j["compile_seconds"].get<double>(),
              rs.info().database_bytes, s.ours_gbps, s.raw_gbps,
              s.raw_gbps > 0 ? s.ours_gbps / s.raw_gbps : 0.0, b.ours_gbps, b.raw_gbps,
              b.raw_gbps > 0 ? b.ours_gbps / b.raw_gbps : 0.0);
  std::fflush(stdout);
  j["slowest_rules"] = slowest_rules(sources, rs, small, 10);
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: rules_bench OUT.json [SHIPPED_DIR] [SPAMASSASSIN_DIR]\n");
    return 2;
  }
  const auto corpus = make_corpus(2000, 8192);   // ~16 MB of body text
  const auto small = make_corpus(100, 8192);     // per-rule ranking
  nlohmann::json out;
  out["corpus"] = {{"messages", corpus.size()}, {"body_bytes_per_message", 8192},
                   {"chunk_bytes", kChunk}};
  out["hyperscan"] = hs_version();
  out["time"] = "thread CPU time (CLOCK_THREAD_CPUTIME_ID), one core";
  nlohmann::json sets = nlohmann::json::array();

  const std::string ten = R"(body TEN_1 /click here to claim/i
body TEN_2 /wire\s+transfer\s+urgently/i
body TEN_3 /verify your account/i
body TEN_4 /\b100% free\b/i
body TEN_5 /act now/i
header TEN_6 Subject =~ /\bwinner\b/i
header TEN_7 From:addr =~ /@example\.com$/
header TEN_8 X-Mailer =~ /^Mailer [0-9]$/
uri TEN_9 /^https?:\/\/[0-9.]+\//
meta TEN_10 TEN_1 && TEN_5
)";
  sets.push_back(bench_set("ten_rules", {rules::Source{"ten.cf", ten}}, corpus, small, 3));
  if (argc > 2 && std::filesystem::is_directory(argv[2])) {
    auto src = read_dir(argv[2]);
    if (!src.empty()) {
      sets.push_back(bench_set("shipped", src, corpus, small, 2));
    } else {
      sets.push_back({{"set", "shipped"}, {"error", std::string("no *.cf in ") + argv[2]}});
    }
  } else {
    sets.push_back({{"set", "shipped"}, {"error", "rules/ directory not found"}});
  }
  if (argc > 3 && std::filesystem::is_directory(argv[3])) {
    sets.push_back(bench_set("spamassassin", read_dir(argv[3]), corpus, small, 1));
  } else {
    sets.push_back({{"set", "spamassassin"}, {"error", "SpamAssassin rules not installed"}});
  }
  out["sets"] = sets;

  // 5,000 patterns: words and small regex features, as body rules.
  {
    std::mt19937 rng(7);
    static const char* kW[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
                               "hotel", "india", "juliet", "kilo", "lima", "mike", "november"};
    std::string text;
    for (int i = 0; i < 5000; ++i) {
      const std::string a = kW[rng() % 14], b = kW[rng() % 14];
      std::string pat;
      switch (i % 4) {
        case 0: pat = a + "\\s+" + b + std::to_string(i); break;
        case 1: pat = "\\b" + a + "[0-9]{2,4}" + b + "_" + std::to_string(i) + "\\b"; break;
        case 2: pat = a + "-" + std::to_string(i) + "-(?:" + b + "|" + a + ")"; break;
        default: pat = b + "." + std::to_string(i) + ".{0,10}" + a; break;
      }
      text += "body P" + std::to_string(i) + " /" + pat + "/i\n";
    }
    rules::CompileOptions o;
    const auto t0 = Clock::now();
    auto r = rules::compile_sources({rules::Source{"p5000.cf", text}}, o);
    const double secs = seconds_since(t0);
    // Hyperscan alone on the same patterns and flags (what our compiler adds is the rest).
    std::vector<std::string> pats;
    std::istringstream lines(text);
    for (std::string l; std::getline(lines, l);) {
      const size_t a = l.find('/');
      const size_t z = l.rfind('/');
      pats.push_back(l.substr(a + 1, z - a - 1));
    }
    std::vector<const char*> ex;
    std::vector<unsigned> fl, ids;
    for (size_t i = 0; i < pats.size(); ++i) {
      ex.push_back(pats[i].c_str());
      fl.push_back(HS_FLAG_CASELESS | HS_FLAG_MULTILINE | HS_FLAG_SINGLEMATCH);
      ids.push_back(static_cast<unsigned>(i));
    }
    const auto t1 = Clock::now();
    hs_database_t* db = nullptr;
    hs_compile_error_t* err = nullptr;
    hs_compile_multi(ex.data(), fl.data(), ids.data(), static_cast<unsigned>(ex.size()),
                     HS_MODE_STREAM, nullptr, &db, &err);
    const double hs_secs = seconds_since(t1);
    hs_free_database(db);
    hs_free_compile_error(err);
    out["compile_5000_patterns"] = {{"seconds", secs},
                                    {"rules", r.ruleset ? r.ruleset->rules().size() : 0},
                                    {"target_seconds", 5.0},
                                    {"hyperscan_alone_seconds", hs_secs},
                                    {"database_bytes", r.ruleset ? r.ruleset->info().database_bytes : 0}};
    std::printf("compile 5000 patterns: %.3f s CPU (target < 5 s); Hyperscan alone %.3f s\n",
                secs, hs_secs);
  }
  std::ofstream(argv[1]) << out.dump(2) << "\n";
  return 0;
}
