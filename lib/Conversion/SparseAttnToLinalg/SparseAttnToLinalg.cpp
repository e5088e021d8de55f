//===- SparseAttnToLinalg.cpp - sparse_attn reference lowering ------------===//
//
// Lowers every sparse_attn op to the most direct form of its definition in
// docs/design/semantics.md, on tensors: linalg.generic/linalg.fill for the
// elementwise maps and reductions, tensor.extract for gathers whose index is
// computed (grouped-query heads, broadcast mask extents, bias diagonals),
// scf for the entmax threshold search and the block scans. Block masks become
// their token-level visibility `tensor<B x H x Nq x Nk x i1>`.
//
// The result is the oracle of the tiled lowerings: every row is materialised
// in full, and nothing is approximated beyond f32 rounding.
//
//===----------------------------------------------------------------------===//

#include "LinalgBuilders.h"

#include "sparse_attn/Conversion/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_CONVERTSPARSEATTNTOLINALGPASS
#include "sparse_attn/Conversion/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

//===----------------------------------------------------------------------===//
// Token-level masks
//===----------------------------------------------------------------------===//

/// Token-level mask of `type` in which (b, h, i, j) is visible iff
/// `isVisible(position, j)` with the bottom-right aligned position
/// i + (Nk - Nq) of query i.
static Value buildPositionalMask(
    ImplicitLocOpBuilder &b, RankedTensorType type, ValueRange dynamicSizes,
    function_ref<Value(ImplicitLocOpBuilder &, Value, Value)> isVisible) {
  Value init = tensor::EmptyOp::create(b, type, dynamicSizes);
  Value queryLength = dimValue(b, init, 2);
  Value keyLength = dimValue(b, init, 3);
  Value offset = b.createOrFold<arith::SubIOp>(keyLength, queryLength);
  MLIRContext *context = b.getContext();
  return buildGeneric(
      b, {}, init, {AffineMap::getMultiDimIdentityMap(4, context)},
      parallelThenReductions(4, 0), [&](ImplicitLocOpBuilder &nb, ValueRange) {
        Value position = arith::AddIOp::create(nb, loopIndex(nb, 2), offset);
        return isVisible(nb, position, loopIndex(nb, 3));
      });
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

namespace {
/// Builds the reference form of one sparse_attn.attention: visibility and
/// scores over the full [B, H, Nq, Nk] matrix, the normalizer's weights, and
/// their contraction with the values.
class AttentionLowering {
public:
  AttentionLowering(ImplicitLocOpBuilder &b, AttentionOp op,
                    AttentionOp::Adaptor adaptor)
      : b(b), op(op), query(adaptor.getQuery()), key(adaptor.getKey()),
        value(adaptor.getValue()), mask(adaptor.getMask()),
        queryLengths(adaptor.getQueryLengths()),
        keyLengths(adaptor.getKeyLengths()), bias(adaptor.getBias()),
        tau(adaptor.getTau()) {
    Location loc = b.getLoc();
    scoreSizes = {tensor::getMixedSize(b, loc, query, 0),
                  tensor::getMixedSize(b, loc, query, 1),
                  tensor::getMixedSize(b, loc, query, 2),
                  tensor::getMixedSize(b, loc, key, 2)};
    queryLength = getValueOrCreateConstantIndexOp(b, loc, scoreSizes[2]);
    keyLength = getValueOrCreateConstantIndexOp(b, loc, scoreSizes[3]);
    // The group size may be dynamic: affine maps cannot divide by it, so
    // key/value heads are gathered with tensor.extract at h / g.
    Value heads = getValueOrCreateConstantIndexOp(b, loc, scoreSizes[1]);
    groupSize = b.createOrFold<arith::DivUIOp>(heads, dimValue(b, key, 1));
  }

  SmallVector<Value> lower() {
    Value visible = buildVisibility();
    Value scores = buildScores();
    RowDomain rows(b.getContext(), scoreSizes);
    bool withStatistic = op.getStatistics() != nullptr;
    NormalizedRows normalized =
        llvm::TypeSwitch<Attribute, NormalizedRows>(op.getNormalizer())
            .Case([&](EntmaxAttr entmax) {
              return buildEntmax(b, rows, scores, visible, entmax,
                                 withStatistic);
            })
            .Case([&](ElasticSoftmaxAttr) {
              return buildSoftmax(b, rows, scores, visible,
                                  buildElasticShift(rows), withStatistic);
            })
            .Default([&](Attribute) {
              return buildSoftmax(b, rows, scores, visible, Value(),
                                  withStatistic);
            });
    SmallVector<Value> results = {castTo(
        b, buildOutput(normalized.weights, visible), op.getOutput().getType())};
    if (withStatistic)
      results.push_back(
          castTo(b, normalized.statistic, op.getStatistics().getType()));
    return results;
  }

private:
  /// The valid lengths (Lq, Lk) of sequence `batch`, clamped to the padded
  /// extents. Inside a generic body.
  std::pair<Value, Value> validLengths(ImplicitLocOpBuilder &nb,
                                       Value batch) const {
    return {validLength(nb, queryLengths, batch, queryLength),
            validLength(nb, keyLengths, batch, keyLength)};
  }

  /// pos_i = i + (Lk - Lq) of query `row`.
  static Value position(ImplicitLocOpBuilder &nb, Value row, Value validQueries,
                        Value validKeys) {
    return arith::AddIOp::create(
        nb, row, arith::SubIOp::create(nb, validKeys, validQueries));
  }

  /// pos_i of query `row` of sequence `batch`.
  Value position(ImplicitLocOpBuilder &nb, Value batch, Value row) const {
    auto [validQueries, validKeys] = validLengths(nb, batch);
    return position(nb, row, validQueries, validKeys);
  }

  Value kvHead(ImplicitLocOpBuilder &nb, Value head) const {
    return nb.createOrFold<arith::DivUIOp>(head, groupSize);
  }

  /// visible(b, h, i, j) as `tensor<B x H x Nq x Nk x i1>`.
  Value buildVisibility() {
    if (!queryLengths && !keyLengths && !op.getCausal() && !mask)
      return buildFilled(b, scoreSizes, b.getBoolAttr(true));
    std::optional<MaskReader> maskReader;
    if (mask)
      maskReader.emplace(b, mask);
    Value init = tensor::EmptyOp::create(b, scoreSizes, b.getI1Type());
    return buildGeneric(
        b, {}, init, {AffineMap::getMultiDimIdentityMap(4, b.getContext())},
        parallelThenReductions(4, 0),
        [&](ImplicitLocOpBuilder &nb, ValueRange) {
          Value batch;
          if (queryLengths || keyLengths)
            batch = loopIndex(nb, 0);
          Value row = loopIndex(nb, 2), column = loopIndex(nb, 3);
          auto [validQueries, validKeys] = validLengths(nb, batch);
          SmallVector<Value> conditions;
          if (queryLengths)
            conditions.push_back(arith::CmpIOp::create(
                nb, arith::CmpIPredicate::slt, row, validQueries));
          if (keyLengths)
            conditions.push_back(arith::CmpIOp::create(
                nb, arith::CmpIPredicate::slt, column, validKeys));
          if (op.getCausal())
            conditions.push_back(arith::CmpIOp::create(
                nb, arith::CmpIPredicate::sle, column,
                position(nb, row, validQueries, validKeys)));
          if (maskReader)
            conditions.push_back(maskReader->read(nb, row, column));
          Value all = conditions.front();
          for (Value condition : ArrayRef(conditions).drop_front())
            all = arith::AndIOp::create(nb, all, condition);
          return all;
        });
  }

  /// s = scale * q . k (+ bias[h, pos_i - j] for 0 <= pos_i - j < W), f32.
  Value buildScores() {
    MLIRContext *context = b.getContext();
    // Loops (b, h, i, j, d).
    Value dot = buildGeneric(
        b, query, buildFilled(b, scoreSizes, b.getF32FloatAttr(0.0)),
        {loopsMap(context, 5, {0, 1, 2, 4}),
         loopsMap(context, 5, {0, 1, 2, 3})},
        parallelThenReductions(4, 1),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value keyIndices[] = {loopIndex(nb, 0), kvHead(nb, loopIndex(nb, 1)),
                                loopIndex(nb, 3), loopIndex(nb, 4)};
          Value keyEntry = tensor::ExtractOp::create(nb, key, keyIndices);
          Value queryEntry = toF32(nb, args[0]);
          Value product =
              arith::MulFOp::create(nb, queryEntry, toF32(nb, keyEntry));
          return arith::AddFOp::create(nb, args[1], product);
        });

    double scale = op.getEffectiveScale();
    Value window, lastDistance;
    if (bias) {
      window = dimValue(b, bias, 1);
      lastDistance = b.createOrFold<arith::SubIOp>(window, indexConstant(b, 1));
    }
    RowDomain rows(context, scoreSizes);
    return rows.map(
        b, dot, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value score =
              arith::MulFOp::create(nb, args[0], f32Constant(nb, scale));
          if (!bias)
            return score;
          Value batch = loopIndex(nb, 0), row = loopIndex(nb, 2);
          Value pos = position(nb, batch, row);
          Value distance = arith::SubIOp::create(nb, pos, loopIndex(nb, 3));
          Value fromStart = arith::CmpIOp::create(
              nb, arith::CmpIPredicate::sge, distance, indexConstant(nb, 0));
          Value beforeEnd = arith::CmpIOp::create(nb, arith::CmpIPredicate::slt,
                                                  distance, window);
          Value inWindow = arith::AndIOp::create(nb, fromStart, beforeEnd);
          // Clamped so that the read stays in bounds outside the window.
          Value biasIndices[] = {loopIndex(nb, 1),
                                 clampIndex(nb, distance, lastDistance)};
          Value biasEntry =
              toF32(nb, tensor::ExtractOp::create(nb, bias, biasIndices));
          Value shifted = arith::AddFOp::create(nb, score, biasEntry);
          return select(nb, inWindow, shifted, score);
        });
  }

  /// tau[h] / (pos_i + 1) per row.
  Value buildElasticShift(const RowDomain &rows) {
    return rows.mapRows(
        b, {}, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange) {
          Value batch = loopIndex(nb, 0), row = loopIndex(nb, 2);
          Value pos = indexToF32(nb, position(nb, batch, row));
          Value seen = arith::AddFOp::create(nb, pos, f32Constant(nb, 1.0));
          Value headTau = toF32(nb, tensor::ExtractOp::create(
                                        nb, tau, ValueRange{loopIndex(nb, 1)}));
          return arith::DivFOp::create(nb, headTau, seen);
        });
  }

  /// o[b, h, i, e] = sum over visible j of w_ij * v[b, h / g, j, e], rounded
  /// to the element type.
  Value buildOutput(Value weights, Value visible) {
    MLIRContext *context = b.getContext();
    SmallVector<OpFoldResult> outputSizes(scoreSizes.begin(),
                                          std::prev(scoreSizes.end()));
    outputSizes.push_back(tensor::getMixedSize(b, b.getLoc(), value, 3));
    // Loops (b, h, i, e, j). Invisible keys are skipped rather than weighted
    // by 0, so that padding holding inf or NaN cannot leak into the output.
    Value output = buildGeneric(
        b, {weights, visible},
        buildFilled(b, outputSizes, b.getF32FloatAttr(0.0)),
        {loopsMap(context, 5, {0, 1, 2, 4}), loopsMap(context, 5, {0, 1, 2, 4}),
         loopsMap(context, 5, {0, 1, 2, 3})},
        parallelThenReductions(4, 1),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value valueIndices[] = {loopIndex(nb, 0),
                                  kvHead(nb, loopIndex(nb, 1)),
                                  loopIndex(nb, 4), loopIndex(nb, 3)};
          Value valueEntry = tensor::ExtractOp::create(nb, value, valueIndices);
          Value product =
              arith::MulFOp::create(nb, args[0], toF32(nb, valueEntry));
          Value sum = arith::AddFOp::create(nb, args[2], product);
          return select(nb, args[1], sum, args[2]);
        });
    Type elementType = op.getOutput().getType().getElementType();
    if (elementType.isF32())
      return output;
    return RowDomain(context, outputSizes)
        .map(b, output, elementType,
             [&](ImplicitLocOpBuilder &nb, ValueRange args) {
               return arith::TruncFOp::create(nb, elementType, args[0]);
             });
  }

  ImplicitLocOpBuilder &b;
  AttentionOp op;
  Value query, key, value, mask, queryLengths, keyLengths, bias, tau;
  SmallVector<OpFoldResult> scoreSizes;
  Value queryLength, keyLength, groupSize;
};

} // namespace

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

