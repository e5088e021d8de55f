//===- ElasticSoftmax.cpp - scalar formulas of elastic softmax --*- C++ -*-===//

#include "sparse_attn/Dialect/SparseAttn/Transforms/ElasticSoftmax.h"

#include "sparse_attn/Dialect/SparseAttn/Transforms/EntmaxSolver.h"

#include <limits>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {
/// Entries that count: visible ones of rows with a visible key.
Value counts(ScalarBuilder &s, Value score, Value sum) {
  return s.andI(s.gt(sum, s.f32(0.0)),
                s.gt(score, s.f32(-std::numeric_limits<double>::infinity())));
}
} // namespace

Value elastic::rowShift(OpBuilder &b, Location loc, Value tau, Value row) {
  ScalarBuilder s(b, loc);
  Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), row);
  Value position = arith::SIToFPOp::create(b, loc, b.getF32Type(), asInt);
  return s.div(tau, s.add(position, s.f32(1.0)));
}

Value elastic::weight(OpBuilder &b, Location loc, Value score,
                      Value exponential, Value sum, Value shift) {
  ScalarBuilder s(b, loc);
  Value weight = s.max(s.f32(0.0), s.add(s.div(exponential, sum), shift));
  return s.select(counts(s, score, sum), weight, s.f32(0.0));
}

Value elastic::isLive(OpBuilder &b, Location loc, Value tileMax,
                      Value exponential, Value sum, Value shift) {
  ScalarBuilder s(b, loc);
  return s.andI(counts(s, tileMax, sum),
                s.gt(s.add(s.div(exponential, sum), shift), s.f32(0.0)));
}
