// Wire formats of the headers the gateway reads and rewrites. Network byte order throughout;
// load/store helpers convert. Pure C++ (no DPDK) so parsers are testable on plain buffers.
#pragma once

#include <cstdint>
#include <cstring>

namespace smtpgw::packet {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint16_t kEtherTypeQinQ = 0x88A8;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86DD;

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

inline constexpr uint32_t kEthHeaderLen = 14;
inline constexpr uint32_t kVlanTagLen = 4;
inline constexpr uint32_t kArpLen = 28;
inline constexpr uint32_t kIpv4MinHeaderLen = 20;
inline constexpr uint32_t kIpv6HeaderLen = 40;
inline constexpr uint32_t kTcpMinHeaderLen = 20;
inline constexpr uint32_t kUdpHeaderLen = 8;
inline constexpr uint32_t kIcmpMinLen = 8;

struct MacAddr {
  uint8_t b[6];
  bool operator==(const MacAddr&) const = default;
  bool is_broadcast() const {
    return (b[0] & b[1] & b[2] & b[3] & b[4] & b[5]) == 0xff;
  }
  bool is_multicast() const { return (b[0] & 1) != 0; }
};

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
inline MacAddr load_mac(const uint8_t* p) {
  MacAddr m;
  std::memcpy(m.b, p, 6);
  return m;
}
inline void store_mac(uint8_t* p, const MacAddr& m) { std::memcpy(p, m.b, 6); }

}  // namespace smtpgw::packet
