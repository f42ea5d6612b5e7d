#include "dataplane/arp/arp_frame.h"

namespace smtpgw::arp {

namespace {

uint32_t build(uint8_t* buf, uint16_t op, const packet::MacAddr& eth_dst, const packet::MacAddr& sha,
               uint32_t spa, const packet::MacAddr& tha, uint32_t tpa, uint16_t vlan) {
  using namespace packet;
  store_mac(buf, eth_dst);
  store_mac(buf + 6, sha);
  uint32_t off = 12;
  if (vlan != 0) {
    store_be16(buf + off, kEtherTypeVlan);
    store_be16(buf + off + 2, vlan & 0x0fff);
    off += kVlanTagLen;
  }
  store_be16(buf + off, kEtherTypeArp);
  off += 2;
  uint8_t* a = buf + off;
  store_be16(a, 1);
  store_be16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  store_be16(a + 6, op);
  store_mac(a + 8, sha);
  store_be32(a + 14, spa);
  store_mac(a + 18, tha);
  store_be32(a + 24, tpa);
  return off + kArpLen;
}

}  // namespace

uint32_t build_request(uint8_t* buf, const packet::MacAddr& our_mac, uint32_t our_ip,
                       uint32_t target_ip, uint16_t vlan) {
  const packet::MacAddr bcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  const packet::MacAddr zero{};
  return build(buf, 1, bcast, our_mac, our_ip, zero, target_ip, vlan);
}

uint32_t build_reply(uint8_t* buf, const packet::MacAddr& our_mac, uint32_t asked_ip,
                     const packet::MacAddr& peer_mac, uint32_t peer_ip, uint16_t vlan) {
  return build(buf, 2, peer_mac, our_mac, asked_ip, peer_mac, peer_ip, vlan);
}

}  // namespace smtpgw::arp
