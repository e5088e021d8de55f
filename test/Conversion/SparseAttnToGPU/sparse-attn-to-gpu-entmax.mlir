// RUN: sparse-attn-opt %s -split-input-file \
// RUN:   --sparse-attn-tile="query-tile=128 key-tile=64" --sparse-attn-skip-blocks \
// RUN:   --sparse-attn-fuse --canonicalize --cse \
// RUN:   --sparse-attn-to-gpu="scale-argument=true iterations-argument=true" \
// RUN:   | FileCheck %s --check-prefix=GPU
// RUN: sparse-attn-opt %s -split-input-file \
// RUN:   --sparse-attn-gpu="format=llvm scale-argument=true iterations-argument=true" \
// RUN:   | FileCheck %s --check-prefix=NVVM
// RUN: sparse-attn-opt %s -split-input-file --sparse-attn-gpu \
// RUN:   | FileCheck %s --check-prefix=PTX

// Causal entmax-1.5 attention with the threshold statistic, grouped query
// heads: a max pass, the histogram pass, the solver loop (moments and the
// block-mask list in one pass over K), the output pass over the list.

// GPU-LABEL: gpu.func @entmax15(
// GPU-SAME: %{{.*}}: f32 {sparse_attn.scalar = "scale"}, %[[NITER:.*]]: i32 {sparse_attn.scalar = "niter"}) kernel
// GPU-SAME: max_list_entries = 4096 : i64, max_recorded_tiles = 0 : i64, shared_memory_bytes = 82944 : i64
// GPU: %[[CAP:.*]] = arith.index_cast %[[NITER]] : i32 to index
// The histogram (128 rows of 64 bin counts and a discard word, 65 words
// apart) and the solver's gap records (a count and 16 entries per row, 19
// words apart) share one region of shared memory: the histogram is dead
// when the solver starts.
// GPU: %[[GAP:.*]] = memref.view %{{.*}}[%c49152{{.*}}][] : memref<0xi8, #gpu.address_space<workgroup>> to memref<2432xi32, #gpu.address_space<workgroup>>
// GPU: %[[HIST:.*]] = memref.view %{{.*}}[%c49152{{.*}}][] : memref<0xi8, #gpu.address_space<workgroup>> to memref<8320xi32, #gpu.address_space<workgroup>>
// The max pass: row maxima and visible counts.
// GPU: scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>) {
// GPU: nvvm.mma.sync
// GPU: gpu.shuffle  xor
// The histogram is zeroed by all threads, between barriers, where its pass
// starts.
// GPU: gpu.barrier
// GPU: scf.for %{{.*}} = %thread_id_x to %c8320{{.*}} step %c128
// GPU-NEXT: memref.store %{{.*}}, %[[HIST]][%{{.*}}] : memref<8320xi32, #gpu.address_space<workgroup>>
// GPU: gpu.barrier
// The histogram pass counts into the bins in place with integer
// shared-memory atomics (native on the GPU, unlike float ones), no branch:
// the bin is the bits of fma.rz(z, 64, 2^23) less those of 2^23, entries
// below the origin count into their row's discard word.
// GPU: %[[BINS:.*]] = scf.for {{.*}} iter_args(%[[H:.*]] = %[[HIST]]) -> (memref<8320xi32, #gpu.address_space<workgroup>>) {
// GPU: %[[SHIFTED:.*]] = llvm.call_intrinsic "llvm.nvvm.fma.rz.f"(%{{.*}}, %{{.*}}, %{{.*}}) : (f32, f32, f32) -> f32
// GPU: %[[BITS:.*]] = arith.bitcast %[[SHIFTED]] : f32 to i32
// GPU: %[[CLAMPED:.*]] = arith.minsi %[[BITS]], %{{.*}} : i32
// GPU: %[[BIN:.*]] = arith.addi %[[CLAMPED]], %{{.*}} : i32
// GPU: %[[SLOT:.*]] = arith.select %{{.*}}, %[[BIN]], %{{.*}} : i32
// GPU: %[[INDEX:.*]] = arith.index_cast %[[SLOT]] : i32 to index
// GPU: memref.atomic_rmw addi %{{.*}}, %[[H]][%[[INDEX]]] : (i32, memref<8320xi32, #gpu.address_space<workgroup>>) -> i32
// The start: after a barrier, each row reads its bins; the closed form
// takes a square root.
// GPU: gpu.barrier
// GPU: memref.load %[[BINS]][%{{.*}}] : memref<8320xi32, #gpu.address_space<workgroup>>
// GPU: llvm.call_intrinsic "llvm.nvvm.sqrt.rn.f"
// The solver stops at convergence, at the compiled cap or after `niter`
// passes; it carries the block-mask list.
// GPU: %[[LIST:.*]] = memref.view %{{.*}}[%c32768{{.*}}][] : memref<0xi8, #gpu.address_space<workgroup>> to memref<4096xi32, #gpu.address_space<workgroup>>
// GPU: %[[SOLVER:.*]]:6 = scf.while (%[[IT:arg[0-9]+]] = %{{.*}}, {{.*}} = %[[LIST]],
// GPU: %[[BELOW:.*]] = arith.cmpi slt, %[[IT]], %[[CAP]] : index
// GPU: %[[MORE:.*]] = arith.andi %{{.*}}, %[[BELOW]] : i1
// GPU: scf.condition(%[[MORE]])
// Each pass starts with empty gap records.
// GPU: scf.for %{{.*}} = %thread_id_x to %c2432{{.*}} step %c128
// GPU-NEXT: memref.store %{{.*}}, %[[GAP]][%{{.*}}] : memref<2432xi32, #gpu.address_space<workgroup>>
// GPU: %[[PASS:.*]]:6 = scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, memref<2432xi32, #gpu.address_space<workgroup>>, memref<4096xi32, #gpu.address_space<workgroup>>, index) {
// GPU: nvvm.mma.sync
// An entry between the threshold and the upper bound (rare) takes a slot
// with a shared-memory increment of its row's count and, below the
// capacity, stores its bits there.
// GPU: %[[COUNT:.*]] = memref.atomic_rmw addi %{{.*}}, %[[RECORD:.*]][%{{.*}}] : (i32, memref<2432xi32, #gpu.address_space<workgroup>>) -> i32
// GPU-NEXT: %[[ROOM:.*]] = arith.cmpi slt, %[[COUNT]], %c16{{.*}} : i32
// GPU-NEXT: scf.if %[[ROOM]] {
// GPU: %[[BITS:.*]] = arith.bitcast %{{.*}} : f32 to i32
// GPU-NEXT: memref.store %[[BITS]], %[[RECORD]][%{{.*}}] : memref<2432xi32, #gpu.address_space<workgroup>>
// The tile's block-mask bit is a CTA-wide OR; one thread appends it.
// GPU: nvvm.barrier #nvvm.reduction<or>
// GPU: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<4096xi32, #gpu.address_space<workgroup>>
// The step reads each row's record after a barrier (other lanes of the
// quad wrote it) and takes closed forms for alpha 1.5; `converged` is a
// CTA-wide OR too.
// GPU: gpu.barrier
// GPU: memref.load %[[PASS]]#3[%{{.*}}] : memref<2432xi32, #gpu.address_space<workgroup>>
// GPU: llvm.call_intrinsic "llvm.nvvm.sqrt.rn.f"
// GPU: nvvm.barrier #nvvm.reduction<or>
// The output pass walks the list of the last solver pass: weights times V
// on tensor cores.
// GPU: scf.for %{{.*}} = %{{.*}} to %[[SOLVER]]#5 step %{{.*}} iter_args({{.*}}) -> (vector<64xf32>, vector<4xf32>) {
// GPU: memref.load %[[SOLVER]]#4[%{{.*}}] : memref<4096xi32, #gpu.address_space<workgroup>>
// GPU: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// GPU: nvvm.mma.sync
// Renormalised rows, then the threshold statistic.
// GPU: arith.divf
// GPU: vector.store %{{.*}} : memref<?x8x?x64xbf16, strided<[?, ?, ?, 1]>>, vector<2xbf16>
// GPU: memref.store %{{.*}} : memref<?x8x?xf32, strided<[?, ?, ?]>>
// GPU: gpu.return

