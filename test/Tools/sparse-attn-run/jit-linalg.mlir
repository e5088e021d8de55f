// JIT execution of linalg functions on given .npy inputs with known results:
// dynamic shapes, bf16 in and out (round-to-nearest-even on input), two
// results, scalar arguments and results.

// RUN: %python %S/Inputs/npy.py write %t.a.npy '<f4' 2x3 1,2,3,4,5,6
// RUN: %python %S/Inputs/npy.py write %t.b.npy '<f8' 3x2 1,0,0,1,1.00390625,1.01171875
// RUN: sparse-attn-run %s --entry=matmul --input=0=%t.a.npy --input=1=%t.b.npy \
// RUN:   --write-outputs=%t.matmul | FileCheck %s --check-prefix=MATMUL
// RUN: %python %S/Inputs/npy.py dump %t.matmul/result0.npy | FileCheck %s --check-prefix=PRODUCT
// RUN: %python %S/Inputs/npy.py dump %t.matmul/result1.npy | FileCheck %s --check-prefix=ROUNDED
// RUN: %python %S/Inputs/npy.py dump %t.matmul/arg1.npy | FileCheck %s --check-prefix=ARG

// MATMUL:      entry @matmul (pipeline cpu)
// MATMUL-NEXT: arg #0: tensor<2x3xbf16> npy {{.*}}.a.npy
// MATMUL-NEXT: arg #1: tensor<3x2xbf16> npy {{.*}}.b.npy
// MATMUL-NEXT: result #0: tensor<2x2xf32> min 4 max 11.0938 mean 7.53516 l2 16.2648
// MATMUL-NEXT: result #1: tensor<3x2xbf16> min 0 max 1.01562 mean 0.669271 l2 2.00786
// MATMUL-NOT:  check

// 1 + 2^-8 is a tie and rounds to even (1.0); 1 + 3 * 2^-8 rounds up to
// 1 + 2^-6.
// PRODUCT:      <f4 (2x2)
// PRODUCT-NEXT: 4.0 5.046875
// PRODUCT-NEXT: 10.0 11.09375
// ROUNDED:      <f4 (3x2)
// ROUNDED-NEXT: 1.0 0.0
// ROUNDED-NEXT: 0.0 1.0
// ROUNDED-NEXT: 1.0 1.015625
// ARG:          <f4 (3x2)
// ARG:          1.0 1.015625
func.func @matmul(%a: tensor<?x?xbf16>, %b: tensor<?x?xbf16>)
    -> (tensor<?x?xf32>, tensor<?x?xbf16>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %a, %c0 : tensor<?x?xbf16>
  %n = tensor.dim %b, %c1 : tensor<?x?xbf16>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty(%m, %n) : tensor<?x?xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x?xf32>) -> tensor<?x?xf32>
  %product = linalg.matmul ins(%a, %b : tensor<?x?xbf16>, tensor<?x?xbf16>)
                           outs(%init : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %product, %b : tensor<?x?xf32>, tensor<?x?xbf16>
}

// Scalars in and out; an integer tensor from a constant.
// RUN: sparse-attn-run %s --entry=scalars --scalar=0=2.5 --scalar=1=7 \
// RUN:   --scalar=2=-3 | FileCheck %s --check-prefix=SCALARS
// SCALARS:      entry @scalars (pipeline cpu)
// SCALARS-NEXT: arg #0: f32 scalar 2.5
// SCALARS-NEXT: arg #1: index scalar 7
// SCALARS-NEXT: arg #2: i32 scalar -3
// SCALARS-NEXT: result #0: f64 min 5 max 5 mean 5 l2 5
// SCALARS-NEXT: result #1: tensor<3xi32> min -3 max 7 sum 4 nonzero 2
// SCALARS-NEXT: result #2: bf16 min 2.5 max 2.5 mean 2.5 l2 2.5
// SCALARS-NEXT: result #3: index min 8 max 8 sum 8 nonzero 1
func.func @scalars(%x: f32, %n: index, %i: i32)
    -> (f64, tensor<3xi32>, bf16, index) {
  %wide = arith.extf %x : f32 to f64
  %twice = arith.addf %wide, %wide : f64
  %zero = arith.constant 0 : i32
  %n32 = arith.index_cast %n : index to i32
  %ints = tensor.from_elements %i, %zero, %n32 : tensor<3xi32>
  %narrow = arith.truncf %x : f32 to bf16
  %c1 = arith.constant 1 : index
  %next = arith.addi %n, %c1 : index
  return %twice, %ints, %narrow, %next : f64, tensor<3xi32>, bf16, index
}

// f16 results come back as IEEE half; a constant result is returned (the
// deallocation pipeline copies it) and freed without harm.
// RUN: sparse-attn-run %s --entry=half --write-outputs=%t.half \
// RUN:   | FileCheck %s --check-prefix=HALF
// RUN: %python %S/Inputs/npy.py dump %t.half/result0.npy | FileCheck %s --check-prefix=HALF-VALUES
// HALF:        result #0: tensor<2x2xf16> min -2 max 65504 mean 16375.8 l2 65504
// The module can come from stdin.
// RUN: cat %s | sparse-attn-run - --entry=half | FileCheck %s --check-prefix=HALF
// HALF-VALUES:      <f2 (2x2)
// HALF-VALUES-NEXT: 1.0 -2.0
// HALF-VALUES-NEXT: 0.0999755859375 65504.0
func.func @half() -> tensor<2x2xf16> {
  %c = arith.constant dense<[[1.0, -2.0], [0.1, 65504.0]]> : tensor<2x2xf16>
  return %c : tensor<2x2xf16>
}
