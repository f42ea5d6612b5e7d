// ASCII helpers: only A-Z fold (the bytes one case bit away from them, '@' '[' '`' '{', and every
// byte >= 0x80 stay distinct), the case-insensitive order agrees with equality, and the hex and
// base64 digit values, checked against their alphabets for all 256 byte values.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/text/ascii.h"

namespace smtpgw::text {
namespace {

// Usable in constant expressions: parsers build keyword tables from them at compile time.
static_assert(ascii_lower('Q') == 'q');
static_assert(iequals("STARTTLS", "StartTls"));
static_assert(istarts_with("FROM:<a@b>", "from:"));
static_assert(iless("Subject", "to"));
static_assert(hex_value('f') == 15);
static_assert(base64_value('/') == 63);
static_assert(kBase64Values['='] == kBase64Pad);

// Every byte value as a char, in order.
std::vector<char> all_bytes() {
  std::vector<char> v;
  for (int b = 0; b < 256; ++b) {
    v.push_back(static_cast<char>(b));
  }
  return v;
}

TEST(AsciiLower, FoldsOnlyCapitalLetters) {
  for (char c : all_bytes()) {
    const auto u = static_cast<unsigned char>(c);
    const char want = u >= 'A' && u <= 'Z' ? static_cast<char>(u - 'A' + 'a') : c;
    EXPECT_EQ(ascii_lower(c), want) << "byte " << static_cast<int>(u);
  }
  // Latin-1 capitals and UTF-8 bytes are not letters here.
  EXPECT_EQ(ascii_lower(static_cast<char>(0xC4)), static_cast<char>(0xC4));
}

using namespace std::string_view_literals;  // "A\0B"sv keeps its NUL

struct Pair {
  std::string_view a;
  std::string_view b;
  bool equal;        // iequals(a, b), and iequals(b, a)
  bool starts_with;  // istarts_with(a, b)
};
constexpr Pair kPairs[] = {
    {"", "", true, true},
    {"MAIL", "mail", true, true},
    {"to:", "TO:", true, true},
    {"Content-Type", "cONTENT-tYPE", true, true},
    {"8BITMIME", "8bitmime", true, true},
    {"MAIL", "MAI", false, true},
    {"", "a", false, false},
    {"RCPT", "RCPU", false, false},
    {"FROM:<a@example.org>", "from:", false, true},
    {"filename*0*", "FILENAME", false, true},
    {"anything", "", false, true},
    {"TO", "TO:", false, false},
    {"FRAM:", "FROM:", false, false},
    // Bytes one case bit apart that are not letters.
    {"@", "`", false, false},
    {"[", "{", false, false},
    {"]", "}", false, false},
    {"^", "~", false, false},
    {"X-[", "x-{", false, false},
    // UTF-8 compares byte for byte; NUL is an ordinary byte.
    {"\xc3\xa9t\xc3\xa9", "\xc3\xa9T\xc3\xa9", true, true},
    {"\xc3\xa9", "\xc3\x89", false, false},
    {"A\0B"sv, "a\0b"sv, true, true},
    {"A\0B"sv, "a\0c"sv, false, false},
    {"A\0B"sv, "a"sv, false, true},
};

TEST(Iequals, Pairs) {
  for (const Pair& p : kPairs) {
    EXPECT_EQ(iequals(p.a, p.b), p.equal) << p.a << " / " << p.b;
    EXPECT_EQ(iequals(p.b, p.a), p.equal) << p.b << " / " << p.a;
  }
}

TEST(Iequals, AgreesWithLowerForEveryPairOfBytes) {
  for (char a : all_bytes()) {
    for (char b : all_bytes()) {
      const bool want = ascii_lower(a) == ascii_lower(b);
      ASSERT_EQ(iequals(std::string_view(&a, 1), std::string_view(&b, 1)), want)
          << static_cast<int>(static_cast<unsigned char>(a)) << " vs "
          << static_cast<int>(static_cast<unsigned char>(b));
    }
  }
}

TEST(IstartsWith, Pairs) {
  for (const Pair& p : kPairs) {
    EXPECT_EQ(istarts_with(p.a, p.b), p.starts_with) << p.a << " / " << p.b;
  }
}

// The order a sorted table of header names is searched by.
TEST(Iless, StrictWeakOrderConsistentWithIequals) {
  // Letters and prefixes; header names; bytes one case bit from a letter, or not ASCII.
  std::vector<std::string_view> words = {"", "a", "A", "ab", "AB", "abc", "b", "z", "Z", "zz"};
  words.insert(words.end(), {"Subject", "subject", "SUBJECT", "to", "To", "x-spam", "X-Spam-Flag",
                             "content-", "content-type", "Content-Type"});
  words.insert(words.end(), {"@", "`", "[", "{", "\x80", "\xff"});
  for (std::string_view a : words) {
    EXPECT_FALSE(iless(a, a)) << a;
    for (std::string_view b : words) {
      const bool lt = iless(a, b);
      const bool gt = iless(b, a);
      EXPECT_FALSE(lt && gt) << a << " / " << b;
      EXPECT_EQ(!lt && !gt, iequals(a, b)) << a << " / " << b;
      for (std::string_view c : words) {
        if (lt && iless(b, c)) {
          EXPECT_TRUE(iless(a, c)) << a << " < " << b << " < " << c;
        }
      }
    }
  }
}

TEST(Iless, UnsignedBytesAfterFoldingAndPrefixFirst) {
  EXPECT_TRUE(iless("abc", "ABD"));
  EXPECT_TRUE(iless("ABC", "abd"));
  EXPECT_TRUE(iless("ab", "AB-"));  // a proper prefix sorts first
  EXPECT_FALSE(iless("AB-", "ab"));
  EXPECT_TRUE(iless("Z", "\x80"));  // bytes >= 0x80 sort after ASCII, as unsigned
  EXPECT_TRUE(iless("[", "Z"));     // 'Z' sorts as 'z' (0x7a), after '[' (0x5b)
  EXPECT_FALSE(iless("Z", "["));
}

TEST(Iless, SortAndBinarySearchByName) {
  std::vector<std::string_view> names = {"To", "from", "Subject",    "X-Mailer",
                                         "CC", "date", "Message-ID", "reply-to"};
  std::sort(names.begin(), names.end(), [](auto a, auto b) { return iless(a, b); });
  for (std::string_view probe :
       {"TO", "From", "subject", "x-mailer", "cc", "DATE", "message-id", "Reply-To"}) {
    auto it = std::lower_bound(names.begin(), names.end(), probe,
                               [](auto a, auto b) { return iless(a, b); });
    ASSERT_NE(it, names.end()) << probe;
    EXPECT_TRUE(iequals(*it, probe)) << probe;
  }
  for (std::string_view absent : {"Bcc", "Received", "", "To2"}) {
    auto it = std::lower_bound(names.begin(), names.end(), absent,
                               [](auto a, auto b) { return iless(a, b); });
    EXPECT_TRUE(it == names.end() || !iequals(*it, absent)) << absent;
  }
}

TEST(HexValue, EveryByte) {
  constexpr std::string_view kLower = "0123456789abcdef";
  constexpr std::string_view kUpper = "0123456789ABCDEF";
  for (char c : all_bytes()) {
    int want = -1;
    if (size_t i = kLower.find(c); i != std::string_view::npos) {
      want = static_cast<int>(i);
    } else if (size_t j = kUpper.find(c); j != std::string_view::npos) {
      want = static_cast<int>(j);
    }
    EXPECT_EQ(hex_value(c), want) << "byte " << static_cast<int>(static_cast<unsigned char>(c));
  }
  EXPECT_EQ(hex_value('g'), -1);
  EXPECT_EQ(hex_value('G'), -1);
  EXPECT_EQ(hex_value('/'), -1);  // just below '0'
  EXPECT_EQ(hex_value(':'), -1);  // just above '9'
  EXPECT_EQ(hex_value('@'), -1);  // just below 'A'
  EXPECT_EQ(hex_value('`'), -1);  // just below 'a'
}

TEST(Base64, TableClassesEveryByte) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (char c : all_bytes()) {
    const auto u = static_cast<unsigned char>(c);
    const size_t i = kAlphabet.find(c);
    uint8_t want = kBase64Invalid;
    if (i != std::string_view::npos) {
      want = static_cast<uint8_t>(i);
    } else if (c == '=') {
      want = kBase64Pad;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      want = kBase64Space;
    }
    EXPECT_EQ(kBase64Values[u], want) << "byte " << static_cast<int>(u);
    EXPECT_EQ(base64_value(c), want < 64 ? want : -1) << "byte " << static_cast<int>(u);
  }
  // The classes are all >= 64, so one comparison rejects any of them.
  EXPECT_GE(kBase64Pad, 64);
  EXPECT_GE(kBase64Space, 64);
  EXPECT_GE(kBase64Invalid, 64);
  // Not base64url, and form feed or vertical tab is no blank here.
  EXPECT_EQ(kBase64Values['-'], kBase64Invalid);
  EXPECT_EQ(kBase64Values['_'], kBase64Invalid);
  EXPECT_EQ(kBase64Values['\f'], kBase64Invalid);
  EXPECT_EQ(kBase64Values['\v'], kBase64Invalid);
}

// RFC 4648 section 10 test vectors decoded through base64_value (padding and line breaks
// skipped), and a whole quartet accepted by the MIME decoder's one-test check.
TEST(Base64, DecodesRfc4648Vectors) {
  auto decode = [](std::string_view in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
      const int v = base64_value(c);
      if (v < 0) {
        continue;
      }
      acc = (acc << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xff));
      }
    }
    return out;
  };
  EXPECT_EQ(decode(""), "");
  EXPECT_EQ(decode("Zg=="), "f");
  EXPECT_EQ(decode("Zm8="), "fo");
  EXPECT_EQ(decode("Zm9v"), "foo");
  EXPECT_EQ(decode("Zm9vYg=="), "foob");
  EXPECT_EQ(decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(decode("Zm9v\r\nYmFy"), "foobar");
  const std::string_view q = "Zm9v";
  EXPECT_LT(kBase64Values[static_cast<unsigned char>(q[0])] |
                kBase64Values[static_cast<unsigned char>(q[1])] |
                kBase64Values[static_cast<unsigned char>(q[2])] |
                kBase64Values[static_cast<unsigned char>(q[3])],
            64);
}

TEST(Ascii, DnsNames) {
  EXPECT_TRUE(is_dns_name("example.org", 253));
  EXPECT_TRUE(is_dns_name("a-b_c.9.example", 253));
  EXPECT_TRUE(is_dns_name("localhost", 253));
  EXPECT_FALSE(is_dns_name("", 253));
  EXPECT_FALSE(is_dns_name(".example.org", 253));
  EXPECT_FALSE(is_dns_name("example.org.", 253));
  EXPECT_FALSE(is_dns_name("a..b", 253));
  EXPECT_FALSE(is_dns_name("Example.org", 253));  // callers fold case first
  EXPECT_FALSE(is_dns_name("[192.0.2.1]", 253));
  EXPECT_FALSE(is_dns_name("b\xc3\xbccher.de", 253));
  EXPECT_FALSE(is_dns_name("bad domain.test", 253));
  EXPECT_TRUE(is_dns_name(std::string(200, 'a'), 200));
  EXPECT_FALSE(is_dns_name(std::string(201, 'a'), 200));
}

}  // namespace
}  // namespace smtpgw::text
