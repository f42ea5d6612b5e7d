// The `limits:` section → smtpgw::policy::Policy (contract/policy.h). Every field of Policy
// except `version` (set at publication) has a key here; see docs/config.md.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "control/config/reader.h"

namespace smtpgw::config::detail {

namespace {

using policy::Limit;
using policy::LimitAction;

constexpr LimitAction kActions[] = {LimitAction::kAlert, LimitAction::kThrottle,
                                    LimitAction::kBlockUserForToday, LimitAction::kBlockUser};

std::optional<LimitAction> read_action(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (LimitAction a : kActions) {
      v.push_back(policy::action_name(a));  // the one spelling, contract/policy.h
    }
    return v;
  }();
  if (auto v = read_enum(ctx, n, path, names)) {
    return kActions[*v];
  }
  return std::nullopt;
}

// `key: {max: N, action: A}` or the shorthand `key: N` (the action keeps its default).
// allow_zero_default: an explicit max of 0 means "the service default", which is resolved here
// so the workers never see 0 for these limits.
void read_limit(Ctx& ctx, MapReader& parent, std::string_view key, Limit& out,
                bool zero_is_default) {
  auto n = parent.get(key);
  if (!n) {
    return;
  }
  const std::string path = parent.path(key);
  const Limit def = out;
  if (n->IsScalar()) {
    if (auto v = read_uint(ctx, *n, path, 0, policy::kLimitCeiling)) {
      out.max = (*v == 0 && zero_is_default) ? def.max : static_cast<uint32_t>(*v);
    }
    return;
  }
  MapReader m(ctx, *n, path);
  if (!m.valid()) {
    return;
  }
  if (auto mn = m.get("max")) {
    if (auto v = read_uint(ctx, *mn, m.path("max"), 0, policy::kLimitCeiling)) {
      out.max = (*v == 0 && zero_is_default) ? def.max : static_cast<uint32_t>(*v);
    }
  }
  if (auto an = m.get("action")) {
    if (auto a = read_action(ctx, *an, m.path("action"))) {
      out.action = *a;
    }
  }
  m.finish();
}

// "+01:00", "-05:30", "+02", "UTC", "Z" → minutes east of UTC (-12:00..+14:00).
std::optional<int32_t> parse_utc_offset(std::string_view s) {
  if (s == "UTC" || s == "Z" || s == "utc") {
    return 0;
  }
  if (s.size() != 3 && s.size() != 6) {
    return std::nullopt;
  }
  if (s[0] != '+' && s[0] != '-') {
    return std::nullopt;
  }
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!digit(s[1]) || !digit(s[2])) {
    return std::nullopt;
  }
  int32_t minutes = ((s[1] - '0') * 10 + (s[2] - '0')) * 60;
  if (s.size() == 6) {
    if (s[3] != ':' || !digit(s[4]) || !digit(s[5])) {
      return std::nullopt;
    }
    const int32_t mm = (s[4] - '0') * 10 + (s[5] - '0');
    if (mm >= 60) {
      return std::nullopt;
    }
    minutes += mm;
  }
  if (s[0] == '-') {
    minutes = -minutes;
  }
  if (minutes < -12 * 60 || minutes > 14 * 60) {
    return std::nullopt;
  }
  return minutes;
}

// A domain name as recipients spell it after the '@': labels of a-z 0-9 '-', lower-cased.
std::optional<std::string> normalise_domain(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return std::nullopt;
  }
  std::string out;
  size_t label = 0;
  for (char c : s) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (l == '.') {
      if (label == 0 || out.back() == '-') {
        return std::nullopt;
      }
      label = 0;
    } else if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-') {
      if ((label == 0 && l == '-') || ++label > 63) {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
    out += l;
  }
  if (label == 0 || out.back() == '-') {
    return std::nullopt;
  }
  return out;
}

// An IPv4 or IPv6 prefix with zero host bits → (family, 16 address bytes, length), for
// duplicate detection.
struct AnyPrefix {
  int family = 0;
  std::array<uint8_t, 16> bytes{};
  unsigned length = 0;
  friend bool operator==(const AnyPrefix&, const AnyPrefix&) = default;
};

enum class PrefixError { kNone, kSyntax, kHostBits };

