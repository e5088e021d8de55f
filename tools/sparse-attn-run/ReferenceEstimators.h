//===- ReferenceEstimators.h - float64 prefill mask estimators --*- C++ -*-===//
//
// The selections of the prefill mask estimators (XAttention, FlexPrefill,
// MInference vertical-slash) for one (batch, head), in double precision,
// written from docs/design/semantics.md ("Prefill estimators"). The
// evaluator behind --check turns them into token-level masks.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_REFERENCEESTIMATORS_H
#define SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_REFERENCEESTIMATORS_H

#include <cstdint>
#include <optional>
#include <vector>

namespace mlir::sparse_attn::run {

/// The valid rows of one query head and of the key head it reads, row-major
/// `[length, headDim]`.
struct EstimatorHead {
  const double *query;
  const double *key;
  int64_t headDim;
  int64_t queryLength;
  int64_t keyLength;
  double scale;

  /// pos_i - i: queries are bottom-right aligned with the keys.
  int64_t getOffset() const { return keyLength - queryLength; }
};

/// Selected blocks of the valid block grid, row-major
/// `[ceil(Lq / BQ), ceil(Lk / BK)]`.
struct BlockSelection {
  int64_t queryBlocks = 0;
  int64_t keyBlocks = 0;
  std::vector<uint8_t> selected;

  bool isSelected(int64_t queryBlock, int64_t keyBlock) const {
    return selected[queryBlock * keyBlocks + keyBlock] != 0;
  }
};

BlockSelection selectXAttention(const EstimatorHead &head, int64_t stride,
                                double threshold, bool causal,
                                int64_t queryBlock, int64_t keyBlock);

struct FlexPrefillSelection {
  BlockSelection blocks;
  /// 0 dense, 1 vertical-slash, 2 query-aware.
  int32_t pattern = 0;
};

FlexPrefillSelection selectFlexPrefill(const EstimatorHead &head, double gamma,
                                       double tau, int64_t minBudget,
                                       std::optional<int64_t> maxBudget,
                                       int64_t block);

/// Kept key columns and diagonal offsets, each indexed by `[0, Lk)`.
struct VerticalSlashSelection {
  std::vector<uint8_t> columns;
  std::vector<uint8_t> offsets;
};

VerticalSlashSelection selectVerticalSlash(const EstimatorHead &head,
                                           int64_t verticalSize,
                                           int64_t slashSize,
                                           int64_t lastQueries, int64_t sink,
                                           int64_t local);

} // namespace mlir::sparse_attn::run

#endif // SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_REFERENCEESTIMATORS_H
