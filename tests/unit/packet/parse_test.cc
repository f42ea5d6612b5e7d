// Parser: valid frames of every kind, and every malformation (truncated at each layer, bad
// lengths, bad checksums) mapped to its own reason.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "dataplane/packet/checksum.h"
#include "dataplane/packet/parse.h"

namespace smtpgw::packet {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes eth(uint16_t type) {
  Bytes b = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  b.push_back(static_cast<uint8_t>(type >> 8));
  b.push_back(static_cast<uint8_t>(type));
  return b;
}

// Builds Ethernet/IPv4/TCP with valid checksums.
Bytes ipv4_tcp(uint8_t flags, const std::string& payload, uint16_t dport = 25) {
  Bytes f = eth(kEtherTypeIpv4);
  const size_t ip = f.size();
  const uint16_t total = static_cast<uint16_t>(20 + 20 + payload.size());
  Bytes h(20, 0);
  h[0] = 0x45;
  store_be16(&h[2], total);
  h[8] = 64;
  h[9] = kProtoTcp;
  store_be32(&h[12], 0x0a000102);
  store_be32(&h[16], 0xc0000219);
  store_be16(&h[10], checksum_finish(checksum_add(h.data(), 20)));
  f.insert(f.end(), h.begin(), h.end());
  Bytes t(20, 0);
  store_be16(&t[0], 40000);
  store_be16(&t[2], dport);
  store_be32(&t[4], 1000);
  t[12] = 0x50;
  t[13] = flags;
  store_be16(&t[14], 65535);
  t.insert(t.end(), payload.begin(), payload.end());
  store_be16(&t[16], 0);
  const uint32_t sum = (0x0a00 + 0x0102 + 0xc000 + 0x0219) + kProtoTcp + static_cast<uint32_t>(t.size());
  store_be16(&t[16], checksum_finish(checksum_add(t.data(), t.size(), sum)));
  f.insert(f.end(), t.begin(), t.end());
  (void)ip;
  return f;
}

ParseResult parse(const Bytes& b, ParsedPacket* p, ParseOptions o = {}) {
  return parse_frame(b.data(), static_cast<uint32_t>(b.size()), o, p);
}

TEST(Parse, ValidTcpSyn) {
  ParsedPacket p;
  ASSERT_EQ(parse(ipv4_tcp(kTcpSyn, ""), &p), ParseResult::kOk);
  EXPECT_EQ(p.l3, L3::kIpv4);
  EXPECT_TRUE(p.has_l4);
  EXPECT_EQ(p.src4, 0x0a000102u);
  EXPECT_EQ(p.dst4, 0xc0000219u);
  EXPECT_EQ(p.sport, 40000);
  EXPECT_EQ(p.dport, 25);
  EXPECT_EQ(p.tcp_flags, kTcpSyn);
  EXPECT_EQ(p.payload_len, 0);
}

TEST(Parse, PayloadAndEthernetPadding) {
  Bytes f = ipv4_tcp(kTcpAck | kTcpPsh, "EHLO x\r\n");
  f.resize(f.size() + 10, 0);  // trailing Ethernet padding is not part of the datagram
  ParsedPacket p;
  ASSERT_EQ(parse(f, &p), ParseResult::kOk);
  EXPECT_EQ(p.payload_len, 8);
  EXPECT_EQ(std::memcmp(f.data() + p.payload_offset, "EHLO x\r\n", 8), 0);
}

TEST(Parse, VlanTaggedFrame) {
  Bytes f = ipv4_tcp(kTcpSyn, "");
  const uint8_t tag[] = {0x81, 0x00, 0x00, 0x2a};
  f.insert(f.begin() + 12, tag, tag + 4);
  ParsedPacket p;
  ASSERT_EQ(parse(f, &p), ParseResult::kOk);
  EXPECT_EQ(p.vlan_count, 1);
  EXPECT_EQ(p.vlan_id, 42);
  EXPECT_EQ(p.l3_offset, 18);
}

TEST(Parse, EveryTruncationHasItsReason) {
  const Bytes full = ipv4_tcp(kTcpSyn, "");
  struct Case {
    size_t len;
    ParseResult want;
  } cases[] = {
      {0, ParseResult::eth_truncated},   {13, ParseResult::eth_truncated},
      {14, ParseResult::ipv4_truncated}, {33, ParseResult::ipv4_truncated},
      {34, ParseResult::ipv4_bad_total_length}, {53, ParseResult::ipv4_bad_total_length},
  };
  for (const Case& c : cases) {
    Bytes f(full.begin(), full.begin() + static_cast<long>(c.len));
    ParsedPacket p;
    EXPECT_EQ(parse(f, &p), c.want) << "length " << c.len;
  }
}

TEST(Parse, TcpHeaderShorterThanTotalLengthSays) {
  Bytes f = ipv4_tcp(kTcpSyn, "");
  // Claim a 36-byte datagram: 16 bytes of TCP.
  store_be16(&f[16], 36);
  store_be16(&f[24], 0);
  store_be16(&f[24], checksum_finish(checksum_add(&f[14], 20)));
  ParsedPacket p;
  EXPECT_EQ(parse(f, &p), ParseResult::tcp_truncated);
}

TEST(Parse, BadChecksumsAndOffloadFlags) {
  Bytes f = ipv4_tcp(kTcpSyn, "");
  f[14 + 10] ^= 0xff;
  ParsedPacket p;
  EXPECT_EQ(parse(f, &p), ParseResult::ipv4_bad_checksum);
  ParseOptions o;
  o.ip_checksum_verified = true;  // the port said it was fine: trust it
  EXPECT_EQ(parse(f, &p, o), ParseResult::kOk);

  Bytes g = ipv4_tcp(kTcpSyn, "x");
  g.back() ^= 1;
  EXPECT_EQ(parse(g, &p), ParseResult::tcp_bad_checksum);
  o.l4_checksum_verified = true;
  EXPECT_EQ(parse(g, &p, o), ParseResult::kOk);
}

TEST(Parse, ImpossibleTcpFlags) {
  ParsedPacket p;
  EXPECT_EQ(parse(ipv4_tcp(kTcpSyn | kTcpFin, ""), &p), ParseResult::tcp_bad_flags);
  EXPECT_EQ(parse(ipv4_tcp(kTcpSyn | kTcpRst, ""), &p), ParseResult::tcp_bad_flags);
  EXPECT_EQ(parse(ipv4_tcp(0, ""), &p), ParseResult::tcp_bad_flags);
}

TEST(Parse, BadIhlAndVersionAndOffset) {
  ParsedPacket p;
  Bytes f = ipv4_tcp(kTcpSyn, "");
  f[14] = 0x44;
  EXPECT_EQ(parse(f, &p), ParseResult::ipv4_bad_ihl);
  f[14] = 0x65;
  EXPECT_EQ(parse(f, &p), ParseResult::ipv4_bad_version);
  Bytes g = ipv4_tcp(kTcpSyn, "");
  g[14 + 20 + 12] = 0x40;  // data offset 16 bytes
  EXPECT_EQ(parse(g, &p), ParseResult::tcp_bad_offset);
}

TEST(Parse, FragmentsAreMarked) {
  Bytes f = ipv4_tcp(kTcpSyn, "abcdefgh");
  store_be16(&f[14 + 6], 0x0001);  // offset 8 bytes, not the first fragment
  store_be16(&f[14 + 10], 0);
  store_be16(&f[14 + 10], checksum_finish(checksum_add(&f[14], 20)));
  ParsedPacket p;
  ASSERT_EQ(parse(f, &p), ParseResult::kOk);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_FALSE(p.first_fragment);
  EXPECT_FALSE(p.has_l4);
}

TEST(Parse, ArpRequest) {
  Bytes f = eth(kEtherTypeArp);
  const uint8_t arp[] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 0, 1, 2,
                         0, 0, 0, 0, 0, 0, 10, 0, 1, 1};
  f.insert(f.end(), arp, arp + sizeof arp);
  ParsedPacket p;
  ASSERT_EQ(parse(f, &p), ParseResult::kOk);
  EXPECT_EQ(p.l3, L3::kArp);
  EXPECT_EQ(p.arp_op, 1);
  EXPECT_EQ(p.arp_spa, 0x0a000102u);
  EXPECT_EQ(p.arp_tpa, 0x0a000101u);
  f.resize(f.size() - 1);
  EXPECT_EQ(parse(f, &p), ParseResult::arp_truncated);
  f.push_back(1);
  f[14 + 1] = 0x00;  // protocol type 0x0000
  f[14 + 2] = 0;
  EXPECT_EQ(parse(f, &p), ParseResult::arp_unsupported);
}

