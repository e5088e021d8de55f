//===- Arguments.cpp - the entry function's argument values ---------------===//

#include "Arguments.h"

#include "Npy.h"

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::run;

namespace {

/// What an argument feeds, which decides how a random value is drawn.
enum class Role {
  Data,
  Lengths,
  ElasticTau,
  Bias,
  BlockCounts,
  BlockIndices,
  FullBlockCounts,
  FullBlockIndices,
  Thresholds,
  Budgets,
  HeadKinds,
};

struct RoleUse {
  Role role = Role::Data;
  Operation *user = nullptr;
  /// Lengths and budgets: the tensor whose sequence extent bounds them.
  Value sequence;
};

/// A seeded generator built on splitmix64 with its own distributions, so that
/// a seed gives the same inputs with every C++ standard library.
class Random {
public:
  /// Independent streams per (seed, stream) pair.
  Random(uint64_t seed, uint64_t stream) : state(mix(seed + mix(stream))) {}

  uint64_t next() {
    state += 0x9e3779b97f4a7c15ULL;
    return mix(state);
  }

  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  double uniform(double low, double high) {
    return low + (high - low) * uniform();
  }

  /// Uniform over the integers of [low, high].
  int64_t uniformInt(int64_t low, int64_t high) {
    auto range = static_cast<unsigned __int128>(high - low + 1);
    return low + static_cast<int64_t>((range * next()) >> 64);
  }

  /// Standard normal (Box-Muller).
  double normal() {
    double radius = std::sqrt(-2.0 * std::log(1.0 - uniform()));
    return radius * std::cos(2.0 * llvm::numbers::pi * uniform());
  }

  /// Fisher-Yates.
  void shuffle(MutableArrayRef<int64_t> values) {
    for (size_t i = values.size(); i > 1; --i)
      std::swap(values[i - 1], values[uniformInt(0, i - 1)]);
  }

private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  uint64_t state;
};

/// FlexAttention-like block lists for one mask_from_indices: per row
/// (b, h, I) a random permutation of the key blocks; the partial list is the
/// permutation (its first n1 entries count), the full list the permutation
/// rotated by n1 (its first n2 entries count), n1 + n2 <= KB.
struct BlockListPlan {
  std::vector<int64_t> partialCounts, fullCounts;
  std::vector<int64_t> partialIndices, fullIndices;
};

BlockListPlan makeBlockListPlan(Random &random, int64_t rows, int64_t keyBlocks,
                                bool hasFullBlocks) {
  BlockListPlan plan;
  std::vector<int64_t> permutation(keyBlocks);
  for (int64_t row = 0; row < rows; ++row) {
    std::iota(permutation.begin(), permutation.end(), 0);
    random.shuffle(permutation);
    int64_t partial = random.uniformInt(0, keyBlocks);
    int64_t full =
        hasFullBlocks ? random.uniformInt(0, keyBlocks - partial) : 0;
    plan.partialCounts.push_back(partial);
    plan.fullCounts.push_back(full);
    plan.partialIndices.insert(plan.partialIndices.end(), permutation.begin(),
                               permutation.end());
    std::rotate(permutation.begin(), permutation.begin() + partial,
                permutation.end());
    plan.fullIndices.insert(plan.fullIndices.end(), permutation.begin(),
                            permutation.end());
  }
  return plan;
}

/// Rank and static extents of `typeShape` agree with `shape`.
bool fitsShape(ArrayRef<int64_t> typeShape, ArrayRef<int64_t> shape) {
  return typeShape.size() == shape.size() &&
         llvm::all_of(llvm::zip_equal(typeShape, shape), [](auto pair) {
           auto [expected, actual] = pair;
           return ShapedType::isDynamic(expected) || expected == actual;
         });
}

class ArgumentPreparer {
public:
  ArgumentPreparer(func::FuncOp entry, const ArgumentOptions &options)
      : entry(entry), options(options) {}

