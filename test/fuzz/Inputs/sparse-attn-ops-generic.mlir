// Seeds of the mutation fuzzer in generic form (sparse-attn-opt --mlir-print-op-generic
// of sparse-attn-ops.mlir): properties and operand segments get mutated too.

"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x8x37x16xf32>, tensor<2x2x45x16xf32>, tensor<2x2x45x8xf32>, tensor<2xi32>, tensor<2xi32>, tensor<8x5xf32>) -> (tensor<2x8x37x8xf32>, tensor<2x8x37xf32>), sym_name = "softmax_everything"}> ({
  ^bb0(%arg0: tensor<2x8x37x16xf32>, %arg1: tensor<2x2x45x16xf32>, %arg2: tensor<2x2x45x8xf32>, %arg3: tensor<2xi32>, %arg4: tensor<2xi32>, %arg5: tensor<8x5xf32>):
    %0 = "sparse_attn.causal_mask"() : () -> !sparse_attn.block_mask<1x1x37x45, block = 16x32>
    %1:2 = "sparse_attn.attention"(%arg0, %arg1, %arg2, %0, %arg3, %arg4, %arg5) <{causal, normalizer = #sparse_attn.softmax, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 0>, scale = 2.500000e-01 : f32}> : (tensor<2x8x37x16xf32>, tensor<2x2x45x16xf32>, tensor<2x2x45x8xf32>, !sparse_attn.block_mask<1x1x37x45, block = 16x32>, tensor<2xi32>, tensor<2xi32>, tensor<8x5xf32>) -> (tensor<2x8x37x8xf32>, tensor<2x8x37xf32>)
    "func.return"(%1#0, %1#1) : (tensor<2x8x37x8xf32>, tensor<2x8x37xf32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<?x4x?x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?xi32>) -> (tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>), sym_name = "entmax_dynamic"}> ({
  ^bb0(%arg0: tensor<?x4x?x64xbf16>, %arg1: tensor<?x1x?x64xbf16>, %arg2: tensor<?x1x?x64xbf16>, %arg3: tensor<?xi32>):
    %0:2 = "sparse_attn.attention"(%arg0, %arg1, %arg2, %arg3) <{normalizer = #sparse_attn.entmax<alpha = 1.5, iterations = 3>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1, 0, 0>}> : (tensor<?x4x?x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?xi32>) -> (tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>)
    "func.return"(%0#0, %0#1) : (tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x9x8xf16>, tensor<1x2x17x8xf16>, tensor<1x2x17x4xf16>) -> tensor<1x2x9x4xf16>, sym_name = "sparsemax"}> ({
  ^bb0(%arg0: tensor<1x2x9x8xf16>, %arg1: tensor<1x2x17x8xf16>, %arg2: tensor<1x2x17x4xf16>):
    %0 = "sparse_attn.attention"(%arg0, %arg1, %arg2) <{causal, normalizer = #sparse_attn.entmax<alpha = 2.0>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>}> : (tensor<1x2x9x8xf16>, tensor<1x2x17x8xf16>, tensor<1x2x17x4xf16>) -> tensor<1x2x9x4xf16>
    "func.return"(%0) : (tensor<1x2x9x4xf16>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x8x33x32xbf16>, tensor<1x8x33x32xbf16>, tensor<1x8x33x32xbf16>, tensor<8x64xbf16>, tensor<8xbf16>) -> (tensor<1x8x33x32xbf16>, tensor<1x8x33xf32>), sym_name = "elastic"}> ({
  ^bb0(%arg0: tensor<1x8x33x32xbf16>, %arg1: tensor<1x8x33x32xbf16>, %arg2: tensor<1x8x33x32xbf16>, %arg3: tensor<8x64xbf16>, %arg4: tensor<8xbf16>):
    %0:2 = "sparse_attn.attention"(%arg0, %arg1, %arg2, %arg3, %arg4) <{causal, normalizer = #sparse_attn.elastic_softmax, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 1, 1>}> : (tensor<1x8x33x32xbf16>, tensor<1x8x33x32xbf16>, tensor<1x8x33x32xbf16>, tensor<8x64xbf16>, tensor<8xbf16>) -> (tensor<1x8x33x32xbf16>, tensor<1x8x33xf32>)
    "func.return"(%0#0, %0#1) : (tensor<1x8x33x32xbf16>, tensor<1x8x33xf32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<7xf16>, tensor<3x?x5xf32>, tensor<2x2x2x130xbf16>) -> (tensor<7xf16>, tensor<3x?x5xf32>, tensor<2x2x2x130xbf16>), sym_name = "rowwise"}> ({
  ^bb0(%arg0: tensor<7xf16>, %arg1: tensor<3x?x5xf32>, %arg2: tensor<2x2x2x130xbf16>):
    %0 = "sparse_attn.entmax"(%arg0) <{config = #sparse_attn.entmax<alpha = 1.25>}> : (tensor<7xf16>) -> tensor<7xf16>
    %1 = "sparse_attn.entmax"(%arg1) <{config = #sparse_attn.entmax<alpha = 3.0, iterations = 20>}> : (tensor<3x?x5xf32>) -> tensor<3x?x5xf32>
    %2 = "sparse_attn.entmax"(%arg2) <{config = #sparse_attn.entmax<alpha = 2.0>}> : (tensor<2x2x2x130xbf16>) -> tensor<2x2x2x130xbf16>
    "func.return"(%0, %1, %2) : (tensor<7xf16>, tensor<3x?x5xf32>, tensor<2x2x2x130xbf16>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (index, index) -> (tensor<?x3x?xi32>, tensor<?x3x?x?xi32>, tensor<?x3x?xi32>, tensor<?x3x?x?xi32>), sym_name = "producers"}> ({
  ^bb0(%arg0: index, %arg1: index):
    %0 = "sparse_attn.dense_mask"(%arg0, %arg1, %arg1) : (index, index, index) -> !sparse_attn.block_mask<?x1x?x?, block = 64x64>
    %1 = "sparse_attn.causal_mask"(%arg1) : (index) -> !sparse_attn.block_mask<1x3x?x100, block = 64x64>
    %2 = "sparse_attn.streaming_mask"(%arg1, %arg1) <{sink = 4 : i64, window = 16 : i64}> : (index, index) -> !sparse_attn.block_mask<1x3x?x?, block = 64x64>
    %3 = "sparse_attn.mask_union"(%0, %2) : (!sparse_attn.block_mask<?x1x?x?, block = 64x64>, !sparse_attn.block_mask<1x3x?x?, block = 64x64>) -> !sparse_attn.block_mask<?x3x?x?, block = 64x64>
    %4 = "sparse_attn.mask_intersect"(%3, %1) : (!sparse_attn.block_mask<?x3x?x?, block = 64x64>, !sparse_attn.block_mask<1x3x?x100, block = 64x64>) -> !sparse_attn.block_mask<?x3x?x100, block = 64x64>
    %5:4 = "sparse_attn.mask_to_indices"(%3) : (!sparse_attn.block_mask<?x3x?x?, block = 64x64>) -> (tensor<?x3x?xi32>, tensor<?x3x?x?xi32>, tensor<?x3x?xi32>, tensor<?x3x?x?xi32>)
    "func.return"(%5#0, %5#1, %5#2, %5#3) : (tensor<?x3x?xi32>, tensor<?x3x?x?xi32>, tensor<?x3x?xi32>, tensor<?x3x?x?xi32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x4x3xi32>, tensor<2x4x3x5xi32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>, tensor<2x4x40x16xf32>, tensor<2x4x70x16xf32>, tensor<2x4x70x16xf32>) -> (tensor<2x4x40x16xf32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>), sym_name = "flex"}> ({
  ^bb0(%arg0: tensor<2x4x3xi32>, %arg1: tensor<2x4x3x5xi32>, %arg2: tensor<2x4x3xi32>, %arg3: tensor<2x4x3x5xi32>, %arg4: tensor<2x4x40x16xf32>, %arg5: tensor<2x4x70x16xf32>, %arg6: tensor<2x4x70x16xf32>):
    %0 = "sparse_attn.mask_from_indices"(%arg0, %arg1, %arg2, %arg3) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (tensor<2x4x3xi32>, tensor<2x4x3x5xi32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>) -> !sparse_attn.block_mask<2x4x40x70, block = 16x16>
    %1 = "sparse_attn.attention"(%arg4, %arg5, %arg6, %0) <{normalizer = #sparse_attn.softmax, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>}> : (tensor<2x4x40x16xf32>, tensor<2x4x70x16xf32>, tensor<2x4x70x16xf32>, !sparse_attn.block_mask<2x4x40x70, block = 16x16>) -> tensor<2x4x40x16xf32>
    %2:4 = "sparse_attn.mask_to_indices"(%0) : (!sparse_attn.block_mask<2x4x40x70, block = 16x16>) -> (tensor<2x4x3xi32>, tensor<2x4x3x5xi32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>)
    "func.return"(%1, %2#0, %2#1, %2#2, %2#3) : (tensor<2x4x40x16xf32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, index, index) -> (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>), sym_name = "flex_dynamic"}> ({
  ^bb0(%arg0: tensor<1x1x?xi32>, %arg1: tensor<1x1x?x?xi32>, %arg2: index, %arg3: index):
    %0 = "sparse_attn.mask_from_indices"(%arg0, %arg1, %arg2, %arg3) <{operandSegmentSizes = array<i32: 1, 1, 0, 0, 2>}> : (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, index, index) -> !sparse_attn.block_mask<1x1x?x?, block = 128x128>
    %1:4 = "sparse_attn.mask_to_indices"(%0) : (!sparse_attn.block_mask<1x1x?x?, block = 128x128>) -> (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>)
    "func.return"(%1#0, %1#1, %1#2, %1#3) : (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x20x8xf32>, tensor<1x2x20x8xf32>, tensor<1x2x20x8xf32>) -> tensor<1x2x20x8xf32>, sym_name = "constant_indices"}> ({
  ^bb0(%arg0: tensor<1x2x20x8xf32>, %arg1: tensor<1x2x20x8xf32>, %arg2: tensor<1x2x20x8xf32>):
    %0 = "arith.constant"() <{value = dense<[[[1, 2]]]> : tensor<1x1x2xi32>}> : () -> tensor<1x1x2xi32>
    %1 = "arith.constant"() <{value = dense<[[[[0, 1], [1, 0]]]]> : tensor<1x1x2x2xi32>}> : () -> tensor<1x1x2x2xi32>
    %2 = "sparse_attn.mask_from_indices"(%0, %1) <{operandSegmentSizes = array<i32: 1, 1, 0, 0, 0>}> : (tensor<1x1x2xi32>, tensor<1x1x2x2xi32>) -> !sparse_attn.block_mask<1x1x20x20, block = 16x16>
    %3 = "sparse_attn.causal_mask"() : () -> !sparse_attn.block_mask<1x1x20x20, block = 16x16>
    %4 = "sparse_attn.mask_intersect"(%2, %3) : (!sparse_attn.block_mask<1x1x20x20, block = 16x16>, !sparse_attn.block_mask<1x1x20x20, block = 16x16>) -> !sparse_attn.block_mask<1x1x20x20, block = 16x16>
    %5 = "sparse_attn.attention"(%arg0, %arg1, %arg2, %4) <{normalizer = #sparse_attn.entmax<alpha = 1.75>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>, scale = 1.000000e-01 : f32}> : (tensor<1x2x20x8xf32>, tensor<1x2x20x8xf32>, tensor<1x2x20x8xf32>, !sparse_attn.block_mask<1x1x20x20, block = 16x16>) -> tensor<1x2x20x8xf32>
    "func.return"(%5) : (tensor<1x2x20x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()