TEST(Parse, UdpLengthAndZeroChecksum) {
  Bytes f = eth(kEtherTypeIpv4);
  Bytes h(20, 0);
  h[0] = 0x45;
  store_be16(&h[2], 20 + 8 + 4);
  h[8] = 64;
  h[9] = kProtoUdp;
  store_be32(&h[12], 0x0a000102);
  store_be32(&h[16], 0x08080808);
  store_be16(&h[10], checksum_finish(checksum_add(h.data(), 20)));
  f.insert(f.end(), h.begin(), h.end());
  const uint8_t udp[] = {0x13, 0x88, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 'a', 'b', 'c', 'd'};
  f.insert(f.end(), udp, udp + sizeof udp);
  ParsedPacket p;
  ASSERT_EQ(parse(f, &p), ParseResult::kOk);  // zero checksum = none over IPv4
  EXPECT_EQ(p.dport, 53);
  f[14 + 20 + 5] = 0x0d;  // UDP length disagrees with the IP payload
  EXPECT_EQ(parse(f, &p), ParseResult::udp_bad_length);
}

TEST(Parse, Ipv6TcpWithExtensionHeader) {
  Bytes f = eth(kEtherTypeIpv6);
  Bytes h(40, 0);
  h[0] = 0x60;
  store_be16(&h[4], 8 + 20);
  h[6] = 0;  // hop-by-hop options
  h[7] = 64;
  h[8] = 0x20;
  h[39] = 1;
  h[24] = 0x20;
  h[23] = 2;
  f.insert(f.end(), h.begin(), h.end());
  const uint8_t hbh[] = {kProtoTcp, 0, 1, 4, 0, 0, 0, 0};
  f.insert(f.end(), hbh, hbh + 8);
  Bytes t(20, 0);
  store_be16(&t[0], 40000);
  store_be16(&t[2], 25);
  t[12] = 0x50;
  t[13] = kTcpSyn;
  f.insert(f.end(), t.begin(), t.end());
  uint8_t* l4 = &f[14 + 48];
  store_be16(l4 + 16, 0);
  const uint16_t c = l4_checksum_residual_v6(&f[14 + 8], &f[14 + 24], kProtoTcp, l4, 20);
  store_be16(l4 + 16, c);
  ParsedPacket p;
  ASSERT_EQ(parse(f, &p), ParseResult::kOk);
  EXPECT_EQ(p.l3, L3::kIpv6);
  EXPECT_EQ(p.l4_proto, kProtoTcp);
  EXPECT_EQ(p.dport, 25);
  f.resize(14 + 40 + 4);
  store_be16(&f[14 + 4], 4);
  EXPECT_EQ(parse(f, &p), ParseResult::ipv6_truncated);
}

