#include "dataplane/packet/parse.h"

#include "dataplane/packet/checksum.h"

namespace smtpgw::packet {

namespace {

constexpr const char* kNames[] = {
    "ok",
#define SMTPGW_X(name, text) #name,
    SMTPGW_PARSE_DROP_REASONS(SMTPGW_X)
#undef SMTPGW_X
};
constexpr const char* kTexts[] = {
    "accepted",
#define SMTPGW_X(name, text) text,
    SMTPGW_PARSE_DROP_REASONS(SMTPGW_X)
#undef SMTPGW_X
};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == kParseResultCount);

// IPv6 extension headers followed before giving up (bounded work per packet).
constexpr int kMaxIpv6ExtHeaders = 8;

ParseResult parse_l4(const uint8_t* frame, uint32_t l4_off, uint32_t l4_len, const ParseOptions& opts,
                     ParsedPacket* out) {
  const uint8_t* l4 = frame + l4_off;
  out->l4_offset = static_cast<uint16_t>(l4_off);
  const bool v4 = out->l3 == L3::kIpv4;
  auto residual = [&](uint8_t proto) {
    return v4 ? l4_checksum_residual_v4(out->src4, out->dst4, proto, l4, l4_len)
              : l4_checksum_residual_v6(out->src6, out->dst6, proto, l4, l4_len);
  };
  switch (out->l4_proto) {
    case kProtoTcp: {
      if (l4_len < kTcpMinHeaderLen) {
        return ParseResult::tcp_truncated;
      }
      const uint32_t doff = (l4[12] >> 4) * 4u;
      if (doff < kTcpMinHeaderLen || doff > l4_len) {
        return ParseResult::tcp_bad_offset;
      }
      out->sport = load_be16(l4);
      out->dport = load_be16(l4 + 2);
      out->tcp_seq = load_be32(l4 + 4);
      out->tcp_ack = load_be32(l4 + 8);
      out->tcp_flags = l4[13];
      out->tcp_window = load_be16(l4 + 14);
      const uint8_t f = out->tcp_flags;
      if ((f & (kTcpSyn | kTcpFin)) == (kTcpSyn | kTcpFin) ||
          (f & (kTcpSyn | kTcpRst)) == (kTcpSyn | kTcpRst) ||
          (f & (kTcpSyn | kTcpFin | kTcpRst | kTcpAck)) == 0) {
        return ParseResult::tcp_bad_flags;
      }
      if (!opts.l4_checksum_verified && residual(kProtoTcp) != 0) {
        return ParseResult::tcp_bad_checksum;
      }
      out->payload_offset = static_cast<uint16_t>(l4_off + doff);
      out->payload_len = static_cast<uint16_t>(l4_len - doff);
      out->tcp_window_scale = (f & kTcpSyn) != 0 ? tcp_window_scale(l4, doff) : int8_t{-1};
      break;
    }
    case kProtoUdp: {
      if (l4_len < kUdpHeaderLen) {
        return ParseResult::udp_truncated;
      }
      const uint16_t ulen = load_be16(l4 + 4);
      if (ulen < kUdpHeaderLen || ulen != l4_len) {
        return ParseResult::udp_bad_length;
      }
      out->sport = load_be16(l4);
      out->dport = load_be16(l4 + 2);
      // A zero UDP checksum means "none" over IPv4 (RFC 768); it is mandatory over IPv6.
      const bool present = load_be16(l4 + 6) != 0 || !v4;
      if (present && !opts.l4_checksum_verified && residual(kProtoUdp) != 0) {
        return ParseResult::udp_bad_checksum;
      }
      out->payload_offset = static_cast<uint16_t>(l4_off + kUdpHeaderLen);
      out->payload_len = static_cast<uint16_t>(l4_len - kUdpHeaderLen);
      break;
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      if (l4_len < kIcmpMinLen) {
        return ParseResult::icmp_truncated;
      }
      out->icmp_type = l4[0];
      out->sport = load_be16(l4 + 4);  // echo identifier
      if (!opts.l4_checksum_verified) {
        // ICMPv4's checksum covers the message only; ICMPv6 adds the pseudo-header.
        const uint16_t r = out->l4_proto == kProtoIcmp ? checksum_finish(checksum_add(l4, l4_len))
                                                       : residual(kProtoIcmpv6);
        if (r != 0) {
          return ParseResult::icmp_bad_checksum;
        }
      }
      out->payload_offset = static_cast<uint16_t>(l4_off + kIcmpMinLen);
      out->payload_len = static_cast<uint16_t>(l4_len - kIcmpMinLen);
      break;
    }
    default:
      // Other protocols are routed without looking inside.
      out->payload_offset = static_cast<uint16_t>(l4_off);
      out->payload_len = static_cast<uint16_t>(l4_len);
      return ParseResult::kOk;
  }
  out->has_l4 = true;
  return ParseResult::kOk;
}

ParseResult parse_ipv4(const uint8_t* frame, uint32_t len, uint32_t off, const ParseOptions& opts,
                       ParsedPacket* out) {
  if (len - off < kIpv4MinHeaderLen) {
    return ParseResult::ipv4_truncated;
  }
  const uint8_t* ip = frame + off;
  if ((ip[0] >> 4) != 4) {
    return ParseResult::ipv4_bad_version;
  }
  const uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if (ihl < kIpv4MinHeaderLen || ihl > len - off) {
    return ParseResult::ipv4_bad_ihl;
  }
  const uint16_t total = load_be16(ip + 2);
  // Frames may carry Ethernet padding beyond the IP datagram; the datagram may not exceed the frame.
  if (total < ihl || total > len - off) {
    return ParseResult::ipv4_bad_total_length;
  }
  if (!opts.ip_checksum_verified && checksum_finish(checksum_add(ip, ihl)) != 0) {
    return ParseResult::ipv4_bad_checksum;
  }
  out->l3 = L3::kIpv4;
  out->ip_total_len = total;
  out->ttl = ip[8];
  out->l4_proto = ip[9];
  out->src4 = load_be32(ip + 12);
  out->dst4 = load_be32(ip + 16);
  const uint8_t s0 = static_cast<uint8_t>(out->src4 >> 24);
  if (out->src4 == 0 || out->src4 == 0xffffffffu || (s0 >= 224 && s0 < 240)) {
    return ParseResult::ipv4_bad_source;
  }
  const uint16_t frag = load_be16(ip + 6);
  const bool more = (frag & 0x2000) != 0;
  const uint16_t frag_off = frag & 0x1fff;
  out->is_fragment = more || frag_off != 0;
  out->first_fragment = out->is_fragment && frag_off == 0;
  if (frag_off != 0) {
    // Non-first fragments carry no transport header.
    out->payload_offset = static_cast<uint16_t>(off + ihl);
    out->payload_len = static_cast<uint16_t>(total - ihl);
    return ParseResult::kOk;
  }
  if (out->is_fragment) {
    // The first fragment's transport checksum covers the whole datagram: it cannot be checked
    // here, and a short first fragment may not even hold the full header.
    ParseOptions o = opts;
    o.l4_checksum_verified = true;
    const ParseResult r = parse_l4(frame, off + ihl, total - ihl, o, out);
    return r;
  }
  return parse_l4(frame, off + ihl, total - ihl, opts, out);
}

bool is_ipv6_ext_header(uint8_t nh) {
  return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51 || nh == 135 || nh == 139 ||
         nh == 140;
}

ParseResult parse_ipv6(const uint8_t* frame, uint32_t len, uint32_t off, const ParseOptions& opts,
                       ParsedPacket* out) {
  if (len - off < kIpv6HeaderLen) {
    return ParseResult::ipv6_truncated;
  }
  const uint8_t* ip = frame + off;
  if ((ip[0] >> 4) != 6) {
    return ParseResult::ipv4_bad_version;
  }
  const uint16_t plen = load_be16(ip + 4);
  if (plen > len - off - kIpv6HeaderLen) {
    return ParseResult::ipv6_bad_payload_length;
  }
  out->l3 = L3::kIpv6;
  out->ip_total_len = static_cast<uint16_t>(kIpv6HeaderLen + plen);
  out->ttl = ip[7];
  std::memcpy(out->src6, ip + 8, 16);
  std::memcpy(out->dst6, ip + 24, 16);
  uint8_t nh = ip[6];
  uint32_t cur = off + kIpv6HeaderLen;
  const uint32_t end = off + kIpv6HeaderLen + plen;
  for (int i = 0; is_ipv6_ext_header(nh); ++i) {
    if (i == kMaxIpv6ExtHeaders) {
      return ParseResult::ipv6_ext_limit;
    }
    if (end - cur < 8) {
      return ParseResult::ipv6_truncated;
    }
    const uint8_t* h = frame + cur;
    uint32_t hlen;
    if (nh == 44) {  // fragment header: fixed 8 bytes
      hlen = 8;
      const uint16_t fo = load_be16(h + 2);
      out->is_fragment = true;
      out->first_fragment = (fo & 0xfff8) == 0;
      if (!out->first_fragment) {
        out->l4_proto = h[0];
        out->payload_offset = static_cast<uint16_t>(cur + 8);
        out->payload_len = static_cast<uint16_t>(end - cur - 8);
        return ParseResult::kOk;
      }
    } else if (nh == 51) {  // AH: length in 4-octet units minus 2
      hlen = (h[1] + 2u) * 4u;
    } else {
      hlen = (h[1] + 1u) * 8u;
    }
    if (hlen > end - cur) {
      return ParseResult::ipv6_truncated;
    }
    nh = h[0];
    cur += hlen;
  }
  out->l4_proto = nh;
  ParseOptions o = opts;
  if (out->is_fragment) {
    o.l4_checksum_verified = true;
  }
  return parse_l4(frame, cur, end - cur, o, out);
}

ParseResult parse_arp(const uint8_t* frame, uint32_t len, uint32_t off, ParsedPacket* out) {
  if (len - off < kArpLen) {
    return ParseResult::arp_truncated;
  }
  const uint8_t* a = frame + off;
  if (load_be16(a) != 1 || load_be16(a + 2) != kEtherTypeIpv4 || a[4] != 6 || a[5] != 4) {
    return ParseResult::arp_unsupported;
  }
  out->l3 = L3::kArp;
  out->arp_op = load_be16(a + 6);
  out->arp_sha = load_mac(a + 8);
  out->arp_spa = load_be32(a + 14);
  out->arp_tha = load_mac(a + 18);
  out->arp_tpa = load_be32(a + 24);
  return ParseResult::kOk;
}

}  // namespace

