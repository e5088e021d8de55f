#include "Expression.h"

#include <charconv>
#include <cstring>

namespace sparse_attn::runtime {

namespace {

constexpr int kMaxNesting = 64;

bool isIdentifierStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isIdentifierChar(char c) { return isIdentifierStart(c) || (c >= '0' && c <= '9'); }

// Parses the digits after "size"/"stride" in a member name.
bool parseDimension(std::string_view digits, int &dim) {
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0'))
    return false;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), dim);
  return ec == std::errc() && end == digits.data() + digits.size();
}

} // namespace

class ExpressionParser {
public:
  ExpressionParser(std::string_view text, const ExpressionScope &scope, Expression &result)
      : text_(text), scope_(scope), result_(result) {}

  Status parse(Expression::Type expected) {
    Expression::Type type;
    if (Status status = parseOr(result_.root_, type, 0); !status.ok())
      return status;
    skipSpaces();
    if (pos_ != text_.size())
      return error("unexpected '" + std::string(1, text_[pos_]) + "'");
    if (type != expected)
      return Status::error(
          SA_ERROR_BUNDLE,
          "`" + std::string(text_) + "`: expected " +
              (expected == Expression::Type::Boolean
                   ? "a condition (a comparison or a logical operator)"
                   : "an integer expression") +
              ", found " +
              (type == Expression::Type::Boolean ? "a condition" : "an integer expression"));
    return Status::success();
  }

private:
  using Type = Expression::Type;
  using Op = Expression::Op;

  Status error(const std::string &what) const {
    return Status::error(SA_ERROR_BUNDLE, "`" + std::string(text_) + "`: column " +
                                              std::to_string(pos_ + 1) + ": " + what);
  }

