// Every bad input ends in exit code 2 and one `sparse-attn-run: error:` line.

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s 2>&1 \
// RUN:   | FileCheck %s --check-prefix=SEVERAL
// SEVERAL: sparse-attn-run: error: several functions in '{{.*}}errors.mlir' (@data, @scalar, @unsupported_type, @mask_result, @linalg, @not_lowered, @attention): pick one with --entry=NAME
// SEVERAL-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=nope 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ENTRY
// ENTRY: sparse-attn-run: error: no function @nope in '{{.*}}errors.mlir' (functions: @data, @scalar, @unsupported_type, @mask_result, @linalg, @not_lowered, @attention)
// ENTRY-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --pipeline=gpu 2>&1 \
// RUN:   | FileCheck %s --check-prefix=PIPELINE
// PIPELINE: sparse-attn-run: error: unknown pipeline 'gpu' (known: cpu, cpu-tile128, reference)
// PIPELINE-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --no-such-option 2>&1 \
// RUN:   | FileCheck %s --check-prefix=OPTION
// OPTION: sparse-attn-run: error: invalid command line
// OPTION-NEXT: exit code: 2

// RUN: echo 'func.func @f(' | %python %S/Inputs/exit-code.py sparse-attn-run - 2>&1 \
// RUN:   | FileCheck %s --check-prefix=PARSE
// PARSE: <stdin>:1:14: error:
// PARSE: sparse-attn-run: error: cannot parse '-'
// PARSE-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %t.missing.mlir 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NO-FILE
// NO-FILE: sparse-attn-run: error: cannot open input file '{{.*}}missing.mlir'
// NO-FILE-NEXT: exit code: 2

// RUN: echo 'module {}' | %python %S/Inputs/exit-code.py sparse-attn-run - 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NO-FUNC
// NO-FUNC: sparse-attn-run: error: no func.func in '-'
// NO-FUNC-NEXT: exit code: 2

// Argument options.
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=2=x.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=INDEX
// INDEX: sparse-attn-run: error: --input=2=...: @data has 2 argument(s)
// INDEX-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=x=2 2>&1 \
// RUN:   | FileCheck %s --check-prefix=SYNTAX
// SYNTAX: sparse-attn-run: error: --shape=x=2: expected I=VALUE with an argument number I
// SYNTAX-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=3 --shape=0=4 2>&1 \
// RUN:   | FileCheck %s --check-prefix=TWICE
// TWICE: sparse-attn-run: error: --shape given twice for argument #0
// TWICE-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data 2>&1 \
// RUN:   | FileCheck %s --check-prefix=DYNAMIC
// DYNAMIC: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): dynamic extents need --shape=0=AxBx... or --input=0=FILE.npy
// DYNAMIC-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=3x5 2>&1 \
// RUN:   | FileCheck %s --check-prefix=SHAPE
// SHAPE: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): --shape 3x5 does not fit
// SHAPE-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=3x4x1 2>&1 \
// RUN:   | FileCheck %s --check-prefix=RANK
// RANK: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): --shape 3x4x1 does not fit
// RANK-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=3xfour 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BAD-SHAPE
// BAD-SHAPE: sparse-attn-run: error: --shape: '3xfour' is not a shape like 2x8x100x64
// BAD-SHAPE-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=3x4 --scalar=1=2 2>&1 \
// RUN:   | FileCheck %s --check-prefix=SCALAR-FOR-TENSOR
// SCALAR-FOR-TENSOR: sparse-attn-run: error: argument #1 (tensor<2x4xi32>): --scalar is for scalar arguments
// SCALAR-FOR-TENSOR-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=scalar 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NO-SCALAR
// NO-SCALAR: sparse-attn-run: error: argument #0 (index): needs a value: pass --scalar=0=VALUE
// NO-SCALAR-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=scalar --scalar=0=1.5 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BAD-SCALAR
// BAD-SCALAR: sparse-attn-run: error: argument #0 (index): '1.5' is not a valid integer
// BAD-SCALAR-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=scalar --scalar=0=1 --scalar=1=x 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BAD-FLOAT
// BAD-FLOAT: sparse-attn-run: error: argument #1 (f32): 'x' is not a number
// BAD-FLOAT-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=scalar --shape=0=1 2>&1 \
// RUN:   | FileCheck %s --check-prefix=SHAPE-FOR-SCALAR
// SHAPE-FOR-SCALAR: sparse-attn-run: error: argument #0 (index): a scalar takes --scalar, not --input or --shape
// SHAPE-FOR-SCALAR-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=unsupported_type 2>&1 \
// RUN:   | FileCheck %s --check-prefix=TYPE
// TYPE: sparse-attn-run: error: argument #0 (tensor<4xi8>): unsupported type (expected a ranked tensor or a scalar of bf16, f16, f32, f64, i32, i64 or index)
// TYPE-NEXT: exit code: 2

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=3x4 --tolerance=-1 2>&1 \
// RUN:   | FileCheck %s --check-prefix=TOLERANCE
// TOLERANCE: sparse-attn-run: error: --tolerance must be a non-negative number
// TOLERANCE-NEXT: exit code: 2