namespace {

struct AttentionOpLowering : OpConversionPattern<AttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    rewriter.replaceOp(op, AttentionLowering(b, op, adaptor).lower());
    return success();
  }
};

struct EntmaxOpLowering : OpConversionPattern<EntmaxOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(EntmaxOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value input = adaptor.getInput();
    RowDomain rows(b.getContext(), tensor::getMixedSizes(b, b.getLoc(), input));
    Value weights = buildEntmax(b, rows, input, Value(), op.getConfig(),
                                /*withStatistic=*/false)
                        .weights;
    Type elementType = op.getType().getElementType();
    if (!elementType.isF32())
      weights =
          rows.map(b, weights, elementType,
                   [&](ImplicitLocOpBuilder &nb, ValueRange args) {
                     return arith::TruncFOp::create(nb, elementType, args[0]);
                   });
    rewriter.replaceOp(op, castTo(b, weights, op.getType()));
    return success();
  }
};

struct DenseMaskOpLowering : OpConversionPattern<DenseMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DenseMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type = getTypeConverter()->convertType<RankedTensorType>(op.getType());
    Value init = tensor::EmptyOp::create(b, type, adaptor.getDynamicSizes());
    rewriter.replaceOp(
        op,
        linalg::FillOp::create(b, boolConstant(b, true), init).getResult(0));
    return success();
  }
};

