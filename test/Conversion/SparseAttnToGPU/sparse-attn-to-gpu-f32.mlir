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
// RUN: sparse-attn-opt %s -split-input-file \
// RUN:   --sparse-attn-tile="query-tile=128 key-tile=64" --sparse-attn-skip-blocks \
// RUN:   --sparse-attn-fuse --canonicalize --cse \
// RUN:   --sparse-attn-to-gpu="scale-argument=true iterations-argument=true exact-f32=true" \
// RUN:   | FileCheck %s --check-prefix=EXACT

// Causal softmax attention with statistics, f32, 64-wide heads: both
// products on tf32 tensor cores (m16n8k8), staged tiles rounded to tf32 in
// shared memory by the threads that copied them, P rounded in registers,
// V read with 32-bit loads.

// GPU-LABEL: gpu.func @softmax_f32(
// GPU-SAME: %{{.*}}: memref<1xf32> {sparse_attn.access = "read", sparse_attn.shape = array<i64: -1, -1, -1, 64>, sparse_attn.tensor = "q"}
// Twice the bytes of bf16: the query tile (32 KB) and two 16 KB slots.
// GPU-SAME: shared_memory_bytes = 65536 : i64
// The query tile: cp.async of 16-byte chunks (4 elements), then each
// thread rounds the chunks it copied before the barrier.
// GPU: nvgpu.device_async_copy %{{.*}}, %{{.*}}, 4 {bypassL1} : memref<?x?x?x64xf32, strided<[?, ?, ?, 1]>> to memref<16384xf32, #gpu.address_space<workgroup>>
// GPU: nvvm.cp.async.wait.group 0
// GPU-NOT: gpu.barrier
// GPU: %[[CHUNK:.*]] = vector.load %[[SMEM:.*]][%[[AT:.*]]] {alignment = 16 : i64} : memref<16384xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// GPU: %[[X:.*]] = vector.extract %[[CHUNK]][0] : f32 from vector<4xf32>
// GPU: %[[T:.*]] = nvvm.convert.float.to.tf32 %[[X]] {rnd = #nvvm.fp_rnd_mode<rna>}
// GPU-NEXT: arith.bitcast %[[T]] : i32 to f32
// GPU: vector.store %{{.*}}, %[[SMEM]][%[[AT]]] {alignment = 16 : i64} : memref<16384xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// GPU: gpu.barrier
// The key loop: keys arrive, are rounded, then Q K^T with ldmatrix
// fragments (b16 pairs: one f32 each) and k = 8 tf32 products.
// GPU: scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<64xf32>)
// GPU: nvvm.cp.async.wait.group 0
// GPU: nvvm.convert.float.to.tf32
// GPU: gpu.barrier
// GPU: nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false} : memref<16384xf32, #gpu.address_space<workgroup>> -> vector<4x1xf32>
// GPU: llvm.bitcast %{{.*}} : vector<1xf32> to i32
// GPU: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<tf32>, multiplicandBPtxType = #nvvm.mma_type<tf32>, shape = #nvvm.shape<m = 16, n = 8, k = 8>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// The values: rounded likewise; P = exp2(S - m) rounded to tf32; its A
// registers are the score accumulators of one n-tile, rows g and g + 8
// (elements 0, 2, 1, 3); V's B registers two 32-bit shared loads.
// GPU: nvvm.cp.async.wait.group 0
// GPU: nvvm.convert.float.to.tf32
// GPU: gpu.barrier
// GPU: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// GPU: %[[P0:.*]] = nvvm.convert.float.to.tf32 %{{.*}} {rnd = #nvvm.fp_rnd_mode<rna>}
// GPU-NEXT: %[[P1:.*]] = nvvm.convert.float.to.tf32 %{{.*}} {rnd = #nvvm.fp_rnd_mode<rna>}
// GPU-NEXT: %[[P2:.*]] = nvvm.convert.float.to.tf32 %{{.*}} {rnd = #nvvm.fp_rnd_mode<rna>}
// GPU-NEXT: %[[P3:.*]] = nvvm.convert.float.to.tf32 %{{.*}} {rnd = #nvvm.fp_rnd_mode<rna>}
// GPU: %[[B0:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<16384xf32, #gpu.address_space<workgroup>>
// GPU-NEXT: %[[B0I:.*]] = arith.bitcast %[[B0]] : f32 to i32
// GPU: %[[B1:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<16384xf32, #gpu.address_space<workgroup>>
// GPU-NEXT: %[[B1I:.*]] = arith.bitcast %[[B1]] : f32 to i32
// GPU-NEXT: nvvm.mma.sync A[%[[P0]], %[[P2]], %[[P1]], %[[P3]]]  B[%[[B0I]], %[[B1I]]] {{.*}}multiplicandAPtxType = #nvvm.mma_type<tf32>{{.*}}shape = #nvvm.shape<m = 16, n = 8, k = 8>
// GPU: scf.yield %{{.*}}, %{{.*}}, %{{.*}} : vector<4xf32>, vector<4xf32>, vector<64xf32>
// f32 output pairs, no rounding to a 16-bit type.
// GPU-NOT: arith.truncf
// GPU: vector.store %{{.*}}, %{{.*}} : memref<?x?x?x64xf32, strided<[?, ?, ?, 1]>>, vector<2xf32>
// GPU: gpu.return

