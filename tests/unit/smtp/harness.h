// Test harness for the SMTP session: recording sinks and observer, transcript runner, and a
// one-line summary of a MessageRecord so golden cases can be compared as text.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/smtp/session.h"

namespace smtpgw::smtp::testing {

enum class Dir { kClient, kServer };

struct Step {
  Dir dir;
  std::string bytes;
};

inline Step C(std::string s) { return {Dir::kClient, std::move(s)}; }
inline Step S(std::string s) { return {Dir::kServer, std::move(s)}; }

inline std::string field_kind_name(FieldKind k) {
  switch (k) {
    case FieldKind::kEnvelopeHelo:
      return "helo";
    case FieldKind::kEnvelopeFrom:
      return "from";
    case FieldKind::kEnvelopeRcpt:
      return "rcpt";
    case FieldKind::kEnvelopeAuth:
      return "auth";
    default:
      return "other";
  }
}

inline std::string reply_text(uint16_t code, std::string_view enhanced) {
  std::string s = std::to_string(code);
  if (!enhanced.empty()) {
    s += "/";
    s += enhanced;
  }
  return s;
}

inline std::string summarize(const MessageRecord& r) {
  std::ostringstream o;
  o << "#" << r.index;
  if (r.helo.len > 0) {
    o << " helo=" << r.helo.view();
  }
  if (r.auth_user.len > 0) {
    o << " auth=" << r.auth_user.view();
  }
  if (r.from_status == AddressStatus::kOk) {
    o << " from=" << (r.from.null ? std::string("<>") : std::string(r.from.view()));
  } else {
    o << " from=!" << address_status_name(r.from_status) << ":" << r.from_raw.view();
  }
  if (r.params.has_size) {
    o << " SIZE=" << r.params.size;
  }
  if (r.params.body != BodyType::kUnspecified) {
    o << " BODY=" << static_cast<int>(r.params.body);
  }
  if (r.params.smtputf8) {
    o << " SMTPUTF8";
  }
  if (r.params.ret != DsnRet::kUnspecified) {
    o << " RET=" << static_cast<int>(r.params.ret);
  }
  if (r.params.envid.len > 0) {
    o << " ENVID=" << r.params.envid.view();
  }
  if (r.params.unknown_params > 0) {
    o << " unknown_params=" << r.params.unknown_params;
  }
  if (r.mail_reply.code != 0) {
    o << " mail=" << reply_text(r.mail_reply.code, r.mail_reply.enhanced.view());
  }
  o << " rcpt=[";
  bool first = true;
  for (const auto& rr : r.recipients()) {
    o << (first ? "" : ",") << r.recipient_address(rr);
    if (rr.status != AddressStatus::kOk) {
      o << "!" << address_status_name(rr.status);
    }
    o << ":" << reply_text(rr.reply.code, rr.reply.enhanced.view());
    first = false;
  }
  o << "] acc=" << r.recipients_accepted << " rej=" << r.recipients_rejected;
  if (r.recipients_dropped > 0) {
    o << " dropped=" << r.recipients_dropped;
  }
  if (r.recipients_over_limit > 0) {
    o << " over=" << r.recipients_over_limit;
  }
  o << " size=" << r.size;
  if (r.used_bdat) {
    o << " bdat=" << r.bdat_chunks;
  }
  if (r.final_reply.code != 0) {
    o << " final=" << reply_text(r.final_reply.code, r.final_reply.enhanced.view()) << " '"
      << r.final_reply.text.view() << "'";
  }
  o << " " << message_outcome_name(r.outcome);
  if (r.reject_stage != RejectStage::kNone) {
    o << "@" << reject_stage_name(r.reject_stage);
  }
  if (r.content_truncated) {
    o << " truncated";
  }
  return o.str();
}

// Records every call, in order, into one log; content is kept per message.
class Recorder : public FieldSink, public ContentSink, public SessionObserver {
 public:
  std::vector<std::string> log;        // sink calls and records, in order
  std::vector<std::string> records;    // summaries
  std::vector<std::string> contents;   // content of each ended message
  std::string content_buf;
  std::map<std::string, uint64_t> anomalies;
  bool content_open = false;
  int message_depth = 0;
  bool order_error = false;            // a contract order violation was seen
  std::function<void(Session&, const HoldPoint&, const MessageRecord*)> hold_handler;
  Session* session = nullptr;
  std::vector<std::string> holds;