  llvm::Expected<PreparedArguments> prepare();

private:
  llvm::Error fail(unsigned argument, const Twine &message) {
    return llvm::createStringError(
        llvm::formatv("argument #{0} ({1}): {2}", argument,
                      entry.getArgumentTypes()[argument], message.str())
            .str());
  }

  llvm::Error checkOptionIndices();
  void findRoles();
  /// Reads the .npy file or resolves the extents of tensor argument `index`.
  llvm::Error resolveTensor(unsigned index, const BufferType &type);
  llvm::Error prepareScalar(unsigned index, const BufferType &type);
  /// Draws the value of tensor argument `index` (its shape is resolved).
  llvm::Error generate(unsigned index, const BufferType &type);
  llvm::Error generateBlockList(unsigned index, MaskFromIndicesOp user,
                                Role role, HostBuffer &buffer);
  /// The runtime extent `dim` of `value`: the resolved shape of an entry
  /// argument or a static extent of its type.
  std::optional<int64_t> getExtent(Value value, unsigned dim);

  func::FuncOp entry;
  const ArgumentOptions &options;
  llvm::DenseMap<unsigned, RoleUse> roles;
  /// Values in the making: set once an argument's shape is known.
  SmallVector<std::optional<HostBuffer>> values;
  SmallVector<std::string> origins;
  /// Tensor arguments whose value is still to be drawn.
  llvm::SmallBitVector toGenerate;
  llvm::DenseMap<Operation *, BlockListPlan> blockListPlans;
};

} // namespace

llvm::Error ArgumentPreparer::checkOptionIndices() {
  unsigned count = entry.getNumArguments();
  auto check = [&](StringRef option, auto &map) -> llvm::Error {
    for (auto &entryOption : map)
      if (entryOption.first >= count)
        return llvm::createStringError(
            "--" + option.str() + "=" + Twine(entryOption.first).str() +
            "=...: @" + entry.getSymName().str() + " has " +
            Twine(count).str() + " argument(s)");
    return llvm::Error::success();
  };
  if (llvm::Error error = check("input", options.npyPaths))
    return error;
  if (llvm::Error error = check("shape", options.shapes))
    return error;
  return check("scalar", options.scalars);
}

void ArgumentPreparer::findRoles() {
  auto assign = [&](Value operand, Role role, Operation *user,
                    Value sequence = Value()) {
    auto argument = dyn_cast_if_present<BlockArgument>(operand);
    // The first use decides.
    if (argument && argument.getOwner()->getParentOp() == entry)
      roles.try_emplace(argument.getArgNumber(), RoleUse{role, user, sequence});
  };
  // Query and key lengths are drawn up to the query and key extents.
  auto assignLengths = [&](Operation *op, Value queryLengths, Value keyLengths,
                           Value query, Value key) {
    assign(queryLengths, Role::Lengths, op, query);
    assign(keyLengths, Role::Lengths, op, key);
  };
  entry.walk([&](Operation *op) {
    if (auto attention = dyn_cast<AttentionOp>(op)) {
      assignLengths(op, attention.getQueryLengths(), attention.getKeyLengths(),
                    attention.getQuery(), attention.getKey());
      assign(attention.getBias(), Role::Bias, op);
      assign(attention.getTau(), Role::ElasticTau, op);
    } else if (auto xattention = dyn_cast<XAttentionMaskOp>(op)) {
      assignLengths(op, xattention.getQueryLengths(),
                    xattention.getKeyLengths(), xattention.getQuery(),
                    xattention.getKey());
      assign(xattention.getThresholds(), Role::Thresholds, op);
    } else if (auto flexprefill = dyn_cast<FlexPrefillMaskOp>(op)) {
      assignLengths(op, flexprefill.getQueryLengths(),
                    flexprefill.getKeyLengths(), flexprefill.getQuery(),
                    flexprefill.getKey());
    } else if (auto verticalSlash = dyn_cast<VerticalSlashMaskOp>(op)) {
      assignLengths(op, verticalSlash.getQueryLengths(),
                    verticalSlash.getKeyLengths(), verticalSlash.getQuery(),
                    verticalSlash.getKey());
      assign(verticalSlash.getBudgets(), Role::Budgets, op,
             verticalSlash.getKey());
    } else if (auto prefill = dyn_cast<PrefillOp>(op)) {
      assignLengths(op, prefill.getQueryLengths(), prefill.getKeyLengths(),
                    prefill.getQuery(), prefill.getKey());
      assign(prefill.getThresholds(), Role::Thresholds, op);
      assign(prefill.getBudgets(), Role::Budgets, op, prefill.getKey());
    } else if (auto route = dyn_cast<MaskRouteHeadsOp>(op)) {
      assign(route.getKinds(), Role::HeadKinds, op);
    } else if (auto fromIndices = dyn_cast<MaskFromIndicesOp>(op)) {
      assign(fromIndices.getKvNumBlocks(), Role::BlockCounts, op);
      assign(fromIndices.getKvIndices(), Role::BlockIndices, op);
      assign(fromIndices.getFullKvNumBlocks(), Role::FullBlockCounts, op);
      assign(fromIndices.getFullKvIndices(), Role::FullBlockIndices, op);
    }
  });
}

