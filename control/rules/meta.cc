#include "control/rules/meta.h"

#include <cctype>
#include <cstdlib>

namespace smtpgw::rules {

namespace {

using scan::MetaOp;
using scan::MetaOpCode;

// Precedence climbing over a token stream; each parse_* appends postfix ops.
class MetaParser {
 public:
  explicit MetaParser(std::string_view t) : t_(t) {}

  bool parse(MetaExpr* out, std::string* err) {
    out_ = out;
    if (!parse_binary(0) ) {
      *err = err_;
      return false;
    }
    skip_ws();
    if (pos_ != t_.size()) {
      *err = "unexpected '" + std::string(t_.substr(pos_, 1)) + "' at offset " +
             std::to_string(pos_);
      return false;
    }
    if (max_depth_ > scan::kMaxMetaStack) {
      *err = "expression too deep (needs " + std::to_string(max_depth_) + " stack slots, limit " +
             std::to_string(scan::kMaxMetaStack) + ")";
      return false;
    }
    out->max_depth = max_depth_;
    return true;
  }

 private:
  struct BinOp {
    std::string_view text;
    int prec;
    MetaOpCode code;
  };

  void skip_ws() {
    while (pos_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[pos_])) != 0) {
      ++pos_;
    }
  }

  const BinOp* peek_binary() {
    static const BinOp kOps[] = {
        {"||", 1, MetaOpCode::kOr}, {"&&", 2, MetaOpCode::kAnd}, {"==", 3, MetaOpCode::kEq},
        {"!=", 3, MetaOpCode::kNe}, {"<=", 4, MetaOpCode::kLe},  {">=", 4, MetaOpCode::kGe},
        {"<", 4, MetaOpCode::kLt},  {">", 4, MetaOpCode::kGt},   {"+", 5, MetaOpCode::kAdd},
        {"-", 5, MetaOpCode::kSub}, {"*", 6, MetaOpCode::kMul},  {"/", 6, MetaOpCode::kDiv},
    };
    skip_ws();
    for (const BinOp& op : kOps) {
      if (t_.substr(pos_).starts_with(op.text)) {
        return &op;
      }
    }
    return nullptr;
  }

  void push(MetaOp op, int delta) {
    out_->ops.push_back(op);
    depth_ += delta;
    if (depth_ > static_cast<int>(max_depth_)) {
      max_depth_ = static_cast<uint32_t>(depth_);
    }
  }

  bool fail(std::string m) {
    if (err_.empty()) {
      err_ = std::move(m);
    }
    return false;
  }

  bool parse_binary(int min_prec) {
    if (++nesting_ > 200) {
      return fail("expression nested too deeply");
    }
    if (!parse_unary()) {
      return false;
    }
    for (;;) {
      const BinOp* op = peek_binary();
      if (op == nullptr || op->prec <= min_prec - 1 || op->prec < min_prec) {
        break;
      }
      pos_ += op->text.size();
      if (!parse_binary(op->prec + 1)) {
        return false;
      }
      push(MetaOp{op->code}, -1);
    }
    --nesting_;
    return true;
  }

  bool parse_unary() {
    skip_ws();
    if (pos_ >= t_.size()) {
      return fail("missing operand at end of expression");
    }
    const char c = t_[pos_];
    if (c == '!' && !t_.substr(pos_).starts_with("!=")) {
      ++pos_;
      if (!parse_unary()) {
        return false;
      }
      push(MetaOp{MetaOpCode::kNot}, 0);
      return true;
    }
    if (c == '-') {
      ++pos_;
      if (!parse_unary()) {
        return false;
      }
      push(MetaOp{MetaOpCode::kNeg}, 0);
      return true;
    }
    if (c == '(') {
      const size_t open = pos_;
      ++pos_;
      if (!parse_binary(0)) {
        return false;
      }
      skip_ws();
      if (pos_ >= t_.size() || t_[pos_] != ')') {
        return fail("unbalanced '(' at offset " + std::to_string(open));
      }
      ++pos_;
      return true;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.') {
      size_t end = pos_;
      while (end < t_.size() && (std::isdigit(static_cast<unsigned char>(t_[end])) != 0 ||
                                 t_[end] == '.')) {
        ++end;
      }
      const std::string num(t_.substr(pos_, end - pos_));
      char* stop = nullptr;
      const double v = std::strtod(num.c_str(), &stop);
      if (stop == num.c_str() || *stop != '\0') {
        return fail("bad number '" + num + "' at offset " + std::to_string(pos_));
      }
      pos_ = end;
      push(MetaOp{MetaOpCode::kConst, 0, v}, 1);
      return true;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_') {
      size_t end = pos_;
      while (end < t_.size() &&
             (std::isalnum(static_cast<unsigned char>(t_[end])) != 0 || t_[end] == '_')) {
        ++end;
      }
      const std::string name(t_.substr(pos_, end - pos_));
      pos_ = end;
      uint32_t idx = 0;
      while (idx < out_->names.size() && out_->names[idx] != name) {
        ++idx;
      }
      if (idx == out_->names.size()) {
        out_->names.push_back(name);
      }
      push(MetaOp{MetaOpCode::kRule, idx, 0.0}, 1);
      return true;
    }
    if (c == ')') {
      return fail("unexpected ')' at offset " + std::to_string(pos_));
    }
    return fail("unexpected '" + std::string(1, c) + "' at offset " + std::to_string(pos_));
  }

  std::string_view t_;
  size_t pos_ = 0;
  MetaExpr* out_ = nullptr;
  std::string err_;
  int depth_ = 0;
  uint32_t max_depth_ = 0;
  int nesting_ = 0;
};

}  // namespace

std::optional<MetaExpr> parse_meta(std::string_view text, std::string* error) {
  MetaExpr e;
  MetaParser p(text);
  if (!p.parse(&e, error)) {
    return std::nullopt;
  }
  if (e.ops.empty()) {
    *error = "empty expression";
    return std::nullopt;
  }
  return e;
}

}  // namespace smtpgw::rules
