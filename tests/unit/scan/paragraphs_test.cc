// scan/paragraphs.h: SpamAssassin's paragraph view of body text, as a streaming transform.
#include "dataplane/scan/paragraphs.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using smtpgw::scan::Paragraphs;

// Feeds `in` in pieces of `step` bytes (0: at once) and returns everything handed out.
std::string run(Paragraphs& p, const std::string& in, size_t step = 0, size_t* pieces = nullptr) {
  std::string out;
  size_t n = 0;
  auto sink = [&](std::string_view v) {
    EXPECT_LE(v.size(), Paragraphs::kBufferBytes);
    out.append(v);
    ++n;
  };
  const size_t s = step == 0 ? std::max<size_t>(in.size(), 1) : step;
  for (size_t i = 0; i < in.size(); i += s) {
    p.feed(std::string_view(in).substr(i, s), sink);
  }
  p.finish(sink);
  if (pieces != nullptr) {
    *pieces = n;
  }
  return out;
}

std::string run(const std::string& in, size_t step = 0) {
  Paragraphs p;
  return run(p, in, step);
}

struct Case {
  const char* what;
  std::string in;
  std::string out;
};

TEST(ParagraphsTest, Cases) {
  const Case cases[] = {
      {"plain words stay", "one two three", "one two three"},
      {"a wrapped line joins with a space", "verify your\r\naccount", "verify your account"},
      {"bare LF wraps too", "verify your\naccount", "verify your account"},
      {"a blank line is a paragraph break", "first\r\n\r\nsecond", "first\nsecond"},
      {"a whitespace-only line is a break", "first\n \t \nsecond", "first\nsecond"},
      {"many blank lines are one break", "a\n\n\n\n\nb", "a\nb"},
      {"space runs and tabs squeeze", "a  \t  b\tc", "a b c"},
      {"trailing single newline: a space", "end\n", "end "},
      {"trailing break: a newline", "end\n\n", "end\n"},
      {"leading whitespace: one separator", "\n\n  start", "\nstart"},
      {"vertical tab and form feed are whitespace", "a\x0b\x0c" "b", "a b"},
      {"CR alone is whitespace", "a\rb", "a b"},
      {"other bytes pass, UTF-8 untouched", "caf\xc3\xa9\x01x", "caf\xc3\xa9\x01x"},
      {"empty", "", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(run(c.in), c.out) << c.what;
  }
}

// The output depends on the bytes only, never on the split: every piece size.
TEST(ParagraphsTest, SplitInvariance) {
  const std::string in =
      "Dear customer,\r\n\r\nplease  verify your\r\naccount within\t24 hours.\r\n \r\n"
      "Thanks\n\n\n-- \nThe team\n";
  const std::string whole = run(in);
  EXPECT_EQ(whole, "Dear customer,\nplease verify your account within 24 hours.\nThanks\n-- The team ");
  for (size_t step = 1; step <= in.size(); ++step) {
    EXPECT_EQ(run(in, step), whole) << "pieces of " << step;
  }
}

// Output longer than the buffer comes out in full-buffer pieces, in order, nothing lost.
TEST(ParagraphsTest, LongTextCrossesTheBuffer) {
  std::string in, want;
  for (int i = 0; i < 3000; ++i) {
    in += "word" + std::to_string(i) + (i % 10 == 9 ? "\r\n" : " ");
    want += "word" + std::to_string(i) + " ";
  }
  in += "\r\n\r\nlast";
  want += "\nlast";
  want.erase(want.find(" \nlast"), 1);  // the run " \r\n\r\n" is one break
  Paragraphs p;
  size_t pieces = 0;
  EXPECT_EQ(run(p, in, 0, &pieces), want);
  EXPECT_EQ(pieces, (want.size() + Paragraphs::kBufferBytes - 1) / Paragraphs::kBufferBytes);
  // finish() left it ready for the next text; reset() drops a half-fed one.
  EXPECT_EQ(run(p, "next\n\ntext"), "next\ntext");
  p.feed("dropped  ", [](std::string_view) {});
  p.reset();
  EXPECT_EQ(run(p, "fresh"), "fresh");
}

}  // namespace