struct CausalMaskOpLowering : OpConversionPattern<CausalMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(CausalMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type = getTypeConverter()->convertType<RankedTensorType>(op.getType());
    rewriter.replaceOp(
        op, buildPositionalMask(
                b, type, adaptor.getDynamicSizes(),
                [](ImplicitLocOpBuilder &nb, Value position, Value column) {
                  return arith::CmpIOp::create(nb, arith::CmpIPredicate::sle,
                                               column, position);
                }));
    return success();
  }
};

struct StreamingMaskOpLowering : OpConversionPattern<StreamingMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(StreamingMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type = getTypeConverter()->convertType<RankedTensorType>(op.getType());
    int64_t sink = op.getSinkAttr().getInt();
    int64_t window = op.getWindowAttr().getInt();
    rewriter.replaceOp(
        op, buildPositionalMask(
                b, type, adaptor.getDynamicSizes(),
                [&](ImplicitLocOpBuilder &nb, Value position, Value column) {
                  using arith::CmpIPredicate;
                  Value causal = arith::CmpIOp::create(nb, CmpIPredicate::sle,
                                                       column, position);
                  Value inSink = arith::CmpIOp::create(
                      nb, CmpIPredicate::slt, column, indexConstant(nb, sink));
                  Value distance = arith::SubIOp::create(nb, position, column);
                  Value inWindow =
                      arith::CmpIOp::create(nb, CmpIPredicate::slt, distance,
                                            indexConstant(nb, window));
                  Value kept = arith::OrIOp::create(nb, inSink, inWindow);
                  return arith::AndIOp::create(nb, causal, kept);
                }));
    return success();
  }
};

