#include "dataplane/scan/ruleset.h"

#include <algorithm>
#include <stdexcept>

#include "dataplane/text/ascii.h"

namespace smtpgw::scan {

std::string_view rule_kind_name(RuleKind k) {
  switch (k) {
    case RuleKind::kHeader: return "header";
    case RuleKind::kExists: return "exists";
    case RuleKind::kAllHeaders: return "header ALL";
    case RuleKind::kBody: return "body";
    case RuleKind::kRawBody: return "rawbody";
    case RuleKind::kUri: return "uri";
    case RuleKind::kFull: return "full";
    case RuleKind::kEnvelope: return "envelope";
    case RuleKind::kMeta: return "meta";
  }
  return "unknown";
}

Database& Database::operator=(Database&& o) noexcept {
  if (this != &o) {
    hs_free_database(db_);
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}

Database::~Database() { hs_free_database(db_); }

size_t Database::size_bytes() const {
  size_t n = 0;
  if (db_ != nullptr && hs_database_size(db_, &n) == HS_SUCCESS) {
    return n;
  }
  return 0;
}

Ruleset::Ruleset(Parts parts, unsigned worker_count) : p_(std::move(parts)) {
  // Lower-case names are what the compiler stores; keep them sorted for find_header().
  std::sort(p_.headers.begin(), p_.headers.end(),
            [](const HeaderGroup& a, const HeaderGroup& b) { return text::iless(a.name, b.name); });
  for (AbsentRule& a : p_.absent_rules) {
    a.groups.clear();
    for (const std::string& h : a.headers) {
      if (const HeaderGroup* g = find_header(h)) {
        a.groups.push_back(static_cast<uint32_t>(g - p_.headers.data()));
      }
    }
  }
  for (MetaProgram& m : p_.metas) {
    m.inputs.clear();
    for (const MetaOp& op : m.ops) {
      if (op.op != MetaOpCode::kRule || op.rule >= p_.rules.size()) {
        continue;
      }
      bool seen = false;
      for (const MetaInput& in : m.inputs) {
        seen = seen || in.rule == op.rule;
      }
      if (!seen) {
        const Rule& r = p_.rules[op.rule];
        m.inputs.push_back(MetaInput{op.rule, r.multiple ? static_cast<int32_t>(r.counter) : -1});
      }
    }
    double zero = 0.0;
    m.zero_ok = eval_meta(m, [](uint32_t) { return 0.0; }, &zero);
    m.zero_hit = m.zero_ok && zero != 0.0;
  }
  hs_scratch_t* proto = nullptr;
  auto grow = [&](const Database& db) {
    if (db && hs_alloc_scratch(db.get(), &proto) != HS_SUCCESS) {
      hs_free_scratch(proto);
      throw std::runtime_error("hs_alloc_scratch failed");
    }
  };
  for (const Database& d : p_.envelope) {
    grow(d);
  }
  for (const HeaderGroup& g : p_.headers) {
    for (const Database& d : g.dbs) {
      grow(d);
    }
  }
  grow(p_.uri);
  for (const Database& d : p_.streams) {
    grow(d);
  }
  scratch_.assign(worker_count, nullptr);
  if (proto != nullptr) {
    for (unsigned w = 0; w < worker_count; ++w) {
      if (hs_clone_scratch(proto, &scratch_[w]) != HS_SUCCESS) {
        hs_free_scratch(proto);
        for (hs_scratch_t* s : scratch_) {
          hs_free_scratch(s);
        }
        throw std::runtime_error("hs_clone_scratch failed");
      }
    }
    hs_free_scratch(proto);
  }
  by_name_.resize(p_.rules.size());
  for (uint32_t i = 0; i < by_name_.size(); ++i) {
    by_name_[i] = i;
  }
  std::sort(by_name_.begin(), by_name_.end(),
            [&](uint32_t a, uint32_t b) { return p_.rules[a].name < p_.rules[b].name; });
}

Ruleset::~Ruleset() {
  for (hs_scratch_t* s : scratch_) {
    hs_free_scratch(s);
  }
}

const HeaderGroup* Ruleset::find_header(std::string_view name) const {
  auto it = std::lower_bound(
      p_.headers.begin(), p_.headers.end(), name,
      [](const HeaderGroup& g, std::string_view n) { return text::iless(g.name, n); });
  if (it != p_.headers.end() && !text::iless(name, it->name)) {
    return &*it;
  }
  return nullptr;
}

int64_t Ruleset::find_rule(std::string_view name) const {
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [&](uint32_t i, std::string_view n) { return p_.rules[i].name < n; });
  if (it != by_name_.end() && p_.rules[*it].name == name) {
    return *it;
  }
  return -1;
}

}  // namespace smtpgw::scan
