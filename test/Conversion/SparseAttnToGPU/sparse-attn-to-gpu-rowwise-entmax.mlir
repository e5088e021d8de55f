// RUN: sparse-attn-opt %s -split-input-file \
// RUN:   --sparse-attn-tile="query-tile=64 key-tile=64" --sparse-attn-skip-blocks \
// RUN:   --sparse-attn-fuse --canonicalize --cse \
// RUN:   --sparse-attn-to-gpu="scale-argument=true iterations-argument=true" \
// RUN:   | FileCheck %s --check-prefix=GPU
// RUN: sparse-attn-opt %s -split-input-file \
// RUN:   --sparse-attn-gpu="format=llvm query-tile=64 key-tile=64 scale-argument=true iterations-argument=true" \
// RUN:   | FileCheck %s --check-prefix=NVVM
// RUN: sparse-attn-opt %s -split-input-file \
// RUN:   --sparse-attn-gpu="query-tile=64 key-tile=64" \
// RUN:   | FileCheck %s --check-prefix=PTX

// Row-wise entmax-1.5 of bf16 rows: a CTA per 64 rows; the max pass, the
// histogram pass, the solver loop, the pass for the row sums and the pass
// writing the weights each read the rows in 64-column chunks, 16-byte runs
// per thread. No score tiles, so no `scale` argument; `niter` caps the
// solver.

// GPU-LABEL: gpu.func @rowwise15(
// GPU-SAME: %[[X:arg[0-9]+]]: memref<1xbf16> {sparse_attn.access = "read", sparse_attn.shape = array<i64: -1, -1>, sparse_attn.tensor = "x"}
// GPU-SAME: %[[Y:arg[0-9]+]]: memref<1xbf16> {sparse_attn.access = "write", sparse_attn.shape = array<i64: -1, -1>, sparse_attn.tensor = "y"}
// GPU-NOT: sparse_attn.scalar = "scale"
// GPU-SAME: %[[NITER:arg[0-9]+]]: i32 {sparse_attn.scalar = "niter"}) kernel
// GPU-SAME: grid = ["ceil_div(x.size0, 64)", "1", "1"]
// GPU-SAME: shared_memory_bytes = 17408 : i64
// GPU-SAME: sparse_attn.tuning = {block_k = 64 : i64, block_q = 64 : i64, warps = 4 : i64}
// GPU: %[[VIEW:.*]] = memref.reinterpret_cast %[[X]] to offset: [0], sizes: [%{{.*}}, %{{.*}}], strides: [%{{.*}}, %{{.*}}] : memref<1xbf16> to memref<?x?xbf16, strided<[?, ?]>>
// GPU: %[[YVIEW:.*]] = memref.reinterpret_cast %[[Y]]
// GPU: %[[CAP:.*]] = arith.index_cast %[[NITER]] : i32 to index
// The max pass. A chunk's runs are vector loads where the rows are
// contiguous and 16-byte aligned and the run lies inside them...
// GPU: scf.for {{.*}} -> (vector<2xf32>, vector<2xf32>) {
// GPU: memref.extract_aligned_pointer_as_index %[[VIEW]]
// GPU: %[[RUNS:.*]] = memref.reinterpret_cast %[[VIEW]] to offset: [%{{.*}}], sizes: [%{{.*}}, %{{.*}}], strides: [%{{.*}}, 1]
// GPU: scf.if %{{.*}} -> (vector<8xf32>) {
// GPU: %[[LOADED:.*]] = vector.load %[[RUNS]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<?x?xbf16, strided<[?, 1], offset: ?>>, vector<8xbf16>
// GPU: arith.extf %[[LOADED]] : vector<8xbf16> to vector<8xf32>
// GPU: arith.mulf
// ... else element by element at clamped positions, -inf outside.
// GPU: } else {
// GPU: arith.minsi
// GPU: memref.load %[[VIEW]][%{{.*}}, %{{.*}}] : memref<?x?xbf16, strided<[?, ?]>>
// GPU: arith.select %{{.*}}, %{{.*}}, %cst{{.*}} : f32
// Row maxima over the quad.
// GPU: gpu.shuffle  xor
// GPU: llvm.intr.maxnum
// The histogram pass: integer shared-memory atomics.
// GPU: memref.atomic_rmw addi
// The solver loop stops at convergence (a CTA-wide OR), the compiled cap
// or after `niter` passes.
// GPU: scf.while
// GPU: arith.cmpi slt, %{{.*}}, %[[CAP]] : index
// GPU: nvvm.barrier #nvvm.reduction<or>
// The output pass writes the CTA's slab of y in place: the loop carries it.
// GPU: %[[SLAB:.*]] = memref.subview %[[YVIEW]][%{{.*}}, 0] [%{{.*}}, %{{.*}}] [1, 1]
// GPU: scf.for {{.*}} iter_args(%[[PART:.*]] = %[[SLAB]]) -> (memref<?x?xbf16, strided<[?, ?], offset: ?>>) {
// Weights: one reciprocal of the row sum per row, products for alpha 1.5.
// GPU: arith.divf
// GPU: arith.truncf %{{.*}} : f32 to bf16
// GPU: memref.extract_aligned_pointer_as_index %[[PART]]
// GPU: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<?x?xbf16, strided<[?, 1], offset: ?>>, vector<8xbf16>
// GPU: } else {
// GPU: memref.store %{{.*}}, %[[PART]][%{{.*}}, %{{.*}}] : memref<?x?xbf16, strided<[?, ?], offset: ?>>
// GPU: scf.yield %[[PART]]
// GPU: gpu.return

