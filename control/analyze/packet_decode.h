// Decoding of captured frames down to TCP, for `smtpgw analyze` (offline; the workers use
// dataplane/packet/). Link types: Ethernet (with 802.1Q / 802.1ad VLAN tags), Linux cooked
// captures v1 and v2, raw IP. Network: IPv4 (options skipped) and IPv6 (extension headers
// skipped). Fragments are not reassembled: they are reported as kFragment.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/tcp/reassembler.h"

namespace smtpgw::analyze {

// Why a frame was not decoded to a TCP segment. kOk and kNotTcp are normal outcomes; the others
// are errors in the capture, reported with the file name and packet number.
#define SMTPGW_DECODE_RESULTS(X)                                         \
  X(kOk, "ok")                                                           \
  X(kNotIp, "not IP (ARP, LLDP, ...)")                                   \
  X(kNotTcp, "not TCP")                                                  \
  X(kFragment, "IP fragment (not reassembled)")                          \
  X(kUnsupportedLink, "unsupported link type")                           \
  X(kTruncatedLink, "truncated link-layer header")                       \
  X(kTruncatedIp, "truncated IP header")                                 \
  X(kBadIpVersion, "IP version does not match the link layer's type")   \
  X(kBadIpLength, "IP header or total length inconsistent")             \
  X(kTruncatedTcp, "truncated TCP header")                               \
  X(kBadTcpOffset, "TCP data offset out of range")                       \
  X(kTruncatedPayload, "capture cut the TCP payload (snaplen)")

enum class DecodeResult : uint8_t {
#define SMTPGW_X(name, text) name,
  SMTPGW_DECODE_RESULTS(SMTPGW_X)
#undef SMTPGW_X
};
std::string_view decode_result_text(DecodeResult r);
// True for results that mean the capture itself is malformed (counted as parse errors).
bool decode_result_is_error(DecodeResult r);

struct Address {
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
  bool v6 = false;
  bool operator==(const Address&) const = default;
};

struct DecodedTcp {
  Address src;
  Address dst;
  uint16_t sport = 0;
  uint16_t dport = 0;
  tcp::Segment seg;  // seq, ack, window, flags, window_scale, data, len (owner left null)
};

// pcap link types handled (values of DLT_* / LINKTYPE_*).
inline constexpr int kLinkEthernet = 1;
inline constexpr int kLinkRaw = 101;       // LINKTYPE_RAW
inline constexpr int kLinkRawDlt = 12;     // DLT_RAW on most systems
inline constexpr int kLinkLinuxSll = 113;  // LINKTYPE_LINUX_SLL
inline constexpr int kLinkLinuxSll2 = 276; // LINKTYPE_LINUX_SLL2
bool link_type_supported(int link_type);

// Decodes `caplen` captured bytes of a frame of `wire_len` bytes. On kOk fills `out` (its
// payload points into `frame`). Never reads outside [frame, frame + caplen). O(header bytes).
DecodeResult decode_frame(int link_type, const uint8_t* frame, uint32_t caplen, uint32_t wire_len,
                          DecodedTcp& out);

// Printable address ("192.0.2.1", "2001:db8::1").
std::string format_address(const Address& a);

}  // namespace smtpgw::analyze