struct MaskFromIndicesOpLowering : OpConversionPattern<MaskFromIndicesOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MaskFromIndicesOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *context = b.getContext();
    BlockMaskType maskType = op.getType();
    auto type = getTypeConverter()->convertType<RankedTensorType>(maskType);
    Value indices = adaptor.getKvIndices();

    // Batch and heads are those of the index tensors; the operands give the
    // dynamic sequence lengths.
    SmallVector<OpFoldResult> sizes = {
        tensor::getMixedSize(b, b.getLoc(), indices, 0),
        tensor::getMixedSize(b, b.getLoc(), indices, 1)};
    ValueRange dynamicLengths = adaptor.getDynamicSizes();
    for (int64_t length :
         {maskType.getQueryLength(), maskType.getKeyLength()}) {
      if (ShapedType::isDynamic(length)) {
        sizes.push_back(dynamicLengths.front());
        dynamicLengths = dynamicLengths.drop_front();
      } else {
        sizes.push_back(b.getIndexAttr(length));
      }
    }

    // Loops (b, h, i, j, s) over the slots s of query block I = i / BQ.
    AffineExpr queryBlock =
        getAffineDimExpr(2, context).floorDiv(maskType.getQueryBlockSize());
    AffineExpr batch = getAffineDimExpr(0, context);
    AffineExpr head = getAffineDimExpr(1, context);
    AffineMap countsMap =
        AffineMap::get(5, 0, {batch, head, queryBlock}, context);
    AffineMap indicesMap = AffineMap::get(
        5, 0, {batch, head, queryBlock, getAffineDimExpr(4, context)}, context);
    SmallVector<Value> inputs = {adaptor.getKvNumBlocks(), indices};
    if (adaptor.getFullKvNumBlocks()) {
      inputs.push_back(adaptor.getFullKvNumBlocks());
      inputs.push_back(adaptor.getFullKvIndices());
    }
    SmallVector<AffineMap> maps;
    for (size_t pair = 0; pair < inputs.size() / 2; ++pair)
      maps.append({countsMap, indicesMap});
    maps.push_back(loopsMap(context, 5, {0, 1, 2, 3}));

    int64_t keyBlockSize = maskType.getKeyBlockSize();
    // A slot past the count is ignored, so a count above the number of slots
    // (KB) lists at most KB blocks: the clamp of the semantics is implicit.
    // Block indices outside [0, KB) never equal a key block J.
    Value mask = buildGeneric(
        b, inputs, buildFilled(b, sizes, b.getBoolAttr(false)), maps,
        parallelThenReductions(4, 1),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value column = loopIndex(nb, 3);
          Value keyBlock =
              indexToI32(nb, arith::DivUIOp::create(
                                 nb, column, indexConstant(nb, keyBlockSize)));
          Value slot = indexToI32(nb, loopIndex(nb, 4));
          Value listed = args.back();
          for (size_t pair = 0; pair + 1 < args.size(); pair += 2) {
            Value counted = arith::CmpIOp::create(nb, arith::CmpIPredicate::slt,
                                                  slot, args[pair]);
            Value matches = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq,
                                                  args[pair + 1], keyBlock);
            listed = arith::OrIOp::create(
                nb, listed, arith::AndIOp::create(nb, counted, matches));
          }
          return listed;
        });
    rewriter.replaceOp(op, castTo(b, mask, type));
    return success();
  }
};