std::optional<int64_t> ArgumentPreparer::getExtent(Value value, unsigned dim) {
  if (!value)
    return std::nullopt;
  auto argument = dyn_cast<BlockArgument>(value);
  if (argument && argument.getOwner()->getParentOp() == entry &&
      values[argument.getArgNumber()])
    return values[argument.getArgNumber()]->getShape()[dim];
  int64_t extent = cast<RankedTensorType>(value.getType()).getDimSize(dim);
  if (ShapedType::isDynamic(extent))
    return std::nullopt;
  return extent;
}

llvm::Error ArgumentPreparer::prepareScalar(unsigned index,
                                            const BufferType &type) {
  if (options.npyPaths.contains(index) || options.shapes.contains(index))
    return fail(index, "a scalar takes --scalar, not --input or --shape");
  auto text = options.scalars.find(index);
  if (text == options.scalars.end())
    return fail(index,
                "needs a value: pass --scalar=" + Twine(index) + "=VALUE");
  HostBuffer buffer(type.elementKind, {});
  StringRef valueText = text->second;
  if (isFloatKind(type.elementKind)) {
    double value = 0.0;
    if (valueText.getAsDouble(value))
      return fail(index, "'" + valueText + "' is not a number");
    buffer.setDouble(0, value);
  } else {
    int64_t value = 0;
    if (valueText.getAsInteger(0, value) ||
        (type.elementKind == ElementKind::I32 &&
         (value < std::numeric_limits<int32_t>::min() ||
          value > std::numeric_limits<int32_t>::max())))
      return fail(index, "'" + valueText + "' is not a valid integer");
    buffer.setInt(0, value);
  }
  values[index] = std::move(buffer);
  origins[index] = ("scalar " + valueText).str();
  return llvm::Error::success();
}

