// smtpgen's TCP peer, a client and a server joined by an in-memory link that can drop frames
// (seeded, so every run is the same): the handshake with its MSS option, data both ways, FIN
// both ways, the peer's window, retransmission after loss, RST, giving up. Every frame must
// parse as the gateway parses frames (checksums included).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/smtpgen/link.h"

namespace smtpgw::smtpgen {
namespace {

TEST(TcpPeer, HandshakeDataBothWaysAndFinBothWays) {
  Link l;
  const std::string up = pattern(200'000, 'a'), down = pattern(150'000, 'A');
  l.client.send(up);
  l.client.close();
  l.server.send(down);
  l.server.close();
  ASSERT_TRUE(l.run([&] { return l.client.fin_acked() && l.server.fin_acked() &&
                                 l.client.peer_closed() && l.server.peer_closed(); }));
  EXPECT_EQ(l.server.received(), up);
  EXPECT_EQ(l.client.received(), down);
  EXPECT_TRUE(l.saw_mss) << "each SYN carries the MSS option";
  EXPECT_EQ(l.client.retransmissions() + l.server.retransmissions(), 0u);
  EXPECT_FALSE(l.client.was_reset());
}

TEST(TcpPeer, LostFramesAreSentAgainUntilEverythingArrives) {
  Link l;
  l.loss = 0.1;
  const std::string up = pattern(100'000, 'b'), down = pattern(60'000, 'B');
  l.client.send(up);
  l.client.close();
  l.server.send(down);
  l.server.close();
  ASSERT_TRUE(l.run([&] { return l.client.fin_acked() && l.server.fin_acked() &&
                                 l.client.peer_closed() && l.server.peer_closed(); }))
      << "client " << l.client.received().size() << " server " << l.server.received().size();
  EXPECT_EQ(l.server.received(), up);
  EXPECT_EQ(l.client.received(), down);
  EXPECT_GT(l.dropped, 0u);
  EXPECT_GT(l.client.retransmissions() + l.server.retransmissions(), 0u);
}

// The client never has more unacknowledged bytes in flight than the server's window.
TEST(TcpPeer, TheSenderKeepsWithinThePeersWindow) {
  TcpPeer::Options small;
  small.window = 3000;
  Link l(small);
  ASSERT_TRUE(l.run([&] { return l.client.state() == TcpPeer::State::kEstablished &&
                                 l.server.state() == TcpPeer::State::kEstablished; }));
  l.client.send(pattern(50'000, 'c'));
  std::vector<std::string> out;
  l.client.poll(l.now, out);  // nothing acknowledged meanwhile
  size_t bytes = 0;
  for (const std::string& f : out) {
    bytes += f.size() - 54;
  }
  EXPECT_EQ(bytes, 3000u);
  out.clear();
  l.client.poll(l.now + 1, out);
  EXPECT_TRUE(out.empty()) << "the window is full until an ACK comes";
}

TEST(TcpPeer, AbortSendsAResetThePeerSees) {
  Link l;
  ASSERT_TRUE(l.run([&] { return l.server.state() == TcpPeer::State::kEstablished; }));
  l.client.abort();
  l.step();
  EXPECT_EQ(l.client.state(), TcpPeer::State::kClosed);
  EXPECT_TRUE(l.server.was_reset());
  EXPECT_EQ(l.server.state(), TcpPeer::State::kClosed);
}

// A peer that never answers: the SYN is sent max_retries + 1 times, the timeout doubling, then
// the connection is reset.
TEST(TcpPeer, GivesUpAfterItsRetries) {
  TcpPeer::Options o;
  o.max_retries = 3;
  o.rto_ns = 10'000'000;
  Link l({}, o);
  l.loss = 1.0;
  ASSERT_TRUE(l.run([&] { return l.client.was_reset(); }, 10'000));
  EXPECT_EQ(l.client.retransmissions(), 3u);
  EXPECT_EQ(l.client.state(), TcpPeer::State::kClosed);
  // 10 + 20 + 40 + 80 ms of waiting: not before.
  EXPECT_GE(l.now, 1'000'000 + 150'000'000ull);
}

}  // namespace
}  // namespace smtpgw::smtpgen
