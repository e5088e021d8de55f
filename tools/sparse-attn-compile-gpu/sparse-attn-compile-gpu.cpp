//===- sparse-attn-compile-gpu.cpp - kernel bundles from specs --*- C++ -*-===//
//
// Compiles the kernels a kernel list names into one kernel bundle
// (docs/design/kernel-bundles.md): each line of the list is an operation and
// its specialization in the runtime's lookup syntax,
//
//     attention normalizer=softmax,dtype=bf16,head_dim=128,value_dim=128,causal=true,varlen=false,statistics=false,mask=none
//     entmax alpha=1.5,dtype=bf16
//
// optionally followed by tuning (`block_q=64,block_k=64,warps=4`), or a
// prefill estimator's block selection,
//
//     select_blocks method=xattention,stride=8,dtype=bf16,head_dim=128,causal=true,varlen=false,mask_block_q=128,mask_block_k=128
//
// (docs/design/kernel-bundles.md, "Operations"). For each the tool
// writes the sparse_attn function that computes it, runs the sparse-attn-gpu
// pipeline, reads what sparse-attn-to-gpu recorded on the kernel (argument
// names, launch shape), and writes `<name>.bundle/` with the manifest, the
// PTX of all kernels and, when ptxas is found, its cubin.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Conversion/SparseAttnToGPU/KernelAttributes.h"
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Pipelines/Pipelines.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <tuple>
#include <optional>

using namespace mlir;
namespace cl = llvm::cl;
namespace json = llvm::json;

namespace {

cl::opt<std::string> kernelList(cl::Positional, cl::Required,
                                cl::desc("<kernel list>"));
cl::opt<std::string> outputDirectory("o", cl::Required,
                                     cl::desc("Directory to write the bundle "
                                              "into"),
                                     cl::value_desc("directory"));
cl::opt<std::string> bundleName("name", cl::init("sparse-attn"),
                                cl::desc("Bundle name (<name>.bundle)"));
cl::opt<std::string> chip("chip", cl::init("sm_90a"),
                          cl::desc("Target GPU architecture"));
cl::opt<std::string> features("features", cl::init("+ptx80"),
                              cl::desc("NVPTX features (PTX version)"));
cl::opt<int64_t> queryTile("query-tile", cl::init(128),
                           cl::desc("Default rows of a query tile"));
cl::opt<int64_t> keyTile("key-tile", cl::init(64),
                         cl::desc("Default keys of a key tile"));
cl::opt<int64_t> warps("warps", cl::init(4),
                       cl::desc("Default warps of a CTA"));
cl::opt<std::string> ptxasPath("ptxas", cl::init(""),
                               cl::desc("ptxas to build cubins with (default: "
                                        "from PATH or /usr/local/cuda/bin)"));
cl::opt<unsigned> indexBitwidth(
    "index-bitwidth", cl::init(32),
    cl::desc("Bits of the kernels' index type (32 or 64): the width of their "
             "size, stride and offset parameters"));
cl::opt<bool> noCubin("no-cubin", cl::init(false),
                      cl::desc("Write PTX only"));
cl::opt<std::string> emitMlir("emit-mlir", cl::init(""),
                              cl::desc("Also write the kernels' gpu-level "
                                       "IR to this file"));

/// One line of the kernel list.
struct KernelSpec {
  std::string op;
  /// The specialization as written, and parsed.
  std::string text;
  std::map<std::string, std::string> keys;
  std::map<std::string, int64_t> tuning;
  unsigned line = 0;