const char* parse_result_name(ParseResult r) { return kNames[static_cast<int>(r)]; }
const char* parse_result_text(ParseResult r) { return kTexts[static_cast<int>(r)]; }

uint16_t l4_checksum_residual_v4(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t* l4,
                                 uint32_t l4_len) {
  uint32_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + l4_len;
  return checksum_finish(checksum_add(l4, l4_len, sum));
}

void finish_ipv4_tcp_checksums(uint8_t* ip) {
  const uint32_t ihl = (ip[0] & 0x0fu) * 4u;
  store_be16(ip + 10, 0);
  store_be16(ip + 10, checksum_finish(checksum_add(ip, ihl)));
  uint8_t* tcp = ip + ihl;
  const uint32_t len = load_be16(ip + 2) - ihl;
  store_be16(tcp + 16, 0);  // the residual over a zero field is the checksum itself
  store_be16(tcp + 16, l4_checksum_residual_v4(load_be32(ip + 12), load_be32(ip + 16), kProtoTcp,
                                               tcp, len));
}

uint16_t l4_checksum_residual_v6(const uint8_t* src, const uint8_t* dst, uint8_t proto,
                                 const uint8_t* l4, uint32_t l4_len) {
  uint32_t sum = checksum_add(src, 16);
  sum = checksum_add(dst, 16, sum);
  sum += (l4_len >> 16) + (l4_len & 0xffff) + proto;
  return checksum_finish(checksum_add(l4, l4_len, sum));
}

