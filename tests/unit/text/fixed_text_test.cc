// FixedText: what the SMTP record and the MIME summary rely on. assign replaces and says whether
// it cut; append fills up to N and the flag stays set once anything was cut; callers may edit
// the bytes in place and set the flag themselves; the object is plain data.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dataplane/text/fixed_text.h"

namespace smtpgw::text {
namespace {

using namespace std::string_view_literals;  // "a\0b"sv keeps its NUL

// Records holding FixedText are copied and reset by assignment: no heap, no constructor work.
static_assert(std::is_trivially_copyable_v<FixedText<12>>);

enum class Op { kAssign, kAppend, kClear };

struct Step {
  Op op;
  std::string_view in;
  std::string_view want;  // view() after the step
  bool cut;               // truncated after the step
};

struct Case {
  const char* what;
  std::vector<Step> steps;  // applied in order to one FixedText<6>
};

const Case kCases[] = {
    {"assign within and at capacity",
     {{Op::kAssign, "5.1.1", "5.1.1", false},
      {Op::kAssign, "abcdef", "abcdef", false},
      {Op::kAssign, "", "", false}}},
    {"assign cuts and flags; the next assign clears the flag",
     {{Op::kAssign, "abcdefgh", "abcdef", true}, {Op::kAssign, "xy", "xy", false}}},
    {"append fills up to N and the flag stays once set",
     {{Op::kAppend, "ab", "ab", false},
      {Op::kAppend, "cd", "abcd", false},
      {Op::kAppend, "efgh", "abcdef", true},
      {Op::kAppend, "", "abcdef", true},
      {Op::kAppend, "z", "abcdef", true},
      {Op::kAssign, "q", "q", false}}},
    {"append exactly to capacity is no cut",
     {{Op::kAssign, "abc", "abc", false},
      {Op::kAppend, "def", "abcdef", false},
      {Op::kAppend, "", "abcdef", false}}},
    {"clear forgets text and flag",
     {{Op::kAssign, "too long", "too lo", true}, {Op::kClear, "", "", false}}},
    {"a cut may split a UTF-8 sequence",
     {{Op::kAssign, "abcd\xc3\xa9", "abcd\xc3\xa9", false},
      {Op::kAssign, "abcde\xc3\xa9", "abcde\xc3", true}}},
    {"NUL is an ordinary byte", {{Op::kAssign, "a\0b"sv, "a\0b"sv, false}}},
};

TEST(FixedText, Steps) {
  for (const Case& c : kCases) {
    FixedText<6> t;
    EXPECT_EQ(t.view(), "") << c.what;
    EXPECT_FALSE(t.truncated) << c.what;
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& s = c.steps[i];
      switch (s.op) {
        case Op::kAssign:
          t.assign(s.in);
          break;
        case Op::kAppend:
          t.append(s.in);
          break;
        case Op::kClear:
          t.clear();
          break;
      }
      EXPECT_EQ(t.view(), s.want) << c.what << ", step " << i;
      EXPECT_EQ(t.len, s.want.size()) << c.what << ", step " << i;
      EXPECT_EQ(t.truncated, s.cut) << c.what << ", step " << i;
    }
  }
}

// The MIME decoder lower-cases a type in place and marks a name it cut before assigning it.
TEST(FixedText, CallerEditsInPlace) {
  FixedText<16> t;
  t.assign("Text/HTML");
  for (uint16_t i = 0; i < t.len; ++i) {
    if (t.data[i] >= 'A' && t.data[i] <= 'Z') {
      t.data[i] = static_cast<char>(t.data[i] + 32);
    }
  }
  EXPECT_EQ(t.view(), "text/html");
  t.truncated = true;
  t.append("");
  EXPECT_EQ(t.view(), "text/html");
  EXPECT_TRUE(t.truncated);
}

TEST(FixedText, CopiesAreIndependent) {
  FixedText<8> a;
  a.assign("first");
  FixedText<8> b = a;
  b.append("++++");
  EXPECT_EQ(a.view(), "first");
  EXPECT_FALSE(a.truncated);
  EXPECT_EQ(b.view(), "first+++");
  EXPECT_TRUE(b.truncated);
}

TEST(FixedText, LargestCapacityKeepsItsLength) {
  auto t = std::make_unique<FixedText<UINT16_MAX>>();
  const std::string big(UINT16_MAX + 10, 'x');
  t->assign(big);
  EXPECT_EQ(t->len, UINT16_MAX);
  EXPECT_TRUE(t->truncated);
}

}  // namespace
}  // namespace smtpgw::text
