// The glue of one flow: reassembled bytes → session; the session's fields and content → a
// lent decoder and scan context; its hold points → Decisions; its records → Decisions.
#include "dataplane/inspect/inspector.h"

#include <algorithm>

namespace smtpgw::inspect {

Flow::Flow(Inspector& inspector, uint64_t id, const smtp::Endpoint& client,
           const smtp::Endpoint& server)
    : in_(inspector), session_(inspector.sessions_, this, this, this), id_(static_cast<uint32_t>(id)) {
  session_.set_endpoints(client, server);
  session_.set_mask_starttls(in_.decisions_.inspect_starttls(client));
  in_.count(Counter::kFlows);
}

Flow::~Flow() { in_.close(*this); }

uint64_t Flow::on_data(tcp::Direction d, uint64_t offset, std::string_view bytes) {
  if (d == tcp::Direction::kServerToClient) {
    in_.count(Counter::kServerBytes, bytes.size());
    session_.on_server_data(bytes);
    return offset + bytes.size();
  }
  in_.count(Counter::kClientBytes, bytes.size());
  session_.on_client_data(bytes);
  // Holds were decided inside that call (Decisions are synchronous), so this is final for now.
  return session_.release_limit();
}

void Flow::on_fin(tcp::Direction d) {
  fin_[static_cast<int>(d)] = true;
  if (fin_[0] && fin_[1]) {
    close();
  }
}

void Flow::on_reset() { close(); }

void Flow::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  session_.on_close();  // reports the records still open
  if (decoder_ != nullptr) {  // the session aborts the content first; be sure
    decoder_->abort_content();
    finish_content();
  }
  for (Message*& m : msgs_) {  // transactions whose record never came (record slots overflowed)
    if (m != nullptr) {
      give_back(m);
      m = nullptr;
    }
  }
  current_ = nullptr;
  if (session_.opaque()) {
    in_.count(Counter::kFlowsOpaque);
  }
  in_.count(Counter::kEvasions, tcp.evasions);
  in_.count(Counter::kFlowsClosed);
  done_ = true;
}

Message* Flow::find(uint64_t index) {
  for (Message* m : msgs_) {
    if (m != nullptr && m->index == index) {
      return m;
    }
  }
  return nullptr;
}

void Flow::give_back(Message* m) {
  if (m->scan != nullptr) {
    if (m->scan->in_message()) {
      m->scan->abort_message();
    }
    // The context keeps its rule set and streams for its next message (Inspector::refresh_rules
    // moves idle ones to a newly published version).
    in_.scans_.give(m->scan);
    m->scan = nullptr;
  }
  if (current_ == m) {
    current_ = nullptr;
  }
  in_.messages_.give(m);
}

void Flow::on_hold(const smtp::HoldPoint& hold, const smtp::MessageRecord* record) {
  if (hold.kind == smtp::HoldKind::kStarttls) {
    if (!session_.mask_starttls()) {
      in_.count(Counter::kHoldsAllowed);
      session_.allow();  // TLS follows: the flow becomes opaque at the server's 220
      return;
    }
    in_.count(Counter::kStarttlsRefused);
    in_.count(Counter::kHoldsEnded);
    end_with(nullptr, Decision{Action::kRefuse, kReplyStarttlsNotOffered});
    session_.refuse(kReplyStarttlsNotOffered);
    return;
  }
  Message* m = record != nullptr ? find(record->index) : nullptr;
  const bool uninspected = record != nullptr && (m == nullptr || !m->inspected);
  Decision d;
  if (uninspected && !in_.config_.fail_open) {
    in_.count(Counter::kUninspectedDeferred);
    d = Decision{Action::kDefer, kReplyUninspected};
  } else {
    if (uninspected) {
      in_.count(Counter::kUninspectedPassed);
    }
    d = in_.decisions_.on_hold(*this, Hold{hold, record, m});
  }
  if (d.action == Action::kAllow) {
    in_.count(Counter::kHoldsAllowed);
    session_.allow();
    return;
  }
  in_.count(Counter::kHoldsEnded);
  end_with(m, d);
  session_.refuse(d.reply);
}