llvm::Error ArgumentPreparer::resolveTensor(unsigned index,
                                            const BufferType &type) {
  if (options.scalars.contains(index))
    return fail(index, "--scalar is for scalar arguments");
  auto shapeOption = options.shapes.find(index);
  auto path = options.npyPaths.find(index);
  if (path != options.npyPaths.end()) {
    llvm::Expected<HostBuffer> file = readNpy(path->second);
    if (!file)
      return fail(index, llvm::toString(file.takeError()));
    if (!fitsShape(type.shape, file->getShape()) ||
        (shapeOption != options.shapes.end() &&
         ArrayRef<int64_t>(shapeOption->second) != file->getShape()))
      return fail(index, "'" + path->second + "' has shape (" +
                             run::formatShape(file->getShape()) +
                             "), which does not fit");
    llvm::Expected<HostBuffer> converted = file->convertTo(type.elementKind);
    if (!converted)
      return fail(index, "'" + path->second +
                             "': " + llvm::toString(converted.takeError()));
    values[index] = std::move(*converted);
    origins[index] = "npy " + path->second;
    return llvm::Error::success();
  }

  SmallVector<int64_t, 4> shape(type.shape);
  if (shapeOption != options.shapes.end()) {
    if (!fitsShape(type.shape, shapeOption->second))
      return fail(index, "--shape " + run::formatShape(shapeOption->second) +
                             " does not fit");
    shape = shapeOption->second;
  } else if (llvm::any_of(shape, ShapedType::isDynamic)) {
    return fail(index, "dynamic extents need --shape=" + Twine(index) +
                           "=AxBx... or --input=" + Twine(index) + "=FILE.npy");
  }
  llvm::Expected<int64_t> count = getNumElements(shape);
  if (!count)
    return fail(index, llvm::toString(count.takeError()));
  // The value is drawn once every shape is known (see generate).
  values[index] = HostBuffer(type.elementKind, shape);
  toGenerate.set(index);
  return llvm::Error::success();
}

llvm::Error ArgumentPreparer::generateBlockList(unsigned index,
                                                MaskFromIndicesOp user,
                                                Role role, HostBuffer &buffer) {
  Value counts = user.getKvNumBlocks(), indices = user.getKvIndices();
  Value fullCounts = user.getFullKvNumBlocks();
  Value fullIndices = user.getFullKvIndices();
  SmallVector<int64_t, 4> indicesShape;
  for (unsigned dim = 0; dim < 4; ++dim) {
    std::optional<int64_t> extent = getExtent(indices, dim);
    if (!extent)
      extent = getExtent(fullIndices, dim);
    if (!extent && dim < 3)
      extent = getExtent(counts, dim);
    if (!extent && dim < 3)
      extent = getExtent(fullCounts, dim);
    if (!extent)
      return fail(index, "cannot tell the extents of the block index "
                         "tensors; pass them with --input or --shape");
    indicesShape.push_back(*extent);
  }
  bool isCounts = role == Role::BlockCounts || role == Role::FullBlockCounts;
  ArrayRef<int64_t> expected =
      ArrayRef<int64_t>(indicesShape).drop_back(isCounts ? 1 : 0);
  if (buffer.getShape() != expected)
    return fail(index, "expected shape " + run::formatShape(expected) +
                           " to match the other block index tensors");

  auto plan = blockListPlans.find(user);
  if (plan == blockListPlans.end()) {
    // Seeded by the first argument of the group, so every member agrees.
    Random random(options.seed, index);
    int64_t rows = indicesShape[0] * indicesShape[1] * indicesShape[2];
    plan =
        blockListPlans
            .try_emplace(user, makeBlockListPlan(random, rows, indicesShape[3],
                                                 fullCounts != nullptr))
            .first;
  }
  const std::vector<int64_t> &source =
      role == Role::BlockCounts       ? plan->second.partialCounts
      : role == Role::FullBlockCounts ? plan->second.fullCounts
      : role == Role::BlockIndices    ? plan->second.partialIndices
                                      : plan->second.fullIndices;
  for (auto [i, value] : llvm::enumerate(source))
    buffer.setInt(i, value);
  return llvm::Error::success();
}

