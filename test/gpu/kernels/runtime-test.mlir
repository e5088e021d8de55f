// Kernels that exercise the runtime end to end on a GPU (test/gpu/run.py):
// every parameter slot kind of docs/design/kernel-bundles.md, strided
// tensors, a TMA tensor map, dynamic shared memory above 48 KiB and a
// cluster launch. build-test-bundle.py compiles them and writes the
// manifest.
!tile = memref<16x32xf32, #gpu.address_space<workgroup>>
!map = !nvgpu.tensormap.descriptor<tensor = !tile, swizzle = none, l2promo = none, oob = zero, interleave = none>
!barrier = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>>
!matrix = memref<?x?xf32, strided<[?, ?]>>

module attributes {gpu.container_module} {
  gpu.module @runtime_test {
    // The dynamic shared memory: a public, uninitialised global becomes an
    // extern .shared array (see shared/HOPPER-MLIR.md, pitfall 1).
    memref.global "public" @dynamic_shared : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 1024}

    // z = a * x + y over [rows, cols] tensors with arbitrary strides; one
    // thread per element, 16x16 blocks.
    gpu.func @scaled_add(%xp: memref<1xf32>, %yp: memref<1xf32>, %zp: memref<1xf32>,
                         %rows: index, %cols32: i32,
                         %x0: index, %x1: index, %y0: index, %y1: index, %z0: index, %z1: index,
                         %a: f32) kernel {
      %cols = arith.index_cast %cols32 : i32 to index
      %x = memref.reinterpret_cast %xp to offset: [0], sizes: [%rows, %cols], strides: [%x0, %x1] : memref<1xf32> to !matrix
      %y = memref.reinterpret_cast %yp to offset: [0], sizes: [%rows, %cols], strides: [%y0, %y1] : memref<1xf32> to !matrix
      %z = memref.reinterpret_cast %zp to offset: [0], sizes: [%rows, %cols], strides: [%z0, %z1] : memref<1xf32> to !matrix
      %tx = gpu.thread_id x
      %ty = gpu.thread_id y
      %bx = gpu.block_id x
      %by = gpu.block_id y
      %dx = gpu.block_dim x
      %dy = gpu.block_dim y
      %j0 = arith.muli %bx, %dx : index
      %j = arith.addi %j0, %tx : index
      %i0 = arith.muli %by, %dy : index
      %i = arith.addi %i0, %ty : index
      %inRows = arith.cmpi ult, %i, %rows : index
      %inCols = arith.cmpi ult, %j, %cols : index
      %inside = arith.andi %inRows, %inCols : i1
      scf.if %inside {
        %xv = memref.load %x[%i, %j] : !matrix
        %yv = memref.load %y[%i, %j] : !matrix
        %ax = arith.mulf %a, %xv : f32
        %zv = arith.addf %ax, %yv : f32
        memref.store %zv, %z[%i, %j] : !matrix
      }
      gpu.return
    }

    // out = source, one 16x32 tile per block: TMA brings the tile into
    // dynamic shared memory (zero-filling beyond the tensor), the threads
    // copy it out. The grid is 1-D; blocksX = ceil(cols / 32) unflattens it.
    gpu.func @tile_copy(%sourceMap: !llvm.ptr, %outp: memref<1xf32>, %rows: index, %cols: index,
                        %out0: index, %out1: index, %blocksX32: i32) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c16 = arith.constant 16 : index
      %c32 = arith.constant 32 : index
      %tileBytes = arith.constant 2048 : index
      %tileElements = arith.constant 512 : index
      %ticks = arith.constant 10000000 : index
      %out = memref.reinterpret_cast %outp to offset: [0], sizes: [%rows, %cols], strides: [%out0, %out1] : memref<1xf32> to !matrix
      %map = builtin.unrealized_conversion_cast %sourceMap : !llvm.ptr to !map
      %shared = memref.get_global @dynamic_shared : memref<0xi8, #gpu.address_space<workgroup>>
      %tile = memref.view %shared[%c0][] : memref<0xi8, #gpu.address_space<workgroup>> to !tile
      %blocksX = arith.index_cast %blocksX32 : i32 to index
      %block = gpu.block_id x
      %bx = arith.remui %block, %blocksX : index
      %by = arith.divui %block, %blocksX : index
      %col0 = arith.muli %bx, %c32 : index
      %row0 = arith.muli %by, %c16 : index
      %tid = gpu.thread_id x
      %barrier = nvgpu.mbarrier.create -> !barrier
      %first = arith.cmpi eq, %tid, %c0 : index
      scf.if %first {
        nvgpu.mbarrier.init %barrier[%c0], %c1 : !barrier
      }
      gpu.barrier
      scf.if %first {
        // TMA coordinates are innermost first: (column, row).
        nvgpu.tma.async.load %map[%col0, %row0], %barrier[%c0] to %tile : !map, !barrier -> !tile
        nvgpu.mbarrier.arrive.expect_tx %barrier[%c0], %tileBytes : !barrier
      }
      %phase = arith.constant false
      nvgpu.mbarrier.try_wait.parity %barrier[%c0], %phase, %ticks : !barrier
      %threads = gpu.block_dim x
      scf.for %e = %tid to %tileElements step %threads {
        %r = arith.divui %e, %c32 : index
        %c = arith.remui %e, %c32 : index
        %i = arith.addi %row0, %r : index
        %j = arith.addi %col0, %c : index
        %inRows = arith.cmpi ult, %i, %rows : index
        %inCols = arith.cmpi ult, %j, %cols : index
        %inside = arith.andi %inRows, %inCols : i1
        scf.if %inside {
          %value = memref.load %tile[%r, %c] : !tile
          memref.store %value, %out[%i, %j] : !matrix
        }
      }
      gpu.return
    }
  }
}
