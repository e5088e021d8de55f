//===- EntmaxSolver.cpp - scalar formulas of the entmax solver --*- C++ -*-===//

#include "sparse_attn/Dialect/SparseAttn/Transforms/EntmaxSolver.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <array>
#include <limits>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::entmax;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

/// The root of the closed-form objective on a candidate support of `n`
/// entries with sum `z1` and sum of squares `z2` of their offsets (alpha
/// 1.5: sum (z - t)^2 = 1, smaller root; alpha 2: sum (z - t) = 1), and
/// whether it is real (alpha 1.5 with a negative discriminant gives the
/// vertex of the quadratic instead).
struct ClosedForm {
  Value root, real;
};
ClosedForm closedFormRoot(ScalarBuilder &s, OpBuilder &b, Location loc,
                          SpecialFunctions &functions, EntmaxAttr config,
                          Value n, Value z1, Value z2) {
  if (config.isSparsemax())
    return {s.div(s.sub(z1, s.f32(1.0)), n),
            arith::ConstantOp::create(b, loc, b.getBoolAttr(true))};
  Value discriminant = s.sub(s.mul(z1, z1), s.mul(n, s.sub(z2, s.f32(1.0))));
  Value root = functions.sqrt(b, loc, s.max(discriminant, s.f32(0.0)));
  return {s.div(s.sub(z1, root), n), s.ge(discriminant, s.f32(0.0))};
}

/// Sorts `values` ascending in place: Batcher's odd-even merge sort network
/// on the next power of two (the padding is +inf).
void sortAscending(ScalarBuilder &s, SmallVectorImpl<Value> &values) {
  int64_t size = values.size(), n = llvm::PowerOf2Ceil(size);
  values.resize(n, s.f32(kInf));
  for (int64_t p = 1; p < n; p *= 2)
    for (int64_t k = p; k >= 1; k /= 2)
      for (int64_t j = k % p; j + k < n; j += 2 * k)
        for (int64_t i = 0; i < std::min(k, n - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
            Value x = values[i + j], y = values[i + j + k];
            values[i + j] = s.min(x, y);
            values[i + j + k] = s.max(x, y);
          }
  values.resize(size);
}
} // namespace

Value entmax::power(OpBuilder &b, Location loc, SpecialFunctions &functions,
                    Value d, double exponent) {
  ScalarBuilder s(b, loc);
  if (exponent == 0.0)
    return s.f32(1.0);
  if (exponent == 1.0)
    return d;
  if (exponent == 2.0)
    return s.mul(d, d);
  if (exponent == -1.0)
    return s.div(s.f32(1.0), d);
  return functions.power(b, loc, d, exponent);
}

Value entmax::positivePower(OpBuilder &b, Location loc,
                            SpecialFunctions &functions, Value d,
                            double exponent) {
  ScalarBuilder s(b, loc);
  if (exponent == 1.0 || exponent == 2.0) {
    // maxnum gives 0 for d <= 0 and for NaN: one max instead of a compare
    // and selects (the moments' inner loop on the GPU).
    Value positive = arith::MaxNumFOp::create(b, loc, d, s.f32(0.0));
    return exponent == 1.0 ? positive : s.mul(positive, positive);
  }
  Value inSupport = s.gt(d, s.f32(0.0));
  // Outside the support d is replaced by 1 so that no negative power
  // produces inf or NaN before the select.
  Value safe = s.select(inSupport, d, s.f32(1.0));
  return s.select(inSupport, power(b, loc, functions, safe, exponent),
                  s.f32(0.0));
}

Bracket entmax::initialBracket(OpBuilder &b, Location loc,
                               SpecialFunctions &functions, EntmaxAttr config,
                               Value max, Value count) {
  ScalarBuilder s(b, loc);
  Value empty = s.eq(max, s.f32(-kInf));
  auto orInf = [&](Value v) { return s.select(empty, s.f32(kInf), v); };
  Value origin = s.sub(max, s.f32(1.0));
  Value upper = s.sub(
      max, functions.power(b, loc, count, 1.0 - config.getAlphaValue()));
  return {orInf(origin), orInf(origin), orInf(upper)};
}