// .npy files.
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.none.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-MISSING
// NPY-MISSING: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): cannot read '{{.*}}none.npy': No such file or directory
// NPY-MISSING-NEXT: exit code: 2

// RUN: echo garbage > %t.garbage.npy
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.garbage.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-MAGIC
// NPY-MAGIC: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): cannot read '{{.*}}garbage.npy': not a .npy file (bad magic)
// NPY-MAGIC-NEXT: exit code: 2

// RUN: %python %S/Inputs/npy.py write %t.truncated.npy '<f4' 3x4 1,2,3,4,5,6,7,8,9,10,11,12 --truncate=2
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.truncated.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-TRUNCATED
// NPY-TRUNCATED: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): cannot read '{{.*}}truncated.npy': expected 48 data bytes for shape (3x4), found 46
// NPY-TRUNCATED-NEXT: exit code: 2

// A header that claims far more data than the file holds.
// RUN: %python %S/Inputs/npy.py write %t.claim.npy '<f4' 100000000000x4 1,2,3,4
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.claim.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-CLAIM
// NPY-CLAIM: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): cannot read '{{.*}}claim.npy': expected 1600000000000 data bytes for shape (100000000000x4), found 16
// NPY-CLAIM-NEXT: exit code: 2

// RUN: %python %S/Inputs/npy.py write %t.big-endian.npy '>f4' 1x4 1,2,3,4
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.big-endian.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-DTYPE
// NPY-DTYPE: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): cannot read '{{.*}}big-endian.npy': unsupported dtype '>f4' (expected <f2, <f4, <f8, <i4 or <i8)
// NPY-DTYPE-NEXT: exit code: 2

// RUN: %python %S/Inputs/npy.py write %t.fortran.npy '<f4' 1x4 1,2,3,4 --fortran
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.fortran.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-FORTRAN
// NPY-FORTRAN: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): cannot read '{{.*}}fortran.npy': Fortran-order arrays are not supported
// NPY-FORTRAN-NEXT: exit code: 2

// RUN: %python %S/Inputs/npy.py write %t.wrong-shape.npy '<f4' 2x2 1,2,3,4
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.wrong-shape.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-SHAPE
// NPY-SHAPE: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): '{{.*}}wrong-shape.npy' has shape (2x2), which does not fit
// NPY-SHAPE-NEXT: exit code: 2

// RUN: %python %S/Inputs/npy.py write %t.row.npy '<f4' 1x4 1,2,3,4
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.row.npy --shape=0=2x4 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-VS-SHAPE
// NPY-VS-SHAPE: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): '{{.*}}row.npy' has shape (1x4), which does not fit
// NPY-VS-SHAPE-NEXT: exit code: 2

// RUN: %python %S/Inputs/npy.py write %t.ints.npy '<i8' 1x4 1,2,3,4
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --input=0=%t.ints.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-INT-FOR-FLOAT
// NPY-INT-FOR-FLOAT: sparse-attn-run: error: argument #0 (tensor<?x4xf32>): '{{.*}}ints.npy': expected float data, got integers
// NPY-INT-FOR-FLOAT-NEXT: exit code: 2

// RUN: %python %S/Inputs/npy.py write %t.floats.npy '<f4' 2x4 1,2,3,4,5,6,7,8
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=1x4 --input=1=%t.floats.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-FLOAT-FOR-INT
// NPY-FLOAT-FOR-INT: sparse-attn-run: error: argument #1 (tensor<2x4xi32>): '{{.*}}floats.npy': expected integer data, got floats
// NPY-FLOAT-FOR-INT-NEXT: exit code: 2

