// RUN: sparse-attn-opt %s --sparse-attn-tile="query-tile=128 key-tile=64" \
// RUN:   --sparse-attn-skip-blocks --sparse-attn-fuse --canonicalize --cse \
// RUN:   --sparse-attn-to-gpu="scale-argument=true" | FileCheck %s --check-prefix=GPU
// RUN: sparse-attn-opt %s --sparse-attn-gpu="format=llvm scale-argument=true" \
// RUN:   | FileCheck %s --check-prefix=NVVM
// RUN: sparse-attn-opt %s --sparse-attn-gpu | FileCheck %s --check-prefix=PTX

// Elastic softmax (Lazy attention) with the diagonal bias, grouped query
// heads: a log-sum-exp pass that records each key tile's row maxima, then
// an output pass that skips the tiles whose weights are all zero.

// GPU-LABEL: gpu.func @elastic(
// The bias's width is a kernel argument (the band test needs it).
// GPU-SAME: %{{.*}}: index {sparse_attn.dim = 1 : i64, sparse_attn.size = "arg3"}
// GPU-SAME: max_recorded_tiles = 256 : i64, shared_memory_bytes = 163840 : i64
// The record of tile maxima: 256 tiles of 128 rows in shared memory.
// GPU: %[[RECORD:.*]] = memref.view %{{.*}}[%c32768{{.*}}][] : memref<0xi8, #gpu.address_space<workgroup>> to memref<32768xf32, #gpu.address_space<workgroup>>
// GPU: %[[LSE:.*]]:3 = scf.for %[[KT:.*]] = {{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %[[REC:.*]] = %[[RECORD]]) -> (vector<4xf32>, vector<4xf32>, memref<32768xf32, #gpu.address_space<workgroup>>)
// GPU: nvvm.mma.sync
// Bias terms load only inside the band 0 <= i + diagonal - j < W.
// GPU: arith.cmpi sge
// GPU: arith.cmpi slt
// GPU: scf.if %{{.*}} -> (f32) {
// GPU: memref.load %{{.*}}[%block_id_y, %{{.*}}] : memref<8x?xf32, strided<[?, ?]>>
// GPU: } else {
// The tile's row maxima go to column `kt` of the record.
// GPU: %[[COLUMN:.*]] = arith.muli %[[KT]], %c128{{.*}} : index
// GPU: memref.store %{{.*}}, %[[REC]][%{{.*}}] : memref<32768xf32, #gpu.address_space<workgroup>>
// The output pass: the skip test is a CTA-wide OR over the rows; live tiles
// load V and K on the spot (barrier, copy, wait, barrier), then the
// weights times V on tensor cores.
// GPU: scf.for %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<64xf32>) {
// GPU: memref.load %[[LSE]]#2[%{{.*}}] : memref<32768xf32, #gpu.address_space<workgroup>>
// GPU: %[[LIVE:.*]] = nvvm.barrier #nvvm.reduction<or>
// GPU: %[[ANY:.*]] = arith.cmpi ne, %[[LIVE]]
// GPU: scf.if %[[ANY]] -> (vector<64xf32>) {
// GPU: gpu.barrier
// GPU: nvgpu.device_async_copy
// GPU: nvvm.cp.async.commit.group
// GPU-NEXT: nvvm.cp.async.wait.group 0
// GPU-NEXT: gpu.barrier
// GPU: nvvm.mma.sync
// GPU: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// GPU: nvvm.mma.sync
// GPU: } else {
// GPU: scf.yield %{{.*}} : vector<64xf32>
// No renormalisation: the accumulator is stored as it is.
// GPU: vector.store %{{.*}} : memref<?x8x?x64xbf16, strided<[?, ?, ?, 1]>>, vector<2xbf16>
// GPU: gpu.return

// NVVM-LABEL: llvm.func @elastic(
// NVVM: nvvm.barrier #nvvm.reduction<or>
// NVVM-NOT: unrealized_conversion_cast

// PTX: gpu.binary @sparse_attn_kernels

func.func @elastic(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>,
                   %bias: tensor<8x?xf32>, %tau: tensor<8xf32>) -> tensor<?x8x?x64xbf16> {
  %o = sparse_attn.attention elastic_softmax causal %q, %k, %v bias(%bias : tensor<8x?xf32>)
      tau(%tau : tensor<8xf32>) scale(1.0)
      : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x8x?x64xbf16>
  return %o : tensor<?x8x?x64xbf16>
}