  void skipSpaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ')
      ++pos_;
  }

  // Consumes `token` if it comes next (an operator must not be the prefix of
  // a longer one: "<" is not matched in "<=").
  bool match(std::string_view token) {
    skipSpaces();
    if (text_.substr(pos_, token.size()) != token)
      return false;
    if (token.size() == 1 && pos_ + 1 < text_.size()) {
      char next = text_[pos_ + 1];
      if ((token == "<" || token == ">" || token == "!" || token == "=") && next == '=')
        return false;
    }
    pos_ += token.size();
    return true;
  }

  int addNode(Op op, int lhs = -1, int rhs = -1) {
    Expression::Node node;
    node.op = op;
    node.lhs = lhs;
    node.rhs = rhs;
    result_.nodes_.push_back(node);
    return static_cast<int>(result_.nodes_.size()) - 1;
  }

  Status expectType(Type actual, Type wanted, const char *what, size_t column) const {
    if (actual == wanted)
      return Status::success();
    return Status::error(SA_ERROR_BUNDLE,
                         "`" + std::string(text_) + "`: column " + std::to_string(column + 1) +
                             ": " + what +
                             (wanted == Type::Integer ? " needs integer operands"
                                                      : " needs conditions as operands"));
  }

  Status parseOr(int &node, Type &type, int depth) {
    if (Status status = parseAnd(node, type, depth); !status.ok())
      return status;
    while (true) {
      skipSpaces();
      size_t column = pos_;
      if (!match("||"))
        return Status::success();
      int rhs;
      Type rhsType;
      if (Status status = parseAnd(rhs, rhsType, depth); !status.ok())
        return status;
      if (Status status = expectType(type, Type::Boolean, "'||'", column); !status.ok())
        return status;
      if (Status status = expectType(rhsType, Type::Boolean, "'||'", column); !status.ok())
        return status;
      node = addNode(Op::Or, node, rhs);
    }
  }

  Status parseAnd(int &node, Type &type, int depth) {
    if (Status status = parseComparison(node, type, depth); !status.ok())
      return status;
    while (true) {
      skipSpaces();
      size_t column = pos_;
      if (!match("&&"))
        return Status::success();
      int rhs;
      Type rhsType;
      if (Status status = parseComparison(rhs, rhsType, depth); !status.ok())
        return status;
      if (Status status = expectType(type, Type::Boolean, "'&&'", column); !status.ok())
        return status;
      if (Status status = expectType(rhsType, Type::Boolean, "'&&'", column); !status.ok())
        return status;
      node = addNode(Op::And, node, rhs);
    }
  }

  bool matchComparison(Op &op) {
    static const struct {
      const char *token;
      Op op;
    } kComparisons[] = {{"==", Op::Equal},        {"!=", Op::NotEqual}, {"<=", Op::LessEqual},
                        {">=", Op::GreaterEqual}, {"<", Op::Less},      {">", Op::Greater}};
    for (const auto &comparison : kComparisons)
      if (match(comparison.token)) {
        op = comparison.op;
        return true;
      }
    return false;
  }

  Status parseComparison(int &node, Type &type, int depth) {
    if (Status status = parseAdditive(node, type, depth); !status.ok())
      return status;
    skipSpaces();
    size_t column = pos_;
    Op op;
    if (!matchComparison(op))
      return Status::success();
    int rhs;
    Type rhsType;
    if (Status status = parseAdditive(rhs, rhsType, depth); !status.ok())
      return status;
    if (Status status = expectType(type, Type::Integer, "a comparison", column); !status.ok())
      return status;
    if (Status status = expectType(rhsType, Type::Integer, "a comparison", column); !status.ok())
      return status;
    node = addNode(op, node, rhs);
    type = Type::Boolean;
    size_t next = pos_;
    Op chained;
    if (matchComparison(chained)) {
      pos_ = next;
      skipSpaces();
      return error("comparisons do not chain; join them with '&&'");
    }
    return Status::success();
  }

  Status parseAdditive(int &node, Type &type, int depth) {
    if (Status status = parseMultiplicative(node, type, depth); !status.ok())
      return status;
    while (true) {
      skipSpaces();
      size_t column = pos_;
      Op op;
      if (match("+"))
        op = Op::Add;
      else if (match("-"))
        op = Op::Subtract;
      else
        return Status::success();
      int rhs;
      Type rhsType;
      if (Status status = parseMultiplicative(rhs, rhsType, depth); !status.ok())
        return status;
      const char *what = op == Op::Add ? "'+'" : "'-'";
      if (Status status = expectType(type, Type::Integer, what, column); !status.ok())
        return status;
      if (Status status = expectType(rhsType, Type::Integer, what, column); !status.ok())
        return status;
      node = addNode(op, node, rhs);
    }
  }

  Status parseMultiplicative(int &node, Type &type, int depth) {
    if (Status status = parseUnary(node, type, depth); !status.ok())
      return status;
    while (true) {
      skipSpaces();
      size_t column = pos_;
      Op op;
      const char *what;
      if (match("*")) {
        op = Op::Multiply;
        what = "'*'";
      } else if (match("/")) {
        op = Op::Divide;
        what = "'/'";
      } else if (match("%")) {
        op = Op::Modulo;
        what = "'%'";
      } else {
        return Status::success();
      }
      int rhs;
      Type rhsType;
      if (Status status = parseUnary(rhs, rhsType, depth); !status.ok())
        return status;
      if (Status status = expectType(type, Type::Integer, what, column); !status.ok())
        return status;
      if (Status status = expectType(rhsType, Type::Integer, what, column); !status.ok())
        return status;
      node = addNode(op, node, rhs);
    }
  }

  Status parseUnary(int &node, Type &type, int depth) {
    if (depth > kMaxNesting)
      return error("nested too deeply");
    skipSpaces();
    size_t column = pos_;
    if (match("-")) {
      if (Status status = parseUnary(node, type, depth + 1); !status.ok())
        return status;
      if (Status status = expectType(type, Type::Integer, "'-'", column); !status.ok())
        return status;
      node = addNode(Op::Negate, node);
      return Status::success();
    }
    if (match("!")) {
      if (Status status = parseUnary(node, type, depth + 1); !status.ok())
        return status;
      if (Status status = expectType(type, Type::Boolean, "'!'", column); !status.ok())
        return status;
      node = addNode(Op::Not, node);
      return Status::success();
    }
    return parsePrimary(node, type, depth);
  }

  Status parsePrimary(int &node, Type &type, int depth) {
    skipSpaces();
    if (pos_ >= text_.size())
      return error("expected an operand, found the end of the expression");
    char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      if (Status status = parseOr(node, type, depth + 1); !status.ok())
        return status;
      if (!match(")"))
        return error("expected ')'");
      return Status::success();
    }
    if (c >= '0' && c <= '9')
      return parseInteger(node, type);
    if (isIdentifierStart(c))
      return parseName(node, type, depth);
    return error("expected an operand, found '" + std::string(1, c) + "'");
  }

  Status parseInteger(int &node, Type &type) {
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
      ++pos_;
    int64_t value;
    auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, value);
    if (ec != std::errc() || end != text_.data() + pos_) {
      pos_ = start;
      return error("integer literal does not fit in 64 bits");
    }
    node = addNode(Op::Constant);
    result_.nodes_[node].value = value;
    type = Type::Integer;
    return Status::success();
  }

  std::string_view identifier() {
    size_t start = pos_;
    while (pos_ < text_.size() && isIdentifierChar(text_[pos_]))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  Status parseName(int &node, Type &type, int depth) {
    size_t start = pos_;
    std::string_view name = identifier();
    type = Type::Integer;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (pos_ >= text_.size() || !isIdentifierStart(text_[pos_]))
        return error("expected a tensor property (size<d>, stride<d> or numel) after '.'");
      std::string_view member = identifier();
      return resolveTensorMember(name, member, start, node);
    }
    skipSpaces();
    if (pos_ < text_.size() && text_[pos_] == '(')
      return parseCall(name, start, node, depth);
    for (size_t i = 0; i < scope_.scalars.size(); ++i) {
      if (scope_.scalars[i].name != name)
        continue;
      if (!scope_.scalars[i].isInteger) {
        pos_ = start;
        return error("scalar '" + std::string(name) +
                     "' is a float; expressions use integers only");
      }
      node = addNode(Op::Scalar);
      result_.nodes_[node].value = static_cast<int64_t>(i);
      return Status::success();
    }
    pos_ = start;
    for (const ExpressionScope::Tensor &tensor : scope_.tensors)
      if (tensor.name == name)
        return error("tensor '" + std::string(name) +
                     "' is not an integer; use one of its properties, e.g. " + std::string(name) +
                     ".size0");
    return error("unknown name '" + std::string(name) + "'");
  }

  Status resolveTensorMember(std::string_view tensorName, std::string_view member, size_t start,
                             int &node) {
    int tensorIndex = -1;
    for (size_t i = 0; i < scope_.tensors.size(); ++i)
      if (scope_.tensors[i].name == tensorName)
        tensorIndex = static_cast<int>(i);
    if (tensorIndex < 0) {
      pos_ = start;
      return error("unknown tensor '" + std::string(tensorName) + "'");
    }
    int rank = scope_.tensors[tensorIndex].rank;
    if (member == "numel") {
      node = addNode(Op::Numel);
      result_.nodes_[node].value = tensorIndex;
      return Status::success();
    }
    Op op;
    std::string_view digits;
    if (member.substr(0, 6) == "stride") {
      op = Op::Stride;
      digits = member.substr(6);
    } else if (member.substr(0, 4) == "size") {
      op = Op::Size;
      digits = member.substr(4);
    } else {
      pos_ = start;
      return error("unknown tensor property '" + std::string(member) +
                   "' (expected size<d>, stride<d> or numel)");
    }
    int dim;
    if (!parseDimension(digits, dim)) {
      pos_ = start;
      return error("expected a dimension number in '" + std::string(member) + "'");
    }
    if (dim >= rank) {
      pos_ = start;
      return error("tensor '" + std::string(tensorName) + "' has rank " + std::to_string(rank) +
                   ", so it has no dimension " + std::to_string(dim));
    }
    node = addNode(op);
    result_.nodes_[node].value = tensorIndex;
    result_.nodes_[node].dim = dim;
    return Status::success();
  }

  Status parseCall(std::string_view function, size_t start, int &node, int depth) {
    Op op;
    if (function == "ceil_div")
      op = Op::CeilDiv;
    else if (function == "min")
      op = Op::Min;
    else if (function == "max")
      op = Op::Max;
    else {
      pos_ = start;
      return error("unknown function '" + std::string(function) +
                   "' (expected ceil_div, min or max)");
    }
    ++pos_; // '('
    int lhs, rhs;
    Type lhsType, rhsType;
    if (Status status = parseOr(lhs, lhsType, depth + 1); !status.ok())
      return status;
    if (!match(","))
      return error("expected ',' between the two arguments of " + std::string(function));
    if (Status status = parseOr(rhs, rhsType, depth + 1); !status.ok())
      return status;
    if (!match(")"))
      return error("expected ')' after the two arguments of " + std::string(function));
    std::string what = std::string(function) + "()";
    if (Status status = expectType(lhsType, Type::Integer, what.c_str(), start); !status.ok())
      return status;
    if (Status status = expectType(rhsType, Type::Integer, what.c_str(), start); !status.ok())
      return status;
    node = addNode(op, lhs, rhs);
    return Status::success();
  }

  std::string_view text_;
  const ExpressionScope &scope_;
  Expression &result_;
  size_t pos_ = 0;
};

