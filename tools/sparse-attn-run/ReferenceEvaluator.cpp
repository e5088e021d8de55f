//===- ReferenceEvaluator.cpp - float64 interpreter for --check -----------===//
//
// Every supported op has one `evaluate` overload and one entry in the handler
// table (getHandlers); adding an op is adding those two. Masks are kept as
// token-level predicates rather than materialised bitmaps so that large
// masks shared across heads cost nothing until they are queried.
//
//===----------------------------------------------------------------------===//

#include "ReferenceEvaluator.h"

#include "ReferenceEstimators.h"

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <variant>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::run;

namespace {

/// A block mask as its token-level visibility `M[b, h, i, j]` (b and h within
/// the mask's own extents) plus the block grid it is organised in.
struct ReferenceMask {
  int64_t batch, heads, queryLength, keyLength, queryBlock, keyBlock;
  std::function<bool(int64_t b, int64_t h, int64_t i, int64_t j)> isVisible;

  int64_t getNumQueryBlocks() const {
    return llvm::divideCeil(queryLength, queryBlock);
  }
  int64_t getNumKeyBlocks() const {
    return llvm::divideCeil(keyLength, keyBlock);
  }
  /// Visibility for an operand of extent `batch` x `heads` that broadcasts
  /// this mask (extent-1 dimensions are shared).
  bool isVisibleBroadcast(int64_t b, int64_t h, int64_t i, int64_t j) const {
    return isVisible(batch == 1 ? 0 : b, heads == 1 ? 0 : h, i, j);
  }
};

enum class BlockState { Empty, Partial, Full };

/// Classifies block (I, J) of head (b, h) per the mask_to_indices rule.
BlockState classifyBlock(const ReferenceMask &mask, int64_t b, int64_t h,
                         int64_t queryBlockIndex, int64_t keyBlockIndex) {
  int64_t rowBegin = queryBlockIndex * mask.queryBlock;
  int64_t rowEnd = std::min(rowBegin + mask.queryBlock, mask.queryLength);
  int64_t columnBegin = keyBlockIndex * mask.keyBlock;
  int64_t columnEnd = std::min(columnBegin + mask.keyBlock, mask.keyLength);
  bool anyVisible = false, anyHidden = false;
  for (int64_t i = rowBegin; i < rowEnd; ++i) {
    for (int64_t j = columnBegin; j < columnEnd; ++j) {
      (mask.isVisible(b, h, i, j) ? anyVisible : anyHidden) = true;
      if (anyVisible && anyHidden)
        return BlockState::Partial;
    }
  }
  return anyVisible ? BlockState::Full : BlockState::Empty;
}

using ReferenceValue = std::variant<ReferenceTensor, ReferenceMask>;

llvm::Error fail(Operation *op, const Twine &message) {
  return llvm::createStringError("--check: '" +
                                 op->getName().getStringRef().str() +
                                 "': " + message.str());
}

ReferenceTensor makeTensor(ArrayRef<int64_t> shape, double fill = 0.0) {
  ReferenceTensor tensor;
  tensor.shape.assign(shape.begin(), shape.end());
  int64_t count = 1;
  for (int64_t extent : shape)
    count *= extent;
  tensor.data.assign(count, fill);
  return tensor;
}

//===----------------------------------------------------------------------===//
// Normalizers, in double precision
//===----------------------------------------------------------------------===//

/// Softmax of `scores` into `weights`; returns the log-sum-exp.
double softmax(ArrayRef<double> scores, std::vector<double> &weights) {
  double maximum = *std::max_element(scores.begin(), scores.end());
  double sum = 0.0;
  weights.resize(scores.size());
  for (auto [weight, score] : llvm::zip_equal(weights, scores)) {
    weight = std::exp(score - maximum);
    sum += weight;
  }
  for (double &weight : weights)
    weight /= sum;
  return maximum + std::log(sum);
}

/// `[d]_+ ^ exponent`, exact for the closed-form exponents 1 and 2.
double thresholdedPower(double difference, double exponent) {
  if (difference <= 0.0)
    return 0.0;
  if (exponent == 1.0)
    return difference;
  if (exponent == 2.0)
    return difference * difference;
  return std::pow(difference, exponent);
}

/// Alpha-entmax of `x` (the scores already multiplied by alpha - 1) into
/// `weights`; returns the threshold tau. tau is found by bisection on
/// f(tau) = sum_i [x_i - tau]_+^(1/(alpha-1)) - 1 over the bracket
/// [max x - 1, max x - n^(1-alpha)] until the bracket has no double left
/// between its ends; the weights are then the closed form at tau, not
/// renormalised (their sum is 1 to within a few ulps). Non-finite input
/// gives NaN.
double entmax(ArrayRef<double> x, double alpha, std::vector<double> &weights) {
  double exponent = 1.0 / (alpha - 1.0);
  double maximum = -std::numeric_limits<double>::infinity();
  bool hasNaN = false;
  for (double value : x) {
    hasNaN |= std::isnan(value);
    maximum = std::max(maximum, value);
  }
  weights.resize(x.size());
  if (hasNaN || !std::isfinite(maximum)) {
    std::fill(weights.begin(), weights.end(), std::nan(""));
    return std::nan("");
  }
  auto excess = [&](double tau) {
    double sum = 0.0;
    for (double value : x)
      sum += thresholdedPower(value - tau, exponent);
    return sum - 1.0;
  };
  double low = maximum - 1.0;
  double high = maximum - std::pow(static_cast<double>(x.size()), 1.0 - alpha);
  for (;;) {
    double middle = low + (high - low) / 2.0;
    if (middle <= low || middle >= high)
      break;
    (excess(middle) > 0.0 ? low : high) = middle;
  }
  double tau = std::abs(excess(low)) <= std::abs(excess(high)) ? low : high;
  for (auto [weight, value] : llvm::zip_equal(weights, x))
    weight = thresholdedPower(value - tau, exponent);
  return tau;
}

//===----------------------------------------------------------------------===//
// Evaluator
//===----------------------------------------------------------------------===//

class Evaluator {
public:
  /// Interprets `entry`, whose ops must all have handlers.
  llvm::Expected<ReferenceEvaluation> run(func::FuncOp entry,
                                          ArrayRef<HostBuffer> arguments);

