// RUN: sparse-attn-opt %s --pass-pipeline="builtin.module(gpu.module(sparse-attn-kernels-to-nvvm))" \
// RUN:   | FileCheck %s --check-prefix=I32
// RUN: sparse-attn-opt %s --pass-pipeline="builtin.module(gpu.module(sparse-attn-kernels-to-nvvm{index-bitwidth=64}))" \
// RUN:   | FileCheck %s --check-prefix=I64
// RUN: sparse-attn-opt %s --pass-pipeline="builtin.module(gpu.module(sparse-attn-kernels-to-nvvm{bare-pointers=false}))" \
// RUN:   | FileCheck %s --check-prefix=DESCRIPTOR
// RUN: not sparse-attn-opt %s --pass-pipeline="builtin.module(gpu.module(sparse-attn-kernels-to-nvvm{index-bitwidth=16}))" \
// RUN:   2>&1 | FileCheck %s --check-prefix=BAD

// nvgpu, gpu, vector, memref and arith in one conversion: index arguments,
// views and the cp.async / ldmatrix address arithmetic share one index
// width; statically shaped memrefs are bare pointers.

// I32-LABEL: llvm.func @copy_and_load(
// I32-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: i32, %{{.*}}: !llvm.ptr)
// I32-SAME: gpu.kernel
// I32: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg
// I32: nvvm.cp.async.commit.group
// I32: nvvm.cp.async.wait.group 0
// I32: nvvm.barrier
// I32: nvvm.ldmatrix %{{.*}} {{.*}}layout = #nvvm.mma_layout<row>, num = 4 : i32
// I32-NOT: builtin.unrealized_conversion_cast

// I64-LABEL: llvm.func @copy_and_load(
// I64-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: !llvm.ptr)

// Without bare pointers a memref is its descriptor: two pointers, offset,
// size, stride.
// DESCRIPTOR-LABEL: llvm.func @copy_and_load(
// DESCRIPTOR-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32,

// BAD: index-bitwidth must be 32 or 64, got 16
module attributes {gpu.container_module} {
  gpu.module @kernels {
    memref.global @shared : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 1024 : i64}
    gpu.func @copy_and_load(%pointer: memref<1xbf16>, %stride: index,
                            %out: memref<128xi32>) kernel {
      %c0 = arith.constant 0 : index
      %c128 = arith.constant 128 : index
      %src = memref.reinterpret_cast %pointer to offset: [0], sizes: [%c128, 64], strides: [%stride, 1]
          : memref<1xbf16> to memref<?x64xbf16, strided<[?, 1]>>
      %t = gpu.thread_id x
      %base = memref.get_global @shared : memref<0xi8, #gpu.address_space<workgroup>>
      %tile = memref.view %base[%c0][] : memref<0xi8, #gpu.address_space<workgroup>> to memref<2048xbf16, #gpu.address_space<workgroup>>
      %e = arith.muli %t, %c0 : index
      %token = nvgpu.device_async_copy %src[%t, %c0], %tile[%e], 8 {bypassL1}
          : memref<?x64xbf16, strided<[?, 1]>> to memref<2048xbf16, #gpu.address_space<workgroup>>
      nvvm.cp.async.commit.group
      nvvm.cp.async.wait.group 0
      gpu.barrier
      %m = nvgpu.ldmatrix %tile[%e] {numTiles = 4 : i32, transpose = false}
          : memref<2048xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
      %pair = vector.extract %m[0] : vector<2xbf16> from vector<4x2xbf16>
      %bits = llvm.bitcast %pair : vector<2xbf16> to i32
      memref.store %bits, %out[%t] : memref<128xi32>
      gpu.return
    }
  }
}
