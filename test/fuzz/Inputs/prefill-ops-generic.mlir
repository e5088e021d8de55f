// Seeds of the mutation fuzzer in generic form (sparse-attn-opt --mlir-print-op-generic
// of prefill-ops.mlir): properties and operand segments get mutated too.

"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32>, tensor<2x2x45x8xf32>, tensor<4xf32>, tensor<2xi32>, tensor<2xi32>) -> tensor<2x4x37x8xf32>, sym_name = "xattention"}> ({
  ^bb0(%arg0: tensor<2x4x37x8xf32>, %arg1: tensor<2x2x45x8xf32>, %arg2: tensor<2x2x45x8xf32>, %arg3: tensor<4xf32>, %arg4: tensor<2xi32>, %arg5: tensor<2xi32>):
    %0 = "sparse_attn.xattention_mask"(%arg0, %arg1, %arg3, %arg4, %arg5) <{causal, config = #sparse_attn.xattention<stride = 4>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>, scale = 2.500000e-01 : f32}> : (tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32>, tensor<4xf32>, tensor<2xi32>, tensor<2xi32>) -> !sparse_attn.block_mask<2x4x37x45, block = 8x16>
    %1 = "sparse_attn.attention"(%arg0, %arg1, %arg2, %0) <{causal, normalizer = #sparse_attn.softmax, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>}> : (tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32>, tensor<2x2x45x8xf32>, !sparse_attn.block_mask<2x4x37x45, block = 8x16>) -> tensor<2x4x37x8xf32>
    "func.return"(%1) : (tensor<2x4x37x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x50x8xbf16>, tensor<1xi32>) -> (tensor<1x2x7xi32>, tensor<1x2xi32>), sym_name = "flexprefill"}> ({
  ^bb0(%arg0: tensor<1x2x50x8xbf16>, %arg1: tensor<1xi32>):
    %0:2 = "sparse_attn.flexprefill_mask"(%arg0, %arg0, %arg1) <{config = #sparse_attn.flexprefill<gamma = 0.8, tau = 0.2, min_budget = 8, max_budget = 32>, operandSegmentSizes = array<i32: 1, 1, 0, 1>}> : (tensor<1x2x50x8xbf16>, tensor<1x2x50x8xbf16>, tensor<1xi32>) -> (!sparse_attn.block_mask<1x2x50x50, block = 8x8>, tensor<1x2xi32>)
    %1:4 = "sparse_attn.mask_to_indices"(%0#0) : (!sparse_attn.block_mask<1x2x50x50, block = 8x8>) -> (tensor<1x2x7xi32>, tensor<1x2x7x7xi32>, tensor<1x2x7xi32>, tensor<1x2x7x7xi32>)
    "func.return"(%1#0, %0#1) : (tensor<1x2x7xi32>, tensor<1x2xi32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x?x8xf16>, tensor<1x1x?x8xf16>, tensor<2x2xi32>) -> tensor<1x2x?x8xf16>, sym_name = "vertical_slash"}> ({
  ^bb0(%arg0: tensor<1x2x?x8xf16>, %arg1: tensor<1x1x?x8xf16>, %arg2: tensor<2x2xi32>):
    %0 = "sparse_attn.vertical_slash_mask"(%arg0, %arg1, %arg2) <{config = #sparse_attn.minference<last_queries = 4, sink = 1, local = 2>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}> : (tensor<1x2x?x8xf16>, tensor<1x1x?x8xf16>, tensor<2x2xi32>) -> !sparse_attn.block_mask<1x2x?x?, block = 4x4>
    %1 = "sparse_attn.attention"(%arg0, %arg1, %arg1, %0) <{causal, normalizer = #sparse_attn.softmax, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>}> : (tensor<1x2x?x8xf16>, tensor<1x1x?x8xf16>, tensor<1x1x?x8xf16>, !sparse_attn.block_mask<1x2x?x?, block = 4x4>) -> tensor<1x2x?x8xf16>
    "func.return"(%1) : (tensor<1x2x?x8xf16>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x4x20x8xf32>, tensor<4xi32>) -> tensor<1x4x20x8xf32>, sym_name = "route_heads"}> ({
  ^bb0(%arg0: tensor<1x4x20x8xf32>, %arg1: tensor<4xi32>):
    %0 = "sparse_attn.streaming_mask"() <{sink = 2 : i64, window = 4 : i64}> : () -> !sparse_attn.block_mask<1x1x20x20, block = 4x4>
    %1 = "sparse_attn.xattention_mask"(%arg0, %arg0) <{causal, config = #sparse_attn.xattention<stride = 2, threshold = 0.5>, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0>}> : (tensor<1x4x20x8xf32>, tensor<1x4x20x8xf32>) -> !sparse_attn.block_mask<1x4x20x20, block = 4x4>
    %2 = "sparse_attn.mask_route_heads"(%arg1, %0, %1, %0) <{operandSegmentSizes = array<i32: 1, 1, 2, 0>}> : (tensor<4xi32>, !sparse_attn.block_mask<1x1x20x20, block = 4x4>, !sparse_attn.block_mask<1x4x20x20, block = 4x4>, !sparse_attn.block_mask<1x1x20x20, block = 4x4>) -> !sparse_attn.block_mask<1x4x20x20, block = 4x4>
    %3 = "sparse_attn.attention"(%arg0, %arg0, %arg0, %2) <{causal, normalizer = #sparse_attn.softmax, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>}> : (tensor<1x4x20x8xf32>, tensor<1x4x20x8xf32>, tensor<1x4x20x8xf32>, !sparse_attn.block_mask<1x4x20x20, block = 4x4>) -> tensor<1x4x20x8xf32>
    "func.return"(%3) : (tensor<1x4x20x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<4xf32>, tensor<4x2xi32>, tensor<2xi32>, index) -> (tensor<2x4x?x8xf32>, tensor<2x4x?xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>), sym_name = "prefill"}> ({
  ^bb0(%arg0: tensor<2x4x?x8xf32>, %arg1: tensor<2x2x?x8xf32>, %arg2: tensor<4xf32>, %arg3: tensor<4x2xi32>, %arg4: tensor<2xi32>, %arg5: index):
    %0 = "sparse_attn.streaming_mask"(%arg5, %arg5) <{sink = 1 : i64, window = 8 : i64}> : (index, index) -> !sparse_attn.block_mask<1x1x?x?, block = 16x16>
    %1:2 = "sparse_attn.prefill"(%arg0, %arg1, %arg1, %0, %arg4, %arg4) <{block = 16 : i64, causal, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 1>, pattern = #sparse_attn.xattention<stride = 2>, scale = 5.000000e-01 : f32}> : (tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32>, !sparse_attn.block_mask<1x1x?x?, block = 16x16>, tensor<2xi32>, tensor<2xi32>) -> (tensor<2x4x?x8xf32>, tensor<2x4x?xf32>)
    %2 = "sparse_attn.prefill"(%arg0, %arg1, %arg1) <{block = 16 : i64, causal, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>, pattern = #sparse_attn.flexprefill<min_budget = 16>}> : (tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32>) -> tensor<2x4x?x8xf32>
    %3 = "sparse_attn.prefill"(%arg0, %arg1, %arg1, %arg3) <{causal, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1, 0, 0>, pattern = #sparse_attn.minference<last_queries = 8>}> : (tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32>, tensor<4x2xi32>) -> tensor<2x4x?x8xf32>
    %4 = "sparse_attn.prefill"(%arg0, %arg1, %arg1, %0) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>, pattern = #sparse_attn.full}> : (tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32>, !sparse_attn.block_mask<1x1x?x?, block = 16x16>) -> tensor<2x4x?x8xf32>
    "func.return"(%1#0, %1#1, %2, %3, %4) : (tensor<2x4x?x8xf32>, tensor<2x4x?xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = () -> (), sym_name = "configurations", sym_visibility = "private"}> ({
  }) {c = [#sparse_attn.xattention<stride = 16, threshold = 0.95>, #sparse_attn.flexprefill<gamma = 0.95, tau = 0.0, min_budget = 0, max_budget = 1>, #sparse_attn.minference<vertical_size = 0, slash_size = 1, last_queries = 1, sink = 0, local = 0>, #sparse_attn.full]} : () -> ()
}) : () -> ()

// -----
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32>, tensor<4xf32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<2x4x5xi32>, tensor<2x4x5x3xi32>, tensor<2x4xi32>), sym_name = "select_blocks"}> ({
  ^bb0(%arg0: tensor<2x4x37x8xf32>, %arg1: tensor<2x2x45x8xf32>, %arg2: tensor<4xf32>, %arg3: tensor<2xi32>, %arg4: tensor<2xi32>):
    %0:2 = "sparse_attn.select_blocks"(%arg0, %arg1, %arg2, %arg3, %arg4) <{causal, key_block = 16 : i64, method = #sparse_attn.xattention<stride = 4>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>, query_block = 8 : i64, scale = 2.500000e-01 : f32}> : (tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32>, tensor<4xf32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<2x4x5xi32>, tensor<2x4x5x3xi32>)
    %1:3 = "sparse_attn.select_blocks"(%arg0, %arg1, %arg4) <{causal, key_block = 16 : i64, method = #sparse_attn.flexprefill<gamma = 0.8, min_budget = 16>, operandSegmentSizes = array<i32: 1, 1, 0, 0, 1>, query_block = 16 : i64}> : (tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32>, tensor<2xi32>) -> (tensor<2x4x3xi32>, tensor<2x4x3x3xi32>, tensor<2x4xi32>)
    "func.return"(%0#0, %0#1, %1#2) : (tensor<2x4x5xi32>, tensor<2x4x5x3xi32>, tensor<2x4xi32>) -> ()
  }) : () -> ()
}) : () -> ()

