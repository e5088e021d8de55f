// RUN: sparse-attn-opt %s --sparse-attn-tile="query-tile=128 key-tile=64" \
// RUN:   --sparse-attn-skip-blocks --sparse-attn-fuse --canonicalize --cse \
// RUN:   --sparse-attn-to-gpu="scale-argument=true" | FileCheck %s --check-prefix=GPU
// RUN: sparse-attn-opt %s --sparse-attn-gpu="format=llvm scale-argument=true" \
// RUN:   | FileCheck %s --check-prefix=NVVM
// RUN: sparse-attn-opt %s --sparse-attn-gpu | FileCheck %s --check-prefix=PTX

// Causal softmax attention with statistics, bf16, 64-wide heads, grouped
// query heads: one kernel of 4 warps x 2 m-tiles of 16 rows.

// GPU-LABEL: gpu.module @sparse_attn_kernels
// GPU: memref.global @sparse_attn_shared_memory : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 1024 : i64}
// Per tensor a bare pointer, the extents the kernel reads, the strides.
// GPU: gpu.func @attention(%[[Q:arg[0-9]+]]: memref<1xbf16> {sparse_attn.access = "read", sparse_attn.shape = array<i64: -1, -1, -1, 64>, sparse_attn.tensor = "q"},
// GPU-SAME: %{{.*}}: index {sparse_attn.dim = 2 : i64, sparse_attn.size = "q"},
// GPU-SAME: %{{.*}}: index {sparse_attn.dim = 2 : i64, sparse_attn.stride = "q"},
// GPU-SAME: {sparse_attn.access = "write", sparse_attn.shape = array<i64: -1, -1, -1, 64>, sparse_attn.tensor = "out"}
// GPU-SAME: %{{.*}}: memref<1xf32> {sparse_attn.access = "write", sparse_attn.shape = array<i64: -1, -1, -1>, sparse_attn.tensor = "stats"}
// GPU-SAME: %[[SCALE:arg[0-9]+]]: f32 {sparse_attn.scalar = "scale"}) kernel
// GPU-SAME: known_block_size = array<i32: 128, 1, 1>
// GPU-SAME: sparse_attn.launch = {block = [128, 1, 1], grid = ["ceil_div(q.size2, 128)", "q.size1", "q.size0"], max_key_blocks = 0 : i64, max_list_entries = 0 : i64, max_recorded_tiles = 0 : i64, shared_memory_bytes = 32768 : i64}
// GPU-SAME: sparse_attn.tuning = {block_k = 64 : i64, block_q = 128 : i64, warps = 4 : i64}
// GPU: memref.reinterpret_cast %[[Q]] to offset: [0], sizes: [%{{.*}}, %{{.*}}, %{{.*}}, 64], strides: [%{{.*}}, %{{.*}}, %{{.*}}, 1] : memref<1xbf16> to memref<?x?x?x64xbf16, strided<[?, ?, ?, 1]>>
// The last query tile first: x counts down.
// GPU: %[[BX:.*]] = gpu.block_id  x
// GPU: arith.subi %{{.*}}, %[[BX]] : index
// The query tile: cp.async into shared memory, then A fragments in registers.
// GPU: nvgpu.device_async_copy {{.*}} {bypassL1}
// GPU: nvvm.cp.async.commit.group
// GPU: nvvm.cp.async.wait.group 0
// GPU: gpu.barrier
// GPU: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false} : memref<16384xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// The causal key loop: the first key tile streams in before it.
// GPU: gpu.barrier
// GPU: scf.if
// GPU: nvgpu.device_async_copy
// GPU: nvvm.cp.async.commit.group
// GPU: scf.for {{.*}} iter_args({{.*}} = %{{.*}}, {{.*}} = %{{.*}}, {{.*}} = %{{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<64xf32>)
// Keys: wait, barrier, stream the values in, then Q K^T on tensor cores.
// GPU: nvvm.cp.async.wait.group 0
// GPU-NEXT: gpu.barrier
// GPU: nvgpu.device_async_copy
// GPU: nvvm.cp.async.commit.group
// GPU: llvm.inline_asm has_side_effects "mov.b32 $0, $1;"
// GPU: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// GPU: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// GPU: arith.mulf %{{.*}}, %[[SCALE]] : f32
// Full tiles skip the causal mask; partial ones select -inf.
// GPU: scf.if %{{.*}} -> (vector<64xf32>)
// GPU: } else {
// GPU: arith.select %{{.*}}, %{{.*}}, %cst{{.*}} : f32
// Values: wait, barrier, stream the next keys in, then the online softmax.
// GPU: nvvm.cp.async.wait.group 0
// GPU-NEXT: gpu.barrier
// GPU: gpu.shuffle  xor
// GPU: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// GPU: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// GPU: arith.cmpf une
// GPU: scf.if %{{.*}} -> (vector<64xf32>) {
// GPU: arith.mulf
// GPU: } else {
// GPU-NEXT: scf.yield %{{.*}} : vector<64xf32>
// GPU: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// GPU: nvvm.mma.sync
// GPU: scf.yield %{{.*}}, %{{.*}}, %{{.*}} : vector<4xf32>, vector<4xf32>, vector<64xf32>
// Rows inside the sequence are stored, the log-sum-exp by one thread a quad.
// GPU: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// GPU: vector.store %{{.*}}, %{{.*}} : memref<?x?x?x64xbf16, strided<[?, ?, ?, 1]>>, vector<2xbf16>
// GPU: memref.store %{{.*}}, %{{.*}} : memref<?x?x?xf32, strided<[?, ?, ?]>>
// GPU: gpu.return

// The kernel in the LLVM and NVVM dialects: bare pointers and 32-bit
// extents and strides.
// NVVM-LABEL: gpu.module @sparse_attn_kernels
// NVVM: llvm.mlir.global external @sparse_attn_shared_memory() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<0 x i8>
// NVVM: llvm.func @attention(%{{.*}}: !llvm.ptr, %{{.*}}: i32, %{{.*}}: i32,
// NVVM-SAME: gpu.kernel
// NVVM-SAME: nvvm.maxntid = array<i32: 128, 1, 1>
// NVVM: nvvm.cp.async.shared.global
// NVVM: nvvm.ldmatrix
// NVVM: nvvm.mma.sync
// NVVM: nvvm.shfl.sync  bfly
// NVVM-NOT: unrealized_conversion_cast

// PTX: gpu.binary @sparse_attn_kernels
// PTX-SAME: .target sm_90a
// PTX-SAME: .extern .shared .align 1024 .b8 sparse_attn_shared_memory[]
// PTX-SAME: .visible .entry attention(
// PTX-SAME: .maxntid 128, 1, 1
// PTX-SAME: cp.async.cg.shared.global
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-SAME: ex2.approx.ftz.f32
func.func @attention(%q: tensor<?x?x?x64xbf16> {sparse_attn.name = "q"},
                     %k: tensor<?x?x?x64xbf16> {sparse_attn.name = "k"},
                     %v: tensor<?x?x?x64xbf16> {sparse_attn.name = "v"})
    -> (tensor<?x?x?x64xbf16> {sparse_attn.name = "out"},
        tensor<?x?x?xf32> {sparse_attn.name = "stats"}) {
  %o, %lse = sparse_attn.attention softmax causal %q, %k, %v scale(1.0)
      : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
      -> tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
  return %o, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}