Bracket entmax::histogramBracket(OpBuilder &b, Location loc,
                                 SpecialFunctions &functions,
                                 EntmaxAttr config, Value max,
                                 ArrayRef<Value> counts) {
  ScalarBuilder s(b, loc);
  int64_t numBins = counts.size();
  double width = 1.0 / numBins;
  Value origin = s.sub(max, s.f32(1.0));
  Value empty = s.eq(max, s.f32(-kInf));
  auto orInf = [&](Value v) { return s.select(empty, s.f32(kInf), v); };
  // Every entry at its bin's lower edge e_j = j / BINS: suffix moments
  // (count, sum e, sum e^2) of the bins >= k.
  SmallVector<std::array<Value, 3>> suffix(numBins);
  std::array<Value, 3> running = {s.f32(0.0), s.f32(0.0), s.f32(0.0)};
  for (int64_t k = numBins - 1; k >= 0; --k) {
    Value edge = s.f32(k * width);
    Value sum = s.mul(counts[k], edge);
    running = {s.add(running[0], counts[k]), s.add(running[1], sum),
               s.add(running[2], s.mul(sum, edge))};
    suffix[k] = running;
  }
  // The step objective g at edge k (bin k adds nothing there) decreases in
  // k; past the largest edge where it is non-negative, its support is the
  // bins above, where the closed form is its exact root. g(e_{BINS-1}) = -1.
  std::array<Value, 3> support = suffix[0];
  for (int64_t k = 0; k + 1 < numBins; ++k) {
    Value edge = s.f32(k * width);
    auto [n, z1, z2] = suffix[k];
    Value objective =
        config.isSparsemax()
            ? s.sub(s.sub(z1, s.mul(n, edge)), s.f32(1.0))
            : s.sub(s.add(s.sub(z2, s.mul(s.mul(s.f32(2.0), edge), z1)),
                          s.mul(s.mul(edge, edge), n)),
                    s.f32(1.0));
    Value nonNegative = s.ge(objective, s.f32(0.0));
    for (int m = 0; m < 3; ++m)
      support[m] = s.select(nonNegative, suffix[k + 1][m], support[m]);
  }
  // g <= f everywhere bounds the root from below; every entry at its upper
  // edge shifts g's root by one width and bounds it from above. The root is
  // at least max - 1; the top bin's lower edge alone gives g(-width) >= 0,
  // so the upper end stays at or above the origin.
  Value root = closedFormRoot(s, b, loc, functions, config, support[0],
                              support[1], support[2])
                   .root;
  Value lower = s.add(origin, s.max(root, s.f32(0.0)));
  Value upper = s.add(origin, s.add(root, s.f32(width)));
  // NaN (no counted entry) falls back to the bracket [max - 1, max].
  Value valid = s.eq(root, root);
  lower = s.select(valid, lower, origin);
  upper = s.select(valid, upper, max);
  return {orInf(lower), orInf(lower), orInf(upper)};
}