// NVVM-LABEL: llvm.func @softmax_f32(
// NVVM: nvvm.convert.float.to.tf32 %{{.*}} {rnd = #nvvm.fp_rnd_mode<rna>}
// NVVM: nvvm.ldmatrix %{{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>} : (!llvm.ptr<3>) -> !llvm.struct<(i32, i32, i32, i32)>
// NVVM: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<tf32>
// NVVM-NOT: unrealized_conversion_cast

// PTX-LABEL: gpu.binary @sparse_attn_kernels
// PTX-SAME: .visible .entry softmax_f32(
// PTX-SAME: cp.async.cg.shared.global
// PTX-SAME: ld.shared.v4.b32
// PTX-SAME: cvt.rna.tf32.f32
// PTX-SAME: st.shared.v4.b32
// PTX-SAME: ld.shared.b32
// PTX-SAME: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-NOT: m16n8k16
// exact-f32: the tiles stay f32 in shared memory (no rounding before the
// barrier); each product is three tf32 products of hi = tf32(x) and
// lo = tf32(x - hi), the small terms first.
// EXACT-LABEL: gpu.func @softmax_f32(
// EXACT: nvvm.cp.async.wait.group 0
// EXACT-NEXT: gpu.barrier
// EXACT: scf.for
// EXACT: nvvm.cp.async.wait.group 0
// EXACT-NEXT: gpu.barrier
// EXACT: %[[A:.*]] = arith.bitcast %{{.*}} : i32 to f32
// EXACT-NEXT: %[[AHI:.*]] = nvvm.convert.float.to.tf32 %[[A]] {rnd = #nvvm.fp_rnd_mode<rna>}
// EXACT-NEXT: %[[AHIF:.*]] = arith.bitcast %[[AHI]] : i32 to f32
// EXACT-NEXT: %[[AREST:.*]] = arith.subf %[[A]], %[[AHIF]] : f32
// EXACT-NEXT: %[[ALO:.*]] = nvvm.convert.float.to.tf32 %[[AREST]] {rnd = #nvvm.fp_rnd_mode<rna>}
// EXACT: nvvm.mma.sync A[%[[ALO]], {{.*}}]  B[%[[BHI0:[0-9]+]], %[[BHI1:[0-9]+]]]
// EXACT-NEXT: llvm.extractvalue
// EXACT: nvvm.mma.sync A[%[[AHI]], {{.*}}]  B[%{{[0-9]+}}, %{{[0-9]+}}]
// EXACT-NEXT: llvm.extractvalue
// EXACT: nvvm.mma.sync A[%[[AHI]], {{.*}}]  B[%[[BHI0]], %[[BHI1]]]
// EXACT-LABEL: gpu.func @entmax_f32(
func.func @softmax_f32(%q: tensor<?x?x?x64xf32> {sparse_attn.name = "q"},
                       %k: tensor<?x?x?x64xf32> {sparse_attn.name = "k"},
                       %v: tensor<?x?x?x64xf32> {sparse_attn.name = "v"})
    -> (tensor<?x?x?x64xf32> {sparse_attn.name = "out"},
        tensor<?x?x?xf32> {sparse_attn.name = "stats"}) {
  %o, %lse = sparse_attn.attention softmax causal %q, %k, %v scale(1.0)
      : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
      -> tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

// -----

// Entmax-1.5, f32, 128-wide heads: every pass's Q K^T on tf32 tensor cores,
// the output pass's weights [S - tau]_+^2 rounded to tf32 as P is.

// GPU-LABEL: gpu.func @entmax_f32(
// GPU-SAME: shared_memory_bytes = 181248 : i64
// GPU: memref.atomic_rmw addi
// GPU: scf.while
// GPU: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<tf32>
// The output pass: weights, their row sums, P @ V.
// GPU: scf.for {{.*}} -> (vector<128xf32>, vector<4xf32>) {
// GPU: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<tf32>
// GPU: arith.mulf
// GPU: gpu.shuffle  xor
// GPU: nvvm.convert.float.to.tf32 %{{.*}} {rnd = #nvvm.fp_rnd_mode<rna>}
// GPU: memref.load %{{.*}}[%{{.*}}] : memref<{{[0-9]+}}xf32, #gpu.address_space<workgroup>>
// GPU: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<tf32>
// GPU: gpu.return

// NVVM-LABEL: llvm.func @entmax_f32(
// PTX: .visible .entry entmax_f32(
// PTX-SAME: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
func.func @entmax_f32(%q: tensor<?x?x?x128xf32>, %k: tensor<?x?x?x128xf32>,
                      %v: tensor<?x?x?x128xf32>) -> tensor<?x?x?x128xf32> {
  %o = sparse_attn.attention entmax<alpha = 1.5> %q, %k, %v scale(1.0)
      : tensor<?x?x?x128xf32>, tensor<?x?x?x128xf32>, tensor<?x?x?x128xf32>
      -> tensor<?x?x?x128xf32>
  return %o : tensor<?x?x?x128xf32>
}