int8_t tcp_window_scale(const uint8_t* tcp, uint32_t hlen) {
  int8_t scale = -1;
  for (uint32_t i = kTcpMinHeaderLen; i < hlen;) {
    const uint8_t kind = tcp[i];
    if (kind == 0) {
      break;
    }
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= hlen || tcp[i + 1] < 2 || i + tcp[i + 1] > hlen) {
      break;
    }
    if (kind == 3 && tcp[i + 1] == 3) {
      scale = static_cast<int8_t>(tcp[i + 2] > 14 ? 14 : tcp[i + 2]);
    }
    i += tcp[i + 1];
  }
  return scale;
}

ParseResult parse_frame(const uint8_t* frame, uint32_t len, const ParseOptions& opts,
                        ParsedPacket* out) {
  // Reset the scalar fields only: the address arrays are written by the parser that uses them.
  out->l3 = L3::kNone;
  out->l4_proto = 0;
  out->vlan_count = 0;
  out->vlan_id = 0;
  out->l3_offset = out->l4_offset = out->payload_offset = out->payload_len = 0;
  out->ip_total_len = 0;
  out->has_l4 = out->is_fragment = out->first_fragment = false;
  out->ttl = 0;
  out->src4 = out->dst4 = 0;
  out->sport = out->dport = 0;
  out->tcp_flags = out->icmp_type = 0;
  out->tcp_seq = out->tcp_ack = 0;
  out->tcp_window = 0;
  out->tcp_window_scale = -1;
  out->arp_op = 0;
  out->arp_spa = out->arp_tpa = 0;
  if (len < kEthHeaderLen) {
    return ParseResult::eth_truncated;
  }
  uint32_t off = 12;
  uint16_t type = load_be16(frame + off);
  while (type == kEtherTypeVlan || type == kEtherTypeQinQ) {
    if (out->vlan_count == 2) {
      return ParseResult::vlan_too_many;
    }
    if (len - off < 2 + kVlanTagLen) {
      return ParseResult::vlan_truncated;
    }
    if (out->vlan_count == 0) {
      out->vlan_id = load_be16(frame + off + 2) & 0x0fff;
    }
    ++out->vlan_count;
    off += kVlanTagLen;
    type = load_be16(frame + off);
  }
  off += 2;
  out->l3_offset = static_cast<uint16_t>(off);
  switch (type) {
    case kEtherTypeIpv4:
      return parse_ipv4(frame, len, off, opts, out);
    case kEtherTypeIpv6:
      return parse_ipv6(frame, len, off, opts, out);
    case kEtherTypeArp:
      return parse_arp(frame, len, off, out);
    default:
      return ParseResult::ethertype_unsupported;
  }
}

}  // namespace smtpgw::packet
