// RUN: sparse-attn-opt %s -split-input-file --sparse-attn-to-gpu -verify-diagnostics

// Tiled IR written by hand (sparse-attn-tile never builds it): the shapes of
// it that the GPU lowering refuses.

// Histograms and gap records are updated in place in shared memory: one
// starting constant cannot start two of them.
func.func @shared_histogram_start(%q: tensor<1x1x128x64xbf16>) -> tensor<1x1x128x64xbf16> {
  %c0 = arith.constant 0 : index
  %scores = arith.constant dense<0.0> : tensor<128x64xf32>
  %max = arith.constant dense<0.0> : tensor<128xf32>
  // expected-error@+1 {{starts more than one entmax histogram or gap record; the GPU lowering updates each in place}}
  %empty = arith.constant dense<0> : tensor<128x8xi32>
  %init = tensor.empty() : tensor<1x1x128x64xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<1x1x128x64xbf16>) {
    %t = sparse_attn.load_tile %q[%c0, %c0, %c0] : tensor<1x1x128x64xbf16> -> tensor<128x64xbf16>
    %a = sparse_attn.entmax_histogram %scores, %max, %empty
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8xi32>
    %b = sparse_attn.entmax_histogram %scores, %max, %empty
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8xi32>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "attention"}
  return %r : tensor<1x1x128x64xbf16>
}

// -----

// ... and the loop that carries a record from its constant fills it.
func.func @histogram_outside_loop(%q: tensor<1x1x128x64xbf16>) -> tensor<1x1x128x64xbf16> {
  %c0 = arith.constant 0 : index
  %scores = arith.constant dense<0.0> : tensor<128x64xf32>
  %max = arith.constant dense<0.0> : tensor<128xf32>
  // expected-error@+1 {{starts an entmax histogram or gap record that no loop carries; the GPU lowering fills each where its loop starts}}
  %empty = arith.constant dense<0> : tensor<128x8xi32>
  %init = tensor.empty() : tensor<1x1x128x64xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<1x1x128x64xbf16>) {
    %t = sparse_attn.load_tile %q[%c0, %c0, %c0] : tensor<1x1x128x64xbf16> -> tensor<128x64xbf16>
    %h = sparse_attn.entmax_histogram %scores, %max, %empty
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8xi32>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "attention"}
  return %r : tensor<1x1x128x64xbf16>
}

// -----

// ... nor may a histogram be read after another op has updated it.
func.func @histogram_read_twice(%q: tensor<1x1x128x64xbf16>) -> tensor<1x1x128x64xbf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %scores = arith.constant dense<0.0> : tensor<128x64xf32>
  %max = arith.constant dense<0.0> : tensor<128xf32>
  %empty = arith.constant dense<0> : tensor<128x8xi32>
  %init = tensor.empty() : tensor<1x1x128x64xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<1x1x128x64xbf16>) {
    %t = sparse_attn.load_tile %q[%c0, %c0, %c0] : tensor<1x1x128x64xbf16> -> tensor<128x64xbf16>
    %h = scf.for %k = %c0 to %c1 step %c1 iter_args(%counts = %empty) -> (tensor<128x8xi32>) {
      %next = sparse_attn.entmax_histogram %scores, %max, %counts
          : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8xi32>
      scf.yield %next : tensor<128x8xi32>
    }
    // expected-error@+1 {{reads a histogram that another op also reads; the GPU lowering updates histograms in place}}
    %h2 = sparse_attn.entmax_histogram %scores, %max, %h
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8xi32>
    %tau, %lo, %hi = sparse_attn.entmax_threshold_init <alpha = 1.5> %max, %max
        histogram(%h : tensor<128x8xi32>) : tensor<128xf32>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "attention"}
  return %r : tensor<1x1x128x64xbf16>
}

// -----