PrefixError parse_any_prefix(std::string_view text, AnyPrefix& out) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash > 45) {
    return PrefixError::kSyntax;
  }
  const std::string addr(text.substr(0, slash));
  const std::string_view len_s = text.substr(slash + 1);
  if (len_s.empty() || len_s.size() > 3 || (len_s.size() > 1 && len_s[0] == '0')) {
    return PrefixError::kSyntax;
  }
  unsigned len = 0;
  for (char c : len_s) {
    if (c < '0' || c > '9') {
      return PrefixError::kSyntax;
    }
    len = len * 10 + static_cast<unsigned>(c - '0');
  }
  unsigned bits = 0;
  if (inet_pton(AF_INET, addr.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET;
    bits = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET6;
    bits = 128;
  } else {
    return PrefixError::kSyntax;
  }
  if (len > bits) {
    return PrefixError::kSyntax;
  }
  out.length = len;
  for (unsigned b = len; b < bits; ++b) {
    if (out.bytes[b / 8] & (0x80u >> (b % 8))) {
      return PrefixError::kHostBits;
    }
  }
  return PrefixError::kNone;
}

// The "prefix" key of a list entry: an IPv4 or IPv6 prefix, not listed before in `seen`.
bool read_prefix_key(Ctx& ctx, MapReader& m, std::vector<AnyPrefix>& seen, std::string& out) {
  auto pn = m.require("prefix");
  if (!pn) {
    return false;
  }
  AnyPrefix p;
  auto s = read_string(ctx, *pn, m.path("prefix"));
  if (!s) {
    return false;
  }
  if (auto e = parse_any_prefix(*s, p); e != PrefixError::kNone) {
    ctx.error(*pn, m.path("prefix"),
              e == PrefixError::kSyntax
                  ? "expected an IPv4 or IPv6 prefix in CIDR notation, got " + quote(*s)
                  : quote(*s) + " has host bits set");
    return false;
  }
  if (std::find(seen.begin(), seen.end(), p) != seen.end()) {
    ctx.error(*pn, m.path("prefix"), "prefix " + quote(*s) + " is listed twice");
    return false;
  }
  seen.push_back(p);
  out = *s;
  return true;
}

void read_organisations(Ctx& ctx, const YAML::Node& n, const std::string& path,
                        std::vector<policy::OrgPrefix>& out) {
  auto list = read_list(ctx, n, path);
  if (!list) {
    return;
  }
  std::vector<AnyPrefix> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string ipath = index(path, i);
    MapReader m(ctx, (*list)[i], ipath);
    if (!m.valid()) {
      continue;
    }
    policy::OrgPrefix op;
    bool ok = read_prefix_key(ctx, m, seen, op.prefix);
    if (auto nn = m.require("name")) {
      auto s = read_string(ctx, *nn, m.path("name"));
      if (!s || s->empty() || s->size() > 64) {
        if (s) {
          ctx.error(*nn, m.path("name"), "must be 1..64 characters");
        }
        ok = false;
      } else {
        op.org = *s;
      }
    } else {
      ok = false;
    }
    m.finish();
    if (ok) {
      out.push_back(std::move(op));
    }
  }
}

}  // namespace

