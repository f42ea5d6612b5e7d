// Builds ARP frames in place. Pure; any thread; no allocation.
#pragma once

#include <cstdint>

#include "dataplane/packet/wire.h"

namespace smtpgw::arp {

inline constexpr uint32_t kArpFrameLen = packet::kEthHeaderLen + packet::kArpLen;  // 42

// Writes an ARP request for `target_ip` from (`our_mac`, `our_ip`), broadcast, into `buf` (at
// least 42 bytes; 46 with a VLAN tag when vlan != 0). Returns the frame length.
uint32_t build_request(uint8_t* buf, const packet::MacAddr& our_mac, uint32_t our_ip,
                       uint32_t target_ip, uint16_t vlan);

// Writes the reply to a request from (`peer_mac`, `peer_ip`) asking for `asked_ip`, which we
// own at `our_mac`. Returns the frame length.
uint32_t build_reply(uint8_t* buf, const packet::MacAddr& our_mac, uint32_t asked_ip,
                     const packet::MacAddr& peer_mac, uint32_t peer_ip, uint16_t vlan);

}  // namespace smtpgw::arp
