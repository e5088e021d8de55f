//===- sparse-attn-run.cpp - compile, execute and check a function --------===//
//
// Compiles one function of an MLIR file through a named pipeline, runs it on
// the host through the ExecutionEngine on generated or given inputs, prints
// summaries of the results and, with --check, compares them with the float64
// reference evaluator. Output lines are stable for FileCheck; every bad
// input ends in one `sparse-attn-run: error: ...` line and exit code 2.
//
//===----------------------------------------------------------------------===//

#include "Arguments.h"
#include "HostBuffer.h"
#include "JitExecution.h"
#include "Npy.h"
#include "ReferenceEvaluator.h"

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::run;
namespace cl = llvm::cl;

static cl::OptionCategory toolCategory("sparse-attn-run options");

static cl::opt<std::string> inputFilename(cl::Positional,
                                          cl::desc("<input .mlir file>"),
                                          cl::init("-"), cl::cat(toolCategory));
static cl::opt<std::string>
    entryName("entry",
              cl::desc("Function to run (default: the only func.func)"),
              cl::value_desc("name"), cl::cat(toolCategory));
static cl::opt<std::string>
    pipelineName("pipeline",
                 cl::desc("Pipeline to compile with: cpu (tiled, 64x64 "
                          "tiles), cpu-tile128 (128x128 tiles), reference"),
                 cl::value_desc("name"), cl::init("cpu"),
                 cl::cat(toolCategory));
static cl::opt<uint64_t> seed("seed", cl::desc("Seed of the generated inputs"),
                              cl::init(0), cl::cat(toolCategory));
static cl::list<std::string> npyInputs("input",
                                       cl::desc("Argument I from a .npy file"),
                                       cl::value_desc("I=PATH.npy"),
                                       cl::cat(toolCategory));
static cl::list<std::string>
    shapes("shape", cl::desc("Extents of argument I when they are dynamic"),
           cl::value_desc("I=AxBx..."), cl::cat(toolCategory));
static cl::list<std::string> scalars("scalar",
                                     cl::desc("Value of scalar argument I"),
                                     cl::value_desc("I=VALUE"),
                                     cl::cat(toolCategory));
static cl::opt<bool>
    check("check",
          cl::desc("Compare the results with the float64 reference evaluator"),
          cl::cat(toolCategory));
static cl::opt<double> tolerance(
    "tolerance",
    cl::desc("Relative tolerance of --check (default: 1e-5 for f32/f64, "
             "1e-2 for bf16/f16)"),
    cl::cat(toolCategory));
static cl::opt<std::string> outputDirectory(
    "write-outputs",
    cl::desc("Write results and arguments as DIR/result<i>.npy and "
             "DIR/arg<i>.npy"),
    cl::value_desc("DIR"), cl::cat(toolCategory));

namespace {
/// A name on the command line and the registered pass pipeline it runs.
struct NamedPipeline {
  llvm::StringLiteral name;
  llvm::StringLiteral registeredName;
};
} // namespace

static constexpr NamedPipeline kPipelines[] = {
    {"cpu", "sparse-attn-to-cpu"},
    {"cpu-tile128", "sparse-attn-to-cpu{query-tile=128 key-tile=128}"},
    {"reference", "sparse-attn-reference"},
};

static llvm::Expected<StringRef> lookUpPipeline(StringRef name) {
  for (const NamedPipeline &pipeline : kPipelines)
    if (pipeline.name == name)
      return pipeline.registeredName;
  return llvm::createStringError(
      "unknown pipeline '" + name.str() + "' (known: " +
      llvm::join(llvm::map_range(kPipelines,
                                 [](const NamedPipeline &pipeline) {
                                   return pipeline.name;
                                 }),
                 ", ") +
      ")");
}

//===----------------------------------------------------------------------===//
// Command line values
//===----------------------------------------------------------------------===//

/// Collects the `I=VALUE` values of option `--name` by argument number I.
static llvm::Error collectIndexed(StringRef name, ArrayRef<std::string> values,
                                  llvm::DenseMap<unsigned, std::string> &map) {
  for (StringRef text : values) {
    auto [indexText, value] = text.split('=');
    unsigned index = 0;
    if (!text.contains('=') || indexText.getAsInteger(10, index))
      return llvm::createStringError("--" + name.str() + "=" + text.str() +
                                     ": expected I=VALUE with an argument "
                                     "number I");
    if (!map.try_emplace(index, value.str()).second)
      return llvm::createStringError("--" + name.str() +
                                     " given twice for argument #" +
                                     Twine(index).str());
  }
  return llvm::Error::success();
}

