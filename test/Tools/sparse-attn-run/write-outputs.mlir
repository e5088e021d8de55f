// --write-outputs writes every argument (before running) and every result;
// feeding the written arguments back reproduces the run bit for bit.

// RUN: rm -rf %t.first %t.second %t.seed1
// RUN: sparse-attn-run %s --shape=0=3x5 --scalar=6=0.5 --write-outputs=%t.first | FileCheck %s
// CHECK:      arg #0: tensor<3x5xbf16> random normal
// CHECK-NEXT: arg #1: tensor<5xf16> random normal
// CHECK-NEXT: arg #2: tensor<2xi32> random integers [-8, 8]
// CHECK-NEXT: arg #3: tensor<2xf64> random normal
// CHECK-NEXT: arg #4: tensor<2xi64> random integers [-8, 8]
// CHECK-NEXT: arg #5: tensor<2xindex> random integers [-8, 8]
// CHECK-NEXT: arg #6: f32 scalar 0.5
// CHECK-NEXT: result #0: tensor<3x5xbf16>

// RUN: sparse-attn-run %s --write-outputs=%t.second --input=0=%t.first/arg0.npy \
// RUN:   --input=1=%t.first/arg1.npy --input=2=%t.first/arg2.npy \
// RUN:   --input=3=%t.first/arg3.npy --input=4=%t.first/arg4.npy \
// RUN:   --input=5=%t.first/arg5.npy --scalar=6=0.5 | FileCheck %s --check-prefix=REREAD
// REREAD: arg #0: tensor<3x5xbf16> npy {{.*}}first/arg0.npy
// RUN: cmp %t.first/result0.npy %t.second/result0.npy
// RUN: cmp %t.first/result1.npy %t.second/result1.npy
// RUN: cmp %t.first/result6.npy %t.second/result6.npy
// RUN: cmp %t.first/arg0.npy %t.second/arg0.npy
// RUN: cmp %t.first/arg1.npy %t.second/arg1.npy

// Element types as written: bf16 and f32 as <f4, f16 as <f2, f64 as <f8,
// i32 as <i4, i64 and index as <i8, scalars as 0-d arrays.
// RUN: %python %S/Inputs/npy.py dump %t.first/result0.npy | FileCheck %s --check-prefix=BF16
// BF16: <f4 (3x5)
// RUN: %python %S/Inputs/npy.py dump %t.first/result1.npy | FileCheck %s --check-prefix=F16
// F16: <f2 (5)
// RUN: %python %S/Inputs/npy.py dump %t.first/result2.npy | FileCheck %s --check-prefix=I32
// I32: <i4 (2)
// RUN: %python %S/Inputs/npy.py dump %t.first/result3.npy | FileCheck %s --check-prefix=F64
// F64: <f8 (2)
// RUN: %python %S/Inputs/npy.py dump %t.first/result4.npy | FileCheck %s --check-prefix=I64
// I64: <i8 (2)
// RUN: %python %S/Inputs/npy.py dump %t.first/result5.npy | FileCheck %s --check-prefix=INDEX
// INDEX: <i8 (2)
// RUN: %python %S/Inputs/npy.py dump %t.first/result6.npy | FileCheck %s --check-prefix=SCALAR
// RUN: %python %S/Inputs/npy.py dump %t.first/arg6.npy | FileCheck %s --check-prefix=SCALAR
// SCALAR:      <f4 ()
// SCALAR-NEXT: 0.5

// The seed decides the generated values.
// RUN: sparse-attn-run %s --shape=0=3x5 --scalar=6=0.5 --write-outputs=%t.seed1 --seed=1
// RUN: not cmp %t.first/arg0.npy %t.seed1/arg0.npy
// RUN: sparse-attn-run %s --shape=0=3x5 --scalar=6=0.5 --write-outputs=%t.seed1 --seed=0
// RUN: cmp %t.first/arg0.npy %t.seed1/arg0.npy
func.func @types(%a: tensor<?x5xbf16>, %b: tensor<5xf16>, %c: tensor<2xi32>,
                 %d: tensor<2xf64>, %e: tensor<2xi64>, %f: tensor<2xindex>,
                 %s: f32)
    -> (tensor<?x5xbf16>, tensor<5xf16>, tensor<2xi32>, tensor<2xf64>,
        tensor<2xi64>, tensor<2xindex>, f32) {
  return %a, %b, %c, %d, %e, %f, %s
      : tensor<?x5xbf16>, tensor<5xf16>, tensor<2xi32>, tensor<2xf64>,
        tensor<2xi64>, tensor<2xindex>, f32
}
