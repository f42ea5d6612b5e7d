#include "control/analyze/record_json.h"

#include <arpa/inet.h>

#include <cmath>
#include <string>

namespace smtpgw::analyze {

namespace {

nlohmann::ordered_json endpoint(const smtp::Endpoint& e) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(e.v6 ? AF_INET6 : AF_INET, e.addr.data(), buf, sizeof buf);
  nlohmann::ordered_json j;
  j["ip"] = buf;
  j["port"] = e.port;
  return j;
}

nlohmann::ordered_json reply(const smtp::Reply& r) {
  if (r.code == 0) {
    return nullptr;
  }
  nlohmann::ordered_json j;
  j["code"] = r.code;
  j["enhanced"] = std::string(r.enhanced.view());
  j["text"] = std::string(r.text.view());
  return j;
}

std::string_view mechanism(smtp::AuthMechanism m) {
  switch (m) {
    case smtp::AuthMechanism::kNone: return "none";
    case smtp::AuthMechanism::kPlain: return "plain";
    case smtp::AuthMechanism::kLogin: return "login";
    case smtp::AuthMechanism::kCramMd5: return "cram-md5";
    case smtp::AuthMechanism::kXoauth2: return "xoauth2";
    case smtp::AuthMechanism::kOther: return "other";
  }
  return "other";
}

std::string_view body_type(smtp::BodyType b) {
  switch (b) {
    case smtp::BodyType::kUnspecified: return "";
    case smtp::BodyType::k7Bit: return "7bit";
    case smtp::BodyType::k8BitMime: return "8bitmime";
    case smtp::BodyType::kBinaryMime: return "binarymime";
    case smtp::BodyType::kOther: return "other";
  }
  return "other";
}

nlohmann::ordered_json text_or_null(const mime::Summary& s, mime::SummaryHeader h) {
  if (!s.has(h)) {
    return nullptr;
  }
  return std::string(s.value(h));
}

}  // namespace