static llvm::Expected<SmallVector<int64_t, 4>> parseShape(StringRef text) {
  SmallVector<int64_t, 4> shape;
  if (text.empty())
    return shape;
  SmallVector<StringRef> extents;
  text.split(extents, 'x');
  for (StringRef extentText : extents) {
    int64_t extent = 0;
    if (extentText.getAsInteger(10, extent) || extent < 0)
      return llvm::createStringError("--shape: '" + text.str() +
                                     "' is not a shape like 2x8x100x64");
    shape.push_back(extent);
  }
  return shape;
}

static llvm::Expected<ArgumentOptions> collectArgumentOptions() {
  ArgumentOptions options;
  options.seed = seed;
  llvm::DenseMap<unsigned, std::string> shapeTexts;
  if (llvm::Error error = collectIndexed("input", npyInputs, options.npyPaths))
    return std::move(error);
  if (llvm::Error error = collectIndexed("shape", shapes, shapeTexts))
    return std::move(error);
  if (llvm::Error error = collectIndexed("scalar", scalars, options.scalars))
    return std::move(error);
  for (auto &[index, text] : shapeTexts) {
    llvm::Expected<SmallVector<int64_t, 4>> shape = parseShape(text);
    if (!shape)
      return shape.takeError();
    options.shapes[index] = std::move(*shape);
  }
  return options;
}

//===----------------------------------------------------------------------===//
// Module and entry
//===----------------------------------------------------------------------===//

static llvm::Expected<func::FuncOp> findEntry(ModuleOp module) {
  SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
  auto listNames = [&] {
    return llvm::join(llvm::map_range(functions,
                                      [](func::FuncOp function) {
                                        return "@" +
                                               function.getSymName().str();
                                      }),
                      ", ");
  };
  func::FuncOp entry;
  if (!entryName.empty()) {
    auto found = llvm::find_if(functions, [](func::FuncOp function) {
      return function.getSymName() == entryName;
    });
    if (found == functions.end())
      return llvm::createStringError(
          "no function @" + entryName + " in '" + inputFilename +
          "' (functions: " + (functions.empty() ? "none" : listNames()) + ")");
    entry = *found;
  } else if (functions.size() == 1) {
    entry = functions.front();
  } else if (functions.empty()) {
    return llvm::createStringError("no func.func in '" + inputFilename + "'");
  } else {
    return llvm::createStringError("several functions in '" + inputFilename +
                                   "' (" + listNames() +
                                   "): pick one with --entry=NAME");
  }
  if (entry.isDeclaration())
    return llvm::createStringError("@" + entry.getSymName().str() +
                                   " has no body");
  for (auto [index, type] : llvm::enumerate(entry.getResultTypes()))
    if (!getBufferType(type))
      return llvm::createStringError(
          llvm::formatv("result #{0} ({1}) of @{2}: unsupported type "
                        "(expected {3})",
                        index, type, entry.getSymName(), kSupportedTypes)
              .str());
  return entry;
}

//===----------------------------------------------------------------------===//
// Printing and comparing
//===----------------------------------------------------------------------===//

/// `%g` with NaN always spelt `nan` (printf may print `-nan`).
static std::string formatNumber(double value, const char *style = "%.6g") {
  if (std::isnan(value))
    return "nan";
  return llvm::formatv("{0}", llvm::format(style, value)).str();
}

/// The type of a value with its runtime extents.
static Type getRuntimeType(Type declared, const HostBuffer &buffer) {
  if (auto tensorType = dyn_cast<RankedTensorType>(declared))
    return RankedTensorType::get(buffer.getShape(),
                                 tensorType.getElementType());
  return declared;
}

