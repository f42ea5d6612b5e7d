// Value parsers (addresses, MACs, durations), formatting, Result/Error helpers, EAL argv.
#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

#include "control/config/config.h"
#include "dataplane/text/ascii.h"

namespace smtpgw::config {

std::string to_string(Ipv4 a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", (a.value >> 24) & 0xff, (a.value >> 16) & 0xff,
                (a.value >> 8) & 0xff, a.value & 0xff);
  return buf;
}

std::string to_string(const Ipv4Prefix& p) {
  return to_string(p.address) + "/" + std::to_string(p.length);
}

std::string to_string(const MacAddress& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

std::optional<Ipv4> parse_ipv4(std::string_view text) {
  // inet_pton(AF_INET) takes exactly four decimal octets without leading zeros, which is the
  // spelling operators mean; inet_aton would also take "10.1" and octal.
  if (text.empty() || text.size() > 15) {
    return std::nullopt;
  }
  std::string s(text);
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
    return std::nullopt;
  }
  return Ipv4{ntohl(a.s_addr)};
}

std::optional<Ipv4Prefix> parse_ipv4_prefix(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  auto addr = parse_ipv4(text.substr(0, slash));
  auto len_text = text.substr(slash + 1);
  if (!addr || len_text.empty() || len_text.size() > 2 ||
      (len_text.size() == 2 && len_text[0] == '0')) {
    return std::nullopt;
  }
  unsigned len = 0;
  auto [ptr, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc{} || ptr != len_text.data() + len_text.size() || len > 32) {
    return std::nullopt;
  }
  return Ipv4Prefix{*addr, static_cast<uint8_t>(len)};
}

std::optional<MacAddress> parse_mac(std::string_view text) {
  if (text.size() != 17) {
    return std::nullopt;
  }
  const char sep = text[2];
  if (sep != ':' && sep != '-') {
    return std::nullopt;
  }
  MacAddress m{};
  for (size_t i = 0; i < 6; ++i) {
    const size_t at = i * 3;
    int hi = text::hex_value(text[at]);
    int lo = text::hex_value(text[at + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[at + 2] != sep)) {
      return std::nullopt;
    }
    m[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return m;
}

std::optional<uint32_t> parse_duration(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  uint64_t mult = 1;
  switch (text.back()) {
    case 's': mult = 1; text.remove_suffix(1); break;
    case 'm': mult = 60; text.remove_suffix(1); break;
    case 'h': mult = 3'600; text.remove_suffix(1); break;
    case 'd': mult = 86'400; text.remove_suffix(1); break;
    default: break;
  }
  if (text.empty() || text.size() > 10) {
    return std::nullopt;
  }
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  const uint64_t secs = n * mult;  // n < 10^10 and mult <= 86400: no overflow in 64 bits
  if (secs > UINT32_MAX) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(secs);
}

std::optional<size_t> Config::find_port(std::string_view name) const {
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i].name == name) {
      return i;
    }
  }
  return std::nullopt;
}

std::string Error::to_string() const {
  std::string s = file;
  if (line != 0) {
    s += ':';
    s += std::to_string(line);
    s += ':';
    s += std::to_string(column);
  }
  s += ": ";
  if (!key.empty()) {
    s += key + ": ";
  }
  s += message;
  return s;
}

const std::vector<Error>& Result::errors() const {
  static const std::vector<Error> kNone;
  if (const auto* e = std::get_if<std::vector<Error>>(&v_)) {
    return *e;
  }
  return kNone;
}

std::string Result::error_text() const {
  std::string s;
  for (const auto& e : errors()) {
    s += e.to_string();
    s += '\n';
  }
  return s;
}

std::vector<std::string> eal_arguments(const Config& cfg, const std::string& program) {
  std::vector<std::string> args{program};
  std::string lcores;
  for (uint32_t l : cfg.eal.lcores) {
    if (!lcores.empty()) {
      lcores += ',';
    }
    lcores += std::to_string(l);
  }
  if (!lcores.empty()) {
    args.insert(args.end(), {"-l", lcores, "--main-lcore", std::to_string(cfg.eal.lcores[0])});
  }
  if (cfg.eal.no_huge) {
    args.emplace_back("--no-huge");
  }
  args.insert(args.end(), {"-m", std::to_string(cfg.eal.memory_mb)});
  args.insert(args.end(), {"--file-prefix", cfg.eal.file_prefix});
  for (const auto& d : cfg.eal.devices) {
    args.emplace_back(d.rfind("net_", 0) == 0 ? "--vdev" : "-a");
    args.push_back(d);
  }
  if (!cfg.telemetry.enabled) {
    args.emplace_back("--no-telemetry");
  }
  args.insert(args.end(), cfg.eal.extra_args.begin(), cfg.eal.extra_args.end());
  return args;
}

}  // namespace smtpgw::config
