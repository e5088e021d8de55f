//===- ReferenceEstimators.cpp - float64 prefill mask estimators ----------===//
//
// Straight transcriptions of docs/design/semantics.md ("Prefill
// estimators"): full rows, exact sorts, every sum in double precision.
//
//===----------------------------------------------------------------------===//

#include "ReferenceEstimators.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::run;

namespace {

double dot(const double *lhs, const double *rhs, int64_t size) {
  double sum = 0.0;
  for (int64_t d = 0; d < size; ++d)
    sum += lhs[d] * rhs[d];
  return sum;
}

/// In place: the softmax of the first `count` entries of `values`.
void softmaxInPlace(std::vector<double> &values, size_t count) {
  if (count == 0)
    return;
  double maximum = *std::max_element(values.begin(), values.begin() + count);
  double sum = 0.0;
  for (size_t i = 0; i < count; ++i)
    sum += values[i] = std::exp(values[i] - maximum);
  for (size_t i = 0; i < count; ++i)
    values[i] /= sum;
}

/// `candidates` in ranked order: descending value, ties by the lower index;
/// NaN ranks last so that the order is strict and weak whatever the data.
std::vector<int64_t> rankedOrder(const std::vector<double> &values,
                                 std::vector<int64_t> candidates) {
  std::sort(candidates.begin(), candidates.end(), [&](int64_t a, int64_t b) {
    double x = values[a], y = values[b];
    bool xIsNaN = std::isnan(x), yIsNaN = std::isnan(y);
    if (xIsNaN != yIsNaN)
      return yIsNaN;
    if (!xIsNaN && x != y)
      return x > y;
    return a < b;
  });
  return candidates;
}

/// Top-k with the forced set `[0, forced)`: flags over the indices of
/// `values`.
std::vector<uint8_t> topKWithForcedPrefix(const std::vector<double> &values,
                                          int64_t k, int64_t forced) {
  int64_t size = static_cast<int64_t>(values.size());
  forced = std::clamp<int64_t>(forced, 0, size);
  std::vector<uint8_t> chosen(size, 0);
  std::fill(chosen.begin(), chosen.begin() + forced, 1);
  std::vector<int64_t> others(size - forced);
  std::iota(others.begin(), others.end(), forced);
  others = rankedOrder(values, std::move(others));
  int64_t take = std::clamp<int64_t>(k - forced, 0, size - forced);
  for (int64_t i = 0; i < take; ++i)
    chosen[others[i]] = 1;
  return chosen;
}

/// The estimation row of query `i`: softmax over its visible keys
/// `j <= pos_i` (and `j < Lk`) of scale * q_i . k_j; returns how many keys
/// it sees (the first entries of `weights`).
int64_t estimationRow(const EstimatorHead &head, int64_t i,
                      std::vector<double> &weights) {
  int64_t visible =
      std::clamp<int64_t>(i + head.getOffset() + 1, 0, head.keyLength);
  weights.resize(head.keyLength);
  for (int64_t j = 0; j < visible; ++j)
    weights[j] = head.scale * dot(head.query + i * head.headDim,
                                  head.key + j * head.headDim, head.headDim);
  softmaxInPlace(weights, visible);
  return visible;
}

/// Sums over the last `rows` valid queries of their estimation rows:
/// per key column, and per diagonal offset `o = pos_i - j`.
void verticalAndSlash(const EstimatorHead &head, int64_t rows,
                      std::vector<double> &vertical,
                      std::vector<double> &slash) {
  vertical.assign(head.keyLength, 0.0);
  slash.assign(head.keyLength, 0.0);
  std::vector<double> weights;
  for (int64_t i = head.queryLength - rows; i < head.queryLength; ++i) {
    int64_t visible = estimationRow(head, i, weights);
    int64_t position = i + head.getOffset();
    for (int64_t j = 0; j < visible; ++j) {
      vertical[j] += weights[j];
      slash[position - j] += weights[j];
    }
  }
}

/// The last valid row of query block `queryBlockIndex`.
int64_t lastRow(const EstimatorHead &head, int64_t queryBlockIndex,
                int64_t queryBlock) {
  return std::min((queryBlockIndex + 1) * queryBlock, head.queryLength) - 1;
}

/// D(I): the key blocks holding the positions of the rows of block I, as a
/// half-open range (empty when every row precedes the keys).
std::pair<int64_t, int64_t> ownPositionBlocks(const EstimatorHead &head,
                                              int64_t queryBlockIndex,
                                              int64_t queryBlock,
                                              int64_t keyBlock) {
  int64_t last = lastRow(head, queryBlockIndex, queryBlock) + head.getOffset();
  if (last < 0)
    return {0, 0};
  int64_t first =
      std::max<int64_t>(queryBlockIndex * queryBlock + head.getOffset(), 0);
  return {first / keyBlock, last / keyBlock + 1};
}

BlockSelection makeSelection(const EstimatorHead &head, int64_t queryBlock,
                             int64_t keyBlock) {
  BlockSelection selection;
  selection.queryBlocks = llvm::divideCeil(head.queryLength, queryBlock);
  selection.keyBlocks = llvm::divideCeil(head.keyLength, keyBlock);
  selection.selected.assign(selection.queryBlocks * selection.keyBlocks, 0);
  return selection;
}

/// The mean of the rows `[begin, end)` of a row-major matrix.
std::vector<double> meanRow(const double *rows, int64_t begin, int64_t end,
                            int64_t width) {
  std::vector<double> mean(width, 0.0);
  for (int64_t row = begin; row < end; ++row)
    for (int64_t d = 0; d < width; ++d)
      mean[d] += rows[row * width + d];
  for (double &value : mean)
    value /= static_cast<double>(end - begin);
  return mean;
}

/// #{r : sum of the r + 1 first values in ranked order <= gamma} + 1.
int64_t coverageCount(const std::vector<double> &values, double gamma) {
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  double prefix = 0.0;
  int64_t count = 0;
  for (int64_t index : rankedOrder(values, std::move(order))) {
    prefix += values[index];
    count += prefix <= gamma;
  }
  return count + 1;
}

double jensenShannonDistance(const std::vector<double> &p,
                             const std::vector<double> &q) {
  double divergence = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    double middle = (p[i] + q[i]) / 2.0;
    if (p[i] > 0.0)
      divergence += 0.5 * p[i] * std::log(p[i] / middle);
    if (q[i] > 0.0)
      divergence += 0.5 * q[i] * std::log(q[i] / middle);
  }
  return std::sqrt(std::max(0.0, divergence));
}

} // namespace