static void printSummary(llvm::raw_ostream &os, const HostBuffer &buffer) {
  if (isFloatKind(buffer.getKind())) {
    double minimum = INFINITY, maximum = -INFINITY, sum = 0.0, squares = 0.0;
    bool hasNaN = false;
    for (int64_t i = 0; i < buffer.getNumElements(); ++i) {
      double value = buffer.getDouble(i);
      hasNaN |= std::isnan(value);
      minimum = std::min(minimum, value);
      maximum = std::max(maximum, value);
      sum += value;
      squares += value * value;
    }
    // A NaN shows in every statistic so that it cannot go unnoticed.
    if (hasNaN)
      minimum = maximum = NAN;
    os << " min " << formatNumber(minimum) << " max " << formatNumber(maximum)
       << " mean "
       << formatNumber(sum / static_cast<double>(buffer.getNumElements()))
       << " l2 " << formatNumber(std::sqrt(squares));
    return;
  }
  int64_t minimum = std::numeric_limits<int64_t>::max();
  int64_t maximum = std::numeric_limits<int64_t>::min();
  int64_t sum = 0, nonzero = 0;
  for (int64_t i = 0; i < buffer.getNumElements(); ++i) {
    int64_t value = buffer.getInt(i);
    minimum = std::min(minimum, value);
    maximum = std::max(maximum, value);
    sum += value;
    nonzero += value != 0;
  }
  os << " min " << minimum << " max " << maximum << " sum " << sum
     << " nonzero " << nonzero;
}

/// Prints the `check result #I` line; returns whether the result passed.
static bool checkResult(llvm::raw_ostream &os, unsigned index,
                        const HostBuffer &actual,
                        const ReferenceTensor &expected) {
  os << "check result #" << index << ": ";
  if (actual.getShape() != ArrayRef<int64_t>(expected.shape)) {
    os << "shape " << formatShape(actual.getShape())
       << " differs from the reference " << formatShape(expected.shape)
       << " FAIL\n";
    return false;
  }
  if (!isFloatKind(actual.getKind())) {
    int64_t mismatches = 0;
    for (int64_t i = 0; i < actual.getNumElements(); ++i)
      mismatches += static_cast<double>(actual.getInt(i)) != expected.data[i];
    os << mismatches << " mismatches " << (mismatches ? "FAIL" : "ok") << "\n";
    return mismatches == 0;
  }
  double limit = tolerance.getNumOccurrences() ? tolerance.getValue()
                 : actual.getKind() == ElementKind::BF16 ||
                         actual.getKind() == ElementKind::F16
                     ? 1e-2
                     : 1e-5;
  double maxDifference = 0.0, maxReference = 0.0;
  int64_t nonFiniteMismatches = 0;
  for (int64_t i = 0; i < actual.getNumElements(); ++i) {
    double value = actual.getDouble(i), reference = expected.data[i];
    if (std::isnan(value) || std::isnan(reference) ||
        ((std::isinf(value) || std::isinf(reference)) && value != reference)) {
      ++nonFiniteMismatches;
      continue;
    }
    // Matching infinities (statistics of empty rows) are exact.
    if (std::isinf(value))
      continue;
    maxDifference = std::max(maxDifference, std::abs(value - reference));
    maxReference = std::max(maxReference, std::abs(reference));
  }
  double error =
      maxReference == 0.0 ? maxDifference : maxDifference / maxReference;
  bool passed = nonFiniteMismatches == 0 && error <= limit;
  os << "max relative error " << formatNumber(error, "%.3g") << " (tolerance "
     << formatNumber(limit, "%.3g") << ") " << (passed ? "ok" : "FAIL");
  if (nonFiniteMismatches)
    os << " (" << nonFiniteMismatches << " NaN/Inf mismatches)";
  os << "\n";
  return passed;
}

static void printMaskDensity(llvm::raw_ostream &os, AsmState &asmState,
                             const MaskDensity &density) {
  os << "mask ";
  density.mask.printAsOperand(os, asmState);
  os << " (" << density.mask.getDefiningOp()->getName()
     << ") density per head:";
  for (int64_t b = 0; b < density.batch; ++b)
    for (int64_t h = 0; h < density.heads; ++h)
      os << " b" << b << "h" << h << " "
         << formatNumber(density.density[b * density.heads + h], "%.3f");
  os << "\n";
}

