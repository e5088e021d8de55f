//===- EntmaxSolver.cpp - scalar formulas of the entmax solver --*- C++ -*-===//

#include "sparse_attn/Dialect/SparseAttn/Transforms/EntmaxSolver.h"

#include <array>
#include <limits>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::entmax;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

/// The root of the closed-form objective on a candidate support of `n`
/// entries with sum `z1` and sum of squares `z2` of their offsets (alpha
/// 1.5: sum (z - t)^2 = 1, smaller root; alpha 2: sum (z - t) = 1).
Value closedFormRoot(ScalarBuilder &s, OpBuilder &b, Location loc,
                     SpecialFunctions &functions, EntmaxAttr config, Value n,
                     Value z1, Value z2) {
  if (config.isSparsemax())
    return s.div(s.sub(z1, s.f32(1.0)), n);
  Value discriminant = s.sub(s.mul(z1, z1), s.mul(n, s.sub(z2, s.f32(1.0))));
  Value root = functions.sqrt(b, loc, s.max(discriminant, s.f32(0.0)));
  return s.div(s.sub(z1, root), n);
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
                              support[1], support[2]);
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
                           Value s2, ValueRange least) {
  ScalarBuilder s(b, loc);
  double c0 = config.getExponent(), c1 = c0 - 1.0;
  bool closedForm = config.isSparsemax() || config.isOnePointFive();
  Value tau = current.threshold, lower = current.lower, upper = current.upper;
  Value objective = s.sub(s0, s.f32(1.0));
  Value aboveRoot = s.ge(objective, s.f32(0.0));
  Value newLower = s.select(aboveRoot, s.max(lower, tau), lower);
  Value newUpper = s.select(aboveRoot, upper, s.min(upper, tau));
  Value width = s.sub(newUpper, newLower);
  // |f| <= 2^-16: the weights sum to one within f32 noise.
  Value nearRoot = s.le(s.abs(objective), s.f32(0x1p-16));
  // The closed form on the support {x > tau} of the moments: sparsemax
  // sum (x - t) = 1 (s0 offsets, s1 count), alpha 1.5 sum (x - t)^2 = 1
  // (s0 squares, s1 sum, s2 count).
  auto closedFormOn = [&](Value m0, Value m1, Value m2) {
    if (config.isSparsemax())
      return s.add(tau, s.div(s.sub(m0, s.f32(1.0)), m1));
    return s.add(tau, closedFormRoot(s, b, loc, functions, config, m2, m1, m0));
  };
  Value candidate;
  if (closedForm) {
    candidate = closedFormOn(s0, s1, s2);
  } else {
    Value first = s.mul(s.f32(-c0), s1);
    Value second = s.mul(s.f32(c0 * c1), s2);
    Value numerator = s.mul(s.mul(s.f32(2.0), objective), first);
    Value denominator = s.sub(s.mul(s.mul(s.f32(2.0), first), first),
                              s.mul(objective, second));
    candidate = s.sub(tau, s.div(numerator, denominator));
  }
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
  chosen = s.min(s.max(chosen, newLower), newUpper);
  // Converged: a short step at the root, or a collapsed bracket.
  Value resolution = s.mul(s.f32(0x1p-20), s.max(s.f32(1.0), s.abs(tau)));
  auto convergedAt = [&](Value next) {
    return s.orI(s.andI(s.le(s.abs(s.sub(next, tau)), resolution), nearRoot),
                 s.le(width, resolution));
  };
  Value converged = convergedAt(chosen);
  if (!least.empty()) {
    // tau is a lower bound and no entry lies in (tau, candidate]: the
    // support at the candidate is the one it was solved on, so it is the
    // root (false for NaN).
    Value first = least[0], second = least[1];
    Value proven = s.andI(aboveRoot, s.andI(s.ge(candidate, tau),
                                            s.lt(candidate, first)));
    // Or the least entry lies below the root: the closed form on the
    // support without it is the root if it falls in [first, second).
    Value offset = s.sub(first, tau);
    Value withoutFirst =
        config.isSparsemax()
            ? closedFormOn(s.sub(s0, offset), s.sub(s1, s.f32(1.0)), s2)
            : closedFormOn(s.sub(s0, s.mul(offset, offset)),
                           s.sub(s1, offset), s.sub(s2, s.f32(1.0)));
    Value provenWithout =
        s.andI(s.andI(aboveRoot, s.notI(proven)),
               s.andI(s.ge(withoutFirst, first), s.lt(withoutFirst, second)));
    if (config.isOnePointFive()) {
      // Unproven from below, the alpha 1.5 closed form on a superset of the
      // support overshoots the root; f is convex and decreasing, so the
      // Newton step tau + f / (2 s1) stays below it (the proof can fire at
      // the next pass) and converges quadratically.
      Value newton = s.add(tau, s.div(objective, s.mul(s.f32(2.0), s1)));
      chosen = s.select(aboveRoot, newton, chosen);
      converged = convergedAt(chosen);
    }
    chosen = s.select(proven, candidate,
                      s.select(provenWithout, withoutFirst, chosen));
    converged = s.orI(converged, s.orI(proven, provenWithout));
  }
  // Empty rows (tau = +inf) keep their state and have converged.
  Value empty = s.eq(tau, s.f32(kInf));
  return {{s.select(empty, tau, chosen), s.select(empty, lower, newLower),
           s.select(empty, upper, newUpper)},
          s.andI(s.notI(empty), s.notI(converged))};
}
