// Integer expressions of the manifest: launch grids ("ceil_div(q.size2,
// 128)"), constraints ("q.size1 % k.size1 == 0") and computed kernel
// parameters. Variables are tensor properties (x.size<d>, x.stride<d> in
// elements, x.numel) and integer scalars; they are resolved when the manifest
// is loaded, so evaluation at launch time allocates nothing.
#ifndef SPARSE_ATTN_RUNTIME_EXPRESSION_H
#define SPARSE_ATTN_RUNTIME_EXPRESSION_H

#include "Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sparse_attn::runtime {

// The names an expression may use: the kernel's tensors (with their ranks)
// and scalars (only integer scalars may appear in expressions).
struct ExpressionScope {
  struct Tensor {
    std::string name;
    int rank;
  };
  struct Scalar {
    std::string name;
    bool isInteger;
  };
  std::vector<Tensor> tensors;
  std::vector<Scalar> scalars;
};

// The values bound at launch: tensors and scalars by their index in the scope.
struct ExpressionInputs {
  const sa_tensor *const *tensors;
  const int64_t *integerScalars;
};

class Expression {
public:
  enum class Type { Integer, Boolean };

  // Parses `text`, which must have type `expected`. Errors (SA_ERROR_BUNDLE)
  // read "`text`: column N: what".
  static Status parse(std::string_view text, const ExpressionScope &scope, Type expected,
                      Expression &result);
  // An expression that is just `value`.
  static Expression constant(int64_t value);

  // Booleans evaluate to 0 or 1. Division by zero and int64 overflow are
  // SA_ERROR_VALIDATION errors.
  Status evaluate(const ExpressionInputs &inputs, int64_t &result) const;

  const std::string &text() const { return text_; }
  // "q.size1 = 8, k.size1 = 3": the variables it reads, for error messages.
  std::string describeVariables(const ExpressionInputs &inputs, const ExpressionScope &scope) const;

private:
  friend class ExpressionParser;

  enum class Op {
    Constant,
    Size,
    Stride,
    Numel,
    Scalar,
    Negate,
    Not,
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    CeilDiv,
    Min,
    Max,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    And,
    Or,
  };
  struct Node {
    Op op;
    int lhs = -1;
    int rhs = -1;
    int64_t value = 0; // Constant: the value; Size/Stride/Numel/Scalar: tensor or scalar index
    int dim = 0;       // Size/Stride: the dimension
  };

  Status evaluateNode(int index, const ExpressionInputs &inputs, int64_t &result) const;

  std::string text_;
  std::vector<Node> nodes_;
  int root_ = -1;
};

// Number of elements of a tensor; false on int64 overflow.
bool tensorElementCount(const sa_tensor &tensor, int64_t &count);

} // namespace sparse_attn::runtime

#endif
