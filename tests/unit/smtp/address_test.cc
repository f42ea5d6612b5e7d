// Address canonicalisation: every accepted spelling and every refusal reason.
#include "dataplane/smtp/address.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace smtpgw::smtp {
namespace {

struct PathCase {
  const char* description;
  std::string in;
  PathKind kind;
  AddressStatus status;
  std::string canonical;  // when kOk
  std::string domain;     // when kOk
  size_t consumed;        // when kOk
};

std::vector<PathCase> path_cases() {
  const PathKind R = PathKind::kReversePath;
  const PathKind F = PathKind::kForwardPath;
  using S = AddressStatus;
  return {
      {"simple", "<user@example.com>", R, S::kOk, "user@example.com", "example.com", 18},
      {"domain lower-cased, local part kept", "<User.Name@EXAMPLE.Com>", R, S::kOk,
       "User.Name@example.com", "example.com", 23},
      {"parameters follow", "<a@b.c> SIZE=10", R, S::kOk, "a@b.c", "b.c", 7},
      {"leading space", "  <a@b.c>", R, S::kOk, "a@b.c", "b.c", 9},
      {"null sender", "<>", R, S::kOk, "", "", 2},
      {"null recipient refused", "<>", F, S::kNullNotAllowed, "", "", 0},
      {"postmaster recipient", "<PostMaster>", F, S::kOk, "postmaster", "", 12},
      {"postmaster sender needs a domain", "<postmaster>", R, S::kNoDomain, "", "", 0},
      {"source route dropped", "<@a.example,@B.example:x@Y.example>", R, S::kOk, "x@y.example",
       "y.example", 35},
      {"bad source route", "<@a.example;x@y.example>", R, S::kBadSourceRoute, "", "", 0},
      {"source route without colon", "<@a.example>", R, S::kBadSourceRoute, "", "", 0},
      {"quoted dot-atom unquoted", "<\"john.doe\"@x.org>", R, S::kOk, "john.doe@x.org", "x.org",
       18},
      {"quoted with space kept quoted", "<\"john doe\"@x.org>", R, S::kOk, "\"john doe\"@x.org",
       "x.org", 18},
      {"quoted-pair normalised", "<\"a\\ b\\\"c\"@x.org>", R, S::kOk, "\"a b\\\"c\"@x.org",
       "x.org", 17},
      {"quoted unnecessary escape dropped", "<\"\\a\"@x.org>", R, S::kOk, "a@x.org", "x.org", 12},
      {"unterminated quote", "<\"abc@x.org>", R, S::kUnterminatedQuote, "", "", 0},
      {"trailing dot in domain removed", "<a@X.Org.>", R, S::kOk, "a@x.org", "x.org", 10},
      {"address literal", "<a@[IPv6:2001:DB8::1]>", R, S::kOk, "a@[ipv6:2001:db8::1]",
       "[ipv6:2001:db8::1]", 22},
      {"UTF-8 left as written", "<J\xc3\xb6rg@B\xc3\xbc" "cher.Example>", R, S::kOk,
       "J\xc3\xb6rg@b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example", 23},
      {"IDNA A-label lower-cased", "<a@XN--BCHER-KVA.example>", R, S::kOk,
       "a@xn--bcher-kva.example", "xn--bcher-kva.example", 25},
      {"bracketless accepted", "a@b.c SIZE=1", R, S::kOk, "a@b.c", "b.c", 5},
      {"empty", "   ", R, S::kEmpty, "", "", 0},
      {"no closing bracket", "<a@b.c", R, S::kMissingBracket, "", "", 0},
      {"double at", "<a@@b.c>", R, S::kBadDomain, "", "", 0},
      {"no domain", "<abc>", R, S::kNoDomain, "", "", 0},
      {"empty local part", "<@>", R, S::kBadSourceRoute, "", "", 0},
      {"leading dot", "<.a@b.c>", R, S::kBadLocalPart, "", "", 0},
      {"double dot", "<a..b@b.c>", R, S::kBadLocalPart, "", "", 0},
      {"bad character", "<a(b)@b.c>", R, S::kBadLocalPart, "", "", 0},
      {"empty label", "<a@b..c>", R, S::kBadDomain, "", "", 0},
      {"bad domain character", "<a@b!c>", R, S::kBadDomain, "", "", 0},
      {"label too long", "<a@" + std::string(64, 'x') + ".com>", R, S::kBadDomain, "", "", 0},
      {"local part too long", "<" + std::string(65, 'x') + "@b.c>", R, S::kLocalPartTooLong, "",
       "", 0},
      {"local part of 64 is fine", "<" + std::string(64, 'x') + "@b.c>", R, S::kOk,
       std::string(64, 'x') + "@b.c", "b.c", 70},
      {"domain too long", "<a@" + [] {
         std::string d;
         for (int i = 0; i < 5; ++i) {
           d += std::string(60, 'd') + ".";
         }
         return d + "com";
       }() + ">",
       R, S::kDomainTooLong, "", "", 0},
      {"whole address too long", "<" + std::string(64, 'x') + "@" + [] {
         std::string d;
         for (int i = 0; i < 3; ++i) {
           d += std::string(62, 'd') + ".";
         }
         return d + "com";
       }() + ">",
       R, S::kTooLong, "", "", 0},
      {"unclosed literal", "<a@[1.2.3.4>", R, S::kBadDomain, "", "", 0},
  };
}

class PathTest : public ::testing::TestWithParam<size_t> {};

TEST_P(PathTest, ParsesAsExpected) {
  const PathCase c = path_cases()[GetParam()];
  SCOPED_TRACE(c.description);
  Address a;
  size_t consumed = 0;
  AddressStatus st = parse_path(c.in, c.kind, a, &consumed);
  EXPECT_EQ(address_status_name(st), address_status_name(c.status));
  if (c.status == AddressStatus::kOk) {
    EXPECT_EQ(a.view(), c.canonical);
    EXPECT_EQ(a.domain(), c.domain);
    EXPECT_EQ(consumed, c.consumed);
    EXPECT_EQ(a.null, c.canonical.empty() && c.in.find("<>") != std::string::npos);
    // Canonicalising the canonical form again changes nothing.
    if (!a.null && a.at < a.len) {
      Address again;
      ASSERT_EQ(canonicalise_mailbox(a.view(), again), AddressStatus::kOk);
      EXPECT_EQ(again.view(), a.view());
    }
  } else {
    EXPECT_EQ(a.len, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, PathTest, ::testing::Range<size_t>(0, path_cases().size()));

TEST(AddressTest, MailboxAndUserKeys) {
  Address a;
  EXPECT_EQ(canonicalise_mailbox("Bob@Example.NET", a), AddressStatus::kOk);
  EXPECT_EQ(a.view(), "Bob@example.net");
  EXPECT_EQ(a.local_part(), "Bob");
  EXPECT_EQ(a.domain(), "example.net");
  EXPECT_EQ(canonicalise_mailbox("Bob@Example.NET trailing", a), AddressStatus::kBadDomain);
  EXPECT_EQ(canonicalise_mailbox("", a), AddressStatus::kEmpty);
  canonicalise_user("Alice@EXAMPLE.org", a);
  EXPECT_EQ(a.view(), "Alice@example.org");
  canonicalise_user("DOMAIN\\alice", a);
  EXPECT_EQ(a.view(), "DOMAIN\\alice");
  EXPECT_EQ(a.domain(), "");
  canonicalise_user(std::string(300, 'u'), a);
  EXPECT_EQ(a.len, kMaxAddress);
}

TEST(AddressTest, EveryStatusHasADistinctName) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kAddressStatusCount; ++i) {
    names.insert(address_status_name(static_cast<AddressStatus>(i)));
  }
  EXPECT_EQ(names.size(), kAddressStatusCount);
  EXPECT_EQ(address_status_name(static_cast<AddressStatus>(200)), "invalid");
}

}  // namespace
}  // namespace smtpgw::smtp
