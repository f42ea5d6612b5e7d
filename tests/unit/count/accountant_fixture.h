// Shared fixture of the accountant tests: a table on a fake clock, one queue, message builders.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/count/accountant.h"
#include "fake_clock.h"

namespace smtpgw::count::testing {

inline MessageState message(const std::string& host, const std::string& sender,
                            const std::string& user = "") {
  MessageState m;
  EXPECT_EQ(host_key_text(host, m.keys[kSlotHost]), KeyStatus::kOk);
  if (sender.empty()) {
    m.exempt = Exempt::kBounce;
  } else {
    EXPECT_EQ(sender_key(sender, m.keys[kSlotSender]), KeyStatus::kOk);
    EXPECT_EQ(org_key_of_sender(sender, m.keys[kSlotOrg]), KeyStatus::kOk);
  }
  if (!user.empty()) {
    EXPECT_EQ(user_key(user, m.keys[kSlotUser]), KeyStatus::kOk);
  }
  m.host_family = 4;
  return m;
}

class AccountantTest : public ::testing::Test {
 protected:
  AccountantTest() : table_(options()), acc_(table_), q_(4096) {
    policy_.internal_domains = {"corp.example"};
  }
  SenderTable::Options options() {
    SenderTable::Options o;
    o.capacity = 4096;
    o.clock = clock_.clock();
    return o;
  }
  std::vector<events::Event> drain() {
    std::vector<events::Event> out;
    events::Event e;
    while (q_.pop(e)) {
      out.push_back(e);
    }
    return out;
  }
  static size_t count_kind(const std::vector<events::Event>& evs, events::EventKind k) {
    size_t n = 0;
    for (const auto& e : evs) {
      n += e.kind == k;
    }
    return n;
  }
  const Entry& entry_of(const MessageState& m, int slot) {
    Handle h;
    EXPECT_TRUE(table_.find(m.keys[slot], h));
    return *table_.get(h);
  }
  // One complete message with n external recipients; returns the worst verdict seen.
  Verdict send(MessageState& m, int n_ext, int n_int = 0, bool spam = false) {
    Decision d = acc_.begin_message(policy_, m, q_);
    if (d.verdict != Verdict::kAllow) {
      return d.verdict;
    }
    Verdict worst = Verdict::kAllow;
    for (int i = 0; i < n_ext + n_int; ++i) {
      const std::string r = "r" + std::to_string(i) + (i < n_ext ? "@ext.example" : "@corp.example");
      d = acc_.add_recipient(policy_, m, r, q_);
      worst = std::max(worst, d.verdict);
    }
    MessageEnd end;
    end.bytes = 2048;
    end.spam = spam;
    d = acc_.end_message(policy_, m, end, q_);
    return std::max(worst, d.verdict);
  }

  FakeClock clock_;
  SenderTable table_;
  Accountant acc_;
  EventQueue q_;
  policy::Policy policy_;
};

}  // namespace smtpgw::count::testing