// RUN: %python %S/Inputs/npy.py write %t.wide.npy '<i8' 2x4 1,2,3,4,5,6,7,4294967296
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=1x4 --input=1=%t.wide.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NPY-RANGE
// NPY-RANGE: sparse-attn-run: error: argument #1 (tensor<2x4xi32>): '{{.*}}wide.npy': value 4294967296 does not fit in i32
// NPY-RANGE-NEXT: exit code: 2

// --write-outputs into something that is not a directory.
// RUN: echo file > %t.not-a-directory
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=data --shape=0=1x4 --write-outputs=%t.not-a-directory 2>&1 \
// RUN:   | FileCheck %s --check-prefix=OUTPUTS
// OUTPUTS: sparse-attn-run: error: cannot write '{{.*}}not-a-directory/arg0.npy': Not a directory
// OUTPUTS-NEXT: exit code: 2
func.func @data(%x: tensor<?x4xf32>, %y: tensor<2x4xi32>) -> tensor<?x4xf32> {
  return %x : tensor<?x4xf32>
}

func.func @scalar(%n: index, %x: f32) -> index {
  return %n : index
}

func.func @unsupported_type(%x: tensor<4xi8>) {
  return
}

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=mask_result --check 2>&1 \
// RUN:   | FileCheck %s --check-prefix=RESULT-TYPE
// RESULT-TYPE: sparse-attn-run: error: result #0 (!sparse_attn.block_mask<1x1x8x8, block = 4x4>) of @mask_result: unsupported type (expected a ranked tensor or a scalar of bf16, f16, f32, f64, i32, i64 or index)
// RESULT-TYPE-NEXT: exit code: 2
func.func @mask_result() -> !sparse_attn.block_mask<1x1x8x8, block = 4x4> {
  %mask = sparse_attn.causal_mask() : !sparse_attn.block_mask<1x1x8x8, block = 4x4>
  return %mask : !sparse_attn.block_mask<1x1x8x8, block = 4x4>
}

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=linalg --check 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOT-INTERPRETED
// NOT-INTERPRETED: sparse-attn-run: error: --check does not support op 'tensor.empty'
// NOT-INTERPRETED-NEXT: exit code: 2
func.func @linalg(%x: tensor<4xf32>) -> tensor<4xf32> {
  %empty = tensor.empty() : tensor<4xf32>
  %copy = linalg.copy ins(%x : tensor<4xf32>) outs(%empty : tensor<4xf32>) -> tensor<4xf32>
  return %copy : tensor<4xf32>
}

// An op that the pipeline cannot lower.
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=not_lowered 2>&1 \
// RUN:   | FileCheck %s --check-prefix=LOWERING
// LOWERING: error: op was not bufferized
// LOWERING: sparse-attn-run: error: pass pipeline 'sparse-attn-to-cpu' failed
// LOWERING-NEXT: exit code: 2
func.func @not_lowered(%x: tensor<4xf32>) -> tensor<4xf32> {
  %abs = tosa.abs %x : (tensor<4xf32>) -> tensor<4xf32>
  return %abs : tensor<4xf32>
}

// Runtime extents that do not fit together are rejected by --check before
// the compiled code runs.
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=attention --check \
// RUN:   --shape=0=1x2x8x4 --shape=1=2x2x8x4 2>&1 \
// RUN:   | FileCheck %s --check-prefix=EXTENTS
// EXTENTS: sparse-attn-run: error: --check: 'sparse_attn.attention': query 1x2x8x4, key 2x2x8x4 and value 1x2x8x4 do not fit together
// EXTENTS-NEXT: exit code: 2
func.func @attention(%q: tensor<?x2x8x4xf32>, %k: tensor<?x2x8x4xf32>,
                     %v: tensor<1x2x8x4xf32>) -> tensor<?x2x8x4xf32> {
  %o = sparse_attn.attention softmax %q, %k, %v
      : tensor<?x2x8x4xf32>, tensor<?x2x8x4xf32>, tensor<1x2x8x4xf32> -> tensor<?x2x8x4xf32>
  return %o : tensor<?x2x8x4xf32>
}