BlockSelection run::selectXAttention(const EstimatorHead &head, int64_t stride,
                                     double threshold, bool causal,
                                     int64_t queryBlock, int64_t keyBlock) {
  BlockSelection selection = makeSelection(head, queryBlock, keyBlock);
  int64_t keyBlocks = selection.keyBlocks;
  int64_t queryGroups = llvm::divideCeil(head.queryLength, stride);
  int64_t keyGroups = llvm::divideCeil(head.keyLength, stride);
  std::vector<double> mass(selection.queryBlocks * keyBlocks, 0.0);
  std::vector<double> row(keyGroups);
  for (int64_t a = 0; a < queryGroups; ++a) {
    int64_t last = std::min(stride * a + stride, head.queryLength) - 1;
    int64_t visible = keyGroups;
    if (causal)
      visible = std::clamp<int64_t>(
          llvm::divideFloorSigned(last + head.getOffset(), stride) + 1, 0,
          keyGroups);
    for (int64_t c = 0; c < visible; ++c) {
      double sum = 0.0;
      for (int64_t t = 0; t < stride; ++t) {
        int64_t i = stride * a + stride - 1 - t, j = stride * c + t;
        if (i < head.queryLength && j < head.keyLength)
          sum += dot(head.query + i * head.headDim, head.key + j * head.headDim,
                     head.headDim);
      }
      row[c] = head.scale / static_cast<double>(stride) * sum;
    }
    softmaxInPlace(row, visible);
    for (int64_t c = 0; c < visible; ++c)
      mass[(stride * a / queryBlock) * keyBlocks + stride * c / keyBlock] +=
          row[c];
  }

  for (int64_t I = 0; I < selection.queryBlocks; ++I) {
    std::vector<double> blockMass(mass.begin() + I * keyBlocks,
                                  mass.begin() + (I + 1) * keyBlocks);
    double total = std::accumulate(blockMass.begin(), blockMass.end(), 0.0);
    std::vector<uint8_t> forced(keyBlocks, 0);
    if (keyBlocks > 0)
      forced[0] = 1;
    auto [ownBegin, ownEnd] = ownPositionBlocks(head, I, queryBlock, keyBlock);
    for (int64_t J = ownBegin; J < std::min(ownEnd, keyBlocks); ++J)
      forced[J] = 1;
    double kept = 0.0;
    std::vector<int64_t> others;
    for (int64_t J = 0; J < keyBlocks; ++J) {
      if (forced[J]) {
        selection.selected[I * keyBlocks + J] = 1;
        kept += blockMass[J];
      } else {
        others.push_back(J);
      }
    }
    for (int64_t J : rankedOrder(blockMass, std::move(others))) {
      if (!(kept < threshold * total))
        break;
      selection.selected[I * keyBlocks + J] = 1;
      kept += blockMass[J];
    }
  }
  return selection;
}