  llvm::Error evaluate(arith::ConstantOp op);
  llvm::Error evaluate(tensor::DimOp op);
  llvm::Error evaluate(func::ReturnOp op);
  llvm::Error evaluate(AttentionOp op);
  llvm::Error evaluate(EntmaxOp op);
  llvm::Error evaluate(DenseMaskOp op);
  llvm::Error evaluate(CausalMaskOp op);
  llvm::Error evaluate(StreamingMaskOp op);
  llvm::Error evaluate(MaskFromIndicesOp op);
  llvm::Error evaluate(MaskToIndicesOp op);
  llvm::Error evaluate(MaskUnionOp op);
  llvm::Error evaluate(MaskIntersectOp op);
  llvm::Error evaluate(XAttentionMaskOp op);
  llvm::Error evaluate(FlexPrefillMaskOp op);
  llvm::Error evaluate(VerticalSlashMaskOp op);
  llvm::Error evaluate(MaskRouteHeadsOp op);
  llvm::Error evaluate(PrefillOp op);
  llvm::Error evaluate(SelectBlocksOp op);

private:
  /// What sparse_attn.attention computes, also for the prefill op that
  /// stands for one.
  struct AttentionArguments {
    Value query, key, value, queryLengths, keyLengths, bias, tau;
    const ReferenceMask *mask = nullptr;
    NormalizerAttrInterface normalizer;
    bool causal = false;
    double scale = 1.0;
    Value output, statistics;
  };
  llvm::Error evaluateAttention(Operation *op,
                                const AttentionArguments &arguments);

  /// The block selections of an estimator, per (b, h) in row-major order,
  /// with the valid lengths of every sequence.
  struct HeadSelections {
    std::vector<std::pair<int64_t, int64_t>> lengths;
    std::vector<BlockSelection> blocks;
    /// FlexPrefill: the pattern code of every (b, h).
    std::vector<int32_t> patterns;
  };

  /// The operands of a mask estimator.
  struct EstimatorArguments {
    Value query, key, queryLengths, keyLengths;
    double scale = 1.0;
  };
  /// Runs `estimateHead(b, h, head)` for every (batch, query head) and
  /// returns the per-sequence valid lengths (Lq, Lk); fails on runtime
  /// extents that do not fit together or a per-head operand (`perHead`,
  /// optional) without `perHeadColumns` entries per query head.
  llvm::Expected<std::vector<std::pair<int64_t, int64_t>>>
  forEachHead(Operation *op, const EstimatorArguments &arguments, Value perHead,
              int64_t perHeadColumns,
              function_ref<void(int64_t b, int64_t h, const EstimatorHead &)>
                  estimateHead);
  llvm::Expected<HeadSelections>
  selectXAttentionBlocks(Operation *op, const EstimatorArguments &arguments,
                         XAttentionAttr config, Value thresholds, bool causal,
                         int64_t queryBlock, int64_t keyBlock);
  llvm::Expected<HeadSelections>
  selectFlexPrefillBlocks(Operation *op, const EstimatorArguments &arguments,
                          FlexPrefillAttr config, int64_t block);
  /// The selection of `method` (xattention or flexprefill).
  llvm::Expected<HeadSelections>
  selectBlocks(Operation *op, const EstimatorArguments &arguments,
               Attribute method, Value thresholds, bool causal,
               int64_t queryBlock, int64_t keyBlock);
  /// Binds the token-level mask of an estimator's selections to `result`.
  void bindSelectionMask(Value result, Value query, Value key, bool causal,
                         HeadSelections selections);
  llvm::Expected<ReferenceMask>
  estimateVerticalSlash(Operation *op, const EstimatorArguments &arguments,
                        MInferenceAttr config, Value budgets,
                        int64_t queryBlock, int64_t keyBlock);

  const ReferenceTensor &getTensor(Value value) const {
    return std::get<ReferenceTensor>(values.find(value)->second);
  }
  const ReferenceMask &getMask(Value value) const {
    return std::get<ReferenceMask>(values.find(value)->second);
  }
  int64_t getIndex(Value value) const {
    return static_cast<int64_t>(getTensor(value).data.front());
  }

  /// The extents of a mask of `type`, its dynamic ones taken in order from
  /// `dynamicSizes`; fails on non-positive extents.
  llvm::Expected<SmallVector<int64_t, 4>>
  resolveMaskShape(Operation *op, BlockMaskType type,
                   ValueRange dynamicSizes) const;

  /// Binds the result of a mask producer.
  void
  setMask(Value result, ArrayRef<int64_t> shape, BlockMaskType type,
          std::function<bool(int64_t, int64_t, int64_t, int64_t)> isVisible) {
    values[result] = ReferenceMask{shape[0],
                                   shape[1],
                                   shape[2],
                                   shape[3],
                                   type.getQueryBlockSize(),
                                   type.getKeyBlockSize(),
                                   std::move(isVisible)};
  }

  llvm::Error combineMasks(Operation *op, Value lhs, Value rhs, Value result,
                           bool isUnion);

