#include "control/analyze/packet_decode.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "dataplane/packet/parse.h"

namespace smtpgw::analyze {

namespace {

constexpr std::string_view kTexts[] = {
#define SMTPGW_X(name, text) text,
    SMTPGW_DECODE_RESULTS(SMTPGW_X)
#undef SMTPGW_X
};

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
constexpr uint8_t kProtoTcp = 6;

// Reads the TCP header at p (n bytes captured, ip_payload bytes per the IP header).
DecodeResult decode_tcp(const uint8_t* p, uint32_t n, uint32_t ip_payload, DecodedTcp& out) {
  if (n < 20 || ip_payload < 20) {
    return DecodeResult::kTruncatedTcp;
  }
  uint32_t hlen = (p[12] >> 4) * 4u;
  if (hlen < 20 || hlen > ip_payload) {
    return DecodeResult::kBadTcpOffset;
  }
  if (hlen > n) {
    return DecodeResult::kTruncatedTcp;
  }
  out.sport = be16(p);
  out.dport = be16(p + 2);
  out.seg.seq = be32(p + 4);
  out.seg.ack = be32(p + 8);
  out.seg.flags = p[13] & 0x3f;
  out.seg.window = be16(p + 14);
  // Options: only window scale matters, and only on SYNs (the workers' parser reads it).
  out.seg.window_scale = (out.seg.flags & tcp::kSyn) != 0 ? packet::tcp_window_scale(p, hlen)
                                                          : int8_t{-1};
  uint32_t payload = ip_payload - hlen;
  if (n - hlen < payload) {
    return DecodeResult::kTruncatedPayload;
  }
  out.seg.data = p + hlen;
  out.seg.len = payload;
  out.seg.owner = nullptr;
  return DecodeResult::kOk;
}

DecodeResult decode_ipv4(const uint8_t* p, uint32_t n, DecodedTcp& out) {
  if (n < 20) {
    return DecodeResult::kTruncatedIp;
  }
  if ((p[0] >> 4) != 4) {
    return DecodeResult::kBadIpVersion;
  }
  uint32_t ihl = (p[0] & 0x0f) * 4u;
  uint32_t total = be16(p + 2);
  if (ihl < 20 || total < ihl) {
    return DecodeResult::kBadIpLength;
  }
  if (ihl > n) {
    return DecodeResult::kTruncatedIp;
  }
  uint16_t frag = be16(p + 6);
  if ((frag & 0x3fff) != 0) {  // MF set or offset non-zero
    return DecodeResult::kFragment;
  }
  if (p[9] != kProtoTcp) {
    return DecodeResult::kNotTcp;
  }
  // Each address is written whole (16 bytes, zero-padded) by one store: the flow lookup reads
  // it back at once, and a load wider than the last store to the same bytes is not forwarded
  // from the store buffer; it waits until every older store has reached the cache.
  uint32_t src4;
  uint32_t dst4;
  std::memcpy(&src4, p + 12, 4);
  std::memcpy(&dst4, p + 16, 4);
  using Words = uint32_t __attribute__((vector_size(16)));  // one register, one store
  const Words src_words = {src4, 0, 0, 0};
  const Words dst_words = {dst4, 0, 0, 0};
  std::memcpy(out.src.bytes.data(), &src_words, 16);
  std::memcpy(out.dst.bytes.data(), &dst_words, 16);
  out.src.v6 = false;
  out.dst.v6 = false;
  // TSO captures on the sending host may show total length 0; use what was captured then.
  uint32_t ip_payload = total == 0 ? n - ihl : total - ihl;
  return decode_tcp(p + ihl, n - ihl, ip_payload, out);
}

DecodeResult decode_ipv6(const uint8_t* p, uint32_t n, DecodedTcp& out) {
  if (n < 40) {
    return DecodeResult::kTruncatedIp;
  }
  if ((p[0] >> 4) != 6) {
    return DecodeResult::kBadIpVersion;
  }
  uint32_t payload = be16(p + 4);
  uint8_t next = p[6];
  out.src = Address{{}, true};
  out.dst = Address{{}, true};
  std::memcpy(out.src.bytes.data(), p + 8, 16);
  std::memcpy(out.dst.bytes.data(), p + 24, 16);
  uint32_t off = 40;
  // Extension headers: hop-by-hop (0), routing (43), destination options (60) skipped;
  // fragment (44) reported; anything else that is not TCP is not ours.
  for (int guard = 0; guard < 8; ++guard) {
    if (next == kProtoTcp) {
      break;
    }
    if (next == 44) {
      return DecodeResult::kFragment;
    }
    if (next != 0 && next != 43 && next != 60) {
      return DecodeResult::kNotTcp;
    }
    if (off + 8 > n) {
      return DecodeResult::kTruncatedIp;
    }
    uint32_t len = (p[off + 1] + 1u) * 8u;
    next = p[off];
    off += len;
  }
  if (next != kProtoTcp) {
    return DecodeResult::kNotTcp;
  }
  if (off - 40 > payload || off > n) {
    return DecodeResult::kBadIpLength;
  }
  return decode_tcp(p + off, n - off, payload - (off - 40), out);
}

DecodeResult decode_ethertype(uint16_t type, const uint8_t* p, uint32_t n, DecodedTcp& out) {
  if (type == kEtherIpv4) {
    return decode_ipv4(p, n, out);
  }
  if (type == kEtherIpv6) {
    return decode_ipv6(p, n, out);
  }
  return DecodeResult::kNotIp;
}

}  // namespace

std::string_view decode_result_text(DecodeResult r) { return kTexts[static_cast<size_t>(r)]; }

bool decode_result_is_error(DecodeResult r) {
  return r != DecodeResult::kOk && r != DecodeResult::kNotIp && r != DecodeResult::kNotTcp &&
         r != DecodeResult::kFragment;
}

bool link_type_supported(int link_type) {
  return link_type == kLinkEthernet || link_type == kLinkRaw || link_type == kLinkRawDlt ||
         link_type == kLinkLinuxSll || link_type == kLinkLinuxSll2;
}

DecodeResult decode_frame(int link_type, const uint8_t* frame, uint32_t caplen, uint32_t wire_len,
                          DecodedTcp& out) {
  (void)wire_len;  // lengths come from the IP header; a short caplen shows as truncation
  const uint8_t* p = frame;
  uint32_t n = caplen;
  switch (link_type) {
    case kLinkEthernet: {
      if (n < 14) {
        return DecodeResult::kTruncatedLink;
      }
      uint16_t type = be16(p + 12);
      p += 14;
      n -= 14;
      for (int tags = 0; (type == kEtherVlan || type == kEtherQinQ) && tags < 4; ++tags) {
        if (n < 4) {
          return DecodeResult::kTruncatedLink;
        }
        type = be16(p + 2);
        p += 4;
        n -= 4;
      }
      return decode_ethertype(type, p, n, out);
    }
    case kLinkLinuxSll: {  // 16 bytes; protocol at 14
      if (n < 16) {
        return DecodeResult::kTruncatedLink;
      }
      uint16_t type = be16(p + 14);
      return decode_ethertype(type, p + 16, n - 16, out);
    }
    case kLinkLinuxSll2: {  // 20 bytes; protocol at 0
      if (n < 20) {
        return DecodeResult::kTruncatedLink;
      }
      uint16_t type = be16(p);
      return decode_ethertype(type, p + 20, n - 20, out);
    }
    case kLinkRaw:
    case kLinkRawDlt: {
      if (n < 1) {
        return DecodeResult::kTruncatedIp;
      }
      return (p[0] >> 4) == 6 ? decode_ipv6(p, n, out) : decode_ipv4(p, n, out);
    }
    default:
      return DecodeResult::kUnsupportedLink;
  }
}

std::string format_address(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof buf);
  return buf;
}

}  // namespace smtpgw::analyze
