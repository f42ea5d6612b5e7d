// Typed, schema-checked access to yaml-cpp nodes with positioned errors (see reader.h).
#include "control/config/reader.h"

#include <algorithm>
#include <charconv>

namespace smtpgw::config::detail {

void Ctx::error(const YAML::Mark& mark, const std::string& key, std::string message) {
  if (errors_.size() >= kMaxErrors) {
    ++dropped_;
    return;
  }
  Error e;
  e.file = file_;
  if (!mark.is_null() && mark.line >= 0 && mark.column >= 0) {
    e.line = static_cast<uint32_t>(mark.line) + 1;
    e.column = static_cast<uint32_t>(mark.column) + 1;
  }
  e.key = key;
  e.message = std::move(message);
  errors_.push_back(std::move(e));
}

std::vector<Error> Ctx::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  if (dropped_ != 0) {
    Error e;
    e.file = file_;
    e.message = "too many errors; " + std::to_string(dropped_) + " more not shown";
    errors_.push_back(std::move(e));
    dropped_ = 0;
  }
  return std::move(errors_);
}

std::string join(const std::string& path, std::string_view key) {
  if (path.empty()) {
    return std::string(key);
  }
  std::string s = path;
  s += '.';
  s += key;
  return s;
}

std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string quote(std::string_view text) {
  constexpr size_t kMax = 60;
  std::string s = "'";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      s += "\\x";
      s += kHex[c >> 4];
      s += kHex[c & 15];
    } else {
      s += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) {
    s += "...";
  }
  s += "'";
  return s;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return quote(n.Scalar());
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

