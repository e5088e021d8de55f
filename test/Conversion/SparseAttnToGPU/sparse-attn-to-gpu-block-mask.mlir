// RUN: sparse-attn-opt %s --sparse-attn-tile="query-tile=128 key-tile=32" \
// RUN:   --sparse-attn-skip-blocks --sparse-attn-fuse --canonicalize --cse \
// RUN:   --sparse-attn-to-gpu | FileCheck %s

// Softmax attention over a FlexAttention block mask with full blocks: the
// schedule of key tiles is built per CTA in shared memory.

// CHECK-LABEL: gpu.func @block_sparse(
// CHECK-SAME: sparse_attn.tensor = "kv_num_blocks"
// CHECK-SAME: sparse_attn.tensor = "full_kv_indices"
// CHECK-SAME: sparse_attn.launch = {{{.*}}max_key_blocks = 1024 : i64, max_list_entries = 4096 : i64, max_recorded_tiles = 0 : i64, shared_memory_bytes = 49152 : i64}
// CHECK-SAME: sparse_attn.tuning = {block_k = 32 : i64, block_q = 128 : i64, warps = 4 : i64}
// The schedule list, then the first-position table of each index row:
// reset, barrier, atomic minima over the row's slots (threads strided),
// barrier.
// CHECK: %[[LIST:.*]] = memref.view %{{.*}}[%{{.*}}][] : memref<0xi8, #gpu.address_space<workgroup>> to memref<4096xi32, #gpu.address_space<workgroup>>
// CHECK: %[[TABLE:.*]] = memref.view %{{.*}}[%{{.*}}][] : memref<0xi8, #gpu.address_space<workgroup>> to memref<1024xi32, #gpu.address_space<workgroup>>
// CHECK: scf.for %{{.*}} = %{{.*}} to %c1024{{.*}} step %c128
// CHECK: memref.store %{{.*}}, %[[TABLE]]
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: memref.atomic_rmw mins %{{.*}}, %[[TABLE]]
// CHECK: gpu.barrier
// Thread 0 appends `2 * tile + full` to the list.
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[LIST]], %{{.*}} = %c0{{.*}}) -> (memref<4096xi32, #gpu.address_space<workgroup>>, index)
// CHECK: memref.load %[[TABLE]]
// CHECK: arith.cmpi eq, %{{.*}}, %c0{{.*}} : index
// CHECK: scf.if
// CHECK-NEXT: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<4096xi32, #gpu.address_space<workgroup>>
// The key loop reads its tiles from the list, the next one ahead.
// CHECK: gpu.barrier
// CHECK: memref.load %{{.*}} : memref<4096xi32, #gpu.address_space<workgroup>>
// CHECK: nvgpu.device_async_copy
// CHECK: scf.for
// CHECK: memref.load %{{.*}} : memref<4096xi32, #gpu.address_space<workgroup>>
func.func @block_sparse(%q: tensor<?x?x?x64xbf16> {sparse_attn.name = "q"},
                        %k: tensor<?x?x?x64xbf16> {sparse_attn.name = "k"},
                        %v: tensor<?x?x?x64xbf16> {sparse_attn.name = "v"},
                        %n: tensor<?x?x?xi32> {sparse_attn.name = "kv_num_blocks"},
                        %i: tensor<?x?x?x?xi32> {sparse_attn.name = "kv_indices"},
                        %fn: tensor<?x?x?xi32> {sparse_attn.name = "full_kv_num_blocks"},
                        %fi: tensor<?x?x?x?xi32> {sparse_attn.name = "full_kv_indices"})
    -> (tensor<?x?x?x64xbf16> {sparse_attn.name = "out"}) {
  %c2 = arith.constant 2 : index
  %nq = tensor.dim %q, %c2 : tensor<?x?x?x64xbf16>
  %nk = tensor.dim %k, %c2 : tensor<?x?x?x64xbf16>
  %m = sparse_attn.mask_from_indices %n, %i full(%fn, %fi) (%nq, %nk)
      : tensor<?x?x?xi32>, tensor<?x?x?x?xi32>, tensor<?x?x?xi32>, tensor<?x?x?x?xi32>
      -> !sparse_attn.block_mask<?x?x?x?, block = 128x128>
  %o = sparse_attn.attention softmax %q, %k, %v mask(%m : !sparse_attn.block_mask<?x?x?x?, block = 128x128>)
      : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