  llvm::DenseMap<Value, ReferenceValue> values;
  SmallVector<ReferenceTensor> results;
  /// Densities of the masks met so far, in program order.
  SmallVector<MaskDensity> densities;
};

using OpHandler = llvm::Error (*)(Evaluator &, Operation *);

template <typename OpTy>
llvm::Error dispatch(Evaluator &evaluator, Operation *op) {
  return evaluator.evaluate(cast<OpTy>(op));
}

template <typename... OpTys>
llvm::DenseMap<TypeID, OpHandler> makeHandlerTable() {
  llvm::DenseMap<TypeID, OpHandler> table;
  (table.try_emplace(TypeID::get<OpTys>(), &dispatch<OpTys>), ...);
  return table;
}

/// The ops the evaluator interprets, each with its `evaluate` overload.
const llvm::DenseMap<TypeID, OpHandler> &getHandlers() {
  static const llvm::DenseMap<TypeID, OpHandler> handlers =
      makeHandlerTable<arith::ConstantOp, tensor::DimOp, func::ReturnOp,
                       AttentionOp, EntmaxOp, DenseMaskOp, CausalMaskOp,
                       StreamingMaskOp, MaskFromIndicesOp, MaskToIndicesOp,
                       MaskUnionOp, MaskIntersectOp, XAttentionMaskOp,
                       FlexPrefillMaskOp, VerticalSlashMaskOp, MaskRouteHeadsOp,
                       PrefillOp, SelectBlocksOp>();
  return handlers;
}

MaskDensity computeDensity(Value maskValue, const ReferenceMask &mask) {
  MaskDensity result;
  result.mask = maskValue;
  result.batch = mask.batch;
  result.heads = mask.heads;
  int64_t numBlocks = mask.getNumQueryBlocks() * mask.getNumKeyBlocks();
  for (int64_t b = 0; b < mask.batch; ++b) {
    for (int64_t h = 0; h < mask.heads; ++h) {
      int64_t nonEmpty = 0;
      for (int64_t I = 0; I < mask.getNumQueryBlocks(); ++I)
        for (int64_t J = 0; J < mask.getNumKeyBlocks(); ++J)
          nonEmpty += classifyBlock(mask, b, h, I, J) != BlockState::Empty;
      result.density.push_back(static_cast<double>(nonEmpty) /
                               static_cast<double>(numBlocks));
    }
  }
  return result;
}

llvm::Expected<ReferenceEvaluation>
Evaluator::run(func::FuncOp entry, ArrayRef<HostBuffer> arguments) {
  for (auto [argument, buffer] :
       llvm::zip_equal(entry.getArguments(), arguments)) {
    ReferenceTensor tensor = makeTensor(buffer.getShape());
    for (int64_t i = 0; i < buffer.getNumElements(); ++i)
      tensor.data[i] = buffer.getDouble(i);
    values[argument] = std::move(tensor);
  }

  ReferenceEvaluation evaluation;
  for (Operation &op : entry.getBody().front()) {
    OpHandler handler = getHandlers().lookup(op.getName().getTypeID());
    if (llvm::Error error = handler(*this, &op))
      return std::move(error);
    for (Value result : op.getResults())
      if (isa<BlockMaskType>(result.getType()))
        densities.push_back(computeDensity(result, getMask(result)));
  }
  evaluation.results = std::move(results);
  evaluation.masks = std::move(densities);
  return evaluation;
}

llvm::Expected<SmallVector<int64_t, 4>>
Evaluator::resolveMaskShape(Operation *op, BlockMaskType type,
                            ValueRange dynamicSizes) const {
  SmallVector<int64_t, 4> shape(type.getShape());
  auto nextSize = dynamicSizes.begin();
  for (int64_t &extent : shape)
    if (ShapedType::isDynamic(extent))
      extent = getIndex(*nextSize++);
  if (llvm::any_of(shape, [](int64_t extent) { return extent < 1; }))
    return fail(op, "mask extents must be positive, got " + run::formatShape(shape));
  return shape;
}

//===----------------------------------------------------------------------===//
// Builtin ops
//===----------------------------------------------------------------------===//

llvm::Error Evaluator::evaluate(arith::ConstantOp op) {
  ReferenceTensor tensor;
  auto appendInteger = [&](const APInt &value) {
    // i1 true is 1, not -1.
    tensor.data.push_back(value.getBitWidth() == 1
                              ? static_cast<double>(value.getZExtValue())
                              : static_cast<double>(value.getSExtValue()));
  };
  Attribute value = op.getValue();
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    tensor.shape.assign(dense.getType().getShape().begin(),
                        dense.getType().getShape().end());
    if (isa<FloatType>(dense.getElementType())) {
      for (const APFloat &element : dense.getValues<APFloat>())
        tensor.data.push_back(element.convertToDouble());
    } else {
      for (const APInt &element : dense.getValues<APInt>())
        appendInteger(element);
    }
  } else if (auto integer = dyn_cast<IntegerAttr>(value)) {
    appendInteger(integer.getValue());
  } else if (auto real = dyn_cast<FloatAttr>(value)) {
    tensor.data.push_back(real.getValueAsDouble());
  } else {
    return fail(op, "unsupported constant value");
  }
  values[op.getResult()] = std::move(tensor);
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(tensor::DimOp op) {
  const ReferenceTensor &source = getTensor(op.getSource());
  int64_t dim = getIndex(op.getIndex());
  if (dim < 0 || dim >= static_cast<int64_t>(source.shape.size()))
    return fail(op, "dimension " + Twine(dim) + " out of range");
  values[op.getResult()] =
      ReferenceTensor{{}, {static_cast<double>(source.shape[dim])}};
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(func::ReturnOp op) {
  for (Value operand : op.getOperands())
    results.push_back(getTensor(operand));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Attention and entmax
//===----------------------------------------------------------------------===//

llvm::Error Evaluator::evaluate(AttentionOp op) {
  AttentionArguments arguments;
  arguments.query = op.getQuery();
  arguments.key = op.getKey();
  arguments.value = op.getValue();
  arguments.queryLengths = op.getQueryLengths();
  arguments.keyLengths = op.getKeyLengths();
  arguments.bias = op.getBias();
  arguments.tau = op.getTau();
  if (Value mask = op.getMask())
    arguments.mask = &getMask(mask);
  arguments.normalizer = op.getNormalizer();
  arguments.causal = op.getCausal();
  arguments.scale = op.getEffectiveScale();
  arguments.output = op.getOutput();
  arguments.statistics = op.getStatistics();
  return evaluateAttention(op, arguments);
}

llvm::Error Evaluator::evaluateAttention(Operation *op,
                                         const AttentionArguments &arguments) {
  const ReferenceTensor &query = getTensor(arguments.query);
  const ReferenceTensor &key = getTensor(arguments.key);
  const ReferenceTensor &value = getTensor(arguments.value);
  int64_t batch = query.shape[0], heads = query.shape[1];
  int64_t queryLength = query.shape[2], headDim = query.shape[3];
  int64_t kvHeads = key.shape[1], keyLength = key.shape[2];
  int64_t valueDim = value.shape[3];
  if (key.shape[0] != batch || value.shape[0] != batch ||
      value.shape[1] != kvHeads || value.shape[2] != keyLength ||
      key.shape[3] != headDim || kvHeads == 0 || heads % kvHeads != 0)
    return fail(op, "query " + run::formatShape(query.shape) + ", key " +
                        run::formatShape(key.shape) + " and value " +
                        run::formatShape(value.shape) + " do not fit together");
  int64_t groupSize = heads / kvHeads;

  const ReferenceMask *mask = arguments.mask;
  if (mask &&
      (mask->queryLength != queryLength || mask->keyLength != keyLength ||
       (mask->batch != 1 && mask->batch != batch) ||
       (mask->heads != 1 && mask->heads != heads)))
    return fail(op, "mask extents " +
                        run::formatShape({mask->batch, mask->heads,
                                     mask->queryLength, mask->keyLength}) +
                        " do not fit the attention " +
                        run::formatShape({batch, heads, queryLength, keyLength}));
  for (Value lengths : {arguments.queryLengths, arguments.keyLengths})
    if (lengths && getTensor(lengths).shape[0] != batch)
      return fail(op, "sequence lengths need one entry per batch");
  const ReferenceTensor *bias =
      arguments.bias ? &getTensor(arguments.bias) : nullptr;
  if (bias && bias->shape[0] != heads)
    return fail(op, "bias needs one row per query head");
  const ReferenceTensor *tau =
      arguments.tau ? &getTensor(arguments.tau) : nullptr;
  if (tau && tau->shape[0] != heads)
    return fail(op, "tau needs one entry per query head");
  int64_t biasWindow = bias ? bias->shape[1] : 0;

  auto validLength = [&](Value lengths, int64_t b, int64_t extent) {
    if (!lengths)
      return extent;
    return std::clamp(static_cast<int64_t>(getTensor(lengths).data[b]),
                      int64_t{0}, extent);
  };

  NormalizerAttrInterface normalizer = arguments.normalizer;
  auto entmaxConfig = dyn_cast<EntmaxAttr>(normalizer);
  bool isElastic = isa<ElasticSoftmaxAttr>(normalizer);
  double emptyStatistic =
      normalizer.getRowStatistic() == RowStatistic::LogSumExp
          ? -std::numeric_limits<double>::infinity()
          : std::numeric_limits<double>::infinity();
  double scale = arguments.scale;

  ReferenceTensor output = makeTensor({batch, heads, queryLength, valueDim});
  ReferenceTensor statistics = makeTensor({batch, heads, queryLength});
  std::vector<int64_t> keys;
  std::vector<double> scores, weights;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t validQueries = validLength(arguments.queryLengths, b, queryLength);
    int64_t validKeys = validLength(arguments.keyLengths, b, keyLength);
    int64_t offset = validKeys - validQueries;
    for (int64_t h = 0; h < heads; ++h) {
      int64_t kvHead = h / groupSize;
      for (int64_t i = 0; i < queryLength; ++i) {
        int64_t row = (b * heads + h) * queryLength + i;
        int64_t position = i + offset;
        keys.clear();
        scores.clear();
        // Padded query rows (i >= Lq) see no key.
        for (int64_t j = 0; j < (i < validQueries ? validKeys : 0); ++j) {
          if (arguments.causal && j > position)
            continue;
          if (mask && !mask->isVisibleBroadcast(b, h, i, j))
            continue;
          const double *q = &query.data[row * headDim];
          const double *k =
              &key.data[((b * kvHeads + kvHead) * keyLength + j) * headDim];
          double dot = 0.0;
          for (int64_t d = 0; d < headDim; ++d)
            dot += q[d] * k[d];
          double score = scale * dot;
          int64_t distance = position - j;
          if (bias && distance >= 0 && distance < biasWindow)
            score += bias->data[h * biasWindow + distance];
          keys.push_back(j);
          scores.push_back(score);
        }
        if (keys.empty()) {
          statistics.data[row] = emptyStatistic;
          continue;
        }
        if (entmaxConfig) {
          double alpha = entmaxConfig.getAlphaValue();
          for (double &score : scores)
            score *= alpha - 1.0;
          statistics.data[row] = entmax(scores, alpha, weights);
        } else {
          statistics.data[row] = softmax(scores, weights);
        }
        if (isElastic) {
          double shift = tau->data[h] / static_cast<double>(position + 1);
          for (double &weight : weights)
            weight = std::max(0.0, weight + shift);
        }
        double *out = &output.data[row * valueDim];
        for (auto [j, weight] : llvm::zip_equal(keys, weights)) {
          const double *v =
              &value.data[((b * kvHeads + kvHead) * keyLength + j) * valueDim];
          for (int64_t d = 0; d < valueDim; ++d)
            out[d] += weight * v[d];
        }
      }
    }
  }
  values[arguments.output] = std::move(output);
  if (arguments.statistics)
    values[arguments.statistics] = std::move(statistics);
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(EntmaxOp op) {
  const ReferenceTensor &input = getTensor(op.getInput());
  double alpha = op.getConfig().getAlphaValue();
  ReferenceTensor output = makeTensor(input.shape);
  int64_t rowLength = input.shape.back();
  std::vector<double> x, weights;
  for (size_t begin = 0; rowLength > 0 && begin < input.data.size();
       begin += rowLength) {
    x.assign(input.data.begin() + begin,
             input.data.begin() + begin + rowLength);
    for (double &element : x)
      element *= alpha - 1.0;
    entmax(x, alpha, weights);
    std::copy(weights.begin(), weights.end(), output.data.begin() + begin);
  }
  values[op.getOutput()] = std::move(output);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Block masks
//===----------------------------------------------------------------------===//

llvm::Error Evaluator::evaluate(DenseMaskOp op) {
  llvm::Expected<SmallVector<int64_t, 4>> shape =
      resolveMaskShape(op, op.getType(), op.getDynamicSizes());
  if (!shape)
    return shape.takeError();
  setMask(op.getResult(), *shape, op.getType(),
          [](int64_t, int64_t, int64_t, int64_t) { return true; });
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(CausalMaskOp op) {
  llvm::Expected<SmallVector<int64_t, 4>> shape =
      resolveMaskShape(op, op.getType(), op.getDynamicSizes());
  if (!shape)
    return shape.takeError();
  int64_t offset = (*shape)[3] - (*shape)[2];
  setMask(op.getResult(), *shape, op.getType(),
          [offset](int64_t, int64_t, int64_t i, int64_t j) {
            return j <= i + offset;
          });
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(StreamingMaskOp op) {
  llvm::Expected<SmallVector<int64_t, 4>> shape =
      resolveMaskShape(op, op.getType(), op.getDynamicSizes());
  if (!shape)
    return shape.takeError();
  int64_t offset = (*shape)[3] - (*shape)[2];
  int64_t sink = op.getSinkAttr().getInt();
  int64_t window = op.getWindowAttr().getInt();
  setMask(op.getResult(), *shape, op.getType(),
          [=](int64_t, int64_t, int64_t i, int64_t j) {
            int64_t position = i + offset;
            return j <= position && (j < sink || position - j < window);
          });
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(MaskFromIndicesOp op) {
  BlockMaskType type = op.getType();
  const ReferenceTensor &counts = getTensor(op.getKvNumBlocks());
  // Batch and heads come from the index tensors, the sequence lengths from
  // the type and the size operands.
  SmallVector<int64_t, 4> shape(type.getShape());
  shape[0] = counts.shape[0];
  shape[1] = counts.shape[1];
  auto nextSize = op.getDynamicSizes().begin();
  for (int64_t &extent : MutableArrayRef<int64_t>(shape).drop_front(2))
    if (ShapedType::isDynamic(extent))
      extent = getIndex(*nextSize++);
  if (llvm::any_of(shape, [](int64_t extent) { return extent < 1; }))
    return fail(op, "mask extents must be positive, got " + run::formatShape(shape));
  for (auto [extent, typeExtent] : llvm::zip_equal(shape, type.getShape()))
    if (!ShapedType::isDynamic(typeExtent) && extent != typeExtent)
      return fail(op, "index tensors give mask extents " + run::formatShape(shape) +
                          ", the type says " + run::formatShape(type.getShape()));

  int64_t queryBlocks = llvm::divideCeil(shape[2], type.getQueryBlockSize());
  int64_t keyBlocks = llvm::divideCeil(shape[3], type.getKeyBlockSize());
  SmallVector<int64_t, 4> countsShape = {shape[0], shape[1], queryBlocks};
  SmallVector<int64_t, 4> indicesShape = {shape[0], shape[1], queryBlocks,
                                          keyBlocks};
  // Per (b, h, I) a row of KB flags: is key block J listed.
  auto listed = std::make_shared<std::vector<uint8_t>>(
      shape[0] * shape[1] * queryBlocks * keyBlocks, 0);
  auto addBlocks = [&](Value countsValue, Value indicesValue) -> llvm::Error {
    const ReferenceTensor &blockCounts = getTensor(countsValue);
    const ReferenceTensor &blockIndices = getTensor(indicesValue);
    if (ArrayRef<int64_t>(blockCounts.shape) != ArrayRef(countsShape) ||
        ArrayRef<int64_t>(blockIndices.shape) != ArrayRef(indicesShape))
      return fail(op, "index tensors have shapes " +
                          run::formatShape(blockCounts.shape) + " and " +
                          run::formatShape(blockIndices.shape) + ", expected " +
                          run::formatShape(countsShape) + " and " +
                          run::formatShape(indicesShape));
    for (size_t row = 0; row < blockCounts.data.size(); ++row) {
      int64_t count = std::clamp(static_cast<int64_t>(blockCounts.data[row]),
                                 int64_t{0}, keyBlocks);
      for (int64_t slot = 0; slot < count; ++slot) {
        auto block =
            static_cast<int64_t>(blockIndices.data[row * keyBlocks + slot]);
        if (block >= 0 && block < keyBlocks)
          (*listed)[row * keyBlocks + block] = 1;
      }
    }
    return llvm::Error::success();
  };
  if (llvm::Error error = addBlocks(op.getKvNumBlocks(), op.getKvIndices()))
    return error;
  if (op.getFullKvNumBlocks())
    if (llvm::Error error =
            addBlocks(op.getFullKvNumBlocks(), op.getFullKvIndices()))
      return error;

  int64_t heads = shape[1];
  int64_t queryBlock = type.getQueryBlockSize();
  int64_t keyBlock = type.getKeyBlockSize();
  setMask(op.getResult(), shape, type,
          [=](int64_t b, int64_t h, int64_t i, int64_t j) {
            int64_t row = (b * heads + h) * queryBlocks + i / queryBlock;
            return (*listed)[row * keyBlocks + j / keyBlock] != 0;
          });
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(MaskToIndicesOp op) {
  const ReferenceMask &mask = getMask(op.getMask());
  int64_t queryBlocks = mask.getNumQueryBlocks();
  int64_t keyBlocks = mask.getNumKeyBlocks();
  ReferenceTensor partialCounts =
      makeTensor({mask.batch, mask.heads, queryBlocks});
  ReferenceTensor fullCounts = partialCounts;
  ReferenceTensor partialIndices =
      makeTensor({mask.batch, mask.heads, queryBlocks, keyBlocks});
  ReferenceTensor fullIndices = partialIndices;
  for (int64_t b = 0; b < mask.batch; ++b) {
    for (int64_t h = 0; h < mask.heads; ++h) {
      for (int64_t I = 0; I < queryBlocks; ++I) {
        int64_t row = (b * mask.heads + h) * queryBlocks + I;
        // Ascending J: each list is filled in order, the rest stays zero.
        for (int64_t J = 0; J < keyBlocks; ++J) {
          BlockState state = classifyBlock(mask, b, h, I, J);
          if (state == BlockState::Empty)
            continue;
          bool isFull = state == BlockState::Full;
          double &count = (isFull ? fullCounts : partialCounts).data[row];
          (isFull ? fullIndices : partialIndices)
              .data[row * keyBlocks + static_cast<int64_t>(count)] = J;
          count += 1.0;
        }
      }
    }
  }
  values[op.getKvNumBlocks()] = std::move(partialCounts);
  values[op.getKvIndices()] = std::move(partialIndices);
  values[op.getFullKvNumBlocks()] = std::move(fullCounts);
  values[op.getFullKvIndices()] = std::move(fullIndices);
  return llvm::Error::success();
}

llvm::Error Evaluator::combineMasks(Operation *op, Value lhsValue,
                                    Value rhsValue, Value result,
                                    bool isUnion) {
  const ReferenceMask &lhs = getMask(lhsValue);
  const ReferenceMask &rhs = getMask(rhsValue);
  auto broadcast = [](int64_t a, int64_t b) -> int64_t {
    if (a == b || b == 1)
      return a;
    return a == 1 ? b : -1;
  };
  SmallVector<int64_t, 4> shape = {broadcast(lhs.batch, rhs.batch),
                                   broadcast(lhs.heads, rhs.heads),
                                   lhs.queryLength, lhs.keyLength};
  if (shape[0] < 0 || shape[1] < 0 || lhs.queryLength != rhs.queryLength ||
      lhs.keyLength != rhs.keyLength)
    return fail(op, "masks of extents " +
                        run::formatShape({lhs.batch, lhs.heads, lhs.queryLength,
                                     lhs.keyLength}) +
                        " and " +
                        run::formatShape({rhs.batch, rhs.heads, rhs.queryLength,
                                     rhs.keyLength}) +
                        " do not combine");
  setMask(result, shape, cast<BlockMaskType>(result.getType()),
          [lhs, rhs, isUnion](int64_t b, int64_t h, int64_t i, int64_t j) {
            bool left = lhs.isVisibleBroadcast(b, h, i, j);
            bool right = rhs.isVisibleBroadcast(b, h, i, j);
            return isUnion ? left || right : left && right;
          });
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(MaskUnionOp op) {
  return combineMasks(op, op.getLhs(), op.getRhs(), op.getResult(),
                      /*isUnion=*/true);
}

llvm::Error Evaluator::evaluate(MaskIntersectOp op) {
  return combineMasks(op, op.getLhs(), op.getRhs(), op.getResult(),
                      /*isUnion=*/false);
}

//===----------------------------------------------------------------------===//
// Prefill estimators, head routing, prefill
//===----------------------------------------------------------------------===//

llvm::Expected<std::vector<std::pair<int64_t, int64_t>>> Evaluator::forEachHead(
    Operation *op, const EstimatorArguments &arguments, Value perHead,
    int64_t perHeadColumns,
    function_ref<void(int64_t, int64_t, const EstimatorHead &)> estimateHead) {
  const ReferenceTensor &query = getTensor(arguments.query);
  const ReferenceTensor &key = getTensor(arguments.key);
  int64_t batch = query.shape[0], heads = query.shape[1];
  int64_t queryLength = query.shape[2], headDim = query.shape[3];
  int64_t kvHeads = key.shape[1], keyLength = key.shape[2];
  if (key.shape[0] != batch || key.shape[3] != headDim || kvHeads == 0 ||
      heads % kvHeads != 0)
    return fail(op, "query " + formatShape(query.shape) + " and key " +
                        formatShape(key.shape) + " do not fit together");
  for (Value lengths : {arguments.queryLengths, arguments.keyLengths})
    if (lengths && getTensor(lengths).shape[0] != batch)
      return fail(op, "sequence lengths need one entry per batch");
  if (perHead) {
    const ReferenceTensor &values = getTensor(perHead);
    int64_t columns = values.shape.size() == 2 ? values.shape[1] : 1;
    if (values.shape[0] != heads || columns != perHeadColumns)
      return fail(op, "per-head operand " + formatShape(values.shape) +
                          " does not fit " + Twine(heads) + " query heads");
  }
  auto validLength = [&](Value lengths, int64_t b, int64_t extent) {
    if (!lengths)
      return extent;
    return std::clamp(static_cast<int64_t>(getTensor(lengths).data[b]),
                      int64_t{0}, extent);
  };
  std::vector<std::pair<int64_t, int64_t>> lengths;
  for (int64_t b = 0; b < batch; ++b) {
    lengths.emplace_back(validLength(arguments.queryLengths, b, queryLength),
                         validLength(arguments.keyLengths, b, keyLength));
    for (int64_t h = 0; h < heads; ++h) {
      int64_t kvHead = h / (heads / kvHeads);
      EstimatorHead head{
          &query.data[(b * heads + h) * queryLength * headDim],
          &key.data[(b * kvHeads + kvHead) * keyLength * headDim],
          headDim,
          lengths.back().first,
          lengths.back().second,
          arguments.scale};
      estimateHead(b, h, head);
    }
  }
  return lengths;
}

/// The token-level mask of per-(b, h) block selections: selected blocks keep
/// their valid (and, with `causal`, causal) pairs.
static ReferenceMask
blockSelectionMask(int64_t heads, int64_t queryLength, int64_t keyLength,
                   int64_t queryBlock, int64_t keyBlock, bool causal,
                   std::vector<std::pair<int64_t, int64_t>> lengths,
                   std::vector<BlockSelection> blocks) {
  auto shared =
      std::make_shared<std::vector<BlockSelection>>(std::move(blocks));
  return ReferenceMask{static_cast<int64_t>(lengths.size()),
                       heads,
                       queryLength,
                       keyLength,
                       queryBlock,
                       keyBlock,
                       [=](int64_t b, int64_t h, int64_t i, int64_t j) {
                         auto [validQueries, validKeys] = lengths[b];
                         if (i >= validQueries || j >= validKeys ||
                             (causal && j > i + validKeys - validQueries))
                           return false;
                         return (*shared)[b * heads + h].isSelected(
                             i / queryBlock, j / keyBlock);
                       }};
}

llvm::Expected<Evaluator::HeadSelections> Evaluator::selectXAttentionBlocks(
    Operation *op, const EstimatorArguments &arguments, XAttentionAttr config,
    Value thresholds, bool causal, int64_t queryBlock, int64_t keyBlock) {
  HeadSelections selections;
  llvm::Expected<std::vector<std::pair<int64_t, int64_t>>> lengths =
      forEachHead(op, arguments, thresholds, 1,
                  [&](int64_t, int64_t h, const EstimatorHead &head) {
                    double threshold = thresholds
                                           ? getTensor(thresholds).data[h]
                                           : config.getThresholdValue();
                    selections.blocks.push_back(
                        selectXAttention(head, config.getStride(), threshold,
                                         causal, queryBlock, keyBlock));
                  });
  if (!lengths)
    return lengths.takeError();
  selections.lengths = std::move(*lengths);
  return selections;
}

llvm::Expected<Evaluator::HeadSelections>
Evaluator::selectFlexPrefillBlocks(Operation *op,
                                   const EstimatorArguments &arguments,
                                   FlexPrefillAttr config, int64_t block) {
  HeadSelections selections;
  llvm::Expected<std::vector<std::pair<int64_t, int64_t>>> lengths =
      forEachHead(op, arguments, Value(), 0,
                  [&](int64_t, int64_t, const EstimatorHead &head) {
                    FlexPrefillSelection selection = selectFlexPrefill(
                        head, config.getGammaValue(), config.getTauValue(),
                        config.getMinBudget(), config.getMaxBudget(), block);
                    selections.patterns.push_back(selection.pattern);
                    selections.blocks.push_back(std::move(selection.blocks));
                  });
  if (!lengths)
    return lengths.takeError();
  selections.lengths = std::move(*lengths);
  return selections;
}

llvm::Expected<Evaluator::HeadSelections>
Evaluator::selectBlocks(Operation *op, const EstimatorArguments &arguments,
                        Attribute method, Value thresholds, bool causal,
                        int64_t queryBlock, int64_t keyBlock) {
  if (auto config = dyn_cast<FlexPrefillAttr>(method))
    return selectFlexPrefillBlocks(op, arguments, config, queryBlock);
  return selectXAttentionBlocks(op, arguments, cast<XAttentionAttr>(method),
                                thresholds, causal, queryBlock, keyBlock);
}

void Evaluator::bindSelectionMask(Value result, Value query, Value key,
                                  bool causal, HeadSelections selections) {
  auto type = cast<BlockMaskType>(result.getType());
  const ReferenceTensor &queryTensor = getTensor(query);
  values[result] = blockSelectionMask(
      queryTensor.shape[1], queryTensor.shape[2], getTensor(key).shape[2],
      type.getQueryBlockSize(), type.getKeyBlockSize(), causal,
      std::move(selections.lengths), std::move(selections.blocks));
}

llvm::Expected<ReferenceMask> Evaluator::estimateVerticalSlash(
    Operation *op, const EstimatorArguments &arguments, MInferenceAttr config,
    Value budgets, int64_t queryBlock, int64_t keyBlock) {
  auto selections = std::make_shared<std::vector<VerticalSlashSelection>>();
  llvm::Expected<std::vector<std::pair<int64_t, int64_t>>> lengths =
      forEachHead(op, arguments, budgets, 2,
                  [&](int64_t, int64_t h, const EstimatorHead &head) {
                    int64_t verticalSize = config.getVerticalSize();
                    int64_t slashSize = config.getSlashSize();
                    if (budgets) {
                      const ReferenceTensor &sizes = getTensor(budgets);
                      verticalSize = static_cast<int64_t>(sizes.data[2 * h]);
                      slashSize = static_cast<int64_t>(sizes.data[2 * h + 1]);
                    }
                    selections->push_back(selectVerticalSlash(
                        head, verticalSize, slashSize, config.getLastQueries(),
                        config.getSink(), config.getLocal()));
                  });
  if (!lengths)
    return lengths.takeError();
  const ReferenceTensor &query = getTensor(arguments.query);
  int64_t heads = query.shape[1];
  return ReferenceMask{
      static_cast<int64_t>(lengths->size()),
      heads,
      query.shape[2],
      getTensor(arguments.key).shape[2],
      queryBlock,
      keyBlock,
      [selections, heads, lengths = std::move(*lengths)](int64_t b, int64_t h,
                                                         int64_t i, int64_t j) {
        auto [validQueries, validKeys] = lengths[b];
        int64_t position = i + validKeys - validQueries;
        if (i >= validQueries || j >= validKeys || j > position)
          return false;
        const VerticalSlashSelection &kept = (*selections)[b * heads + h];
        return kept.columns[j] != 0 || kept.offsets[position - j] != 0;
      }};
}

llvm::Error Evaluator::evaluate(XAttentionMaskOp op) {
  BlockMaskType type = op.getType();
  llvm::Expected<HeadSelections> selections =
      selectXAttentionBlocks(op,
                             {op.getQuery(), op.getKey(), op.getQueryLengths(),
                              op.getKeyLengths(), op.getEffectiveScale()},
                             op.getConfig(), op.getThresholds(), op.getCausal(),
                             type.getQueryBlockSize(), type.getKeyBlockSize());
  if (!selections)
    return selections.takeError();
  bindSelectionMask(op.getResult(), op.getQuery(), op.getKey(), op.getCausal(),
                    std::move(*selections));
  return llvm::Error::success();
}

/// The pattern codes of every (b, h) as a [B, H] tensor.
static ReferenceTensor patternTensor(int64_t batch, int64_t heads,
                                     const std::vector<int32_t> &patterns) {
  ReferenceTensor tensor = makeTensor({batch, heads});
  std::copy(patterns.begin(), patterns.end(), tensor.data.begin());
  return tensor;
}

llvm::Error Evaluator::evaluate(FlexPrefillMaskOp op) {
  llvm::Expected<HeadSelections> selections = selectFlexPrefillBlocks(
      op,
      {op.getQuery(), op.getKey(), op.getQueryLengths(), op.getKeyLengths(),
       op.getEffectiveScale()},
      op.getConfig(), op.getResult().getType().getQueryBlockSize());
  if (!selections)
    return selections.takeError();
  const ReferenceTensor &query = getTensor(op.getQuery());
  if (Value result = op.getPatterns())
    values[result] =
        patternTensor(query.shape[0], query.shape[1], selections->patterns);
  bindSelectionMask(op.getResult(), op.getQuery(), op.getKey(),
                    /*causal=*/true, std::move(*selections));
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(SelectBlocksOp op) {
  int64_t queryBlock = op.getQueryBlockAttr().getInt();
  int64_t keyBlock = op.getKeyBlockAttr().getInt();
  llvm::Expected<HeadSelections> selections = selectBlocks(
      op,
      {op.getQuery(), op.getKey(), op.getQueryLengths(), op.getKeyLengths(),
       op.getEffectiveScale()},
      op.getMethod(), op.getThresholds(), op.getCausal(), queryBlock, keyBlock);
  if (!selections)
    return selections.takeError();
  const ReferenceTensor &query = getTensor(op.getQuery());
  int64_t batch = query.shape[0], heads = query.shape[1];
  int64_t queryBlocks = llvm::divideCeil(query.shape[2], queryBlock);
  int64_t keyBlocks =
      llvm::divideCeil(getTensor(op.getKey()).shape[2], keyBlock);
  ReferenceTensor counts = makeTensor({batch, heads, queryBlocks});
  ReferenceTensor indices = makeTensor({batch, heads, queryBlocks, keyBlocks});
  for (auto [row, selection] : llvm::enumerate(selections->blocks)) {
    // The selection covers the valid blocks; the rest of the grid is empty.
    for (int64_t I = 0; I < selection.queryBlocks; ++I) {
      int64_t listRow = static_cast<int64_t>(row) * queryBlocks + I;
      int64_t count = 0;
      for (int64_t J = 0; J < selection.keyBlocks; ++J)
        if (selection.isSelected(I, J))
          indices.data[listRow * keyBlocks + count++] = J;
      counts.data[listRow] = count;
    }
  }
  values[op.getKvNumBlocks()] = std::move(counts);
  values[op.getKvIndices()] = std::move(indices);
  if (Value result = op.getPatterns())
    values[result] = patternTensor(batch, heads, selections->patterns);
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(VerticalSlashMaskOp op) {
  BlockMaskType type = op.getType();
  llvm::Expected<ReferenceMask> mask =
      estimateVerticalSlash(op,
                            {op.getQuery(), op.getKey(), op.getQueryLengths(),
                             op.getKeyLengths(), op.getEffectiveScale()},
                            op.getConfig(), op.getBudgets(),
                            type.getQueryBlockSize(), type.getKeyBlockSize());
  if (!mask)
    return mask.takeError();
  values[op.getResult()] = std::move(*mask);
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(MaskRouteHeadsOp op) {
  BlockMaskType type = op.getType();
  llvm::Expected<SmallVector<int64_t, 4>> resolved =
      resolveMaskShape(op, type, op.getDynamicSizes());
  if (!resolved)
    return resolved.takeError();
  SmallVector<int64_t, 4> shape = *resolved;
  const ReferenceTensor &kinds = getTensor(op.getKinds());
  if (kinds.shape[0] != shape[1])
    return fail(op, "kinds need one entry per head of the routed mask " +
                        formatShape(shape));
  SmallVector<ReferenceMask> operands;
  if (Value streaming = op.getStreaming())
    operands.push_back(getMask(streaming));
  for (Value mask : op.getMasks())
    operands.push_back(getMask(mask));
  for (const ReferenceMask &operand : operands)
    if (operand.queryLength != shape[2] || operand.keyLength != shape[3] ||
        (operand.batch != 1 && operand.batch != shape[0]) ||
        (operand.heads != 1 && operand.heads != shape[1]))
      return fail(op,
                  "operand mask extents " +
                      formatShape({operand.batch, operand.heads,
                                   operand.queryLength, operand.keyLength}) +
                      " do not fit the routed mask " + formatShape(shape));
  std::vector<int64_t> headKinds(kinds.data.begin(), kinds.data.end());
  bool hasStreaming = op.getStreaming() != nullptr;
  int64_t numMasks = static_cast<int64_t>(op.getMasks().size());
  setMask(op.getResult(), shape, type,
          [=](int64_t b, int64_t h, int64_t i, int64_t j) {
            int64_t kind = headKinds[h];
            if (kind == MaskRouteHeadsOp::kDenseKind)
              return true;
            if (kind == MaskRouteHeadsOp::kStreamingKind && hasStreaming)
              return operands.front().isVisibleBroadcast(b, h, i, j);
            if (kind >= 1 && kind <= numMasks)
              return operands[kind - 1 + hasStreaming].isVisibleBroadcast(b, h,
                                                                          i, j);
            return false;
          });
  return llvm::Error::success();
}

llvm::Error Evaluator::evaluate(PrefillOp op) {
  const ReferenceTensor &query = getTensor(op.getQuery());
  double scale = op.getScale()
                     ? op.getScale()->convertToDouble()
                     : 1.0 / std::sqrt(static_cast<double>(query.shape[3]));
  EstimatorArguments estimator{op.getQuery(), op.getKey(), op.getQueryLengths(),
                               op.getKeyLengths(), scale};
  AttentionArguments arguments;
  arguments.query = op.getQuery();
  arguments.key = op.getKey();
  arguments.value = op.getValue();
  arguments.queryLengths = op.getQueryLengths();
  arguments.keyLengths = op.getKeyLengths();
  arguments.normalizer = SoftmaxAttr::get(op.getContext());
  arguments.causal = op.getCausal();
  arguments.scale = scale;
  arguments.output = op.getOutput();
  arguments.statistics = op.getStatistics();

  int64_t block = op.getEffectiveBlockSize();
  std::optional<llvm::Expected<ReferenceMask>> estimated;
  Attribute pattern = op.getPattern();
  if (auto config = dyn_cast<MInferenceAttr>(pattern)) {
    estimated.emplace(estimateVerticalSlash(op, estimator, config,
                                            op.getBudgets(), block, block));
  } else if (!isa<FullAttr>(pattern)) {
    // FlexPrefill is causal whatever the flag (the verifier requires it).
    bool causal = op.getCausal();
    llvm::Expected<HeadSelections> selections = selectBlocks(
        op, estimator, pattern, op.getThresholds(), causal, block, block);
    if (!selections)
      return selections.takeError();
    estimated.emplace(blockSelectionMask(
        query.shape[1], query.shape[2], getTensor(op.getKey()).shape[2], block,
        block, causal, std::move(selections->lengths),
        std::move(selections->blocks)));
  }
  const ReferenceMask *given = op.getMask() ? &getMask(op.getMask()) : nullptr;
  std::optional<ReferenceMask> combined;
  if (estimated) {
    if (!*estimated)
      return estimated->takeError();
    ReferenceMask mask = std::move(**estimated);
    if (given && (given->queryLength != mask.queryLength ||
                  given->keyLength != mask.keyLength ||
                  (given->batch != 1 && given->batch != mask.batch) ||
                  (given->heads != 1 && given->heads != mask.heads)))
      return fail(op, "mask extents " +
                          formatShape({given->batch, given->heads,
                                       given->queryLength, given->keyLength}) +
                          " do not fit the prefill " +
                          formatShape({mask.batch, mask.heads, mask.queryLength,
                                       mask.keyLength}));
    if (given) {
      // The estimated mask has the attention's full extents.
      ReferenceMask other = *given;
      auto estimatedVisible = mask.isVisible;
      mask.isVisible = [=](int64_t b, int64_t h, int64_t i, int64_t j) {
        return estimatedVisible(b, h, i, j) &&
               other.isVisibleBroadcast(b, h, i, j);
      };
    }
    combined = std::move(mask);
    arguments.mask = &*combined;
    densities.push_back(computeDensity(op.getOutput(), *combined));
  } else if (given) {
    arguments.mask = given;
  }
  return evaluateAttention(op, arguments);
}

} // namespace

llvm::Error run::checkReferenceSupport(func::FuncOp entry) {
  for (Operation &op : entry.getBody().front())
    if (!getHandlers().contains(op.getName().getTypeID()))
      return llvm::createStringError("--check does not support op '" +
                                     op.getName().getStringRef().str() + "'");
  return llvm::Error::success();
}

llvm::Expected<ReferenceEvaluation>
run::evaluateReference(func::FuncOp entry, ArrayRef<HostBuffer> arguments) {
  if (llvm::Error error = checkReferenceSupport(entry))
    return std::move(error);
  return Evaluator().run(entry, arguments);
}