namespace {

// Edit distance, for "did you mean" on unknown keys. Keys are short; O(n*m) is fine.
size_t distance(std::string_view a, std::string_view b) {
  if (a.size() > 64 || b.size() > 64) {
    return SIZE_MAX;
  }
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    prev[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

MapReader::MapReader(Ctx& ctx, const YAML::Node& node, std::string path)
    : ctx_(ctx), node_(node), path_(std::move(path)) {
  if (node.IsNull()) {
    valid_ = true;
    return;
  }
  if (!node.IsMap()) {
    ctx_.error(node, path_, "expected a mapping (key: value), got " + describe(node));
    return;
  }
  valid_ = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies: the iterator's operator-> hands out a temporary proxy.
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    if (!k.IsScalar()) {
      ctx_.error(k, path_, "keys must be plain names, got " + describe(k));
      continue;
    }
    const std::string& name = k.Scalar();
    bool dup = false;
    for (const auto& [seen, mark] : key_marks_) {
      if (seen == name) {
        ctx_.error(k, join(path_, name),
                   "duplicate key (first defined at line " + std::to_string(line_of(mark)) + ")");
        dup = true;
        break;
      }
    }
    if (dup) {
      continue;
    }
    key_marks_.emplace_back(name, k.Mark());
    entries_.emplace_back(name, v);
  }
}

std::optional<YAML::Node> MapReader::get(std::string_view key) {
  known_.emplace_back(key);
  for (const auto& [name, value] : entries_) {
    if (name == key) {
      return value;
    }
  }
  return std::nullopt;
}

std::optional<YAML::Node> MapReader::require(std::string_view key) {
  auto v = get(key);
  if (!v && valid_) {
    ctx_.error(node_, join(path_, key), "missing required key");
  }
  return v;
}

void MapReader::finish() {
  for (const auto& [name, mark] : key_marks_) {
    if (std::find(known_.begin(), known_.end(), name) != known_.end()) {
      continue;
    }
    std::string msg = "unknown key";
    size_t best = 3;  // suggest only close matches
    std::string suggestion;
    for (const auto& k : known_) {
      const size_t d = distance(name, k);
      if (d < best) {
        best = d;
        suggestion = k;
      }
    }
    if (!suggestion.empty()) {
      msg += " (did you mean '" + suggestion + "'?)";
    } else {
      std::string list;
      for (size_t i = 0; i < known_.size(); ++i) {
        if (std::find(known_.begin(), known_.begin() + static_cast<std::ptrdiff_t>(i),
                      known_[i]) != known_.begin() + static_cast<std::ptrdiff_t>(i)) {
          continue;  // listed already
        }
        list += list.empty() ? "" : ", ";
        list += known_[i];
      }
      msg += "; expected one of: " + list;
    }
    ctx_.error(mark, join(path_, name), msg);
  }
}

std::optional<std::string> read_string(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) {
    ctx.error(n, path, "expected a string, got " + describe(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<uint64_t> read_uint(Ctx& ctx, const YAML::Node& n, const std::string& path,
                                  uint64_t min, uint64_t max) {
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  if (!n.IsScalar()) {
    ctx.error(n, path, "expected an integer (" + range + "), got " + describe(n));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ptr != s.data() + s.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
    ctx.error(n, path, "expected an integer (" + range + "), got " + quote(s));
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || v < min || v > max) {
    ctx.error(n, path, "out of range: " + quote(s) + " is not in " + range);
    return std::nullopt;
  }
  return v;
}

std::optional<bool> read_bool(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") {
      return true;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
      return false;
    }
  }
  ctx.error(n, path, "expected true or false, got " + describe(n));
  return std::nullopt;
}

std::optional<uint32_t> read_duration(Ctx& ctx, const YAML::Node& n, const std::string& path,
                                      uint32_t min, uint32_t max) {
  const std::string range = std::to_string(min) + ".." + std::to_string(max) + " seconds";
  if (!n.IsScalar()) {
    ctx.error(n, path, "expected a duration (seconds, or 30s/5m/1h/1d), got " + describe(n));
    return std::nullopt;
  }
  auto v = parse_duration(n.Scalar());
  if (!v) {
    ctx.error(n, path,
              "expected a duration (seconds, or 30s/5m/1h/1d), got " + quote(n.Scalar()));
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    ctx.error(n, path, "out of range: " + quote(n.Scalar()) + " is not in " + range);
    return std::nullopt;
  }
  return v;
}

std::optional<Ipv4> read_ipv4(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) {
    if (auto a = parse_ipv4(n.Scalar())) {
      return a;
    }
    if (n.Scalar().find('/') != std::string::npos) {
      ctx.error(n, path, "expected an IPv4 address without a prefix length, got " +
                             quote(n.Scalar()));
      return std::nullopt;
    }
  }
  ctx.error(n, path, "expected an IPv4 address (a.b.c.d), got " + describe(n));
  return std::nullopt;
}

std::optional<Ipv4Prefix> read_ipv4_prefix(Ctx& ctx, const YAML::Node& n,
                                           const std::string& path) {
  if (n.IsScalar()) {
    if (auto p = parse_ipv4_prefix(n.Scalar())) {
      return p;
    }
  }
  ctx.error(n, path, "expected an IPv4 prefix in CIDR notation (a.b.c.d/len, len 0..32), got " +
                         describe(n));
  return std::nullopt;
}

std::optional<MacAddress> read_mac(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) {
    if (auto m = parse_mac(n.Scalar())) {
      if ((*m)[0] & 1) {
        ctx.error(n, path, "a multicast MAC address cannot be a host's: " + quote(n.Scalar()));
        return std::nullopt;
      }
      if (*m == MacAddress{}) {
        ctx.error(n, path, "the all-zero MAC address is not valid");
        return std::nullopt;
      }
      return m;
    }
  }
  ctx.error(n, path, "expected a MAC address (aa:bb:cc:dd:ee:ff), got " + describe(n));
  return std::nullopt;
}

std::optional<size_t> read_enum(Ctx& ctx, const YAML::Node& n, const std::string& path,
                                const std::vector<std::string_view>& names) {
  if (n.IsScalar()) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (n.Scalar() == names[i]) {
        return i;
      }
    }
  }
  std::string list;
  for (auto name : names) {
    list += list.empty() ? "" : " | ";
    list += name;
  }
  ctx.error(n, path, "expected one of " + list + ", got " + describe(n));
  return std::nullopt;
}

std::optional<std::vector<YAML::Node>> read_list(Ctx& ctx, const YAML::Node& n,
                                                 const std::string& path) {
  std::vector<YAML::Node> out;
  if (n.IsNull()) {
    return out;
  }
  if (!n.IsSequence()) {
    ctx.error(n, path, "expected a list, got " + describe(n));
    return std::nullopt;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    out.push_back(*it);
  }
  return out;
}

bool is_unicast(Ipv4 a) {
  const uint32_t first = a.value >> 24;
  return first != 0 && first != 127 && first < 224;
}

}  // namespace smtpgw::config::detail
