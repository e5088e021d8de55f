// RUN: sparse-attn-opt %s --sparse-attn-to-gpu=scale-argument | FileCheck %s --check-prefix=GPU
// RUN: sparse-attn-opt %s --sparse-attn-gpu="scale-argument format=isa" | FileCheck %s --check-prefix=PTX

// XAttention's block selection as its own kernel: a CTA of 256 threads per
// (query block, head, batch); two passes over the key blocks (row
// statistics of the strided scores, then block masses), the ranking of the
// competing blocks by all threads, the threshold walk and the index row by
// thread 0.

// GPU-LABEL: gpu.func @xattention(
// GPU-SAME: sparse_attn.tensor = "q"
// GPU-SAME: sparse_attn.tensor = "thresholds"
// GPU-SAME: sparse_attn.access = "write", {{.*}}sparse_attn.tensor = "kv_num_blocks"
// GPU-SAME: sparse_attn.size = "kv_indices"
// GPU-SAME: sparse_attn.scalar = "scale"
// GPU-SAME: known_block_size = array<i32: 256, 1, 1>
// GPU-SAME: sparse_attn.launch = {block = [256, 1, 1], grid = ["ceil_div(q.size2, 128)", "q.size1", "q.size0"], max_key_blocks = 1024 : i64, shared_memory_bytes = 46080 : i64}
// Block masses, masses in ranked order, ranks, per-warp partials.
// GPU: %[[MASS:.*]] = memref.view {{.*}} to memref<1024xf32, #gpu.address_space<workgroup>>
// GPU: %[[SORTED:.*]] = memref.view {{.*}} to memref<1024xf32, #gpu.address_space<workgroup>>
// GPU: %[[RANK:.*]] = memref.view {{.*}} to memref<1024xi32, #gpu.address_space<workgroup>>
// GPU: %[[PARTIAL:.*]] = memref.view {{.*}} to memref<9xf32, #gpu.address_space<workgroup>>
// The last query block first.
// GPU: %[[BX:.*]] = gpu.block_id x
// GPU: %[[GX:.*]] = gpu.grid_dim x
// GPU: arith.subi %{{.*}}, %[[BX]]
// Scores are scale / S * log2(e) (stride 8, D = 64) times the argument.
// GPU: %[[F:.*]] = arith.constant 0.180336878 : f32
// GPU: arith.mulf %[[F]], %{{.*}} : f32
// The query block streams in with cp.async; the masses start at zero.
// GPU: nvgpu.device_async_copy
// GPU: nvvm.cp.async.commit.group
// GPU: scf.for
// GPU: memref.store %{{.*}}, %[[MASS]]
// Pass 1: per key block a copy, the antidiagonal dot products in 8-wide
// chunks, the running max and sum.
// GPU: scf.for {{.*}} iter_args(%{{.*}} = %cst{{.*}}, %{{.*}} = %cst{{.*}}) -> (f32, f32)
// GPU: nvgpu.device_async_copy
// GPU: nvvm.cp.async.wait.group 0
// GPU: gpu.barrier
// GPU: vector.load {{.*}} : memref<{{.*}}xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// GPU: vector.fma {{.*}} : vector<8xf32>
// GPU: vector.reduction <add>
// GPU: llvm.intr.maxnum
// GPU: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// GPU: gpu.barrier
// The statistics merge over the 16 threads of a query group.
// GPU-COUNT-8: gpu.shuffle  xor
// Pass 2: masses summed over each warp, then over the warps by thread 0.
// GPU: scf.for
// GPU: gpu.shuffle  xor {{.*}}, %c16_i32
// GPU: memref.store %{{.*}}, %[[PARTIAL]]
// GPU: gpu.barrier
// GPU: memref.load %[[PARTIAL]]
// GPU: memref.store %{{.*}}, %[[MASS]]
// Ranks: blocks ahead of each competing block.
// GPU: scf.for
// GPU: scf.for {{.*}} -> (index)
// GPU: memref.store %{{.*}}, %[[SORTED]]
// GPU: memref.store %{{.*}}, %[[RANK]]
// GPU: gpu.barrier
// Thread 0: totals, the threshold walk over ranked masses, the index row.
// GPU: %[[T:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<?xf32, strided<[?]>>
// GPU: scf.if
// GPU: scf.for {{.*}} -> (f32, f32, index)
// GPU: arith.mulf %[[T]]
// GPU: scf.for {{.*}} -> (f32, index)
// GPU: arith.cmpf olt
// GPU: scf.for {{.*}} -> (index)
// GPU: memref.store {{.*}} : memref<?x?x?x?xi32, strided<[?, ?, ?, ?]>>
// GPU: memref.store {{.*}} : memref<?x?x?xi32, strided<[?, ?, ?]>>
// Zeros after the list.
// GPU: gpu.barrier
// GPU: scf.for
// GPU: memref.store %c0_i32{{.*}} : memref<?x?x?x?xi32, strided<[?, ?, ?, ?]>>
// GPU: gpu.return

// PTX-LABEL: .entry xattention(
// PTX: cp.async.cg.shared.global
// PTX: ld.shared.v4
// PTX: fma.rn.f32
// PTX: ex2.approx.ftz.f32
// PTX: shfl.sync.bfly
// PTX: bar.sync
func.func @xattention(%q: tensor<?x?x?x64xbf16> {sparse_attn.name = "q"},
                      %k: tensor<?x?x?x64xbf16> {sparse_attn.name = "k"},
                      %t: tensor<?xf32> {sparse_attn.name = "thresholds"})
    -> (tensor<?x?x?xi32> {sparse_attn.name = "kv_num_blocks"},
        tensor<?x?x?x?xi32> {sparse_attn.name = "kv_indices"}) {
  %n, %i = sparse_attn.select_blocks xattention<stride = 8> causal %q, %k
      thresholds(%t : tensor<?xf32>) scale(1.0) block(128, 128)
      : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16> -> tensor<?x?x?xi32>, tensor<?x?x?x?xi32>
  return %n, %i : tensor<?x?x?xi32>, tensor<?x?x?x?xi32>
}

// Stride 16 leaves 64 scores per block pair: four threads share each score
// (four stride steps each, summed with two shuffles), the statistics merge
// over the 32 threads of a query group; the configuration's threshold.

// GPU-LABEL: gpu.func @xattention_stride16(
// GPU-SAME: shared_memory_bytes = 78848 : i64
// GPU: arith.constant 0.00796983949 : f32
// GPU: scf.for {{.*}} -> (f32, f32)
// GPU: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1{{.*}} iter_args
// GPU: vector.load {{.*}} vector<8xf16>
// GPU: vector.reduction <add>
// GPU: gpu.shuffle  xor %{{.*}}, %c1_i32
// GPU: gpu.shuffle  xor %{{.*}}, %c2_i32
// GPU: %[[T16:.*]] = arith.constant 0.949999988 : f32
// GPU: arith.mulf %[[T16]]
func.func @xattention_stride16(%q: tensor<2x4x?x128xf16>, %k: tensor<2x2x?x128xf16>)
    -> (tensor<2x4x?xi32>, tensor<2x4x?x?xi32>) {
  %n, %i = sparse_attn.select_blocks xattention<stride = 16, threshold = 0.95> %q, %k block(128, 128)
      : tensor<2x4x?x128xf16>, tensor<2x2x?x128xf16> -> tensor<2x4x?xi32>, tensor<2x4x?x?xi32>
  return %n, %i : tensor<2x4x?xi32>, tensor<2x4x?x?xi32>
}