nlohmann::ordered_json record_to_json(const smtp::MessageRecord& r, const mime::Summary* s) {
  nlohmann::ordered_json j;
  j["type"] = "message";
  j["index"] = r.index;
  j["client"] = endpoint(r.client);
  j["server"] = endpoint(r.server);
  j["helo"] = std::string(r.helo.view());
  if (r.auth_mechanism != smtp::AuthMechanism::kNone || r.auth_user.len > 0) {
    nlohmann::ordered_json a;
    a["user"] = std::string(r.auth_user.view());
    a["mechanism"] = mechanism(r.auth_mechanism);
    j["auth"] = a;
  } else {
    j["auth"] = nullptr;
  }
  if (r.from_status == smtp::AddressStatus::kOk) {
    j["mail_from"] = std::string(r.from.view());
  } else {
    j["mail_from"] = nullptr;
    j["mail_from_raw"] = std::string(r.from_raw.view());
    j["mail_from_status"] = std::string(smtp::address_status_name(r.from_status));
  }
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  if (r.params.has_size) {
    params["size"] = r.params.size;
  }
  if (r.params.body != smtp::BodyType::kUnspecified) {
    params["body"] = body_type(r.params.body);
  }
  if (r.params.smtputf8) {
    params["smtputf8"] = true;
  }
  j["mail_params"] = params;
  j["mail_reply"] = reply(r.mail_reply);
  nlohmann::ordered_json accepted = nlohmann::ordered_json::array();
  nlohmann::ordered_json rejected = nlohmann::ordered_json::array();
  nlohmann::ordered_json unanswered = nlohmann::ordered_json::array();
  for (const smtp::RecipientResult& rr : r.recipients()) {
    nlohmann::ordered_json x;
    x["address"] = std::string(r.recipient_address(rr));
    if (rr.status != smtp::AddressStatus::kOk) {
      x["address_status"] = std::string(smtp::address_status_name(rr.status));
    }
    if (rr.reply.code == 0) {
      unanswered.push_back(x);
      continue;
    }
    x["code"] = rr.reply.code;
    if (rr.reply.code >= 200 && rr.reply.code < 300) {
      accepted.push_back(x);
    } else {
      x["enhanced"] = std::string(rr.reply.enhanced.view());
      rejected.push_back(x);
    }
  }
  j["rcpt_accepted"] = accepted;
  j["rcpt_rejected"] = rejected;
  j["rcpt_unanswered"] = unanswered;
  if (r.recipients_dropped + r.recipients_over_limit > 0) {
    j["rcpt_not_kept"] = r.recipients_dropped + r.recipients_over_limit;
  }
  j["size"] = r.size;
  j["bdat"] = r.used_bdat;
  if (r.used_bdat) {
    j["bdat_chunks"] = r.bdat_chunks;
  }
  j["content_truncated"] = r.content_truncated;
  nlohmann::ordered_json headers = nlohmann::ordered_json::object();
  nlohmann::ordered_json attachments = nlohmann::ordered_json::array();
  if (s != nullptr) {
    using H = mime::SummaryHeader;
    headers["from"] = text_or_null(*s, H::kFrom);
    headers["to"] = text_or_null(*s, H::kTo);
    headers["subject"] = text_or_null(*s, H::kSubject);
    headers["message_id"] = text_or_null(*s, H::kMessageId);
    headers["date"] = text_or_null(*s, H::kDate);
    headers["list_unsubscribe"] = s->has(H::kListUnsubscribe);
    headers["precedence"] = text_or_null(*s, H::kPrecedence);
    headers["dkim_signature"] = s->has(H::kDkimSignature);
    headers["auto_submitted"] = s->auto_submitted();
    for (uint32_t i = 0; i < s->attachment_count; ++i) {
      const mime::Attachment& at = s->attachments[i];
      nlohmann::ordered_json x;
      x["name"] = std::string(at.name.view());
      x["type"] = std::string(at.type.view());
      x["size"] = at.decoded_size;
      attachments.push_back(x);
    }
    j["mime_parts"] = s->part_count;
  }
  j["headers"] = headers;
  j["attachments"] = attachments;
  j["data_reply"] = reply(r.data_reply);
  j["final_reply"] = reply(r.final_reply);
  j["outcome"] = std::string(smtp::message_outcome_name(r.outcome));
  j["reject_stage"] = std::string(smtp::reject_stage_name(r.reject_stage));
  j["starttls_offered"] = r.extensions.starttls;
  j["pipelining"] = r.extensions.pipelining;
  j["chunking"] = r.extensions.chunking;
  return j;
}

void add_verdict(nlohmann::ordered_json& record, const inspect::Message* message) {
  const scan::Verdict* v = message != nullptr ? message->verdict() : nullptr;
  if (v == nullptr) {
    // Aborted, rejected before DATA, or not scanned (counted by the scan context).
    record["verdict"] = nullptr;
    return;
  }
  record["verdict"] = v->spam ? "spam" : "ham";
  // Rounded to 1/1000: sums of decimal scores print without binary noise (4.999999...).
  record["score"] = std::round(v->score * 1000.0) / 1000.0;
  record["required_score"] = v->required_score;
  nlohmann::ordered_json names = nlohmann::ordered_json::array();
  for (uint32_t idx : v->rules) {
    names.push_back(std::string(message->scan->rule_name(idx)));
  }
  record["rules"] = std::move(names);
  if (v->rule_count > v->rules.size()) {
    record["rules_truncated"] = true;
  }
}

void add_enforcement(nlohmann::ordered_json& record, const inspect::Flow& flow,
                     const inspect::Message* message) {
  const inspect::Action a = message != nullptr ? message->action : inspect::Action::kAllow;
  record["action"] = std::string(inspect::action_name(a));
  record["reply"] = message != nullptr && !message->reply.empty()
                        ? nlohmann::ordered_json(std::string(message->reply))
                        : nlohmann::ordered_json(nullptr);
  record["pool"] = std::string(inspect::pool_name(flow.pool()));
}

}  // namespace smtpgw::analyze
