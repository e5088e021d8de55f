// RUN: sparse-attn-opt %s --sparse-attn-gpu="chip=sm_80 features=+ptx80 warps=8 query-tile=128 key-tile=32" \
// RUN:   | FileCheck %s --check-prefix=SM80
// RUN: sparse-attn-opt %s --sparse-attn-gpu="format=llvm index-bitwidth=64" \
// RUN:   | FileCheck %s --check-prefix=LLVM64

// The pipeline's options reach the kernel: the target (mma.sync and cp.async
// exist since sm_80), the warps (8 x 16 rows) and the index width.

// SM80: gpu.binary @sparse_attn_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// SM80-SAME: .target sm_80
// SM80-SAME: .visible .entry noncausal(
// SM80-SAME: .maxntid 256, 1, 1
// SM80-SAME: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32

// LLVM64: llvm.func @noncausal(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: i64,
func.func @noncausal(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>,
                     %v: tensor<?x?x?x128xf16>) -> tensor<?x?x?x128xf16> {
  %o = sparse_attn.attention softmax %q, %k, %v
      : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>
      -> tensor<?x?x?x128xf16>
  return %o : tensor<?x?x?x128xf16>
}