Status Expression::parse(std::string_view text, const ExpressionScope &scope, Type expected,
                         Expression &result) {
  result = Expression();
  result.text_ = std::string(text);
  return ExpressionParser(text, scope, result).parse(expected);
}

Expression Expression::constant(int64_t value) {
  Expression expression;
  expression.text_ = std::to_string(value);
  Node node;
  node.op = Op::Constant;
  node.value = value;
  expression.nodes_.push_back(node);
  expression.root_ = 0;
  return expression;
}

bool tensorElementCount(const sa_tensor &tensor, int64_t &count) {
  count = 1;
  for (int d = 0; d < tensor.rank; ++d)
    if (__builtin_mul_overflow(count, tensor.sizes[d], &count))
      return false;
  return true;
}

Status Expression::evaluate(const ExpressionInputs &inputs, int64_t &result) const {
  return evaluateNode(root_, inputs, result);
}

Status Expression::evaluateNode(int index, const ExpressionInputs &inputs, int64_t &result) const {
  const Node &node = nodes_[index];
  auto overflow = [&] {
    return Status::error(SA_ERROR_VALIDATION, "`" + text_ + "` overflows 64-bit integers");
  };
  switch (node.op) {
  case Op::Constant:
    result = node.value;
    return Status::success();
  case Op::Size:
    result = inputs.tensors[node.value]->sizes[node.dim];
    return Status::success();
  case Op::Stride:
    result = inputs.tensors[node.value]->strides[node.dim];
    return Status::success();
  case Op::Numel:
    if (!tensorElementCount(*inputs.tensors[node.value], result))
      return overflow();
    return Status::success();
  case Op::Scalar:
    result = inputs.integerScalars[node.value];
    return Status::success();
  default:
    break;
  }

  int64_t lhs;
  if (Status status = evaluateNode(node.lhs, inputs, lhs); !status.ok())
    return status;
  if (node.op == Op::Negate) {
    if (__builtin_sub_overflow(int64_t(0), lhs, &result))
      return overflow();
    return Status::success();
  }
  if (node.op == Op::Not) {
    result = !lhs;
    return Status::success();
  }
  // Short-circuit so that "x.size0 > 0 && y.size0 / x.size0 > 2" is safe.
  if (node.op == Op::And && !lhs) {
    result = 0;
    return Status::success();
  }
  if (node.op == Op::Or && lhs) {
    result = 1;
    return Status::success();
  }
  int64_t rhs;
  if (Status status = evaluateNode(node.rhs, inputs, rhs); !status.ok())
    return status;

  bool isDivision = node.op == Op::Divide || node.op == Op::Modulo || node.op == Op::CeilDiv;
  if (isDivision && rhs == 0)
    return Status::error(SA_ERROR_VALIDATION, "`" + text_ + "` divides by zero");
  switch (node.op) {
  case Op::Add:
    if (__builtin_add_overflow(lhs, rhs, &result))
      return overflow();
    return Status::success();
  case Op::Subtract:
    if (__builtin_sub_overflow(lhs, rhs, &result))
      return overflow();
    return Status::success();
  case Op::Multiply:
    if (__builtin_mul_overflow(lhs, rhs, &result))
      return overflow();
    return Status::success();
  case Op::Divide: // floor division
    if (lhs == INT64_MIN && rhs == -1)
      return overflow();
    result = lhs / rhs;
    if (lhs % rhs != 0 && ((lhs < 0) != (rhs < 0)))
      --result;
    return Status::success();
  case Op::Modulo: // the sign of the divisor, as in Python
    if (rhs == -1) {
      result = 0;
      return Status::success();
    }
    result = lhs % rhs;
    if (result != 0 && ((result < 0) != (rhs < 0)))
      result += rhs;
    return Status::success();
  case Op::CeilDiv:
    if (lhs == INT64_MIN && rhs == -1)
      return overflow();
    result = lhs / rhs;
    if (lhs % rhs != 0 && ((lhs < 0) == (rhs < 0)))
      ++result;
    return Status::success();
  case Op::Min:
    result = lhs < rhs ? lhs : rhs;
    return Status::success();
  case Op::Max:
    result = lhs > rhs ? lhs : rhs;
    return Status::success();
  case Op::Equal:
    result = lhs == rhs;
    return Status::success();
  case Op::NotEqual:
    result = lhs != rhs;
    return Status::success();
  case Op::Less:
    result = lhs < rhs;
    return Status::success();
  case Op::LessEqual:
    result = lhs <= rhs;
    return Status::success();
  case Op::Greater:
    result = lhs > rhs;
    return Status::success();
  case Op::GreaterEqual:
    result = lhs >= rhs;
    return Status::success();
  case Op::And:
  case Op::Or:
    result = rhs != 0;
    return Status::success();
  default:
    return Status::error(SA_ERROR_VALIDATION, "`" + text_ + "`: malformed expression");
  }
}