  std::string get(StringRef key, StringRef fallback = "") const {
    auto it = keys.find(key.str());
    return it == keys.end() ? fallback.str() : it->second;
  }
  bool flag(StringRef key) const { return get(key) == "true"; }
};

[[noreturn]] void fail(const Twine &message) {
  llvm::errs() << "sparse-attn-compile-gpu: " << message << "\n";
  std::exit(1);
}

std::optional<std::map<std::string, std::string>>
parsePairs(StringRef text) {
  std::map<std::string, std::string> pairs;
  SmallVector<StringRef> items;
  text.split(items, ',', -1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [key, value] = item.split('=');
    if (key.empty() || value.empty())
      return std::nullopt;
    pairs[key.trim().str()] = value.trim().str();
  }
  return pairs;
}

std::vector<KernelSpec> readKernelList(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    fail("cannot read " + path + ": " + buffer.getError().message());
  std::vector<KernelSpec> specs;
  SmallVector<StringRef> lines;
  (*buffer)->getBuffer().split(lines, '\n');
  for (auto [number, raw] : llvm::enumerate(lines)) {
    StringRef line = raw.split('#').first.trim();
    if (line.empty())
      continue;
    SmallVector<StringRef> words;
    line.split(words, ' ', -1, /*KeepEmpty=*/false);
    auto where = (path + ":" + Twine(number + 1) + ": ").str();
    if (words.size() < 2 || words.size() > 3)
      fail(where + "expected `<op> <specialization> [<tuning>]`");
    KernelSpec spec;
    spec.op = words[0].str();
    spec.text = words[1].str();
    spec.line = number + 1;
    auto keys = parsePairs(words[1]);
    if (!keys)
      fail(where + "malformed specialization `" + words[1] + "`");
    spec.keys = *keys;
    if (words.size() == 3) {
      auto tuning = parsePairs(words[2]);
      if (!tuning)
        fail(where + "malformed tuning `" + words[2] + "`");
      for (auto &[key, value] : *tuning) {
        int64_t number = 0;
        if (StringRef(value).getAsInteger(10, number))
          fail(where + "tuning value of " + key + " is not an integer");
        spec.tuning[key] = number;
      }
    }
    specs.push_back(std::move(spec));
  }
  if (specs.empty())
    fail(path + " lists no kernel");
  return specs;
}

//===----------------------------------------------------------------------===//
// The function computing a specialization
//===----------------------------------------------------------------------===//

std::string kernelName(const KernelSpec &spec) {
  if (spec.op == "select_blocks")
    return spec.op + "_" + spec.get("method") + "_s" + spec.get("stride") +
           "_" + spec.get("dtype") + "_d" + spec.get("head_dim") +
           (spec.flag("causal") ? "_causal" : "") + "_block" +
           spec.get("mask_block_q") + "x" + spec.get("mask_block_k");
  std::string alpha =
      "_a" + llvm::join(llvm::split(spec.get("alpha"), '.'), "p");
  if (spec.op == "entmax") {
    std::string name = spec.op + alpha + "_" + spec.get("dtype");
    for (auto &[key, value] : spec.tuning)
      name += "_" + key + std::to_string(value);
    return name;
  }
  std::string name = spec.op + "_" + spec.get("normalizer");
  if (spec.get("normalizer") == "entmax")
    name += alpha;
  name += "_" + spec.get("dtype") + "_d" + spec.get("head_dim");
  if (spec.get("value_dim") != spec.get("head_dim"))
    name += "_dv" + spec.get("value_dim");
  if (spec.flag("causal"))
    name += "_causal";
  if (spec.flag("varlen"))
    name += "_varlen";
  if (spec.flag("bias"))
    name += "_bias";
  if (spec.flag("statistics"))
    name += "_stats";
  if (spec.keys.count("precision"))
    name += "_" + spec.get("precision");
  if (spec.get("mask") == "block")
    name += "_block" + spec.get("mask_block_q") + "x" +
            spec.get("mask_block_k") + (spec.flag("full_blocks") ? "_full" : "");
  for (auto &[key, value] : spec.tuning)
    name += "_" + key + std::to_string(value);
  return name;
}

/// The specialization's dtype, checked.
std::string checkedDtype(const KernelSpec &spec, const std::string &where) {
  std::string dtype = spec.get("dtype");
  if (dtype != "bf16" && dtype != "f16" && dtype != "f32")
    fail(where + "dtype must be bf16, f16 or f32");
  return dtype;
}

/// The specialization's entmax alpha as an MLIR float literal.
std::string alphaLiteral(const KernelSpec &spec, const std::string &where) {
  // The kernels specialise alpha; none takes it as an argument yet.
  double alpha = 0;
  if (StringRef(spec.get("alpha")).getAsDouble(alpha) || !(alpha > 1.0))
    fail(where + "entmax needs a number alpha > 1 (`alpha=any` has no GPU "
                 "kernel yet)");
  std::string literal = spec.get("alpha");
  if (StringRef(literal).find_first_of(".eE") == StringRef::npos)
    literal += ".0";
  return literal;
}

/// The sparse_attn function of a row-wise `entmax` specialization.
std::string entmaxFunction(const KernelSpec &spec, const std::string &name) {
  auto where = "line " + std::to_string(spec.line) + ": ";
  for (auto &[key, value] : spec.keys)
    if (key != "dtype" && key != "alpha")
      fail(where + "the entmax specialization has keys dtype and alpha, "
                   "not `" + key + "`");
  std::string type =
      llvm::formatv("tensor<?x?x{0}>", checkedDtype(spec, where));
  return llvm::formatv(
      "func.func @{0}(%x: {1} {{sparse_attn.name = \"x\"}) -> ({1} "
      "{{sparse_attn.name = \"y\"}) {{\n"
      "  %y = sparse_attn.entmax %x <alpha = {2}> : {1}\n"
      "  return %y : {1}\n"
      "}\n",
      name, type, alphaLiteral(spec, where));
}

/// The sparse_attn function of an `attention` specialization.
std::string attentionFunction(const KernelSpec &spec, const std::string &name) {
  auto where = "line " + std::to_string(spec.line) + ": ";
  for (StringRef key : {"normalizer", "dtype", "head_dim", "value_dim",
                        "causal", "varlen", "statistics", "mask"})
    if (!spec.keys.count(key.str()))
      fail(where + "the attention specialization lacks `" + key + "`");
  std::string dtype = checkedDtype(spec, where);
  // f32 kernels round their operands to tf32 unless the specialization
  // asks for the 3xTF32 split (a key the operations do not send: such
  // kernels are found by asking for it).
  if (spec.keys.count("precision") &&
      (dtype != "f32" || spec.get("precision") != "3xtf32"))
    fail(where + "`precision` is 3xtf32 on f32 kernels only (the default, "
                 "without the key, is tf32)");
  std::string normalizer = spec.get("normalizer");
  if (normalizer == "entmax") {
    normalizer = "entmax<alpha = " + alphaLiteral(spec, where) + ">";
  } else if (normalizer == "elastic_softmax") {
    if (!spec.keys.count("bias"))
      fail(where + "an elastic-softmax specialization lacks `bias`");
    if (!spec.flag("causal"))
      fail(where + "elastic softmax is always causal");
  } else if (normalizer != "softmax") {
    fail(where + "normalizer " + normalizer + " has no GPU kernel yet");
  }
  std::string mask = spec.get("mask");
  if (mask != "none" && mask != "block")
    fail(where + "mask must be none or block");
  bool blockMask = mask == "block";
  if (blockMask)
    for (StringRef key : {"mask_block_q", "mask_block_k", "full_blocks"})
      if (!spec.keys.count(key.str()))
        fail(where + "a block-mask specialization lacks `" + key + "`");

  std::string qk = llvm::formatv("tensor<?x?x?x{0}x{1}>", spec.get("head_dim"),
                                 dtype);
  std::string vo = llvm::formatv("tensor<?x?x?x{0}x{1}>",
                                 spec.get("value_dim"), dtype);
  std::string stats = "tensor<?x?x?xf32>";
  std::string lengths = "tensor<?xi32>";
  std::string args = llvm::formatv(
      "%q: {0} {{sparse_attn.name = \"q\"}, %k: {0} {{sparse_attn.name = "
      "\"k\"}, %v: {1} {{sparse_attn.name = \"v\"}",
      qk, vo);
  std::string operands;
  if (spec.flag("varlen")) {
    args += llvm::formatv(", %ql: {0} {{sparse_attn.name = \"query_lengths\"}"
                          ", %kl: {0} {{sparse_attn.name = \"key_lengths\"}",
                          lengths);
    operands += llvm::formatv(" query_lengths(%ql : {0}) key_lengths(%kl : "
                              "{0})",
                              lengths);
  }
  std::string prologue;
  if (blockMask) {
    std::string counts = "tensor<?x?x?xi32>", indices = "tensor<?x?x?x?xi32>";
    std::string maskType =
        llvm::formatv("!sparse_attn.block_mask<?x?x?x?, block = {0}x{1}>",
                      spec.get("mask_block_q"), spec.get("mask_block_k"));
    args += llvm::formatv(
        ", %kvn: {0} {{sparse_attn.name = \"kv_num_blocks\"}, %kvi: {1} "
        "{{sparse_attn.name = \"kv_indices\"}",
        counts, indices);
    std::string full, fullTypes;
    if (spec.flag("full_blocks")) {
      args += llvm::formatv(
          ", %fkvn: {0} {{sparse_attn.name = \"full_kv_num_blocks\"}, %fkvi: "
          "{1} {{sparse_attn.name = \"full_kv_indices\"}",
          counts, indices);
      full = " full(%fkvn, %fkvi)";
      fullTypes = ", " + counts + ", " + indices;
    }
    prologue = llvm::formatv(
        "  %c2 = arith.constant 2 : index\n"
        "  %nq = tensor.dim %q, %c2 : {0}\n"
        "  %nk = tensor.dim %k, %c2 : {0}\n"
        "  %mask = sparse_attn.mask_from_indices %kvn, %kvi{1} (%nq, %nk) : "
        "{2}, {3}{4} -> {5}\n",
        qk, full, counts, indices, fullTypes, maskType);
    operands = " mask(%mask : " + maskType + ")" + operands;
  }
  if (normalizer == "elastic_softmax") {
    if (spec.flag("bias")) {
      args += ", %bias: tensor<?x?xf32> {sparse_attn.name = \"bias\"}";
      operands += " bias(%bias : tensor<?x?xf32>)";
    }
    args += ", %tau: tensor<?xf32> {sparse_attn.name = \"elastic_tau\"}";
    operands += " tau(%tau : tensor<?xf32>)";
  }
  bool statistics = spec.flag("statistics");
  std::string results =
      vo + " {sparse_attn.name = \"out\"}" +
      (statistics ? ", " + stats + " {sparse_attn.name = \"stats\"}" : "");
  std::string resultTypes = vo + (statistics ? ", " + stats : "");
  std::string values = statistics ? "%o, %s" : "%o";
  return llvm::formatv(
      "func.func @{0}({1}) -> ({2}) {{\n{10}"
      "  {3} = sparse_attn.attention {4}{5} %q, %k, %v{6} scale(1.0) : {7}, "
      "{7}, {8} -> {9}\n"
      "  return {3} : {9}\n"
      "}\n",
      name, args, results, values, normalizer,
      spec.flag("causal") ? " causal" : "", operands, qk, vo, resultTypes,
      prologue);
}

/// The sparse_attn function of a `select_blocks` specialization: a prefill
/// estimator's block selection, thresholds per head as a tensor.
std::string selectBlocksFunction(const KernelSpec &spec,
                                 const std::string &name) {
  auto where = "line " + std::to_string(spec.line) + ": ";
  for (StringRef key : {"method", "stride", "dtype", "head_dim", "causal",
                        "varlen", "mask_block_q", "mask_block_k"})
    if (!spec.keys.count(key.str()))
      fail(where + "the select_blocks specialization lacks `" + key + "`");
  if (spec.get("method") != "xattention")
    fail(where + "select_blocks has GPU kernels for method=xattention only");
  if (spec.flag("varlen"))
    fail(where + "select_blocks has no varlen GPU kernel yet");
  if (!spec.tuning.empty())
    fail(where + "select_blocks kernels take no tuning");
  std::string qk = llvm::formatv("tensor<?x?x?x{0}x{1}>", spec.get("head_dim"),
                                 spec.get("dtype"));
  return llvm::formatv(
      "func.func @{0}(%q: {1} {{sparse_attn.name = \"q\"}, %k: {1} "
      "{{sparse_attn.name = \"k\"}, %t: tensor<?xf32> {{sparse_attn.name = "
      "\"thresholds\"}) -> (tensor<?x?x?xi32> {{sparse_attn.name = "
      "\"kv_num_blocks\"}, tensor<?x?x?x?xi32> {{sparse_attn.name = "
      "\"kv_indices\"}) {{\n"
      "  %n, %i = sparse_attn.select_blocks xattention<stride = {2}>{3} %q, "
      "%k thresholds(%t : tensor<?xf32>) scale(1.0) block({4}, {5}) : {1}, "
      "{1} -> tensor<?x?x?xi32>, tensor<?x?x?x?xi32>\n"
      "  return %n, %i : tensor<?x?x?xi32>, tensor<?x?x?x?xi32>\n"
      "}\n",
      name, qk, spec.get("stride"), spec.flag("causal") ? " causal" : "",
      spec.get("mask_block_q"), spec.get("mask_block_k"));
}

/// The constraint that the rows of `tensors` (their first three strides)
/// start on 16-byte boundaries, as the kernels' 16-byte copies read them.
json::Object rowAlignmentConstraint(const KernelSpec &spec,
                                    ArrayRef<StringRef> tensors) {
  int64_t perChunk = spec.get("dtype") == "f32" ? 4 : 8;
  std::string rows, names;
  for (auto [i, tensor] : llvm::enumerate(tensors)) {
    for (int d = 0; d < 3; ++d)
      rows += (rows.empty() ? "" : " && ") + tensor.str() + ".stride" +
              std::to_string(d) + " % " + std::to_string(perChunk) + " == 0";
    names += (i == 0 ? "" : i + 1 == tensors.size() ? " and " : ", ") +
             tensor.str();
  }
  return json::Object{
      {"expr", rows},
      {"message", "rows of " + names +
                      " must start on 16-byte boundaries (strides of the "
                      "first three dimensions multiples of " +
                      std::to_string(perChunk) + " elements)"}};
}

/// What a block-selection kernel requires of its arguments.
json::Array selectBlocksConstraints(const KernelSpec &spec) {
  json::Array constraints;
  constraints.push_back("k.size0 == q.size0");
  constraints.push_back(json::Object{
      {"expr", "k.size1 > 0 && q.size1 % k.size1 == 0"},
      {"message", "query heads must be a multiple of key heads"}});
  constraints.push_back(rowAlignmentConstraint(spec, {"q", "k"}));
  constraints.push_back(json::Object{
      {"expr", "thresholds.size0 == q.size1"},
      {"message", "one threshold per query head"}});
  constraints.push_back(json::Object{
      {"expr", "kv_num_blocks.size0 == q.size0 && kv_num_blocks.size1 == "
               "q.size1 && kv_num_blocks.size2 == ceil_div(q.size2, " +
                   spec.get("mask_block_q") + ")"},
      {"message", "kv_num_blocks must be [B, H, ceil(Nq / " +
                      spec.get("mask_block_q") + ")]"}});
  constraints.push_back(json::Object{
      {"expr", "kv_indices.size0 == q.size0 && kv_indices.size1 == q.size1 && "
               "kv_indices.size2 == kv_num_blocks.size2 && kv_indices.size3 == "
               "ceil_div(k.size2, " +
                   spec.get("mask_block_k") + ")"},
      {"message", "kv_indices must be [B, H, ceil(Nq / " +
                      spec.get("mask_block_q") + "), ceil(Nk / " +
                      spec.get("mask_block_k") + ")]"}});
  return constraints;
}

/// What the kernel requires of its arguments beyond the manifest's dtype,
/// rank and static sizes.
json::Array attentionConstraints(const KernelSpec &spec) {
  json::Array constraints;
  constraints.push_back(
      "k.size0 == q.size0 && v.size0 == q.size0 && out.size0 == q.size0");
  constraints.push_back(json::Object{
      {"expr", "k.size1 > 0 && q.size1 % k.size1 == 0"},
      {"message", "query heads must be a multiple of key/value heads"}});
  constraints.push_back("v.size1 == k.size1 && v.size2 == k.size2");
  constraints.push_back("out.size1 == q.size1 && out.size2 == q.size2");
  constraints.push_back(rowAlignmentConstraint(spec, {"q", "k", "v"}));
  constraints.push_back(json::Object{
      {"expr", "out.stride0 % 2 == 0 && out.stride1 % 2 == 0 && "
               "out.stride2 % 2 == 0"},
      {"message", "out is written in pairs of elements: its strides must be "
                  "even"}});
  if (spec.get("normalizer") == "elastic_softmax") {
    constraints.push_back("elastic_tau.size0 == q.size1");
    if (spec.flag("bias"))
      constraints.push_back(json::Object{
          {"expr", "bias.size0 == q.size1"},
          {"message", "the bias needs one row per query head"}});
  }
  if (spec.get("normalizer") == "entmax")
    constraints.push_back(json::Object{
        {"expr", "niter >= 1"},
        {"message", "the entmax solver needs at least one pass"}});
  if (spec.flag("statistics"))
    constraints.push_back("stats.size0 == q.size0 && stats.size1 == q.size1 "
                          "&& stats.size2 == q.size2");
  if (spec.flag("varlen"))
    constraints.push_back(
        "query_lengths.size0 == q.size0 && key_lengths.size0 == q.size0");
  if (spec.get("mask") == "block") {
    SmallVector<std::pair<std::string, std::string>> pairs = {
        {"kv_num_blocks", "kv_indices"}};
    if (spec.flag("full_blocks"))
      pairs.push_back({"full_kv_num_blocks", "full_kv_indices"});
    for (auto &[counts, indices] : pairs) {
      constraints.push_back(json::Object{
          {"expr", counts + ".size0 == 1 || " + counts + ".size0 == q.size0"},
          {"message", "the mask's batch extent must be 1 or the batch size"}});
      constraints.push_back(json::Object{
          {"expr", counts + ".size1 == 1 || " + counts + ".size1 == q.size1"},
          {"message", "the mask's head extent must be 1 or the number of "
                      "query heads"}});
      constraints.push_back(json::Object{
          {"expr", counts + ".size2 == ceil_div(q.size2, " +
                       spec.get("mask_block_q") + ")"},
          {"message", "the mask must have one row per " +
                          spec.get("mask_block_q") + " queries"}});
      constraints.push_back(indices + ".size0 == " + counts + ".size0 && " +
                            indices + ".size1 == " + counts + ".size1 && " +
                            indices + ".size2 == " + counts + ".size2");
    }
  }
  return constraints;
}

//===----------------------------------------------------------------------===//
// Manifest entries from the kernel's attributes
//===----------------------------------------------------------------------===//

std::string dtypeName(Type type) {
  if (type.isBF16())
    return "bf16";
  if (type.isF16())
    return "f16";
  if (type.isF32())
    return "f32";
  if (type.isF64())
    return "f64";
  if (type.isInteger(32))
    return "i32";
  if (type.isInteger(64))
    return "i64";
  fail("kernel argument of unsupported element type");
}

json::Array entmaxConstraints() {
  json::Array constraints;
  constraints.push_back(json::Object{
      {"expr", "y.size0 == x.size0 && y.size1 == x.size1"},
      {"message", "y must have the shape of x"}});
  constraints.push_back(json::Object{
      {"expr", "niter >= 1"},
      {"message", "the entmax solver needs at least one pass"}});
  return constraints;
}

json::Object kernelEntry(const KernelSpec &spec, gpu::GPUFuncOp kernel,
                         const std::string &module) {
  json::Array tensors, scalars, params;
  json::Array constraints = spec.op == "select_blocks"
                                ? selectBlocksConstraints(spec)
                            : spec.op == "entmax" ? entmaxConstraints()
                                                  : attentionConstraints(spec);
  for (unsigned i = 0, e = kernel.getNumArguments(); i < e; ++i) {
    Type type = kernel.getArgument(i).getType();
    if (auto name = kernel.getArgAttrOfType<StringAttr>(i, sparse_attn::kKernelScalarAttr)) {
      scalars.push_back(json::Object{{"name", name.str()},
                                     {"type", type.isF32() ? "f32" : "i32"}});
      params.push_back(json::Object{{"kind", "scalar"}, {"name", name.str()}});
      continue;
    }
    std::string indexType = indexBitwidth == 32 ? "i32" : "i64";
    // An extent or a stride of a tensor.
    for (StringRef kind : {"size", "stride"}) {
      auto tensor = kernel.getArgAttrOfType<StringAttr>(
          i, kind == "size" ? sparse_attn::kKernelSizeAttr
                            : sparse_attn::kKernelStrideAttr);
      auto dim = kernel.getArgAttrOfType<IntegerAttr>(i, sparse_attn::kKernelDimAttr);
      if (tensor && dim)
        params.push_back(json::Object{{"kind", kind},
                                      {"tensor", tensor.str()},
                                      {"dim", dim.getInt()},
                                      {"type", indexType}});
    }
    if (!isa<MemRefType>(type))
      continue;
    // A tensor: its bare pointer.
    auto name = kernel.getArgAttrOfType<StringAttr>(i, sparse_attn::kKernelTensorAttr);
    auto access = kernel.getArgAttrOfType<StringAttr>(i, sparse_attn::kKernelAccessAttr);
    auto shape = kernel.getArgAttrOfType<DenseI64ArrayAttr>(i, sparse_attn::kKernelShapeAttr);
    if (!name || !access || !shape)
      fail("kernel " + kernel.getName() + " has a pointer argument without a "
           "tensor name, access and shape");
    json::Array sizes;
    for (int64_t size : shape.asArrayRef())
      sizes.push_back(size < 0 ? json::Value(nullptr) : json::Value(size));
    Type elementType = cast<MemRefType>(type).getElementType();
    int64_t rank = shape.size();
    int64_t elementBytes = elementType.getIntOrFloatBitWidth() / 8;
    // 16-byte copies read q, k and v; pairs of elements are written.
    int64_t alignment = access.getValue() == "read" && rank == 4
                            ? 16
                            : (rank == 4 ? 2 : 1) * elementBytes;
    tensors.push_back(json::Object{{"name", name.str()},
                                   {"dtype", dtypeName(elementType)},
                                   {"rank", rank},
                                   {"sizes", std::move(sizes)},
                                   {"alignment", alignment},
                                   {"access", access.str()}});
    params.push_back(json::Object{{"kind", "pointer"}, {"tensor", name.str()}});
    if (indexBitwidth == 32) {
      // Element offsets are computed in 32 bits.
      std::string extent;
      for (int64_t d = 0; d < rank; ++d)
        extent += llvm::formatv("({0}.size{1} - 1) * {0}.stride{1} + ",
                                name.getValue(), d);
      constraints.push_back(json::Object{
          {"expr", extent + "1 <= 2147483647"},
          {"message", "tensor '" + name.str() +
                          "' spans more elements than the kernel's 32-bit "
                          "offsets reach"}});
    }
  }
  auto launch = kernel->getAttrOfType<DictionaryAttr>(sparse_attn::kKernelLaunchAttr);
  if (!launch)
    fail("kernel " + kernel.getName() + " has no launch attribute");
  auto tuningAttrs =
      kernel->getAttrOfType<DictionaryAttr>(sparse_attn::kKernelTuningAttr);
  // Per-CTA structures of block-mask schedules have fixed capacities.
  auto limit = [&](StringRef name) -> int64_t {
    auto attr = launch.getAs<IntegerAttr>(name);
    return attr ? attr.getInt() : 0;
  };
  if (int64_t blocks = limit("max_key_blocks"))
    constraints.push_back(json::Object{
        {"expr", "ceil_div(k.size2, " + spec.get("mask_block_k") +
                     ") <= " + std::to_string(blocks)},
        {"message", "the kernel's block-mask tables hold " +
                        std::to_string(blocks) + " key blocks"}});
  if (int64_t entries = limit("max_list_entries"); entries && tuningAttrs)
    constraints.push_back(json::Object{
        {"expr", "ceil_div(k.size2, " +
                     std::to_string(tuningAttrs.getAs<IntegerAttr>("block_k")
                                        .getInt()) +
                     ") <= " + std::to_string(entries)},
        {"message", "the kernel's key-tile schedule holds " +
                        std::to_string(entries) + " tiles"}});
  if (int64_t tiles = limit("max_recorded_tiles"); tiles && tuningAttrs)
    constraints.push_back(json::Object{
        {"expr", "ceil_div(k.size2, " +
                     std::to_string(tuningAttrs.getAs<IntegerAttr>("block_k")
                                        .getInt()) +
                     ") <= " + std::to_string(tiles)},
        {"message", "the kernel records row maxima of at most " +
                        std::to_string(tiles) + " key tiles"}});
  json::Array grid, block;
  for (Attribute entry : cast<ArrayAttr>(launch.get("grid")))
    grid.push_back(cast<StringAttr>(entry).str());
  for (Attribute entry : cast<ArrayAttr>(launch.get("block")))
    block.push_back(cast<IntegerAttr>(entry).getInt());
  json::Object tuning;
  if (auto attrs = tuningAttrs)
    for (NamedAttribute attr : attrs)
      tuning[attr.getName().str()] = cast<IntegerAttr>(attr.getValue()).getInt();

  json::Object specialization;
  for (auto &[key, value] : spec.keys) {
    int64_t number = 0;
    double real = 0;
    if (value == "true" || value == "false")
      specialization[key] = value == "true";
    else if (!StringRef(value).getAsInteger(10, number))
      specialization[key] = number;
    else if (!StringRef(value).getAsDouble(real))
      specialization[key] = real;
    else
      specialization[key] = value;
  }
  return json::Object{
      {"name", kernel.getName().str()},
      {"module", module},
      {"entry", kernel.getName().str()},
      {"op", spec.op},
      {"specialization", std::move(specialization)},
      {"tuning", std::move(tuning)},
      {"tensors", std::move(tensors)},
      {"scalars", std::move(scalars)},
      {"constraints", std::move(constraints)},
      {"params", std::move(params)},
      {"launch",
       json::Object{{"grid", std::move(grid)},
                    {"block", std::move(block)},
                    {"shared_memory_bytes",
                     cast<IntegerAttr>(launch.get("shared_memory_bytes"))
                         .getInt()}}}};
}

/// Bytes of each parameter slot, as the runtime fills them.
int64_t slotBytes(const json::Object &slot) {
  StringRef kind = *slot.getString("kind");
  if (kind == "pointer" || kind == "tensor_map")
    return 8;
  if (kind == "scalar")
    return 4; // f32 and i32 scalars only
  std::optional<StringRef> type = slot.getString("type");
  return type && *type == "i32" ? 4 : 8;
}

/// Checks every kernel's parameter slots against its PTX entry's
/// parameters: a mismatch would only surface when the GPU loads the module.
void checkParameters(StringRef ptx, const json::Array &kernels) {
  llvm::Regex entryPattern("\\.entry[ \t]+([A-Za-z0-9_]+)\\(([^)]*)\\)");
  llvm::Regex paramPattern("\\.param[ \t]+\\.([a-z]+)([0-9]+)");
  std::map<std::string, std::vector<int64_t>> entries;
  StringRef rest = ptx;
  SmallVector<StringRef> match;
  while (entryPattern.match(rest, &match)) {
    std::vector<int64_t> &sizes = entries[match[1].str()];
    SmallVector<StringRef> lines;
    match[2].split(lines, ',');
    for (StringRef line : lines) {
      SmallVector<StringRef> param;
      if (paramPattern.match(line, &param)) {
        int64_t bits = 0;
        param[2].getAsInteger(10, bits);
        sizes.push_back(bits / 8);
      }
    }
    rest = rest.substr(rest.find(match[0]) + match[0].size());
  }
  for (const json::Value &kernel : kernels) {
    const json::Object &object = *kernel.getAsObject();
    std::string entry = object.getString("entry")->str();
    auto it = entries.find(entry);
    if (it == entries.end())
      fail("the PTX has no entry " + entry);
    const json::Array &params = *object.getArray("params");
    std::vector<int64_t> declared;
    for (const json::Value &slot : params)
      declared.push_back(slotBytes(*slot.getAsObject()));
    if (declared != it->second)
      fail("the parameter slots of " + entry +
           " do not match its PTX entry's parameters");
  }
}

void writeFile(StringRef path, StringRef contents) {
  std::error_code error;
  llvm::raw_fd_ostream os(path, error);
  if (error)
    fail("cannot write " + path + ": " + error.message());
  os << contents;
}

/// Runs ptxas on the PTX; returns the cubin's file name, or nothing when no
/// ptxas is found. Per-kernel register and spill counts go into `tuning`.
std::optional<std::string>
buildCubin(StringRef directory, StringRef module, StringRef ptxFile,
           std::map<std::string, std::pair<int64_t, int64_t>> &resources) {
  if (noCubin)
    return std::nullopt;
  std::string ptxas = ptxasPath;
  if (ptxas.empty()) {
    auto found = llvm::sys::findProgramByName("ptxas");
    if (!found)
      found = llvm::sys::findProgramByName("ptxas", {"/usr/local/cuda/bin"});
    if (!found) {
      llvm::errs() << "sparse-attn-compile-gpu: no ptxas found; the bundle "
                      "holds PTX only\n";
      return std::nullopt;
    }
    ptxas = *found;
  }
  std::string cubin = (module + "." + chip + ".cubin").str();
  SmallString<256> cubinPath(directory), ptxPath(directory), logPath;
  llvm::sys::path::append(cubinPath, cubin);
  llvm::sys::path::append(ptxPath, ptxFile);
  if (llvm::sys::fs::createTemporaryFile("ptxas", "log", logPath))
    fail("cannot create a temporary file");
  std::string arch = "-arch=" + chip;
  SmallVector<StringRef> args = {ptxas, arch, "-v", "-o", cubinPath, ptxPath};
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(logPath),
                                          StringRef(logPath)};
  std::string message;
  int status = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects,
                                         0, 0, &message);
  auto log = llvm::MemoryBuffer::getFile(logPath);
  llvm::sys::fs::remove(logPath);
  if (status != 0)
    fail("ptxas failed on " + ptxPath + ": " + message + "\n" +
         (log ? (*log)->getBuffer() : ""));
  if (log) {
    // ptxas -v: "Compiling entry function 'NAME'", then "Used N registers",
    // and "N bytes spill stores".
    llvm::Regex entry("Compiling entry function '([A-Za-z0-9_]+)'");
    llvm::Regex registers("Used ([0-9]+) registers");
    llvm::Regex spills("([0-9]+) bytes spill stores");
    std::string current;
    SmallVector<StringRef> lines;
    (*log)->getBuffer().split(lines, '\n');
    for (StringRef line : lines) {
      SmallVector<StringRef> match;
      if (entry.match(line, &match))
        current = match[1].str();
      else if (!current.empty() && registers.match(line, &match))
        match[1].getAsInteger(10, resources[current].first);
      else if (!current.empty() && spills.match(line, &match))
        match[1].getAsInteger(10, resources[current].second);
    }
  }
  return cubin;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // 32-bit shared-memory pointers in the NVPTX backend: every staged tile
  // address takes one register instead of two.
  SmallVector<const char *> arguments(argv, argv + argc);
  arguments.push_back("--nvptx-short-ptr");
  cl::ParseCommandLineOptions(
      arguments.size(), arguments.data(),
      "sparse_attn GPU kernel bundles from a list of specializations\n");

  std::vector<KernelSpec> specs = readKernelList(kernelList);
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<sparse_attn::SparseAttnDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  // Kernels of different tile sizes (or f32 precisions) compile
  // separately, then merge into one module: a pipeline run applies one
  // tuning.
  std::map<std::tuple<int64_t, int64_t, int64_t, bool>, std::string> sources;
  std::map<std::string, const KernelSpec *> byName;
  for (const KernelSpec &spec : specs) {
    if (spec.op != "attention" && spec.op != "select_blocks" &&
        spec.op != "entmax")
      fail("line " + Twine(spec.line) + ": operation " + spec.op +
           " has no GPU kernel yet");
    std::string name = kernelName(spec);
    if (!byName.emplace(name, &spec).second)
      fail("line " + Twine(spec.line) + ": the kernel " + name +
           " is listed twice");
    auto tile = [&](StringRef key, int64_t fallback) {
      auto it = spec.tuning.find(key.str());
      return it == spec.tuning.end() ? fallback : it->second;
    };
    for (auto &[key, value] : spec.tuning)
      if (key != "block_q" && key != "block_k" && key != "warps")
        fail("line " + Twine(spec.line) + ": unknown tuning key " + key);
    sources[{tile("block_q", queryTile), tile("block_k", keyTile),
             tile("warps", warps), spec.keys.count("precision") != 0}] +=
        spec.op == "select_blocks" ? selectBlocksFunction(spec, name)
        : spec.op == "entmax"      ? entmaxFunction(spec, name)
                                   : attentionFunction(spec, name);
  }

  SmallString<256> directory(outputDirectory);
  llvm::sys::path::append(directory, bundleName + ".bundle");
  // A rebuilt bundle holds only what its manifest names.
  if (std::error_code error = llvm::sys::fs::remove_directories(directory))
    fail("cannot clear " + directory + ": " + error.message());
  if (std::error_code error = llvm::sys::fs::create_directories(directory))
    fail("cannot create " + directory + ": " + error.message());

  // One module (PTX file) per tiling.
  json::Array kernels, modules;
  std::string gpuIR;
  for (auto &[tuning, source] : sources) {
    auto [rows, keys, warpCount, exactF32] = tuning;
    std::string moduleName =
        llvm::formatv("kernels_q{0}_k{1}_w{2}{3}", rows, keys, warpCount,
                      exactF32 ? "_3xtf32" : "");
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(
        source, ParserConfig(&context), "kernel-list");
    if (!module)
      fail("the generated functions do not parse:\n" + source);
    sparse_attn::GpuPipelineOptions options;
    options.chip = chip;
    options.features = features;
    options.queryTile = rows;
    options.keyTile = keys;
    options.warps = warpCount;
    options.exactF32 = exactF32;
    options.scaleArgument = true;
    options.iterationsArgument = true;
    options.indexBitwidth = indexBitwidth;
    PassManager kernelPm(&context);
    sparse_attn::buildGpuKernelPipeline(kernelPm, options);
    if (failed(kernelPm.run(*module)))
      fail("lowering to GPU kernels failed");
    if (!emitMlir.empty()) {
      llvm::raw_string_ostream os(gpuIR);
      module->print(os);
    }
    json::Array moduleKernels;
    module->walk([&](gpu::GPUFuncOp kernel) {
      if (kernel.isKernel())
        moduleKernels.push_back(kernelEntry(
            *byName.at(kernel.getName().str()), kernel, moduleName));
    });
    PassManager serializePm(&context);
    sparse_attn::buildGpuSerializationPipeline(serializePm, options);
    if (failed(serializePm.run(*module)))
      fail("serialising the kernels failed");
    std::string ptx;
    module->walk([&](gpu::BinaryOp binary) {
      for (Attribute object : binary.getObjects())
        ptx += cast<gpu::ObjectAttr>(object).getObject().getValue().str();
    });
    checkParameters(ptx, moduleKernels);
    std::string ptxFile = moduleName + ".ptx";
    SmallString<256> ptxPath(directory);
    llvm::sys::path::append(ptxPath, ptxFile);
    writeFile(ptxPath, ptx);
    std::map<std::string, std::pair<int64_t, int64_t>> resources;
    std::optional<std::string> cubin =
        buildCubin(directory, moduleName, ptxFile, resources);
    for (json::Value &kernel : moduleKernels) {
      json::Object *object = kernel.getAsObject();
      auto it = resources.find(object->getString("entry")->str());
      if (it != resources.end()) {
        json::Object *tuning = object->getObject("tuning");
        (*tuning)["registers"] = it->second.first;
        (*tuning)["spill_bytes"] = it->second.second;
      }
      kernels.push_back(std::move(kernel));
    }
    json::Object moduleEntry{{"name", moduleName},
                             {"target", chip.getValue()},
                             {"ptx", ptxFile}};
    if (cubin)
      moduleEntry["cubin"] = *cubin;
    modules.push_back(std::move(moduleEntry));
  }
  if (!emitMlir.empty())
    writeFile(emitMlir, gpuIR);

  json::Object manifest{
      {"format", "sparse-attn-kernel-bundle"},
      {"version", 1},
      {"name", bundleName.getValue()},
      {"producer", json::Object{{"tool", "sparse-attn-compile-gpu"},
                                {"kernel_list", kernelList.getValue()},
                                {"features", features.getValue()}}},
      {"modules", std::move(modules)},
      {"kernels", std::move(kernels)}};
  SmallString<256> manifestPath(directory);
  llvm::sys::path::append(manifestPath, "manifest.json");
  writeFile(manifestPath,
            llvm::formatv("{0:2}\n", json::Value(std::move(manifest))).str());
  return 0;
}
