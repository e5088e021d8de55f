// RUN: sparse-attn-opt %s --sparse-attn-to-cpu=instrument=true \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

// The counters come from the compiled code itself: a driver in the module
// declares @sparse_attn_counters (the instrumentation defines it: two
// records of 8 + 2 x 128 slots), runs a causal softmax and a causal entmax
// attention of 2 heads x 512 queries and keys in 64x64 tiles, and prints
// the records.
//
// Causal softmax, per head: query tile I visits key tiles 0..I (8 x 9 / 2 =
// 36 of 64), of which the I below the diagonal (28) are full; 16 query
// tiles make 16 passes over K.
// CHECK: [1, 2, 264, 128, 0, 1]
// CHECK: {{\[}}[16,   128,   16,   72,   72,   56,   0,   0,   36,   64,   36,   64,   0,
//
// Entmax 1.5 on constant inputs (every visible score equal, uniform
// weights): the histogram start is exact, one solver pass confirms it, so
// each query tile makes 4 passes over K (max, histogram, one solver pass
// carrying the block-mask build, output); the block mask lists every causal
// tile (every visible entry is in the support).
// CHECK-NEXT: [16,   128,   64,   288,   72,   56,   16,   0,   36,   64,   36,   64,   0,

module {
  memref.global "public" @sparse_attn_counters : memref<2x264xi64>
  memref.global "public" constant @sparse_attn_counters_layout : memref<6xi64>

  func.func @softmax(%q: tensor<1x2x512x16xf32>) -> tensor<1x2x512x16xf32> {
    %o = sparse_attn.attention softmax causal %q, %q, %q
        : tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32> -> tensor<1x2x512x16xf32>
    return %o : tensor<1x2x512x16xf32>
  }

  func.func @entmax(%q: tensor<1x2x512x16xf32>) -> tensor<1x2x512x16xf32> {
    %o = sparse_attn.attention entmax<alpha = 1.5> causal %q, %q, %q
        : tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32> -> tensor<1x2x512x16xf32>
    return %o : tensor<1x2x512x16xf32>
  }

  func.func private @printMemrefI64(memref<*xi64>)

  func.func @main() {
    %q = arith.constant dense<0.25> : tensor<1x2x512x16xf32>
    %a = call @softmax(%q) : (tensor<1x2x512x16xf32>) -> tensor<1x2x512x16xf32>
    %b = call @entmax(%q) : (tensor<1x2x512x16xf32>) -> tensor<1x2x512x16xf32>
    %layout = memref.get_global @sparse_attn_counters_layout : memref<6xi64>
    %counters = memref.get_global @sparse_attn_counters : memref<2x264xi64>
    %l = memref.cast %layout : memref<6xi64> to memref<*xi64>
    %c = memref.cast %counters : memref<2x264xi64> to memref<*xi64>
    call @printMemrefI64(%l) : (memref<*xi64>) -> ()
    call @printMemrefI64(%c) : (memref<*xi64>) -> ()
    return
  }
}
