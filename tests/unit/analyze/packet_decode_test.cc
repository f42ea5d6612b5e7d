// Frame decoding for `smtpgw analyze`: every link type, VLAN tags, IPv6 extension headers, and a
// defined error for every kind of truncation or inconsistency (frames built here byte by byte).
#include "control/analyze/packet_decode.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace smtpgw::analyze {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

// TCP header (with a window scale option when wscale >= 0) + payload.
Bytes tcp_segment(const std::string& payload, uint8_t flags = 0x18, int wscale = -1) {
  Bytes b;
  put16(b, 40000);
  put16(b, 25);
  put32(b, 0x01020304);
  put32(b, 0x0a0b0c0d);
  uint8_t hlen = wscale >= 0 ? 24 : 20;
  b.push_back(static_cast<uint8_t>((hlen / 4) << 4));
  b.push_back(flags);
  put16(b, 512);
  put16(b, 0);  // checksum (not verified offline)
  put16(b, 0);
  if (wscale >= 0) {
    b.insert(b.end(), {1, 3, 3, static_cast<uint8_t>(wscale)});
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes ipv4(const Bytes& l4, uint8_t proto = 6, uint16_t frag = 0) {
  Bytes b = {0x45, 0};
  put16(b, static_cast<uint16_t>(20 + l4.size()));
  put16(b, 1);
  put16(b, frag);
  b.insert(b.end(), {64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7});
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

Bytes ipv6(const Bytes& l4, bool hop_by_hop = false) {
  Bytes b = {0x60, 0, 0, 0};
  put16(b, static_cast<uint16_t>(l4.size() + (hop_by_hop ? 8 : 0)));
  b.push_back(hop_by_hop ? 0 : 6);
  b.push_back(64);
  for (int i = 0; i < 16; ++i) {
    b.push_back(i == 0 ? 0x20 : i == 15 ? 1 : 0);
  }
  for (int i = 0; i < 16; ++i) {
    b.push_back(i == 0 ? 0x20 : i == 15 ? 2 : 0);
  }
  if (hop_by_hop) {
    b.insert(b.end(), {6, 0, 1, 4, 0, 0, 0, 0});  // next = TCP, length 8, PadN
  }
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

Bytes ethernet(const Bytes& l3, uint16_t type, std::vector<uint16_t> vlans = {}) {
  Bytes b(12, 0xaa);
  for (uint16_t tpid : vlans) {
    put16(b, tpid);
    put16(b, 100);
  }
  put16(b, type);
  b.insert(b.end(), l3.begin(), l3.end());
  return b;
}

// The decoded segment points into the frame (as it points into the capture arena in analyze), so
// frames are kept until the program ends: tests pass temporaries and read the payload later.
DecodeResult decode(int link, Bytes frame, DecodedTcp& out) {
  static std::deque<Bytes> kept;
  const Bytes& f = kept.emplace_back(std::move(frame));
  return decode_frame(link, f.data(), static_cast<uint32_t>(f.size()),
                      static_cast<uint32_t>(f.size()), out);
}

std::string payload_of(const DecodedTcp& d) {
  return std::string(reinterpret_cast<const char*>(d.seg.data), d.seg.len);
}

TEST(PacketDecode, EthernetIpv4) {
  DecodedTcp d;
  ASSERT_EQ(decode(kLinkEthernet, ethernet(ipv4(tcp_segment("EHLO x\r\n")), 0x0800), d),
            DecodeResult::kOk);
  EXPECT_EQ(format_address(d.src), "192.0.2.1");
  EXPECT_EQ(format_address(d.dst), "198.51.100.7");
  EXPECT_EQ(d.sport, 40000);
  EXPECT_EQ(d.dport, 25);
  EXPECT_EQ(d.seg.seq, 0x01020304u);
  EXPECT_EQ(d.seg.ack, 0x0a0b0c0du);
  EXPECT_EQ(d.seg.flags, 0x18);
  EXPECT_EQ(d.seg.window, 512);
  EXPECT_EQ(d.seg.window_scale, -1);
  EXPECT_EQ(payload_of(d), "EHLO x\r\n");
}

TEST(PacketDecode, VlanAndQinQTags) {
  DecodedTcp d;
  ASSERT_EQ(decode(kLinkEthernet, ethernet(ipv4(tcp_segment("a")), 0x0800, {0x8100}), d),
            DecodeResult::kOk);
  EXPECT_EQ(payload_of(d), "a");
  ASSERT_EQ(decode(kLinkEthernet, ethernet(ipv4(tcp_segment("b")), 0x0800, {0x88a8, 0x8100}), d),
            DecodeResult::kOk);
  EXPECT_EQ(payload_of(d), "b");
  Bytes cut = ethernet(ipv4(tcp_segment("b")), 0x0800, {0x8100});
  cut.resize(15);
  EXPECT_EQ(decode(kLinkEthernet, cut, d), DecodeResult::kTruncatedLink);
}

TEST(PacketDecode, Ipv6WithHopByHopAndWindowScale) {
  DecodedTcp d;
  ASSERT_EQ(decode(kLinkEthernet, ethernet(ipv6(tcp_segment("", 0x02, 7), true), 0x86dd), d),
            DecodeResult::kOk);
  EXPECT_TRUE(d.src.v6);
  EXPECT_EQ(format_address(d.src), "2000::1");
  EXPECT_EQ(format_address(d.dst), "2000::2");
  EXPECT_EQ(d.seg.window_scale, 7);
  EXPECT_EQ(d.seg.len, 0u);
}

TEST(PacketDecode, LinuxCookedV1AndV2AndRaw) {
  DecodedTcp d;
  Bytes sll(14, 0);
  put16(sll, 0x0800);
  Bytes ip = ipv4(tcp_segment("sll"));
  sll.insert(sll.end(), ip.begin(), ip.end());
  ASSERT_EQ(decode(kLinkLinuxSll, sll, d), DecodeResult::kOk);
  EXPECT_EQ(payload_of(d), "sll");
  Bytes sll2;
  put16(sll2, 0x86dd);
  sll2.resize(20, 0);
  Bytes ip6 = ipv6(tcp_segment("sll2"));
  sll2.insert(sll2.end(), ip6.begin(), ip6.end());
  ASSERT_EQ(decode(kLinkLinuxSll2, sll2, d), DecodeResult::kOk);
  EXPECT_EQ(payload_of(d), "sll2");
  ASSERT_EQ(decode(kLinkRaw, ip6, d), DecodeResult::kOk);
  EXPECT_EQ(payload_of(d), "sll2");
}

TEST(PacketDecode, NormalNonTcpOutcomes) {
  DecodedTcp d;
  EXPECT_EQ(decode(kLinkEthernet, ethernet(Bytes(28, 0), 0x0806), d), DecodeResult::kNotIp);
  EXPECT_EQ(decode(kLinkEthernet, ethernet(ipv4(Bytes(8, 0), 17), 0x0800), d),
            DecodeResult::kNotTcp);
  EXPECT_EQ(decode(kLinkEthernet, ethernet(ipv4(tcp_segment("x"), 6, 0x2000), 0x0800), d),
            DecodeResult::kFragment);
  EXPECT_FALSE(decode_result_is_error(DecodeResult::kNotTcp));
  EXPECT_EQ(decode(147, Bytes(40, 0), d), DecodeResult::kUnsupportedLink);
}

TEST(PacketDecode, EveryTruncationHasItsError) {
  DecodedTcp d;
  Bytes f = ethernet(ipv4(tcp_segment("payload")), 0x0800);
  Bytes t = f;
  t.resize(10);
  EXPECT_EQ(decode(kLinkEthernet, t, d), DecodeResult::kTruncatedLink);
  t = f;
  t.resize(14 + 12);
  EXPECT_EQ(decode(kLinkEthernet, t, d), DecodeResult::kTruncatedIp);
  t = f;
  t.resize(14 + 20 + 10);
  EXPECT_EQ(decode(kLinkEthernet, t, d), DecodeResult::kTruncatedTcp);
  t = f;
  t.resize(f.size() - 3);  // snaplen cut the payload
  EXPECT_EQ(decode(kLinkEthernet, t, d), DecodeResult::kTruncatedPayload);
  t = f;
  t[14 + 20 + 12] = 0x10;  // data offset 4 bytes
  EXPECT_EQ(decode(kLinkEthernet, t, d), DecodeResult::kBadTcpOffset);
  t = f;
  t[14] = 0x65;  // IPv6 version in an IPv4 ethertype
  EXPECT_EQ(decode(kLinkEthernet, t, d), DecodeResult::kBadIpVersion);
  t = f;
  t[14] = 0x4f;  // IHL 60 bytes > total length
  t[14 + 2] = 0;
  t[14 + 3] = 40;
  EXPECT_EQ(decode(kLinkEthernet, t, d), DecodeResult::kBadIpLength);
  EXPECT_TRUE(decode_result_is_error(DecodeResult::kTruncatedPayload));
  EXPECT_EQ(decode_result_text(DecodeResult::kBadTcpOffset), "TCP data offset out of range");
}

TEST(PacketDecode, EthernetPaddingIgnored) {
  DecodedTcp d;
  Bytes f = ethernet(ipv4(tcp_segment("")), 0x0800);
  f.resize(f.size() + 6, 0);  // minimum frame padding is not payload
  ASSERT_EQ(decode(kLinkEthernet, f, d), DecodeResult::kOk);
  EXPECT_EQ(d.seg.len, 0u);
}

}  // namespace
}  // namespace smtpgw::analyze