// ... and the same for a gap record.
func.func @gap_record_read_twice(%q: tensor<1x1x128x64xbf16>) -> tensor<1x1x128x64xbf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %scores = arith.constant dense<0.0> : tensor<128x64xf32>
  %bound = arith.constant dense<0.0> : tensor<128xf32>
  %empty = arith.constant dense<0> : tensor<128x17xi32>
  %init = tensor.empty() : tensor<1x1x128x64xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<1x1x128x64xbf16>) {
    %t = sparse_attn.load_tile %q[%c0, %c0, %c0] : tensor<1x1x128x64xbf16> -> tensor<128x64xbf16>
    %g = scf.for %k = %c0 to %c1 step %c1 iter_args(%record = %empty) -> (tensor<128x17xi32>) {
      %next = sparse_attn.entries_between %scores, %bound, %bound, %record
          : tensor<128x64xf32>, tensor<128xf32>, tensor<128x17xi32>
      scf.yield %next : tensor<128x17xi32>
    }
    // expected-error@+1 {{reads a gap record that another op also reads; the GPU lowering updates gap records in place}}
    %g2 = sparse_attn.entries_between %scores, %bound, %bound, %g
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x17xi32>
    %tau, %lo, %hi, %done = sparse_attn.entmax_threshold_step <alpha = 1.5> %bound, %bound, %bound, %bound, %bound, %bound
        gap(%g : tensor<128x17xi32>) : tensor<128xf32>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "attention"}
  return %r : tensor<1x1x128x64xbf16>
}

// -----

// Grids other than attention and row-wise entmax have no kernel form.
func.func @unknown_grid(%x: tensor<64x64xbf16>) -> tensor<64x64xbf16> {
  %init = tensor.empty() : tensor<64x64xbf16>
  // expected-error@+1 {{is not an attention or row-wise entmax grid}}
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<64x64xbf16>) {
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "prefill"}
  return %r : tensor<64x64xbf16>
}

// -----

// A grid without a query tile or a score chunk has no rows for the warps.
func.func @no_rows(%x: tensor<64x64xbf16>) -> tensor<64x64xbf16> {
  %init = tensor.empty() : tensor<64x64xbf16>
  // expected-error@+1 {{loads no query tile or score chunk; nothing to map onto warps}}
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<64x64xbf16>) {
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "attention"}
  return %r : tensor<64x64xbf16>
}

// -----

// Each thread of a quad loads whole 16-byte runs of a chunk's rows: 16
// bf16 columns are half a quad's four runs.
func.func @narrow_chunk(%x: tensor<?x?xbf16>) -> tensor<?x?xbf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %rows = tensor.dim %x, %c0 : tensor<?x?xbf16>
  %cols = tensor.dim %x, %c1 : tensor<?x?xbf16>
  %init = tensor.empty(%rows, %cols) : tensor<?x?xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<?x?xbf16>) {
    // expected-error@+1 {{loads chunks of 16 columns; the GPU lowering takes multiples of 32 (four 16-byte runs of the source)}}
    %chunk = sparse_attn.load_score_chunk %x[%c0, %c0] scale(0.5) : tensor<?x?xbf16> -> tensor<64x16xf32>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "entmax"}
  return %r : tensor<?x?xbf16>
}

// -----

// All chunks of a grid share one shape (the warps' rows, the runs).
func.func @two_chunk_shapes(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %rows = tensor.dim %x, %c0 : tensor<?x?xf32>
  %cols = tensor.dim %x, %c1 : tensor<?x?xf32>
  %init = tensor.empty(%rows, %cols) : tensor<?x?xf32>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<?x?xf32>) {
    %a = sparse_attn.load_score_chunk %x[%c0, %c0] scale(0.5) : tensor<?x?xf32> -> tensor<64x64xf32>
    // expected-error@+1 {{loads a second chunk shape}}
    %b = sparse_attn.load_score_chunk %x[%c0, %c0] scale(0.5) : tensor<?x?xf32> -> tensor<64x32xf32>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "entmax"}
  return %r : tensor<?x?xf32>
}

// -----