void read_starttls(Ctx& ctx, MapReader& m, policy::Policy& out) {
  static const std::vector<std::string_view> kNames = {"inspect", "allow"};
  if (auto n = m.get("starttls")) {
    if (auto v = read_enum(ctx, *n, m.path("starttls"), kNames)) {
      out.starttls = static_cast<policy::Starttls>(*v);
    }
  }
  auto n = m.get("starttls_prefixes");
  if (!n) {
    return;
  }
  const std::string path = m.path("starttls_prefixes");
  auto list = read_list(ctx, *n, path);
  if (!list) {
    return;
  }
  std::vector<AnyPrefix> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    MapReader e(ctx, (*list)[i], index(path, i));
    if (!e.valid()) {
      continue;
    }
    policy::StarttlsPrefix sp;
    bool ok = read_prefix_key(ctx, e, seen, sp.prefix);
    if (auto pn = e.require("starttls")) {
      if (auto v = read_enum(ctx, *pn, e.path("starttls"), kNames)) {
        sp.starttls = static_cast<policy::Starttls>(*v);
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    e.finish();
    if (ok) {
      out.starttls_prefixes.push_back(std::move(sp));
    }
  }
}

void read_limits(Ctx& ctx, const YAML::Node& node, policy::Policy& out) {
  MapReader m(ctx, node, "limits");
  if (!m.valid()) {
    return;
  }
  read_bool_into(ctx, m, "dry_run", out.dry_run);
  if (auto n = m.get("timezone")) {
    std::optional<int32_t> off;
    if (n->IsScalar()) {
      off = parse_utc_offset(n->Scalar());
    }
    if (off) {
      out.day_boundary_utc_offset_min = *off;
    } else {
      ctx.error(*n, m.path("timezone"),
                "expected a fixed UTC offset such as \"+01:00\", \"-05:30\" or \"UTC\" "
                "(-12:00..+14:00), got " +
                    describe(*n));
    }
  }
  if (auto n = m.get("internal_domains")) {
    const std::string path = m.path("internal_domains");
    if (auto list = read_list(ctx, *n, path)) {
      for (size_t i = 0; i < list->size(); ++i) {
        auto s = read_string(ctx, (*list)[i], index(path, i));
        if (!s) {
          continue;
        }
        auto d = normalise_domain(*s);
        if (!d) {
          ctx.error((*list)[i], index(path, i), "expected a domain name such as example.org, got " +
                                                    quote(*s));
        } else if (std::find(out.internal_domains.begin(), out.internal_domains.end(), *d) !=
                   out.internal_domains.end()) {
          ctx.error((*list)[i], index(path, i), "domain " + quote(*d) + " is listed twice");
        } else {
          out.internal_domains.push_back(*d);
        }
      }
    }
  }
  if (auto n = m.get("sender")) {
    MapReader s(ctx, *n, m.path("sender"));
    if (s.valid()) {
      read_limit(ctx, s, "messages_per_minute", out.sender.messages_per_minute, true);
      read_limit(ctx, s, "recipients_per_message", out.sender.recipients_per_message, true);
      read_limit(ctx, s, "external_recipients_per_hour", out.sender.external_recipients_per_hour,
                 true);
      read_limit(ctx, s, "internal_recipients_per_hour", out.sender.internal_recipients_per_hour,
                 true);
      read_limit(ctx, s, "recipients_per_day", out.sender.recipients_per_day, true);
      s.finish();
    }
  }
  if (auto n = m.get("host")) {
    MapReader h(ctx, *n, m.path("host"));
    if (h.valid()) {
      read_limit(ctx, h, "messages_per_minute", out.host.messages_per_minute, true);
      read_limit(ctx, h, "recipients_per_hour", out.host.recipients_per_hour, true);
      h.finish();
    }
  }
  if (auto n = m.get("org")) {
    MapReader o(ctx, *n, m.path("org"));
    if (o.valid()) {
      // 0 keeps its contract meaning here: sender recipients_per_day × the factor.
      read_limit(ctx, o, "recipients_per_day", out.org.recipients_per_day, false);
      read_uint_into(ctx, o, "recipients_per_day_factor", out.org.org_recipients_per_day_factor, 1,
                     1'000);
      o.finish();
    }
  }
  if (auto n = m.get("spam")) {
    MapReader s(ctx, *n, m.path("spam"));
    if (s.valid()) {
      read_uint_into(ctx, s, "verdicts_to_restrict", out.spam.verdicts_to_restrict, 1,
                     policy::kLimitCeiling);
      if (auto w = s.get("window")) {
        if (auto v = read_duration(ctx, *w, s.path("window"), 1, 86'400)) {
          if (*v != 60 && *v != 3'600 && *v != 86'400) {
            ctx.error(*w, s.path("window"),
                      "must be one of the counter windows 1m, 1h or 1d, got " + quote(w->Scalar()));
          } else {
            out.spam.window_seconds = *v;
          }
        }
      }
      if (auto a = s.get("action")) {
        if (auto v = read_action(ctx, *a, s.path("action"))) {
          out.spam.action = *v;
        }
      }
      read_duration_into(ctx, s, "steer_ttl", out.spam.steer_ttl_seconds, 60, 30 * 86'400);
      s.finish();
    }
  }
  if (auto n = m.get("organisations")) {
    read_organisations(ctx, *n, m.path("organisations"), out.org_prefixes);
  }
  read_uint_into(ctx, m, "sender_table_capacity", out.sender_table_capacity, 1'024, 1 << 24);
  m.finish();
}

}  // namespace smtpgw::config::detail