llvm::Error ArgumentPreparer::generate(unsigned index, const BufferType &type) {
  HostBuffer &buffer = *values[index];
  std::string &origin = origins[index];
  Random random(options.seed, index);
  RoleUse use = roles.lookup(index);
  switch (use.role) {
  case Role::Data:
    if (isFloatKind(type.elementKind)) {
      for (int64_t i = 0; i < buffer.getNumElements(); ++i)
        buffer.setDouble(i, random.normal());
      origin = "random normal";
    } else {
      for (int64_t i = 0; i < buffer.getNumElements(); ++i)
        buffer.setInt(i, random.uniformInt(-8, 8));
      origin = "random integers [-8, 8]";
    }
    return llvm::Error::success();
  case Role::Lengths:
  case Role::Budgets: {
    std::optional<int64_t> length = getExtent(use.sequence, /*dim=*/2);
    if (!length)
      return fail(index, "cannot tell the sequence length the values are "
                         "drawn up to; pass --input=" +
                             Twine(index) + "=FILE.npy");
    StringRef what = use.role == Role::Lengths ? "lengths" : "budgets";
    for (int64_t i = 0; i < buffer.getNumElements(); ++i)
      buffer.setInt(i, random.uniformInt(0, *length));
    origin = ("random " + what + " [0, " + Twine(*length) + "]").str();
    return llvm::Error::success();
  }
  case Role::Thresholds:
    for (int64_t i = 0; i < buffer.getNumElements(); ++i)
      buffer.setDouble(i, random.uniform(0.5, 0.95));
    origin = "random uniform [0.5, 0.95]";
    return llvm::Error::success();
  case Role::HeadKinds: {
    // Every kind the op can route to: dense, streaming when given, and
    // each of the masks.
    auto route = cast<MaskRouteHeadsOp>(use.user);
    int64_t lowest = route.getStreaming() ? MaskRouteHeadsOp::kStreamingKind
                                          : MaskRouteHeadsOp::kDenseKind;
    int64_t highest = static_cast<int64_t>(route.getMasks().size());
    for (int64_t i = 0; i < buffer.getNumElements(); ++i)
      buffer.setInt(i, random.uniformInt(lowest, highest));
    origin =
        ("random kinds [" + Twine(lowest) + ", " + Twine(highest) + "]").str();
    return llvm::Error::success();
  }
  case Role::ElasticTau:
    for (int64_t i = 0; i < buffer.getNumElements(); ++i)
      buffer.setDouble(i, random.uniform(-1.5, -0.5));
    origin = "random uniform [-1.5, -0.5]";
    return llvm::Error::success();
  case Role::Bias:
    for (int64_t i = 0; i < buffer.getNumElements(); ++i)
      buffer.setDouble(i, 0.5 * random.normal());
    origin = "random normal * 0.5";
    return llvm::Error::success();
  case Role::BlockCounts:
  case Role::FullBlockCounts:
  case Role::BlockIndices:
  case Role::FullBlockIndices: {
    bool isCounts =
        use.role == Role::BlockCounts || use.role == Role::FullBlockCounts;
    origin = isCounts ? "random block counts" : "random block indices";
    return generateBlockList(index, cast<MaskFromIndicesOp>(use.user), use.role,
                             buffer);
  }
  }
  llvm_unreachable("unknown role");
}

llvm::Expected<PreparedArguments> ArgumentPreparer::prepare() {
  if (llvm::Error error = checkOptionIndices())
    return std::move(error);
  findRoles();
  unsigned count = entry.getNumArguments();
  values.resize(count);
  origins.resize(count);
  toGenerate.resize(count);
  SmallVector<BufferType> types;
  for (unsigned index = 0; index < count; ++index) {
    std::optional<BufferType> type =
        getBufferType(entry.getArgumentTypes()[index]);
    if (!type)
      return fail(index, "unsupported type (expected " + kSupportedTypes + ")");
    types.push_back(*type);
    if (llvm::Error error = type->isTensor ? resolveTensor(index, *type)
                                           : prepareScalar(index, *type))
      return std::move(error);
  }
  for (unsigned index : toGenerate.set_bits())
    if (llvm::Error error = generate(index, types[index]))
      return std::move(error);

  PreparedArguments prepared;
  for (std::optional<HostBuffer> &value : values)
    prepared.values.push_back(std::move(*value));
  prepared.origins = std::move(origins);
  return prepared;
}

llvm::Expected<PreparedArguments>
run::prepareArguments(func::FuncOp entry, const ArgumentOptions &options) {
  return ArgumentPreparer(entry, options).prepare();
}