std::string Expression::describeVariables(const ExpressionInputs &inputs,
                                          const ExpressionScope &scope) const {
  std::string description;
  std::vector<std::string> seen;
  for (const Node &node : nodes_) {
    std::string name;
    int64_t value = 0;
    switch (node.op) {
    case Op::Size:
      name = scope.tensors[node.value].name + ".size" + std::to_string(node.dim);
      value = inputs.tensors[node.value]->sizes[node.dim];
      break;
    case Op::Stride:
      name = scope.tensors[node.value].name + ".stride" + std::to_string(node.dim);
      value = inputs.tensors[node.value]->strides[node.dim];
      break;
    case Op::Numel:
      name = scope.tensors[node.value].name + ".numel";
      if (!tensorElementCount(*inputs.tensors[node.value], value))
        value = INT64_MAX;
      break;
    case Op::Scalar:
      name = scope.scalars[node.value].name;
      value = inputs.integerScalars[node.value];
      break;
    default:
      continue;
    }
    bool duplicate = false;
    for (const std::string &previous : seen)
      duplicate = duplicate || previous == name;
    if (duplicate)
      continue;
    seen.push_back(name);
    if (!description.empty())
      description += ", ";
    description += name + " = " + std::to_string(value);
  }
  return description;
}

} // namespace sparse_attn::runtime