/// mask_union / mask_intersect: `Combine` (arith.ori / arith.andi) of the
/// broadcast operands.
template <typename OpTy, typename Combine>
struct MaskCombineOpLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type =
        this->getTypeConverter()->template convertType<RankedTensorType>(
            op.getType());
    Value lhs = adaptor.getLhs(), rhs = adaptor.getRhs();
    // A broadcast extent is 1 or equal to the other: the result is the max.
    SmallVector<Value> dynamicSizes;
    for (int64_t dim = 0; dim < 4; ++dim) {
      if (!type.isDynamicDim(dim))
        continue;
      Value extent = dimValue(b, lhs, dim);
      if (dim < 2)
        extent = b.createOrFold<arith::MaxUIOp>(extent, dimValue(b, rhs, dim));
      dynamicSizes.push_back(extent);
    }
    Value init = tensor::EmptyOp::create(b, type, dynamicSizes);
    MaskReader lhsReader(b, lhs), rhsReader(b, rhs);
    Value combined = buildGeneric(
        b, {}, init, {AffineMap::getMultiDimIdentityMap(4, b.getContext())},
        parallelThenReductions(4, 0),
        [&](ImplicitLocOpBuilder &nb, ValueRange) {
          Value row = loopIndex(nb, 2), column = loopIndex(nb, 3);
          Value lhsVisible = lhsReader.read(nb, row, column);
          Value rhsVisible = rhsReader.read(nb, row, column);
          return Combine::create(nb, lhsVisible, rhsVisible);
        });
    rewriter.replaceOp(op, combined);
    return success();
  }
};