Step entmax::thresholdStep(OpBuilder &b, Location loc,
                           SpecialFunctions &functions, EntmaxAttr config,
                           const Bracket &current, Value s0, Value s1,
                           Value s2, const std::optional<GapRecord> &gap) {
  ScalarBuilder s(b, loc);
  double c0 = config.getExponent(), c1 = c0 - 1.0;
  bool closedForm = config.isSparsemax() || config.isOnePointFive();
  Value tau = current.threshold, lower = current.lower, upper = current.upper;
  Value objective = s.sub(s0, s.f32(1.0));
  Value aboveRoot = s.ge(objective, s.f32(0.0));
  Value newLower = s.select(aboveRoot, s.max(lower, tau), lower);
  Value newUpper = s.select(aboveRoot, upper, s.min(upper, tau));
  // |f| <= 2^-16: the weights sum to one within f32 noise.
  Value nearRoot = s.le(s.abs(objective), s.f32(0x1p-16));
  // A few f32 ulps of tau.
  Value resolution = s.mul(s.f32(0x1p-20), s.max(s.f32(1.0), s.abs(tau)));
  // The closed form on the support {x > tau} of the moments: sparsemax
  // sum (x - t) = 1 (s0 offsets, s1 count), alpha 1.5 sum (x - t)^2 = 1
  // (s0 squares, s1 sum, s2 count).
  auto closedFormOn = [&](Value m0, Value m1, Value m2) {
    ClosedForm form =
        config.isSparsemax()
            ? closedFormRoot(s, b, loc, functions, config, m1, m0, m2)
            : closedFormRoot(s, b, loc, functions, config, m2, m1, m0);
    return ClosedForm{s.add(tau, form.root), form.real};
  };
  Value candidate;
  if (closedForm) {
    ClosedForm onSupport = closedFormOn(s0, s1, s2);
    candidate = onSupport.root;
    if (config.isOnePointFive() && gap) {
      // From below, the closed form on the superset {x > tau} of the
      // support is the root of an objective above f: an upper bound (up
      // to its rounding), which narrows the next pass's gap record.
      Value overshoots = s.andI(aboveRoot, s.andI(onSupport.real,
                                                  s.ge(candidate, tau)));
      newUpper = s.select(
          overshoots, s.min(newUpper, s.add(candidate, resolution)),
          newUpper);
    }
  } else {
    Value first = s.mul(s.f32(-c0), s1);
    Value second = s.mul(s.f32(c0 * c1), s2);
    Value numerator = s.mul(s.mul(s.f32(2.0), objective), first);
    Value denominator = s.sub(s.mul(s.mul(s.f32(2.0), first), first),
                              s.mul(objective, second));
    candidate = s.sub(tau, s.div(numerator, denominator));
  }
  Value width = s.sub(newUpper, newLower);
  Value tolerance = s.f32(1e-6);
  Value accepted = s.andI(s.gt(candidate, s.sub(newLower, tolerance)),
                          s.lt(candidate, s.add(newUpper, tolerance)));
  if (!closedForm) {
    // The Halley step must land strictly inside the bracket (a clamped
    // candidate would re-evaluate an end), and entries just above tau make
    // f' or f'' huge for alpha > 1.5 and the step crawl: far from the root
    // a step shorter than 1/64 of the bracket is replaced by bisection.
    Value inside =
        s.andI(s.gt(candidate, newLower), s.lt(candidate, newUpper));
    Value progress =
        s.ge(s.abs(s.sub(candidate, tau)), s.mul(width, s.f32(1.0 / 64)));
    accepted = s.andI(inside, s.orI(progress, nearRoot));
  }
  Value midpoint = s.mul(s.add(newLower, newUpper), s.f32(0.5));
  Value chosen = s.select(accepted, candidate, midpoint);
  // Converged: a short step at the root, or a collapsed bracket.
  auto convergedAt = [&](Value next) {
    return s.orI(s.andI(s.le(s.abs(s.sub(next, tau)), resolution), nearRoot),
                 s.le(width, resolution));
  };
  if (gap && config.isOnePointFive()) {
    // Unproven from below, the alpha 1.5 closed form on a superset of the
    // support overshoots the root; f is convex and decreasing, so the
    // Newton step tau + f / (2 s1) stays below it (the proof can fire at
    // the next pass) and converges quadratically.
    Value newton = s.add(tau, s.div(objective, s.mul(s.f32(2.0), s1)));
    chosen = s.select(aboveRoot, newton, chosen);
  }
  chosen = s.min(s.max(chosen, newLower), newUpper);
  Value converged = convergedAt(chosen);
  if (gap) {
    // The record's entries in order, e_0 = tau, e_{m+1..} = +inf.
    int64_t capacity = gap->entries.size();
    SmallVector<Value> entries;
    for (auto [i, entry] : llvm::enumerate(gap->entries)) {
      Value kept = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::sgt, gap->count,
          arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(i)));
      entries.push_back(s.select(kept, entry, s.f32(kInf)));
    }
    sortAscending(s, entries);
    Value complete = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::sle, gap->count,
        arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(capacity)));
    // t_j, the closed form without e_1 .. e_j, is the root when it lies in
    // [e_j, e_{j+1}) and at most `upper` (entries above tau outside the
    // record exceed `upper`; a few ulps more admit the rounding of a root
    // at `upper` itself, as when the histogram's bracket is exact). A
    // vertex instead of a real root lies above the least entry of its
    // support and never passes.
    Value reach = s.add(upper, resolution);
    Value proven = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
    Value root = candidate;
    Value m0 = s0, m1 = s1, m2 = s2, previous = tau;
    for (int64_t j = 0; j <= capacity; ++j) {
      ClosedForm form = closedFormOn(m0, m1, m2);
      Value next = j < capacity ? entries[j] : s.f32(kInf);
      Value inInterval = s.andI(
          s.andI(form.real, s.ge(form.root, previous)),
          s.andI(s.lt(form.root, next), s.le(form.root, reach)));
      root = s.select(s.andI(inInterval, s.notI(proven)), form.root, root);
      proven = s.orI(proven, inInterval);
      if (j == capacity)
        break;
      Value offset = s.sub(next, tau);
      if (config.isSparsemax()) {
        m0 = s.sub(m0, offset);
        m1 = s.sub(m1, s.f32(1.0));
      } else {
        m0 = s.sub(m0, s.mul(offset, offset));
        m1 = s.sub(m1, offset);
        m2 = s.sub(m2, s.f32(1.0));
      }
      previous = next;
    }
    proven = s.andI(proven, s.andI(aboveRoot, complete));
    chosen = s.select(proven, root, chosen);
    converged = s.orI(converged, proven);
  }
  // Empty rows (tau = +inf) keep their state and have converged.
  Value empty = s.eq(tau, s.f32(kInf));
  return {{s.select(empty, tau, chosen), s.select(empty, lower, newLower),
           s.select(empty, upper, newUpper)},
          s.andI(s.notI(empty), s.notI(converged))};
}