// NVVM-LABEL: llvm.func @entmax15(
// NVVM-SAME: %{{.*}}: f32, %{{.*}}: i32)
// NVVM: llvm.atomicrmw add {{.*}} : !llvm.ptr<3>, i32
// NVVM: nvvm.barrier #nvvm.reduction<or>
// NVVM-NOT: unrealized_conversion_cast

// PTX: gpu.binary @sparse_attn_kernels

func.func @entmax15(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>)
    -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 1.5> causal %q, %k, %v scale(1.0)
      : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>
      -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
  return %o, %tau : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}

// -----

// Sparsemax, f16, 128-wide heads: the same passes; the query tile stays in
// shared memory; alpha 2 needs no square root in the step.

// GPU-LABEL: gpu.func @sparsemax(
// GPU-SAME: %{{.*}}: i32 {sparse_attn.scalar = "niter"}) kernel
// GPU: memref.atomic_rmw addi
// GPU: scf.while
// GPU: nvvm.barrier #nvvm.reduction<or>
// GPU-NOT: llvm.nvvm.sqrt.rn.f
// GPU: nvvm.barrier #nvvm.reduction<or>
// GPU: scf.for {{.*}} -> (vector<128xf32>, vector<4xf32>) {
// GPU: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32)
// GPU: gpu.return

// NVVM-LABEL: llvm.func @sparsemax(
// PTX: gpu.binary @sparse_attn_kernels

func.func @sparsemax(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>, %v: tensor<?x?x?x128xf16>)
    -> tensor<?x?x?x128xf16> {
  %o = sparse_attn.attention entmax<alpha = 2.0> %q, %k, %v scale(1.0)
      : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>
      -> tensor<?x?x?x128xf16>
  return %o : tensor<?x?x?x128xf16>
}

// -----

// General alpha: no histogram (the plain bracket, no atomics), powers as
// exp2(c log2 d) through the NVVM intrinsics (no libdevice), Halley steps.

// GPU-LABEL: gpu.func @entmax125(
// GPU-SAME: shared_memory_bytes = 49152 : i64
// GPU-NOT: memref.atomic_rmw
// GPU: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// GPU: arith.mulf
// GPU-NEXT: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// GPU: scf.while
// GPU: gpu.return

// NVVM-LABEL: llvm.func @entmax125(
// NVVM-NOT: __nv_powf
// PTX: gpu.binary @sparse_attn_kernels

func.func @entmax125(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>)
    -> tensor<1x2x256x64xbf16> {
  %o = sparse_attn.attention entmax<alpha = 1.25> %q, %k, %v
      : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>
      -> tensor<1x2x256x64xbf16>
  return %o : tensor<1x2x256x64xbf16>
}