  void begin_message() override {
    order_error |= message_depth != 0;
    ++message_depth;
    log.push_back("begin");
  }
  void field(const Field& f) override {
    order_error |= message_depth != 1 || content_open;
    log.push_back(field_kind_name(f.kind) + ":" + std::string(f.value));
  }
  void end_message() override {
    order_error |= message_depth != 1 || content_open;
    --message_depth;
    log.push_back("end");
  }
  void abort_message() override {
    order_error |= message_depth != 1 || content_open;
    --message_depth;
    log.push_back("abort");
  }
  void begin_content() override {
    order_error |= message_depth != 1 || content_open;
    content_open = true;
    content_buf.clear();
    log.push_back("content-begin");
  }
  void content(std::string_view chunk) override {
    order_error |= !content_open;
    content_buf.append(chunk);
  }
  void end_content() override {
    order_error |= !content_open;
    content_open = false;
    contents.push_back(content_buf);
    log.push_back("content-end:" + std::to_string(content_buf.size()));
  }
  void abort_content() override {
    order_error |= !content_open;
    content_open = false;
    log.push_back("content-abort");
  }
  void on_message(const MessageRecord& r) override {
    records.push_back(summarize(r));
    log.push_back("record");
  }
  void on_hold(const HoldPoint& h, const MessageRecord* r) override {
    (void)r;
    holds.push_back(std::to_string(static_cast<int>(h.kind)) + "@" + std::to_string(h.offset));
    if (hold_handler && session != nullptr) {
      hold_handler(*session, h, r);
    }
  }
  void on_anomaly(Counter c, uint64_t offset) override {
    (void)offset;
    ++anomalies[std::string(counter_name(c))];
  }
};

// Everything a run produced, comparable across segmentations.
struct RunResult {
  std::vector<std::string> log;
  std::vector<std::string> records;
  std::vector<std::string> contents;
  std::map<std::string, uint64_t> anomalies;
  std::vector<uint64_t> counters;
  bool order_error = false;
  bool monotonic = true;
  bool opaque = false;
  bool desync = false;
  std::string auth_user;
  uint64_t release = 0;
  bool operator==(const RunResult&) const = default;
};

// How each step's bytes are cut before being fed.
enum class Cut { kWhole, kBytes, kRandom };

// Another session fed in lockstep with run()'s, sharing its SessionContext, so the two take
// and give back active parts in turn (each takes parts the other left). The neighbour's
// counters are known from a standalone run and subtracted from the context's.
struct Neighbour {
  std::vector<Step> steps;
  std::vector<uint64_t> counters;
};

inline RunResult run(const std::vector<Step>& steps, Cut cut = Cut::kWhole,
                     SessionLimits limits = {}, uint32_t seed = 1, bool close = true,
                     std::string* secret_check = nullptr, bool* secret_found = nullptr,
                     const Neighbour* neighbour = nullptr) {
  SessionContext ctx(limits);
  Recorder rec;
  Recorder nrec;
  Session s(ctx, &rec, &rec, &rec);
  rec.session = &s;
  rec.hold_handler = [](Session& ss, const HoldPoint&, const MessageRecord*) { ss.allow(); };
  std::optional<Session> n;
  if (neighbour != nullptr) {
    n.emplace(ctx, &nrec, &nrec, &nrec);
    nrec.session = &*n;
    nrec.hold_handler = rec.hold_handler;
  }
  std::mt19937 rng(seed);
  RunResult out;
  uint64_t last_release = 0;
  auto feed = [&](Dir d, std::string_view b) {
    if (d == Dir::kClient) {
      s.on_client_data(b);
    } else {
      s.on_server_data(b);
    }
    uint64_t r = s.release_limit();
    out.monotonic = out.monotonic && r >= last_release && r <= s.client_offset();
    last_release = r;
  };
  size_t next_neighbour_step = 0;
  auto feed_neighbour = [&]() {
    if (neighbour != nullptr && next_neighbour_step < neighbour->steps.size()) {
      const Step& st = neighbour->steps[next_neighbour_step++];
      if (st.dir == Dir::kClient) {
        n->on_client_data(st.bytes);
      } else {
        n->on_server_data(st.bytes);
      }
    }
  };
  for (const Step& st : steps) {
    feed_neighbour();
    std::string_view b = st.bytes;
    switch (cut) {
      case Cut::kWhole:
        feed(st.dir, b);
        break;
      case Cut::kBytes:
        for (size_t i = 0; i < b.size(); ++i) {
          feed(st.dir, b.substr(i, 1));
        }
        break;
      case Cut::kRandom: {
        size_t i = 0;
        while (i < b.size()) {
          size_t n = 1 + rng() % 7;
          feed(st.dir, b.substr(i, n));
          i += n;
        }
        break;
      }
    }
  }
  if (secret_check != nullptr && secret_found != nullptr) {
    *secret_found = s.buffers_contain(*secret_check);
  }
  out.release = s.release_limit();
  if (close) {
    s.on_close();
  }
  while (neighbour != nullptr && next_neighbour_step < neighbour->steps.size()) {
    feed_neighbour();
  }
  if (n) {
    n->on_close();
  }
  if (secret_check != nullptr && secret_found != nullptr) {
    *secret_found = *secret_found || s.buffers_contain(*secret_check);
  }
  out.log = rec.log;
  out.records = rec.records;
  out.contents = rec.contents;
  out.anomalies = rec.anomalies;
  for (size_t i = 0; i < kCounterCount; ++i) {
    uint64_t v = ctx.counters().value[i];
    if (neighbour != nullptr && i < neighbour->counters.size()) {
      v -= neighbour->counters[i];
    }
    out.counters.push_back(v);
  }
  out.order_error = rec.order_error;
  out.opaque = s.opaque();
  out.desync = s.desynchronised();
  out.auth_user = std::string(s.auth_user());
  return out;
}

}  // namespace smtpgw::smtp::testing
