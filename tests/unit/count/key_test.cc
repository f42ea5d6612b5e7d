#include <gtest/gtest.h>

#include <random>
#include <string>

#include "dataplane/count/key.h"

namespace smtpgw::count {
namespace {

struct Case {
  const char* what;
  KeyKind kind;
  std::string input;
  KeyStatus status;
  std::string expected;  // the key's data bytes when kOk (hosts: checked separately)
};

KeyStatus build(KeyKind kind, std::string_view in, KeyBytes& out) {
  switch (kind) {
    case KeyKind::kSender:
      return sender_key(in, out);
    case KeyKind::kUser:
      return user_key(in, out);
    case KeyKind::kOrg:
      return org_key(in, out);
    default:
      return host_key_text(in, out);
  }
}

TEST(CountKey, GoldenCases) {
  const Case cases[] = {
      {"sender: domain lower-cased, local part kept", KeyKind::kSender, "Alice@Example.COM",
       KeyStatus::kOk, "Alice@example.com"},
      {"sender: null sender is empty", KeyKind::kSender, "", KeyStatus::kEmpty, ""},
      {"sender: no @", KeyKind::kSender, "alice", KeyStatus::kNoAt, ""},
      {"sender: empty local", KeyKind::kSender, "@example.com", KeyStatus::kEmptyLocal, ""},
      {"sender: empty domain", KeyKind::kSender, "alice@", KeyStatus::kEmptyDomain, ""},
      {"sender: dot domain", KeyKind::kSender, "a@.example.com", KeyStatus::kBadDomain, ""},
      {"sender: double dot", KeyKind::kSender, "a@example..com", KeyStatus::kBadDomain, ""},
      {"sender: space", KeyKind::kSender, "a b@example.com", KeyStatus::kControlChar, ""},
      {"sender: space in a quoted local part", KeyKind::kSender, "\"a b\"@Example.com",
       KeyStatus::kOk, "\"a b\"@example.com"},
      {"sender: tab in a quoted local part", KeyKind::kSender, "\"a\tb\"@x.org",
       KeyStatus::kControlChar, ""},
      {"sender: NUL", KeyKind::kSender, std::string("a\0b@x.org", 9), KeyStatus::kControlChar, ""},
      {"sender: 62 bytes fits", KeyKind::kSender, std::string(50, 'a') + "@example.com",
       KeyStatus::kOk, std::string(50, 'a') + "@example.com"},
      {"sender: 63 bytes too long", KeyKind::kSender, std::string(51, 'a') + "@example.com",
       KeyStatus::kTooLong, ""},
      {"sender: quoted local with @ keeps last @", KeyKind::kSender, "\"a@b\"@X.org",
       KeyStatus::kOk, "\"a@b\"@x.org"},
      {"user: as given", KeyKind::kUser, "Bob", KeyStatus::kOk, "Bob"},
      {"user: empty", KeyKind::kUser, "", KeyStatus::kEmpty, ""},
      {"user: tab", KeyKind::kUser, "bo\tb", KeyStatus::kControlChar, ""},
      {"user: DEL", KeyKind::kUser, "bo\x7f", KeyStatus::kControlChar, ""},
      {"user: too long", KeyKind::kUser, std::string(63, 'u'), KeyStatus::kTooLong, ""},
      {"org: lower-cased", KeyKind::kOrg, "Example.COM", KeyStatus::kOk, "example.com"},
      {"org: trailing dot", KeyKind::kOrg, "example.com.", KeyStatus::kBadDomain, ""},
      {"org: with @", KeyKind::kOrg, "a@b", KeyStatus::kBadDomain, ""},
      {"org: empty", KeyKind::kOrg, "", KeyStatus::kEmpty, ""},
      {"host: empty", KeyKind::kHost, "", KeyStatus::kEmpty, ""},
      {"host: garbage", KeyKind::kHost, "10.0.0", KeyStatus::kBadAddress, ""},
      {"host: v6 garbage", KeyKind::kHost, "2001:db8:::1", KeyStatus::kBadAddress, ""},
      {"host: empty zone", KeyKind::kHost, "fe80::1%", KeyStatus::kBadAddress, ""},
      {"host: too long", KeyKind::kHost, std::string(64, '1'), KeyStatus::kTooLong, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    KeyBytes k;
    EXPECT_EQ(build(c.kind, c.input, k), c.status) << key_status_name(build(c.kind, c.input, k));
    if (c.status == KeyStatus::kOk && c.kind != KeyKind::kHost) {
      EXPECT_EQ(k.kind, c.kind);
      EXPECT_EQ(std::string(k.data, k.len), c.expected);
    }
  }
}

TEST(CountKey, HostNormalisation) {
  KeyBytes a, b, c, d, e;
  ASSERT_EQ(host_key_text("10.1.2.3", a), KeyStatus::kOk);
  ASSERT_EQ(host_key_text("::ffff:10.1.2.3", b), KeyStatus::kOk);
  EXPECT_TRUE(key_equal(a, b)) << "IPv4-mapped IPv6 is the IPv4 host";
  EXPECT_EQ(a.len, 5);
  EXPECT_EQ(a.data[0], 4);
  ASSERT_EQ(host_key_text("fe80::1%eth0", c), KeyStatus::kOk);
  ASSERT_EQ(host_key_text("FE80::0:1", d), KeyStatus::kOk);
  EXPECT_TRUE(key_equal(c, d)) << "zone id stripped, text form normalised";
  EXPECT_EQ(c.len, 17);
  const uint8_t raw[4] = {10, 1, 2, 3};
  EXPECT_TRUE(key_equal(host_key_v4(raw), a));
  ASSERT_EQ(host_key_text("2001:db8::1", e), KeyStatus::kOk);
  EXPECT_FALSE(key_equal(e, c));
}

TEST(CountKey, OrgOfSenderAndHash) {
  KeyBytes o1, o2;
  ASSERT_EQ(org_key_of_sender("alice@Example.COM", o1), KeyStatus::kOk);
  ASSERT_EQ(org_key("example.com", o2), KeyStatus::kOk);
  EXPECT_TRUE(key_equal(o1, o2));
  EXPECT_EQ(key_hash(o1), key_hash(o2));
  EXPECT_EQ(org_key_of_sender("", o1), KeyStatus::kEmpty);
  EXPECT_EQ(org_key_of_sender("alice", o1), KeyStatus::kNoAt);
  EXPECT_EQ(org_key_of_sender("alice@", o1), KeyStatus::kEmptyDomain);
  // Kinds separate identities: the user "example.com" is not the org "example.com".
  KeyBytes u;
  ASSERT_EQ(user_key("example.com", u), KeyStatus::kOk);
  EXPECT_FALSE(key_equal(u, o2));
  EXPECT_NE(key_hash(u), key_hash(o2));
  EXPECT_STREQ(key_status_name(KeyStatus::kTooLong), "too_long");
}

// Every builder, fed random bytes biased towards the interesting ones: never crashes, and an
// accepted key is well-formed (length within bounds, zero padding, lower-case where promised,
// and building it again from its own text gives the same key).
TEST(CountKey, RandomInputsGiveDefinedOutcomes) {
  std::mt19937 rng(12345);
  const std::string alphabet = "aZ09.@-_%:fF\"\\ \t\x7f\x80\xff";
  int accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string in;
    const size_t n = rng() % 80;
    for (size_t j = 0; j < n; ++j) {
      in.push_back(rng() % 4 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()]);
    }
    for (KeyKind kind : {KeyKind::kHost, KeyKind::kSender, KeyKind::kUser, KeyKind::kOrg}) {
      KeyBytes k;
      const KeyStatus st = build(kind, in, k);
      ASSERT_LT(static_cast<int>(st), kKeyStatusCount);
      if (st != KeyStatus::kOk) {
        continue;
      }
      ++accepted;
      ASSERT_EQ(k.kind, kind);
      ASSERT_GT(k.len, 0);
      ASSERT_LE(k.len, events::kKeyDataMax);
      for (size_t j = k.len; j < events::kKeyDataMax; ++j) {
        ASSERT_EQ(k.data[j], 0);
      }
      if (kind == KeyKind::kSender || kind == KeyKind::kOrg) {
        const std::string_view text(k.data, k.len);
        const size_t from = kind == KeyKind::kOrg ? 0 : text.rfind('@') + 1;
        for (size_t j = from; j < text.size(); ++j) {
          ASSERT_FALSE(text[j] >= 'A' && text[j] <= 'Z');
        }
        KeyBytes again;
        ASSERT_EQ(build(kind, text, again), KeyStatus::kOk);
        ASSERT_TRUE(key_equal(k, again));
      }
    }
  }
  EXPECT_GT(accepted, 100) << "the generator reaches the accepting paths";
}

}  // namespace
}  // namespace smtpgw::count