// A chunk's columns are permuted by the runs of its source's element type:
// weights stored in another type would need other runs.
func.func @weights_of_another_type(%x: tensor<?x?xbf16>) -> tensor<?x?xf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %rows = tensor.dim %x, %c0 : tensor<?x?xbf16>
  %cols = tensor.dim %x, %c1 : tensor<?x?xbf16>
  %tau = arith.constant dense<0.0> : tensor<64xf32>
  %init = tensor.empty(%rows, %cols) : tensor<?x?xf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<?x?xf16>) {
    %chunk = sparse_attn.load_score_chunk %x[%c0, %c0] scale(0.5) : tensor<?x?xbf16> -> tensor<64x64xf32>
    // expected-error@+1 {{must weigh a chunk loaded from a source of its result's element type 'f16'}}
    %w = sparse_attn.entmax_weights <alpha = 1.5> %chunk, %tau, %tau
        : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xf16>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "entmax"}
  return %r : tensor<?x?xf16>
}

// -----

// A slab of the output takes the leading rows and columns of a chunk
// (the in-bounds part), not a whole tile.
func.func @whole_tile_into_slab(%x: tensor<?x?xbf16>) -> tensor<?x?xbf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %rows = tensor.dim %x, %c0 : tensor<?x?xbf16>
  %cols = tensor.dim %x, %c1 : tensor<?x?xbf16>
  %tau = arith.constant dense<0.0> : tensor<64xf32>
  %init = tensor.empty(%rows, %cols) : tensor<?x?xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<?x?xbf16>) {
    %chunk = sparse_attn.load_score_chunk %x[%c0, %c0] scale(0.5) : tensor<?x?xbf16> -> tensor<64x64xf32>
    %w = sparse_attn.entmax_weights <alpha = 1.5> %chunk, %tau, %tau
        : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
    %slab = tensor.extract_slice %out[0, 0] [%c64, %cols] [1, 1] : tensor<?x?xbf16> to tensor<?x?xbf16>
    // expected-error@+1 {{must store the leading rows and columns of a chunk into a slab of an output}}
    %written = tensor.insert_slice %w into %slab[0, 0] [64, 64] [1, 1] : tensor<64x64xbf16> into tensor<?x?xbf16>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %written into %out[0, 0] [%c64, %cols] [1, 1] : tensor<?x?xbf16> into tensor<?x?xbf16>
    }
  } {sparse_attn.grid = "entmax"}
  return %r : tensor<?x?xbf16>
}

// -----

// Rows written in place can only be "inserted" where they were written.
func.func @slab_elsewhere(%x: tensor<?x?xbf16>) -> tensor<?x?xbf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %rows = tensor.dim %x, %c0 : tensor<?x?xbf16>
  %cols = tensor.dim %x, %c1 : tensor<?x?xbf16>
  %tau = arith.constant dense<0.0> : tensor<64xf32>
  %init = tensor.empty(%rows, %cols) : tensor<?x?xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<?x?xbf16>) {
    %chunk = sparse_attn.load_score_chunk %x[%c0, %c0] scale(0.5) : tensor<?x?xbf16> -> tensor<64x64xf32>
    %w = sparse_attn.entmax_weights <alpha = 1.5> %chunk, %tau, %tau
        : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
    %piece = tensor.extract_slice %w[0, 0] [%c64, %c64] [1, 1] : tensor<64x64xbf16> to tensor<?x?xbf16>
    %slab = tensor.extract_slice %out[0, 0] [%c64, %cols] [1, 1] : tensor<?x?xbf16> to tensor<?x?xbf16>
    %written = tensor.insert_slice %piece into %slab[0, 0] [%c64, %c64] [1, 1] : tensor<?x?xbf16> into tensor<?x?xbf16>
    scf.forall.in_parallel {
      // expected-error@+1 {{inserts rows written in place that are not the slab of the output it names}}
      tensor.parallel_insert_slice %written into %out[%c64, 0] [%c64, %cols] [1, 1] : tensor<?x?xbf16> into tensor<?x?xbf16>
    }
  } {sparse_attn.grid = "entmax"}
  return %r : tensor<?x?xbf16>
}