TEST(Checksum, IncrementalUpdateMatchesRecompute) {
  Bytes f = ipv4_tcp(kTcpAck, "hello world");
  uint8_t* ip = &f[14];
  uint8_t* tcp = &f[34];
  const uint32_t old_src = load_be32(ip + 12), new_src = 0xcb007105;
  const uint16_t old_port = load_be16(tcp), new_port = 20001;
  store_be16(ip + 10, checksum_update32(load_be16(ip + 10), old_src, new_src));
  uint16_t c = checksum_update32(load_be16(tcp + 16), old_src, new_src);
  store_be16(tcp + 16, checksum_update16(c, old_port, new_port));
  store_be32(ip + 12, new_src);
  store_be16(tcp, new_port);
  ParsedPacket p;
  EXPECT_EQ(parse(f, &p), ParseResult::kOk);  // both checksums still verify
}

TEST(Parse, ReasonNamesAreUnique) {
  for (int i = 0; i < kParseResultCount; ++i) {
    for (int j = i + 1; j < kParseResultCount; ++j) {
      EXPECT_STRNE(parse_result_name(static_cast<ParseResult>(i)),
                   parse_result_name(static_cast<ParseResult>(j)));
    }
  }
}

// The window scale option of a SYN: found among other options, capped at 14, absent on non-SYNs
// and when the options are malformed (the walk stops, as a receiver's would).
TEST(Parse, TcpWindowScaleOption) {
  // MSS (kind 2, len 4), NOP, window scale (kind 3, len 3) = 7, then end of options.
  const uint8_t syn_opts[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 0, 0, 0, 0};
  uint8_t tcp[32] = {};
  tcp[12] = 0x80;  // 32-byte header
  std::memcpy(tcp + 20, syn_opts, sizeof syn_opts);
  EXPECT_EQ(tcp_window_scale(tcp, 32), 7);
  tcp[27] = 20;  // more than RFC 7323's 14
  EXPECT_EQ(tcp_window_scale(tcp, 32), 14);
  tcp[21] = 40;  // the MSS option's length runs past the header: malformed
  EXPECT_EQ(tcp_window_scale(tcp, 32), -1);
  EXPECT_EQ(tcp_window_scale(tcp, 20), -1);  // no options at all

  Bytes f = ipv4_tcp(kTcpSyn, "");
  ParsedPacket p;
  ASSERT_EQ(parse(f, &p), ParseResult::kOk);
  EXPECT_EQ(p.tcp_window_scale, -1);  // a SYN without the option
}

// The checksums of a packet the gateway cuts or writes: recomputed from the headers' lengths,
// and the parser accepts the result; a stale checksum it rejects.
TEST(Parse, FinishIpv4TcpChecksums) {
  Bytes f = ipv4_tcp(kTcpAck | kTcpPsh, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d");
  // Cut the payload to its first line as the worker does: new lengths, stale checksums.
  const uint32_t keep = 24;
  f.resize(14 + 40 + keep);
  store_be16(&f[14 + 2], static_cast<uint16_t>(40 + keep));
  ParsedPacket p;
  EXPECT_NE(parse(f, &p), ParseResult::kOk);
  finish_ipv4_tcp_checksums(&f[14]);
  ASSERT_EQ(parse(f, &p), ParseResult::kOk);
  EXPECT_EQ(p.payload_len, keep);
}

}  // namespace
}  // namespace smtpgw::packet
