#include "dataplane/smtp/message_record.h"

namespace smtpgw::smtp {

std::string_view message_outcome_name(MessageOutcome o) {
  switch (o) {
    case MessageOutcome::kDelivered:
      return "delivered";
    case MessageOutcome::kRejected:
      return "rejected";
    case MessageOutcome::kAborted:
      return "aborted";
    case MessageOutcome::kRefused:
      return "refused";
    case MessageOutcome::kUnknown:
      return "unknown";
  }
  return "invalid";
}

std::string_view reject_stage_name(RejectStage s) {
  switch (s) {
    case RejectStage::kNone:
      return "none";
    case RejectStage::kMail:
      return "mail";
    case RejectStage::kRcpt:
      return "rcpt";
    case RejectStage::kData:
      return "data";
    case RejectStage::kEndOfData:
      return "end_of_data";
  }
  return "invalid";
}

MessageRecord::MessageRecord(const RecordCapacity& cap) : cap_(cap) {}

void MessageRecord::forget_recipients() {
  rcpt_count_ = 0;
  rcpt_text_used_ = 0;
}

void MessageRecord::reserve_storage() {
  if (!rcpt_) {
    rcpt_.reset(new RecipientResult[cap_.max_recipients > 0 ? cap_.max_recipients : 1]);
    // Not zeroed: only the bytes below rcpt_text_used_ are ever read.
    rcpt_text_.reset(new char[cap_.recipient_text_bytes > 0 ? cap_.recipient_text_bytes : 1]);
  }
}

void MessageRecord::clear() {
  index = 0;
  helo.clear();
  auth_user.clear();
  auth_mechanism = AuthMechanism::kNone;
  extensions = ServerExtensions{};
  from = Address{};
  from_status = AddressStatus::kOk;
  from_raw.clear();
  params = MailParams{};
  mail_reply = Reply{};
  recipients_accepted = 0;
  recipients_rejected = 0;
  recipients_dropped = 0;
  recipients_over_limit = 0;
  size = 0;
  bdat_chunks = 0;
  used_bdat = false;
  content_truncated = false;
  data_reply = Reply{};
  final_reply = Reply{};
  outcome = MessageOutcome::kAborted;
  reject_stage = RejectStage::kNone;
  client_offset_begin = 0;
  client_offset_end = 0;
  rcpt_count_ = 0;
  rcpt_text_used_ = 0;
}

RecipientResult* MessageRecord::add_recipient(std::string_view text, AddressStatus status) {
  if (rcpt_count_ >= cap_.max_recipients || text.size() > 0xffff ||
      cap_.recipient_text_bytes - rcpt_text_used_ < text.size()) {
    ++recipients_dropped;
    return nullptr;
  }
  reserve_storage();
  RecipientResult& r = rcpt_[rcpt_count_++];
  r = RecipientResult{};
  r.offset = rcpt_text_used_;
  r.len = static_cast<uint16_t>(text.size());
  r.status = status;
  if (!text.empty()) {
    std::memcpy(rcpt_text_.get() + rcpt_text_used_, text.data(), text.size());
  }
  rcpt_text_used_ += static_cast<uint32_t>(text.size());
  return &r;
}

namespace {
bool bytes_contain(const void* p, size_t n, std::string_view needle) {
  std::string_view hay(static_cast<const char*>(p), n);
  return !needle.empty() && hay.find(needle) != std::string_view::npos;
}
}  // namespace

bool MessageRecord::storage_contains(std::string_view needle) const {
  // The object itself holds every fixed-size field; the two arrays hold the recipients. The
  // arrays are fresh for each transaction, so only their used part can hold anything written.
  return bytes_contain(this, sizeof(*this), needle) ||
         (rcpt_ && bytes_contain(rcpt_.get(), sizeof(RecipientResult) * rcpt_count_, needle)) ||
         (rcpt_text_ && bytes_contain(rcpt_text_.get(), rcpt_text_used_, needle));
}

}  // namespace smtpgw::smtp
