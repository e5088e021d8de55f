//===- EntmaxSolver.h - scalar formulas of the entmax solver ----*- C++ -*-===//
//
// The per-row arithmetic of the entmax threshold solver (docs/design/
// tiling.md, "Normalisers"): the histogram start, the hybrid step and the
// weights' powers. Both tile lowerings build it, on scalars, so that the CPU
// form (sparse-attn-decompose-tiles) and the GPU form (sparse-attn-to-gpu)
// compute the same function; each supplies the two special functions, as
// the GPU has no libdevice to resolve math-dialect calls.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_ENTMAXSOLVER_H
#define SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_ENTMAXSOLVER_H

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::sparse_attn {

/// Builds f32 scalar arithmetic at one insertion point.
class ScalarBuilder {
public:
  ScalarBuilder(OpBuilder &builder, Location loc) : b(builder), loc(loc) {}

  Value f32(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value max(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value min(Value x, Value y) {
    return arith::MinimumFOp::create(b, loc, x, y);
  }
  /// |x| (NaN stays NaN) without a math-dialect op.
  Value abs(Value x) { return max(x, arith::NegFOp::create(b, loc, x)); }
  Value cmp(arith::CmpFPredicate predicate, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, predicate, x, y);
  }
  Value gt(Value x, Value y) { return cmp(arith::CmpFPredicate::OGT, x, y); }
  Value ge(Value x, Value y) { return cmp(arith::CmpFPredicate::OGE, x, y); }
  Value lt(Value x, Value y) { return cmp(arith::CmpFPredicate::OLT, x, y); }
  Value le(Value x, Value y) { return cmp(arith::CmpFPredicate::OLE, x, y); }
  Value eq(Value x, Value y) { return cmp(arith::CmpFPredicate::OEQ, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value notI(Value x) {
    return arith::XOrIOp::create(
        b, loc, x, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  }

protected:
  OpBuilder &b;
  Location loc;
};

namespace entmax {

/// The special functions of f32 scalars that the formulas need.
class SpecialFunctions {
public:
  virtual ~SpecialFunctions() = default;
  virtual Value sqrt(OpBuilder &b, Location loc, Value x) = 0;
  /// `x^exponent` for `x > 0`.
  virtual Value power(OpBuilder &b, Location loc, Value x,
                      double exponent) = 0;
};

/// `d^exponent` for `d > 0`, exact by multiplication or division for the
/// exponents of alpha 1.5 and 2 (0, 1, 2, -1), else through `functions`.
Value power(OpBuilder &b, Location loc, SpecialFunctions &functions, Value d,
            double exponent);

/// `[d]_+^exponent`: zero for `d <= 0` (and NaN), with no inf or NaN from a
/// negative power of a non-positive `d`.
Value positivePower(OpBuilder &b, Location loc, SpecialFunctions &functions,
                    Value d, double exponent);

/// Per-row solver state: threshold and proven bracket.
struct Bracket {
  Value threshold, lower, upper;
};

/// `sparse_attn.entmax_threshold_init` without a histogram:
/// `[max - 1, max - count^(1 - alpha)]`, starting at the lower end; `+inf`
/// for empty rows (`max = -inf`).
Bracket initialBracket(OpBuilder &b, Location loc, SpecialFunctions &functions,
                       EntmaxAttr config, Value max, Value count);

/// `sparse_attn.entmax_threshold_init` from a row's histogram: `counts[k]`
/// (f32) entries in bin k, origin `max - 1`, bins of width 1 / counts.size()
/// (alpha 1.5 and 2).
Bracket histogramBracket(OpBuilder &b, Location loc,
                         SpecialFunctions &functions, EntmaxAttr config,
                         Value max, ArrayRef<Value> counts);

/// A row's record of `sparse_attn.entries_between` from the threshold to
/// the upper bound: how many entries lie there (i32) and the K kept ones
/// (f32; those past the count are ignored).
struct GapRecord {
  Value count;
  SmallVector<Value> entries;
};

/// One row of `sparse_attn.entmax_threshold_step`; `pending` (i1) says the
/// row has not converged. `gap` (alpha 1.5 and 2 only) proves roots.
struct Step {
  Bracket next;
  Value pending;
};
Step thresholdStep(OpBuilder &b, Location loc, SpecialFunctions &functions,
                   EntmaxAttr config, const Bracket &current, Value s0,
                   Value s1, Value s2, const std::optional<GapRecord> &gap);

} // namespace entmax
} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_ENTMAXSOLVER_H
