// A client and a server TcpPeer joined by an in-memory link that can drop frames (seeded, so
// every run is the same); every frame must parse as the gateway parses frames.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tools/smtpgen/tcp_peer.h"

namespace smtpgw::smtpgen {

using packet::ParsedPacket;
using packet::ParseResult;

inline const Endpoint kClient{{{2, 0, 0, 0, 0, 1}}, 0x0a010002, 40000};
inline const Endpoint kServer{{{2, 0, 0, 0, 0, 2}}, 0xc0000207, 25};

inline std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>(seed + i % 61);
  }
  return s;
}

struct Link {
  TcpPeer client, server;
  double loss = 0;
  std::mt19937 rng{7};
  uint64_t now = 1'000'000;
  size_t frames = 0, dropped = 0, max_payload_before_ack = 0;
  bool saw_mss = false;

  explicit Link(TcpPeer::Options server_options = {}, TcpPeer::Options client_options = {})
      : client(TcpPeer::client(kClient, kServer, 1000, client_options)),
        server(TcpPeer::server(kServer, kClient, 900'000, server_options)) {}

  // One millisecond: each side's frames cross (or are lost), in the order sent.
  void step() {
    now += 1'000'000;
    std::vector<std::string> out;
    client.poll(now, out);
    deliver(out, server);
    out.clear();
    server.poll(now, out);
    deliver(out, client);
  }
  void deliver(const std::vector<std::string>& out, TcpPeer& to) {
    for (const std::string& f : out) {
      ++frames;
      ParsedPacket p;
      ASSERT_EQ(packet::parse_frame(reinterpret_cast<const uint8_t*>(f.data()),
                                    static_cast<uint32_t>(f.size()), {}, &p),
                ParseResult::kOk);
      if (p.tcp_flags & packet::kTcpSyn) {
        saw_mss = saw_mss || f.size() == 14 + 20 + 24;
      }
      if (std::uniform_real_distribution<>(0, 1)(rng) < loss) {
        ++dropped;
        continue;
      }
      EXPECT_TRUE(to.receive(p, reinterpret_cast<const uint8_t*>(f.data())));
    }
  }
  template <class Done>
  bool run(Done done, int steps = 200'000) {
    for (int i = 0; i < steps; ++i) {
      if (done()) {
        return true;
      }
      step();
    }
    return done();
  }
};

}  // namespace smtpgw::smtpgen