// NVVM-LABEL: llvm.func @rowwise15(
// NVVM-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32)
// NVVM: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr -> vector<8xbf16>
// NVVM: llvm.atomicrmw add {{.*}} : !llvm.ptr<3>, i32
// NVVM: nvvm.barrier #nvvm.reduction<or>
// NVVM: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr
// NVVM-NOT: unrealized_conversion_cast

// PTX: gpu.binary @sparse_attn_kernels

func.func @rowwise15(%x: tensor<?x?xbf16> {sparse_attn.name = "x"})
    -> (tensor<?x?xbf16> {sparse_attn.name = "y"}) {
  %y = sparse_attn.entmax %x <alpha = 1.5> : tensor<?x?xbf16>
  return %y : tensor<?x?xbf16>
}

// -----

// Sparsemax of f32 rows: runs of four elements; no histogram square root.

// GPU-LABEL: gpu.func @sparsemax_f32(
// GPU-SAME: %{{.*}}: i32 {sparse_attn.scalar = "niter"}) kernel
// GPU: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x?xf32, strided<[?, 1], offset: ?>>, vector<4xf32>
// GPU-NOT: arith.extf
// GPU: scf.while
// GPU-NOT: llvm.nvvm.sqrt.rn.f
// GPU: vector.store %{{.*}} {alignment = 16 : i64} : memref<?x?xf32, strided<[?, 1], offset: ?>>, vector<4xf32>
// GPU: gpu.return

// NVVM-LABEL: llvm.func @sparsemax_f32(
// PTX: gpu.binary @sparse_attn_kernels

func.func @sparsemax_f32(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %y = sparse_attn.entmax %x <alpha = 2.0> : tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// -----

// General alpha on f16 rows of a static shape: no histogram, powers as
// exp2(c log2 d) through the NVVM intrinsics.

// GPU-LABEL: gpu.func @entmax125_f16(
// GPU-SAME: grid = ["5", "1", "1"]
// GPU-SAME: shared_memory_bytes = 0 : i64
// GPU-NOT: memref.atomic_rmw
// GPU: vector.load %{{.*}} : memref<?x?xf16, strided<[?, 1], offset: ?>>, vector<8xf16>
// GPU: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// GPU: scf.while
// GPU: vector.store %{{.*}} : memref<?x?xf16, strided<[?, 1], offset: ?>>, vector<8xf16>
// GPU: gpu.return

// NVVM-LABEL: llvm.func @entmax125_f16(
// NVVM-NOT: __nv_powf
// PTX: gpu.binary @sparse_attn_kernels

func.func @entmax125_f16(%x: tensor<300x1000xf16>) -> tensor<300x1000xf16> {
  %y = sparse_attn.entmax %x <alpha = 1.25> : tensor<300x1000xf16>
  return %y : tensor<300x1000xf16>
}