void Flow::end_with(Message* m, const Decision& d) {
  if (m != nullptr) {
    m->action = d.action;
    m->reply = d.reply;
  }
  refusal_ = d.reply.data();
  refusal_len_ = static_cast<uint16_t>(std::min<size_t>(d.reply.size(), UINT16_MAX));
}

void Flow::on_anomaly(smtp::Counter c, uint64_t client_offset) {
  if (c != smtp::Counter::kCommandOverLimit && c != smtp::Counter::kAddressOverLimit) {
    return;
  }
  // The open transaction is the one a RCPT belongs to; a MAIL FROM's is not open yet.
  Message* m = current_;
  const Decision d = in_.decisions_.on_violation(*this, c, m);
  if (d.action == Action::kAllow) {
    return;
  }
  in_.count(Counter::kViolationsEnded);
  end_with(m, d);
  session_.stop(d.reply, client_offset);
}

void Flow::on_message(const smtp::MessageRecord& record) {
  in_.count(Counter::kMessages);
  in_.count(Counter::kContentBytes, record.size);
  Message* m = find(record.index);
  in_.decisions_.on_record(*this, record, m);
  if (m != nullptr) {
    for (Message*& slot : msgs_) {
      if (slot == m) {
        slot = nullptr;
      }
    }
    give_back(m);
  }
}

void Flow::begin_message() {
  const uint64_t index = begun_++;
  Message* m = nullptr;
  for (Message*& slot : msgs_) {
    if (slot == nullptr) {
      m = in_.messages_.take();
      slot = m;
      break;
    }
  }
  current_ = m;
  if (m == nullptr) {
    in_.count(Counter::kNoMessageState);
    return;
  }
  m->index = index;
  m->ended = false;
  m->inspected = true;
  m->has_summary = false;
  m->auto_submitted = false;
  m->long_header_line = false;
  m->action = Action::kAllow;
  m->reply = {};
  m->account = count::MessageState{};
  m->accounted = false;
  m->rcpts_decided = 0;
  m->over_limit_decided = 0;
  m->scan = nullptr;
  if (in_.scanning()) {
    m->scan = in_.scans_.take();
    if (m->scan == nullptr) {
      in_.count(Counter::kNoScanContext);
      m->inspected = false;
      return;
    }
    m->scan->begin_message();
  }
}

void Flow::field(const Field& f) {
  if (current_ != nullptr && current_->scan != nullptr) {
    current_->scan->field(f);
  }
}

void Flow::end_message() {
  if (current_ != nullptr) {
    if (current_->scan != nullptr) {
      current_->scan->end_message();
    }
    current_->ended = true;
    current_ = nullptr;
  }
}

void Flow::abort_message() {
  if (current_ != nullptr) {
    if (current_->scan != nullptr) {
      current_->scan->abort_message();
    }
    current_ = nullptr;
  }
}

void Flow::begin_content() {
  if (decoder_ != nullptr) {
    decoder_->abort_content();
    finish_content();
  }
  decoder_ = in_.decoders_.take();
  if (decoder_ == nullptr) {
    in_.count(Counter::kNoDecoder);
    if (current_ != nullptr) {
      current_->inspected = false;
    }
    return;
  }
  decoder_->set_sink(*this);
  decoder_->begin_content();
}

void Flow::content(std::string_view chunk) {
  if (decoder_ != nullptr) {
    decoder_->content(chunk);
  }
}

void Flow::end_content() {
  if (decoder_ != nullptr) {
    decoder_->end_content();
    finish_content();
  }
}

void Flow::abort_content() {
  if (decoder_ != nullptr) {
    decoder_->abort_content();
    finish_content();
  }
}

void Flow::finish_content() {
  // The record comes later (after the server's reply to the end of data): keep the summary in
  // the message's state (an aborted message's too: its record shows the headers seen), unless
  // the driver wants none (analyze --summary-only: copying it costs more than decoding a small
  // message).
  if (current_ != nullptr) {
    current_->auto_submitted = decoder_->summary().auto_submitted();
    current_->long_header_line = decoder_->summary().note(mime::Note::kLongHeaderLine) > 0;
    if (in_.config_.keep_summaries) {
      current_->summary = decoder_->summary();
      current_->has_summary = true;
    }
  }
  decoder_->set_sink(in_.null_sink_);
  in_.decoders_.give(decoder_);
  decoder_ = nullptr;
}

}  // namespace smtpgw::inspect