struct MaskToIndicesOpLowering : OpConversionPattern<MaskToIndicesOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MaskToIndicesOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto maskType = cast<BlockMaskType>(op.getMask().getType());
    Value mask = adaptor.getMask();
    Value queryLength = dimValue(b, mask, 2), keyLength = dimValue(b, mask, 3);
    Value queryBlockSize = indexConstant(b, maskType.getQueryBlockSize());
    Value keyBlockSize = indexConstant(b, maskType.getKeyBlockSize());
    auto numBlocks = [&](int64_t staticBlocks, Value length,
                         Value blockSize) -> OpFoldResult {
      if (!ShapedType::isDynamic(staticBlocks))
        return b.getIndexAttr(staticBlocks);
      return arith::CeilDivUIOp::create(b, length, blockSize).getResult();
    };
    SmallVector<OpFoldResult> blockSizes = {
        tensor::getMixedSize(b, b.getLoc(), mask, 0),
        tensor::getMixedSize(b, b.getLoc(), mask, 1),
        numBlocks(maskType.getNumQueryBlocks(), queryLength, queryBlockSize),
        numBlocks(maskType.getNumKeyBlocks(), keyLength, keyBlockSize)};

    // Per block (b, h, I, J), scan its clipped region for a visible and an
    // invisible pair: full iff all are visible, partial iff some but not all.
    Type i1 = b.getI1Type();
    Value inits[] = {tensor::EmptyOp::create(b, blockSizes, i1),
                     tensor::EmptyOp::create(b, blockSizes, i1)};
    AffineMap identity = AffineMap::getMultiDimIdentityMap(4, b.getContext());
    ResultRange classes = buildGeneric(
        b, {}, inits, {identity, identity}, parallelThenReductions(4, 0),
        [&](ImplicitLocOpBuilder &nb, ValueRange) -> SmallVector<Value> {
          Value batch = loopIndex(nb, 0), head = loopIndex(nb, 1);
          auto blockRange = [&](int64_t loop, Value blockSize,
                                Value length) -> std::pair<Value, Value> {
            Value begin =
                arith::MulIOp::create(nb, loopIndex(nb, loop), blockSize);
            Value end = arith::MinUIOp::create(
                nb, arith::AddIOp::create(nb, begin, blockSize), length);
            return {begin, end};
          };
          auto [rowBegin, rowEnd] = blockRange(2, queryBlockSize, queryLength);
          auto [columnBegin, columnEnd] =
              blockRange(3, keyBlockSize, keyLength);
          Value one = indexConstant(nb, 1);
          Value initial[] = {boolConstant(nb, false), boolConstant(nb, true)};
          auto rows = scf::ForOp::create(
              nb, rowBegin, rowEnd, one, initial,
              [&](OpBuilder &rowBuilder, Location loc, Value row,
                  ValueRange anyAndAll) {
                ImplicitLocOpBuilder rb(loc, rowBuilder);
                auto columns = scf::ForOp::create(
                    rb, columnBegin, columnEnd, one, anyAndAll,
                    [&](OpBuilder &columnBuilder, Location loc, Value column,
                        ValueRange acc) {
                      ImplicitLocOpBuilder cb(loc, columnBuilder);
                      Value indices[] = {batch, head, row, column};
                      Value visible =
                          tensor::ExtractOp::create(cb, mask, indices);
                      scf::YieldOp::create(
                          cb, ValueRange{
                                  arith::OrIOp::create(cb, acc[0], visible),
                                  arith::AndIOp::create(cb, acc[1], visible)});
                    });
                scf::YieldOp::create(rb, columns.getResults());
              });
          Value any = rows.getResult(0), all = rows.getResult(1);
          Value notAll = arith::XOrIOp::create(nb, all, boolConstant(nb, true));
          return {arith::AndIOp::create(nb, any, notAll), all};
        });

    auto [partialCounts, partialIndices] = buildBlockList(b, classes[0]);
    auto [fullCounts, fullIndices] = buildBlockList(b, classes[1]);
    Value computed[] = {partialCounts, partialIndices, fullCounts, fullIndices};
    SmallVector<Value> results;
    for (auto [value, result] : llvm::zip_equal(computed, op.getResults()))
      results.push_back(castTo(b, value, result.getType()));
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// A token-level query of a mask that the tiled passes could not fuse (its
/// producer has no tiled form): the element of the mask's visibility tensor,
/// batch and head extents of 1 broadcast, false outside its sequence
/// lengths.
struct MaskVisibleOpLowering : OpConversionPattern<MaskVisibleOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MaskVisibleOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value mask = adaptor.getMask();
    // Folded, so that static extents leave the index or a constant 0.
    auto broadcast = [&](int64_t dim, Value index) {
      Value shared = b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::eq,
                                                   dimValue(b, mask, dim),
                                                   indexConstant(b, 1));
      return b.createOrFold<arith::SelectOp>(shared, indexConstant(b, 0),
                                             index);
    };
    // Clamped reads keep the extract in bounds; the bounds test decides.
    auto inside = [&](int64_t dim, Value index) {
      Value extent = dimValue(b, mask, dim);
      Value below =
          arith::CmpIOp::create(b, arith::CmpIPredicate::slt, index, extent);
      Value last = arith::SubIOp::create(b, extent, indexConstant(b, 1));
      return std::make_pair(below, clampIndex(b, index, last));
    };
    auto [rowInside, row] = inside(2, adaptor.getQuery());
    auto [columnInside, column] = inside(3, adaptor.getKey());
    Value indices[] = {broadcast(0, adaptor.getBatch()),
                       broadcast(1, adaptor.getHead()), row, column};
    Value visible = tensor::ExtractOp::create(b, mask, indices);
    Value both = arith::AndIOp::create(b, rowInside, columnInside);
    rewriter.replaceOp(op, arith::AndIOp::create(b, both, visible).getResult());
    return success();
  }
};