FlexPrefillSelection run::selectFlexPrefill(const EstimatorHead &head,
                                            double gamma, double tau,
                                            int64_t minBudget,
                                            std::optional<int64_t> maxBudget,
                                            int64_t block) {
  FlexPrefillSelection result;
  BlockSelection &selection = result.blocks;
  selection = makeSelection(head, block, block);
  int64_t queryBlocks = selection.queryBlocks;
  int64_t keyBlocks = selection.keyBlocks;
  int64_t low = llvm::divideCeil(minBudget, block);
  int64_t high = maxBudget ? llvm::divideCeil(*maxBudget, block)
                           : std::numeric_limits<int64_t>::max();
  if (head.queryLength == 0 ||
      head.keyLength <= std::max(2 * block, low * block)) {
    std::fill(selection.selected.begin(), selection.selected.end(), 1);
    result.pattern = 0;
    return result;
  }

  int64_t rows = std::min(block, head.queryLength);
  std::vector<double> vertical, slash;
  verticalAndSlash(head, rows, vertical, slash);
  for (double &value : vertical)
    value /= static_cast<double>(rows);
  for (double &value : slash)
    value /= static_cast<double>(rows);
  auto blockBudget = [&](const std::vector<double> &values) {
    return std::min(std::max(coverageCount(values, gamma) / block + 1, low),
                    high);
  };
  int64_t verticalBudget = blockBudget(vertical);
  int64_t slashBudget = blockBudget(slash);

  std::vector<double> verticalProfile(keyBlocks, 0.0);
  std::vector<double> slashProfile(keyBlocks, 0.0);
  for (int64_t j = 0; j < head.keyLength; ++j) {
    verticalProfile[j / block] += vertical[j];
    slashProfile[j / block] += slash[j];
  }

  // The Jensen-Shannon switch between query-aware and vertical-slash.
  std::vector<double> queryMean = meanRow(head.query, head.queryLength - rows,
                                          head.queryLength, head.headDim);
  std::vector<std::vector<double>> keyMeans;
  for (int64_t J = 0; J < keyBlocks; ++J)
    keyMeans.push_back(meanRow(head.key, J * block,
                               std::min((J + 1) * block, head.keyLength),
                               head.headDim));
  std::vector<double> estimated(keyBlocks);
  for (int64_t J = 0; J < keyBlocks; ++J)
    estimated[J] =
        head.scale * dot(queryMean.data(), keyMeans[J].data(), head.headDim);
  softmaxInPlace(estimated, keyBlocks);
  bool queryAware = jensenShannonDistance(estimated, verticalProfile) < tau;
  result.pattern = queryAware ? 2 : 1;
  if (queryAware)
    verticalBudget = slashBudget = low;

  std::vector<uint8_t> verticalBlocks =
      topKWithForcedPrefix(verticalProfile, verticalBudget, 1);
  std::vector<uint8_t> slashBlocks =
      topKWithForcedPrefix(slashProfile, slashBudget, 1);
  for (int64_t I = 0; I < queryBlocks; ++I) {
    int64_t last = lastRow(head, I, block) + head.getOffset();
    for (int64_t J = 0; J < keyBlocks; ++J) {
      bool onSlash =
          last >= 0 && J <= last / block && slashBlocks[last / block - J];
      if (verticalBlocks[J] || onSlash)
        selection.selected[I * keyBlocks + J] = 1;
    }
    auto [ownBegin, ownEnd] = ownPositionBlocks(head, I, block, block);
    for (int64_t J = ownBegin; J < std::min(ownEnd, keyBlocks); ++J)
      selection.selected[I * keyBlocks + J] = 1;
  }
  if (!queryAware)
    return result;

  // Query-aware heads: a global top-p over the pooled block attention.
  std::vector<double> pooled(queryBlocks * keyBlocks, 0.0);
  std::vector<int64_t> candidates;
  int64_t liveRows = 0;
  std::vector<double> row;
  for (int64_t I = 0; I < queryBlocks; ++I) {
    int64_t last = lastRow(head, I, block) + head.getOffset();
    int64_t allowed = last < 0 ? 0 : std::min(last / block + 1, keyBlocks);
    if (allowed == 0)
      continue;
    ++liveRows;
    std::vector<double> mean = meanRow(
        head.query, I * block, lastRow(head, I, block) + 1, head.headDim);
    row.assign(allowed, 0.0);
    for (int64_t J = 0; J < allowed; ++J)
      row[J] = head.scale * dot(mean.data(), keyMeans[J].data(), head.headDim);
    softmaxInPlace(row, allowed);
    for (int64_t J = 0; J < allowed; ++J) {
      pooled[I * keyBlocks + J] = row[J];
      candidates.push_back(I * keyBlocks + J);
    }
  }
  double prefix = 0.0;
  double budget = gamma * static_cast<double>(liveRows);
  for (int64_t entry : rankedOrder(pooled, std::move(candidates))) {
    prefix += pooled[entry];
    if (!(prefix <= budget))
      break;
    selection.selected[entry] = 1;
  }
  return result;
}

VerticalSlashSelection run::selectVerticalSlash(const EstimatorHead &head,
                                                int64_t verticalSize,
                                                int64_t slashSize,
                                                int64_t lastQueries,
                                                int64_t sink, int64_t local) {
  VerticalSlashSelection selection;
  selection.columns.assign(head.keyLength, 0);
  selection.offsets.assign(head.keyLength, 0);
  if (head.queryLength == 0 || head.keyLength == 0)
    return selection;
  std::vector<double> vertical, slash;
  verticalAndSlash(head, std::min(lastQueries, head.queryLength), vertical,
                   slash);
  selection.columns = topKWithForcedPrefix(vertical, verticalSize, sink);
  selection.offsets = topKWithForcedPrefix(slash, slashSize, local);
  return selection;
}
