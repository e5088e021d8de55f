#include "Expression.h"

#include <gtest/gtest.h>

using namespace sparse_attn::runtime;

namespace {

// q [2, 8, 300, 64] with strides of a [B, N, H, D] layout; k [2, 2, 300, 64];
// integer scalars n = 7, big = 2^62; a float scalar alpha.
class ExpressionTest : public ::testing::Test {
protected:
  ExpressionTest() {
    scope.tensors = {{"q", 4}, {"k", 4}};
    scope.scalars = {{"n", true}, {"big", true}, {"alpha", false}};
    q = tensor({2, 8, 300, 64}, {300 * 8 * 64, 64, 8 * 64, 1});
    k = tensor({2, 2, 300, 64}, {2 * 300 * 64, 300 * 64, 64, 1});
  }

  static sa_tensor tensor(std::initializer_list<int64_t> sizes,
                          std::initializer_list<int64_t> strides) {
    sa_tensor result{};
    result.dtype = SA_DTYPE_F32;
    result.rank = static_cast<int32_t>(sizes.size());
    int d = 0;
    for (int64_t size : sizes)
      result.sizes[d++] = size;
    d = 0;
    for (int64_t stride : strides)
      result.strides[d++] = stride;
    return result;
  }

  ExpressionInputs inputs() {
    pointers[0] = &q;
    pointers[1] = &k;
    return {pointers, scalars};
  }

  int64_t evaluate(const std::string &text, Expression::Type type = Expression::Type::Integer) {
    Expression expression;
    Status status = Expression::parse(text, scope, type, expression);
    EXPECT_TRUE(status.ok()) << status.message();
    int64_t value = -12345;
    Status evaluated = expression.evaluate(inputs(), value);
    EXPECT_TRUE(evaluated.ok()) << evaluated.message();
    return value;
  }

  bool holds(const std::string &text) { return evaluate(text, Expression::Type::Boolean) != 0; }

  std::string parseError(const std::string &text,
                         Expression::Type type = Expression::Type::Boolean) {
    Expression expression;
    Status status = Expression::parse(text, scope, type, expression);
    EXPECT_FALSE(status.ok()) << "parsed: " << text;
    EXPECT_EQ(status.code(), SA_ERROR_BUNDLE);
    return status.message();
  }

  std::string evaluationError(const std::string &text) {
    Expression expression;
    Status status = Expression::parse(text, scope, Expression::Type::Integer, expression);
    EXPECT_TRUE(status.ok()) << status.message();
    int64_t value;
    Status evaluated = expression.evaluate(inputs(), value);
    EXPECT_FALSE(evaluated.ok()) << text << " = " << value;
    EXPECT_EQ(evaluated.code(), SA_ERROR_VALIDATION);
    return evaluated.message();
  }