/// Converts the signature of a func.func and the arguments of all its blocks
/// (the upstream FunctionOpInterface pattern converts the entry block only,
/// which would leave masks carried by cf branches unconverted).
struct FuncOpSignatureConversion : OpConversionPattern<func::FuncOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(func::FuncOp func, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FunctionType type = func.getFunctionType();
    TypeConverter::SignatureConversion signature(type.getNumInputs());
    SmallVector<Type> resultTypes;
    if (failed(getTypeConverter()->convertSignatureArgs(type.getInputs(),
                                                        signature)) ||
        failed(
            getTypeConverter()->convertTypes(type.getResults(), resultTypes)))
      return failure();
    if (!func.isExternal() &&
        failed(rewriter.convertRegionTypes(&func.getBody(), *getTypeConverter(),
                                           &signature)))
      return failure();
    rewriter.modifyOpInPlace(func, [&] {
      func.setType(FunctionType::get(
          getContext(), signature.getConvertedTypes(), resultTypes));
    });
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

/// Block masks become their token-level visibility; other types are kept.
class BlockMaskTypeConverter : public TypeConverter {
public:
  BlockMaskTypeConverter() {
    addConversion([](Type type) { return type; });
    addConversion([](BlockMaskType type) -> Type {
      return RankedTensorType::get(type.getShape(),
                                   IntegerType::get(type.getContext(), 1));
    });
  }
};

struct ConvertSparseAttnToLinalgPass
    : sparse_attn::impl::ConvertSparseAttnToLinalgPassBase<
          ConvertSparseAttnToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    BlockMaskTypeConverter typeConverter;
    ConversionTarget target(*context);
    target.addIllegalDialect<SparseAttnDialect>();
    // Every other op is legal once no block mask flows through it.
    target.markUnknownOpDynamicallyLegal(
        [&](Operation *op) { return typeConverter.isLegal(op); });
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp func) {
      return typeConverter.isSignatureLegal(func.getFunctionType()) &&
             typeConverter.isLegal(&func.getBody());
    });

    RewritePatternSet patterns(context);
    patterns.add<AttentionOpLowering, EntmaxOpLowering, DenseMaskOpLowering,
                 CausalMaskOpLowering, StreamingMaskOpLowering,
                 MaskFromIndicesOpLowering, MaskToIndicesOpLowering,
                 MaskCombineOpLowering<MaskUnionOp, arith::OrIOp>,
                 MaskCombineOpLowering<MaskIntersectOp, arith::AndIOp>,
                 MaskVisibleOpLowering, FuncOpSignatureConversion>(
        typeConverter, context);
    populatePrefillToLinalgPatterns(typeConverter, patterns);
    populateCallOpTypeConversionPattern(patterns, typeConverter);
    populateReturnOpTypeConversionPattern(patterns, typeConverter);
    populateBranchOpInterfaceTypeConversionPattern(patterns, typeConverter);
    scf::populateSCFStructuralTypeConversionsAndLegality(typeConverter,
                                                         patterns, target);

    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
