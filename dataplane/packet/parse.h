// Packet parser: Ethernet (with one or two 802.1Q/802.1ad tags), ARP, IPv4 (options,
// fragments), IPv6 (extension headers), TCP, UDP, ICMP/ICMPv6. Verifies every length and,
// unless the port already did, every checksum. Pure function over a contiguous frame: any thread,
// no allocation, cost O(header length) plus O(packet length) for a software checksum.
#pragma once

#include <cstdint>

#include "dataplane/packet/wire.h"

namespace smtpgw::packet {

// Why a frame was not accepted. One list: names, counters and telemetry keys come from it.
#define SMTPGW_PARSE_DROP_REASONS(X)                                                 \
  X(eth_truncated, "frame shorter than an Ethernet header")                         \
  X(vlan_truncated, "802.1Q tag cut short")                                         \
  X(vlan_too_many, "more than two VLAN tags")                                       \
  X(ethertype_unsupported, "EtherType is neither IPv4, IPv6 nor ARP")               \
  X(arp_truncated, "ARP body shorter than 28 bytes")                                \
  X(arp_unsupported, "ARP for other than Ethernet/IPv4")                            \
  X(ipv4_truncated, "IPv4 header cut short")                                        \
  X(ipv4_bad_version, "IP version field does not match the EtherType")              \
  X(ipv4_bad_ihl, "IPv4 header length below 20 bytes or beyond the frame")          \
  X(ipv4_bad_total_length, "IPv4 total length below the header or beyond the frame") \
  X(ipv4_bad_checksum, "IPv4 header checksum wrong")                                \
  X(ipv4_bad_source, "IPv4 source is multicast, broadcast or zero")                 \
  X(ipv6_truncated, "IPv6 header or extension header cut short")                    \
  X(ipv6_bad_payload_length, "IPv6 payload length beyond the frame")                \
  X(ipv6_ext_limit, "more IPv6 extension headers than the parser follows")          \
  X(tcp_truncated, "TCP header cut short")                                          \
  X(tcp_bad_offset, "TCP data offset below 20 bytes or beyond the segment")         \
  X(tcp_bad_checksum, "TCP checksum wrong")                                         \
  X(tcp_bad_flags, "TCP flag combination no stack sends (SYN+FIN, SYN+RST, none)")  \
  X(udp_truncated, "UDP header cut short")                                          \
  X(udp_bad_length, "UDP length field disagrees with the IP payload")               \
  X(udp_bad_checksum, "UDP checksum wrong")                                         \
  X(icmp_truncated, "ICMP message shorter than 8 bytes")                            \
  X(icmp_bad_checksum, "ICMP checksum wrong")

enum class ParseResult : uint8_t {
  kOk = 0,
#define SMTPGW_X(name, text) name,
  SMTPGW_PARSE_DROP_REASONS(SMTPGW_X)
#undef SMTPGW_X
      kCount
};

inline constexpr int kParseResultCount = static_cast<int>(ParseResult::kCount);

// Names and descriptions, indexed by ParseResult ("ok" first).
const char* parse_result_name(ParseResult r);
const char* parse_result_text(ParseResult r);

enum class L3 : uint8_t { kNone, kArp, kIpv4, kIpv6 };

// What the parser found. Offsets are from the start of the frame.
struct ParsedPacket {
  L3 l3 = L3::kNone;
  uint8_t l4_proto = 0;       // IP protocol of the transport header (after IPv6 ext headers)
  uint8_t vlan_count = 0;
  uint16_t vlan_id = 0;       // outermost tag's VLAN id (0 if untagged)
  uint16_t l3_offset = 0;
  uint16_t l4_offset = 0;     // valid when has_l4
  uint16_t payload_offset = 0;
  uint16_t payload_len = 0;   // L4 payload bytes (TCP/UDP data), or IP payload of fragments
  uint16_t ip_total_len = 0;  // IPv4 total length / IPv6 header + payload length
  bool has_l4 = false;        // false for non-first fragments and unknown protocols
  bool is_fragment = false;   // IPv4 MF set or offset != 0; IPv6 fragment header present
  bool first_fragment = false;
  uint8_t ttl = 0;            // IPv4 TTL / IPv6 hop limit
  uint32_t src4 = 0, dst4 = 0;  // IPv4 addresses, host order
  uint8_t src6[16], dst6[16];  // IPv6 only; not cleared for IPv4 frames (cost per packet)
  uint16_t sport = 0, dport = 0;  // host order (TCP/UDP); ICMP echo: id in sport
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint32_t tcp_seq = 0, tcp_ack = 0;
  uint16_t tcp_window = 0;
  int8_t tcp_window_scale = -1;  // the window scale option of a SYN (capped at 14); -1: none
  // ARP fields (host order addresses).
  uint16_t arp_op = 0;
  MacAddr arp_sha, arp_tha;  // ARP only
  uint32_t arp_spa = 0, arp_tpa = 0;
};

struct ParseOptions {
  // The port already verified these checksums (RTE_MBUF_F_RX_*_CKSUM_GOOD): skip software checks.
  bool ip_checksum_verified = false;
  bool l4_checksum_verified = false;
};

// Parses `len` bytes at `frame`. On kOk, `out` describes the frame; otherwise `out` is partly
// filled and the result names the first problem found.
ParseResult parse_frame(const uint8_t* frame, uint32_t len, const ParseOptions& opts,
                        ParsedPacket* out);

// The window scale option (RFC 7323, kind 3) among the options of the TCP header at `tcp` whose
// data offset is `hlen` bytes, capped at 14; -1 when absent. Malformed options end the walk, as
// a receiver would. Meaningful on SYNs only. Cost O(hlen).
int8_t tcp_window_scale(const uint8_t* tcp, uint32_t hlen);

// Checksum of the TCP/UDP/ICMPv6 segment at `l4` including the IPv4/IPv6 pseudo-header; 0 when the
// stored checksum is right. Exposed for the NAT and for tests.
uint16_t l4_checksum_residual_v4(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t* l4,
                                 uint32_t l4_len);
// Recomputes, in software, the header checksum of the IPv4 packet at `ip` and the checksum of its
// TCP segment, from the lengths in the headers (total length, IHL). For the rare packets the
// gateway builds or cuts itself; the NAT updates checksums incrementally. Cost O(packet length).
void finish_ipv4_tcp_checksums(uint8_t* ip);

uint16_t l4_checksum_residual_v6(const uint8_t* src, const uint8_t* dst, uint8_t proto,
                                 const uint8_t* l4, uint32_t l4_len);

}  // namespace smtpgw::packet