  ExpressionScope scope;
  sa_tensor q, k;
  const sa_tensor *pointers[2];
  int64_t scalars[3] = {7, int64_t(1) << 62, 0};
};

TEST_F(ExpressionTest, LaunchGridExpressions) {
  EXPECT_EQ(evaluate("ceil_div(q.size2, 128)"), 3);
  EXPECT_EQ(evaluate("q.size0 * q.size1"), 16);
  EXPECT_EQ(evaluate("ceil_div(q.size2, 64) * q.size1"), 40);
  EXPECT_EQ(evaluate("128"), 128);
  EXPECT_EQ(evaluate("q.numel"), 2 * 8 * 300 * 64);
  EXPECT_EQ(evaluate("q.stride2"), 512);
  EXPECT_EQ(evaluate("n"), 7);
}

TEST_F(ExpressionTest, PrecedenceAndAssociativity) {
  EXPECT_EQ(evaluate("1 + 2 * 3"), 7);
  EXPECT_EQ(evaluate("(1 + 2) * 3"), 9);
  EXPECT_EQ(evaluate("10 - 4 - 3"), 3);
  EXPECT_EQ(evaluate("64 / 4 / 2"), 8);
  EXPECT_EQ(evaluate("-n + 10"), 3);
  EXPECT_EQ(evaluate("- - 3"), 3);
  EXPECT_EQ(evaluate("2*3%4"), 2);
}

TEST_F(ExpressionTest, DivisionFloorsLikePython) {
  EXPECT_EQ(evaluate("7 / 2"), 3);
  EXPECT_EQ(evaluate("-7 / 2"), -4);
  EXPECT_EQ(evaluate("7 / -2"), -4);
  EXPECT_EQ(evaluate("-7 / -2"), 3);
  EXPECT_EQ(evaluate("7 % 3"), 1);
  EXPECT_EQ(evaluate("-7 % 3"), 2);
  EXPECT_EQ(evaluate("7 % -3"), -2);
  EXPECT_EQ(evaluate("-9223372036854775807 % -1"), 0);
  EXPECT_EQ(evaluate("ceil_div(7, 2)"), 4);
  EXPECT_EQ(evaluate("ceil_div(8, 2)"), 4);
  EXPECT_EQ(evaluate("ceil_div(-7, 2)"), -3);
  EXPECT_EQ(evaluate("ceil_div(0, 128)"), 0);
  EXPECT_EQ(evaluate("min(q.size1, k.size1)"), 2);
  EXPECT_EQ(evaluate("max(q.size1, k.size1)"), 8);
}

TEST_F(ExpressionTest, Conditions) {
  EXPECT_TRUE(holds("q.size1 % k.size1 == 0"));
  EXPECT_FALSE(holds("q.size1 % 3 == 0"));
  EXPECT_TRUE(holds("q.stride3 == 1 && k.stride3 == 1"));
  EXPECT_TRUE(holds("q.size3 != 128 || q.size2 >= 300"));
  EXPECT_TRUE(holds("!(q.size0 > 2)"));
  EXPECT_TRUE(holds("q.size0 <= 2 && q.size0 >= 2 && q.size0 < 3 && q.size0 > 1"));
  EXPECT_FALSE(holds("!(1 < 2)"));
  EXPECT_TRUE(holds("!!(1 < 2)"));
  // && and || short-circuit: the division by zero is never evaluated.
  EXPECT_FALSE(holds("q.size0 == 0 && 1 / (q.size0 - 2) == 0"));
  EXPECT_TRUE(holds("q.size0 == 2 || 1 / (q.size0 - 2) == 0"));
}

TEST_F(ExpressionTest, EvaluationErrors) {
  EXPECT_EQ(evaluationError("q.size0 / (k.size0 - 2)"),
            "`q.size0 / (k.size0 - 2)` divides by zero");
  EXPECT_EQ(evaluationError("q.size0 % 0"), "`q.size0 % 0` divides by zero");
  EXPECT_EQ(evaluationError("ceil_div(1, 0)"), "`ceil_div(1, 0)` divides by zero");
  EXPECT_EQ(evaluationError("big * 4"), "`big * 4` overflows 64-bit integers");
  EXPECT_EQ(evaluationError("big + big + big"), "`big + big + big` overflows 64-bit integers");
  EXPECT_EQ(evaluationError("-big - big - big"), "`-big - big - big` overflows 64-bit integers");
  EXPECT_EQ(evaluationError("(-9223372036854775807 - 1) / -1"),
            "`(-9223372036854775807 - 1) / -1` overflows 64-bit integers");
  EXPECT_EQ(evaluationError("-(-9223372036854775807 - 1)"),
            "`-(-9223372036854775807 - 1)` overflows 64-bit integers");
}

TEST_F(ExpressionTest, DescribesTheVariablesItReads) {
  Expression expression;
  ASSERT_TRUE(Expression::parse("q.size1 % k.size1 == 0 && q.size1 > n && k.size1 > 0", scope,
                                Expression::Type::Boolean, expression)
                  .ok());
  EXPECT_EQ(expression.describeVariables(inputs(), scope), "q.size1 = 8, k.size1 = 2, n = 7");
  EXPECT_EQ(Expression::constant(5).text(), "5");
}

TEST_F(ExpressionTest, ParseErrors) {
  EXPECT_EQ(parseError("q.size9 > 0"),
            "`q.size9 > 0`: column 1: tensor 'q' has rank 4, so it has no dimension 9");
  EXPECT_EQ(parseError("v.size0 > 0"), "`v.size0 > 0`: column 1: unknown tensor 'v'");
  EXPECT_EQ(parseError("q.sizes > 0"),
            "`q.sizes > 0`: column 1: expected a dimension number in 'sizes'");
  EXPECT_EQ(parseError("q.size01 > 0"),
            "`q.size01 > 0`: column 1: expected a dimension number in 'size01'");
  EXPECT_EQ(parseError("q.shape0 > 0"), "`q.shape0 > 0`: column 1: unknown tensor property "
                                        "'shape0' (expected size<d>, stride<d> or numel)");
  EXPECT_EQ(parseError("q. > 0"), "`q. > 0`: column 3: expected a tensor property (size<d>, "
                                  "stride<d> or numel) after '.'");
  EXPECT_EQ(parseError("m > 0"), "`m > 0`: column 1: unknown name 'm'");
  EXPECT_EQ(parseError("q > 0"), "`q > 0`: column 1: tensor 'q' is not an integer; use one of "
                                 "its properties, e.g. q.size0");
  EXPECT_EQ(parseError("alpha > 0"),
            "`alpha > 0`: column 1: scalar 'alpha' is a float; expressions use integers only");
  EXPECT_EQ(parseError("floor(n, 2) > 0"), "`floor(n, 2) > 0`: column 1: unknown function "
                                           "'floor' (expected ceil_div, min or max)");
  EXPECT_EQ(parseError("min(n) > 0"),
            "`min(n) > 0`: column 6: expected ',' between the two arguments of min");
  EXPECT_EQ(parseError("min(n, 1, 2) > 0"),
            "`min(n, 1, 2) > 0`: column 9: expected ')' after the two arguments of min");
  EXPECT_EQ(parseError("(n > 0"), "`(n > 0`: column 7: expected ')'");
  EXPECT_EQ(parseError("n > 0)"), "`n > 0)`: column 6: unexpected ')'");
  EXPECT_EQ(parseError("n >"), "`n >`: column 4: expected an operand, found the end of the "
                               "expression");
  EXPECT_EQ(parseError("n = 1"), "`n = 1`: column 3: unexpected '='");
  EXPECT_EQ(parseError("n > 0 & n < 9"), "`n > 0 & n < 9`: column 7: unexpected '&'");
  EXPECT_EQ(parseError("1 < n < 9"),
            "`1 < n < 9`: column 7: comparisons do not chain; join them with '&&'");
  EXPECT_EQ(parseError("n + 1"), "`n + 1`: expected a condition (a comparison or a logical "
                                 "operator), found an integer expression");
  EXPECT_EQ(parseError("n > 1", Expression::Type::Integer),
            "`n > 1`: expected an integer expression, found a condition");
  EXPECT_EQ(parseError("n && 1 < 2"), "`n && 1 < 2`: column 3: '&&' needs conditions as operands");
  EXPECT_EQ(parseError("(n > 1) + 1 > 0"),
            "`(n > 1) + 1 > 0`: column 9: '+' needs integer operands");
  EXPECT_EQ(parseError("!n"), "`!n`: column 1: '!' needs conditions as operands");
  EXPECT_EQ(parseError("-(n > 1)"), "`-(n > 1)`: column 1: '-' needs integer operands");
  EXPECT_EQ(parseError("(1 < 2) == (2 < 3)"),
            "`(1 < 2) == (2 < 3)`: column 9: a comparison needs integer operands");
  EXPECT_EQ(parseError("min(1 < 2, 3) > 0"),
            "`min(1 < 2, 3) > 0`: column 1: min() needs integer operands");
  EXPECT_EQ(parseError("99999999999999999999 > 0"),
            "`99999999999999999999 > 0`: column 1: integer literal does not fit in 64 bits");
  EXPECT_EQ(parseError(""), "``: column 1: expected an operand, found the end of the expression");
  EXPECT_EQ(parseError(std::string(100, '(') + "1" + std::string(100, ')') + " > 0"),
            "`" + std::string(100, '(') + "1" + std::string(100, ')') +
                " > 0`: column 66: nested too deeply");
}

} // namespace