/// Writes `buffers` as DIR/<stem><i>.npy, creating DIR if needed.
static llvm::Error writeBuffers(StringRef directory, StringRef stem,
                                ArrayRef<HostBuffer> buffers) {
  if (std::error_code error = llvm::sys::fs::create_directories(directory))
    return llvm::createStringError("cannot create '" + directory.str() +
                                   "': " + error.message());
  for (auto [index, buffer] : llvm::enumerate(buffers)) {
    SmallString<128> path(directory);
    llvm::sys::path::append(path, stem + Twine(index) + ".npy");
    if (llvm::Error error = writeNpy(path, buffer))
      return error;
  }
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

/// Runs the tool; returns whether --check passed (true without --check).
static llvm::Expected<bool> runTool(MLIRContext &context) {
  llvm::Expected<StringRef> pipeline = lookUpPipeline(pipelineName);
  if (!pipeline)
    return pipeline.takeError();
  if (tolerance.getNumOccurrences() &&
      !(std::isfinite(tolerance.getValue()) && tolerance.getValue() >= 0.0))
    return llvm::createStringError("--tolerance must be a non-negative number");
  llvm::Expected<ArgumentOptions> argumentOptions = collectArgumentOptions();
  if (!argumentOptions)
    return argumentOptions.takeError();

  std::string message;
  std::unique_ptr<llvm::MemoryBuffer> file =
      openInputFile(inputFilename, &message);
  if (!file)
    return llvm::createStringError(message);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnosticHandler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&context));
  if (!module)
    return llvm::createStringError("cannot parse '" + inputFilename + "'");
  llvm::Expected<func::FuncOp> entry = findEntry(*module);
  if (!entry)
    return entry.takeError();

  llvm::raw_ostream &os = llvm::outs();
  os << "entry @" << entry->getSymName() << " (pipeline " << pipelineName
     << ")\n";
  llvm::Expected<PreparedArguments> arguments =
      prepareArguments(*entry, *argumentOptions);
  if (!arguments)
    return arguments.takeError();
  ArrayRef<HostBuffer> argumentValues = arguments->values;
  for (auto [index, value, origin] :
       llvm::enumerate(argumentValues, arguments->origins))
    os << "arg #" << index << ": "
       << getRuntimeType(entry->getArgumentTypes()[index], value) << " "
       << origin << "\n";
  // Inputs are written before anything runs so that a failing run can be
  // reproduced from them.
  if (!outputDirectory.empty())
    if (llvm::Error error =
            writeBuffers(outputDirectory, "arg", argumentValues))
      return std::move(error);

  // The reference runs first: it rejects inconsistent runtime extents that
  // the compiled code would not survive.
  std::optional<ReferenceEvaluation> reference;
  if (check) {
    llvm::Expected<ReferenceEvaluation> evaluation =
        evaluateReference(*entry, argumentValues);
    if (!evaluation)
      return evaluation.takeError();
    reference = std::move(*evaluation);
  }

  llvm::Expected<SmallVector<HostBuffer>> results =
      compileAndRun(*module, entry->getSymName(), *pipeline, argumentValues);
  if (!results)
    return results.takeError();
  for (auto [index, result] : llvm::enumerate(*results)) {
    os << "result #" << index << ": "
       << getRuntimeType(entry->getResultTypes()[index], result);
    printSummary(os, result);
    os << "\n";
  }

  if (!outputDirectory.empty())
    if (llvm::Error error = writeBuffers(outputDirectory, "result", *results))
      return std::move(error);

  if (!reference)
    return true;
  bool passed = true;
  for (auto [index, result] : llvm::enumerate(*results))
    passed &= checkResult(os, index, result, reference->results[index]);
  AsmState asmState(*entry);
  for (const MaskDensity &density : reference->masks)
    printMaskDensity(os, asmState, density);
  os << "check: " << (passed ? "PASS" : "FAIL") << "\n";
  return passed;
}

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  // --help lists this tool's options, not every option LLVM registers.
  cl::HideUnrelatedOptions(toolCategory);
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "sparse_attn compile-and-run driver: compiles a function through a "
          "pipeline, runs it on the host and checks it against a float64 "
          "reference\n",
          &llvm::errs())) {
    llvm::errs() << "sparse-attn-run: error: invalid command line\n";
    return 2;
  }

  registerPipelines();
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<SparseAttnDialect>();
  MLIRContext context(registry);

  llvm::Expected<bool> passed = runTool(context);
  llvm::outs().flush();
  if (!passed) {
    llvm::errs() << "sparse-attn-run: error: "
                 << llvm::toString(passed.takeError()) << "\n";
    return 2;
  }
  return *passed ? 0 : 1;
}
