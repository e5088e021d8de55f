// RUN: sparse-attn-opt %s -convert-sparse-attn-to-linalg -split-input-file | FileCheck %s
// RUN: sparse-attn-opt %s -convert-sparse-attn-to-linalg -split-input-file | FileCheck %s --check-prefix=NO-SPARSE-ATTN

// Every op and every block_mask type is gone.
// NO-SPARSE-ATTN-NOT: sparse_attn

// Softmax: the visibility is all true; dot products over D, scaling by
// 1/sqrt(16), row max and row sum over the visible keys, weights, and the
// contraction with the values over Nk.

// CHECK-LABEL: func.func @softmax(
// CHECK-SAME:      %[[Q:[a-z0-9]+]]: tensor<1x2x8x16xf32>, %[[K:[a-z0-9]+]]: tensor<1x2x8x16xf32>, %[[V:[a-z0-9]+]]: tensor<1x2x8x16xf32>)
// CHECK:         %[[VISIBLE:.*]] = linalg.fill ins(%{{.*}} : i1) outs(%{{.*}} : tensor<1x2x8x8xi1>)
// CHECK:         %[[DOT:.*]] = linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:        ins(%[[Q]] : tensor<1x2x8x16xf32>) outs(%{{.*}} : tensor<1x2x8x8xf32>)
// CHECK:           %[[KEY:.*]] = tensor.extract %[[K]]
// CHECK:           %[[PRODUCT:.*]] = arith.mulf %{{.*}}, %[[KEY]] : f32
// CHECK:           arith.addf %{{.*}}, %[[PRODUCT]] : f32
// CHECK:         %[[SCORES:.*]] = linalg.generic {{.*}} ins(%[[DOT]] : tensor<1x2x8x8xf32>)
// CHECK:           arith.constant 2.500000e-01 : f32
// CHECK:         %[[MAX:.*]] = linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:        ins(%[[SCORES]], %[[VISIBLE]] : tensor<1x2x8x8xf32>, tensor<1x2x8x8xi1>) outs(%{{.*}} : tensor<1x2x8xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[SUM:.*]] = linalg.generic
// CHECK-SAME:        ins(%[[SCORES]], %[[VISIBLE]], %[[MAX]] :
// CHECK:           math.exp
// CHECK:         %[[WEIGHTS:.*]] = linalg.generic
// CHECK-SAME:        ins(%[[SCORES]], %[[VISIBLE]], %[[MAX]], %[[SUM]] :
// CHECK:           arith.divf
// CHECK:         %[[OUTPUT:.*]] = linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:        ins(%[[WEIGHTS]], %[[VISIBLE]] : tensor<1x2x8x8xf32>, tensor<1x2x8x8xi1>) outs(%{{.*}} : tensor<1x2x8x16xf32>)
// CHECK:           tensor.extract %[[V]]
// CHECK:         return %[[OUTPUT]] : tensor<1x2x8x16xf32>
func.func @softmax(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = sparse_attn.attention softmax %q, %k, %v
      : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// Dynamic shapes, grouped-query heads read at h / (H / Hkv), clamped valid
// lengths, bottom-right causality, and the log-sum-exp statistic.

// CHECK-LABEL: func.func @softmax_causal_varlen_gqa(
// CHECK-SAME:      %[[Q:[a-z0-9]+]]: tensor<?x?x?x64xf32>, %[[K:[a-z0-9]+]]: tensor<?x?x?x64xf32>, %[[V:[a-z0-9]+]]: tensor<?x?x?x32xf32>, %[[QLEN:[a-z0-9]+]]: tensor<?xi32>, %[[KLEN:[a-z0-9]+]]: tensor<?xi32>)
// CHECK-DAG:     %[[HEADS:.*]] = tensor.dim %[[Q]], %c1
// CHECK-DAG:     %[[KV_HEADS:.*]] = tensor.dim %[[K]], %c1
// CHECK:         %[[GROUP:.*]] = arith.divui %[[HEADS]], %[[KV_HEADS]] : index
// CHECK:         %[[VISIBLE:.*]] = linalg.generic
// CHECK-SAME:        outs(%{{.*}} : tensor<?x?x?x?xi1>)
// CHECK:           %[[BATCH:.*]] = linalg.index 0
// CHECK:           %[[ROW:.*]] = linalg.index 2
// CHECK:           %[[COLUMN:.*]] = linalg.index 3
// CHECK:           tensor.extract %[[QLEN]][%[[BATCH]]]
// CHECK:           arith.maxsi
// CHECK:           %[[LQ:.*]] = arith.minsi
// CHECK:           tensor.extract %[[KLEN]][%[[BATCH]]]
// CHECK:           arith.maxsi
// CHECK:           %[[LK:.*]] = arith.minsi
// CHECK:           arith.cmpi slt, %[[ROW]], %[[LQ]]
// CHECK:           arith.cmpi slt, %[[COLUMN]], %[[LK]]
// CHECK:           %[[OFFSET:.*]] = arith.subi %[[LK]], %[[LQ]]
// CHECK:           %[[POSITION:.*]] = arith.addi %[[ROW]], %[[OFFSET]]
// CHECK:           arith.cmpi sle, %[[COLUMN]], %[[POSITION]]
// CHECK:         linalg.generic {{.*}} ins(%[[Q]] : tensor<?x?x?x64xf32>)
// CHECK:           %[[HEAD:.*]] = linalg.index 1
// CHECK:           %[[KV_HEAD:.*]] = arith.divui %[[HEAD]], %[[GROUP]]
// CHECK:           tensor.extract %[[K]][%{{.*}}, %[[KV_HEAD]], %{{.*}}, %{{.*}}]
// CHECK:           arith.constant 1.250000e-01 : f32
// CHECK:         %[[MAX:.*]] = linalg.generic
// CHECK:         %[[SUM:.*]] = linalg.generic
// CHECK:         linalg.generic
// CHECK:         %[[LSE:.*]] = linalg.generic
// CHECK-SAME:        ins(%[[MAX]], %[[SUM]] : tensor<?x?x?xf32>, tensor<?x?x?xf32>)
// CHECK:           %[[LOG:.*]] = math.log
// CHECK:           %[[MAX_PLUS_LOG:.*]] = arith.addf %{{.*}}, %[[LOG]]
// CHECK:           arith.select %{{.*}}, %[[MAX_PLUS_LOG]], %cst{{.*}} : f32
// CHECK:         %[[OUTPUT:.*]] = linalg.generic
// CHECK:           tensor.extract %[[V]][%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK:         return %[[OUTPUT]], %[[LSE]] : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
func.func @softmax_causal_varlen_gqa(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x32xf32>, %ql: tensor<?xi32>, %kl: tensor<?xi32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %o, %lse = sparse_attn.attention softmax causal %q, %k, %v
      query_lengths(%ql : tensor<?xi32>) key_lengths(%kl : tensor<?xi32>)
      : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x32xf32> -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %o, %lse : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

// -----

// A mask shared across the batch (extent 1) is read at batch 0; bf16 is
// computed in f32 and the output rounded.

// CHECK-LABEL: func.func @softmax_mask_bf16(
// CHECK-SAME:      %[[Q:[a-z0-9]+]]: tensor<2x4x?x16xbf16>, %[[K:[a-z0-9]+]]: tensor<2x2x?x16xbf16>, %[[V:[a-z0-9]+]]: tensor<2x2x?x16xbf16>, %[[MASK:[a-z0-9]+]]: tensor<1x4x?x?xi1>)
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<2x4x?x?xi1>)
// CHECK:           %[[ROW:.*]] = linalg.index 2
// CHECK:           %[[COLUMN:.*]] = linalg.index 3
// CHECK:           %[[ZERO:.*]] = arith.constant 0 : index
// CHECK:           %[[HEAD:.*]] = linalg.index 1
// CHECK:           %[[VISIBLE:.*]] = tensor.extract %[[MASK]][%[[ZERO]], %[[HEAD]], %[[ROW]], %[[COLUMN]]] : tensor<1x4x?x?xi1>
// CHECK:           linalg.yield %[[VISIBLE]] : i1
// CHECK:         linalg.generic {{.*}} ins(%[[Q]] : tensor<2x4x?x16xbf16>)
// CHECK:           %[[KEY:.*]] = tensor.extract %[[K]]
// CHECK:           %[[QUERY32:.*]] = arith.extf %{{.*}} : bf16 to f32
// CHECK:           %[[KEY32:.*]] = arith.extf %[[KEY]] : bf16 to f32
// CHECK:           arith.mulf %[[QUERY32]], %[[KEY32]] : f32
// CHECK:           arith.constant 5.000000e-01 : f32
// CHECK:         %[[OUTPUT:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x4x?x16xf32>)
// CHECK:         %[[ROUNDED:.*]] = linalg.generic {{.*}} ins(%[[OUTPUT]] : tensor<2x4x?x16xf32>) outs(%{{.*}} : tensor<2x4x?x16xbf16>)
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
// CHECK:         return %[[ROUNDED]] : tensor<2x4x?x16xbf16>
func.func @softmax_mask_bf16(%q: tensor<2x4x?x16xbf16>, %k: tensor<2x2x?x16xbf16>, %v: tensor<2x2x?x16xbf16>, %m: !sparse_attn.block_mask<1x4x?x?, block = 64x64>) -> tensor<2x4x?x16xbf16> {
  %o = sparse_attn.attention softmax %q, %k, %v
      mask(%m : !sparse_attn.block_mask<1x4x?x?, block = 64x64>) scale(0.5)
      : tensor<2x4x?x16xbf16>, tensor<2x2x?x16xbf16>, tensor<2x2x?x16xbf16> -> tensor<2x4x?x16xbf16>
  return %o : tensor<2x4x?x16xbf16>
}

// -----

// Elastic softmax: bias[h, pos_i - j] inside the window, shift
// tau[h] / (pos_i + 1), weights max(0, P + shift).

// CHECK-LABEL: func.func @elastic_softmax(
// CHECK-SAME:      %[[BIAS:[a-z0-9]+]]: tensor<2x4xf32>, %[[TAU:[a-z0-9]+]]: tensor<2xf32>)
// CHECK:         %[[SCORES:.*]] = linalg.generic {{.*}} ins(%{{[0-9]+}} : tensor<1x2x8x8xf32>)
// CHECK:           %[[POSITION:.*]] = arith.addi
// CHECK:           %[[DISTANCE:.*]] = arith.subi %[[POSITION]], %{{.*}} : index
// CHECK:           %[[FROM_START:.*]] = arith.cmpi sge, %[[DISTANCE]], %{{.*}} : index
// CHECK:           %[[BEFORE_END:.*]] = arith.cmpi slt, %[[DISTANCE]], %c4{{.*}} : index
// CHECK:           %[[IN_WINDOW:.*]] = arith.andi %[[FROM_START]], %[[BEFORE_END]] : i1
// CHECK:           %[[BIAS_ENTRY:.*]] = tensor.extract %[[BIAS]]
// CHECK:           %[[BIASED:.*]] = arith.addf %{{.*}}, %[[BIAS_ENTRY]] : f32
// CHECK:           arith.select %[[IN_WINDOW]], %[[BIASED]], %{{.*}} : f32
// CHECK:         %[[SHIFT:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x8xf32>)
// CHECK:           %[[HEAD_TAU:.*]] = tensor.extract %[[TAU]]
// CHECK:           arith.divf %[[HEAD_TAU]], %{{.*}} : f32
// CHECK:         %[[MAX:.*]] = linalg.generic {{.*}} ins(%[[SCORES]], %{{.*}} :
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[SCORES]], %{{.*}}, %[[MAX]] :
// CHECK:         linalg.generic {{.*}} ins(%[[SCORES]], %{{.*}}, %[[MAX]], %[[SUM]], %[[SHIFT]] :
// CHECK:           %[[SOFTMAX:.*]] = arith.divf
// CHECK:           %[[SHIFTED:.*]] = arith.addf %[[SOFTMAX]], %{{.*}} : f32
// CHECK:           arith.maximumf %[[SHIFTED]], %{{.*}} : f32
func.func @elastic_softmax(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %bias: tensor<2x4xf32>, %tau: tensor<2xf32>) -> tensor<1x2x8x16xf32> {
  %o = sparse_attn.attention elastic_softmax causal %q, %k, %v
      bias(%bias : tensor<2x4xf32>) tau(%tau : tensor<2xf32>)
      : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// Entmax 1.5: x = 0.5 * s relative to the row maximum, bisection of the
// bracket [-1, 0] in an scf.while until no row's bracket shrinks, squares
// instead of powf, renormalisation, and the threshold statistic (+inf on
// empty rows).

// CHECK-LABEL: func.func @entmax15(
// CHECK:         %[[SCORES:.*]] = linalg.generic {{.*}} ins(%{{[0-9]+}} : tensor<1x2x8x8xf32>)
// CHECK:           arith.constant 2.500000e-01 : f32
// CHECK:         %[[MAX:.*]] = linalg.generic {{.*}} ins(%[[SCORES]], %{{.*}} : {{.*}}) outs(%{{.*}} : tensor<1x2x8xf32>)
// CHECK:           arith.constant 5.000000e-01 : f32
// CHECK:           arith.maximumf
// CHECK:         %[[SHIFTED:.*]] = linalg.generic {{.*}} ins(%[[SCORES]], %{{.*}}, %[[MAX]] : {{.*}}) outs(%{{.*}} : tensor<1x2x8x8xf32>)
// CHECK:           arith.subf
// CHECK:           arith.constant 0xFF800000 : f32
// CHECK:         %[[LOWER:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<1x2x8xf32>)
// CHECK:         %[[UPPER:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<1x2x8xf32>)
// CHECK:         %[[BRACKET:.*]]:2 = scf.while (%[[LO:.*]] = %[[LOWER]], %[[HI:.*]] = %[[UPPER]])
// CHECK:           %[[MIDDLE:.*]] = linalg.generic {{.*}} ins(%[[LO]], %[[HI]] :
// CHECK:           %[[MASS:.*]] = linalg.generic {{.*}} ins(%[[SHIFTED]], %[[MIDDLE]] :
// CHECK-NOT:         math.powf
// CHECK:             %[[ABOVE:.*]] = arith.subf
// CHECK:             arith.mulf %[[ABOVE]], %[[ABOVE]] : f32
// CHECK:           %[[SHRINKING:.*]] = linalg.generic
// CHECK-SAME:          iterator_types = ["reduction", "reduction", "reduction"]
// CHECK-SAME:          ins(%[[LO]], %[[MIDDLE]], %[[HI]] : {{.*}}) outs(%{{.*}} : tensor<i1>)
// CHECK:           %[[NEXT:.*]]:2 = linalg.generic {{.*}} ins(%[[MIDDLE]], %[[MASS]] : {{.*}}) outs(%[[LO]], %[[HI]] :
// CHECK:           %[[PROCEED:.*]] = tensor.extract %[[SHRINKING]][] : tensor<i1>
// CHECK:           scf.condition(%[[PROCEED]]) %[[NEXT]]#0, %[[NEXT]]#1
// CHECK:         %[[TAU:.*]] = linalg.generic {{.*}} ins(%[[BRACKET]]#0, %[[BRACKET]]#1 :
// CHECK:         %[[TOTAL:.*]] = linalg.generic {{.*}} ins(%[[SHIFTED]], %[[TAU]] :
// CHECK:         %[[WEIGHTS:.*]] = linalg.generic {{.*}} ins(%[[SHIFTED]], %[[TAU]], %[[TOTAL]] :
// CHECK:           arith.divf
// CHECK:         %[[THRESHOLD:.*]] = linalg.generic {{.*}} ins(%[[MAX]], %[[TAU]], %[[TOTAL]] :
// CHECK:           arith.constant 0x7F800000 : f32
// CHECK:         %[[OUTPUT:.*]] = linalg.generic {{.*}} ins(%[[WEIGHTS]], %{{.*}} :
// CHECK:         return %[[OUTPUT]], %[[THRESHOLD]]
func.func @entmax15(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 1.5> %q, %k, %v
      : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
  return %o, %tau : tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
}

// -----

// Sparsemax: the thresholded scores are the weights (no square, no powf).

// CHECK-LABEL: func.func @sparsemax(
// CHECK:         scf.while
// CHECK:           linalg.generic
// CHECK:           linalg.generic
// CHECK-NOT:         arith.mulf
// CHECK-NOT:         math.powf
// CHECK:             %[[ABOVE:.*]] = arith.subf
// CHECK:             %[[POSITIVE:.*]] = arith.cmpf ogt, %[[ABOVE]], %{{.*}} : f32
// CHECK:             arith.select %[[POSITIVE]], %[[ABOVE]], %{{.*}} : f32
// CHECK-NOT:     math.powf
// CHECK:         return
func.func @sparsemax(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = sparse_attn.attention entmax<alpha = 2.0> causal %q, %k, %v
      : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// Any other alpha raises to the power 1 / (alpha - 1) = 4.

// CHECK-LABEL: func.func @entmax_general_alpha(
// CHECK:         scf.while
// CHECK:           math.powf %{{.*}}, %cst{{.*}} : f32
// CHECK:         arith.constant 4.000000e+00 : f32
// CHECK:         math.powf
func.func @entmax_general_alpha(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = sparse_attn.attention entmax<alpha = 1.25> %q, %k, %v
      : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// Row-wise entmax shares the attention's solver; every entry is visible.

// CHECK-LABEL: func.func @entmax_op(
// CHECK-SAME:      %[[INPUT:[a-z0-9]+]]: tensor<?x128xbf16>)
// CHECK:         %[[MAX:.*]] = linalg.generic
// CHECK-SAME:        iterator_types = ["parallel", "reduction"]
// CHECK-SAME:        ins(%[[INPUT]] : tensor<?x128xbf16>) outs(%{{.*}} : tensor<?xf32>)
// CHECK:           arith.extf %{{.*}} : bf16 to f32
// CHECK:         %[[SHIFTED:.*]] = linalg.generic {{.*}} ins(%[[INPUT]], %[[MAX]] : tensor<?x128xbf16>, tensor<?xf32>) outs(%{{.*}} : tensor<?x128xf32>)
// CHECK:         scf.while
// CHECK-SAME:        (tensor<?xf32>, tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>)
// CHECK:           linalg.generic {{.*}} iterator_types = ["reduction"]} {{.*}} outs(%{{.*}} : tensor<i1>)
// CHECK:         %[[WEIGHTS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x128xf32>)
// CHECK:         %[[ROUNDED:.*]] = linalg.generic {{.*}} ins(%[[WEIGHTS]] : tensor<?x128xf32>) outs(%{{.*}} : tensor<?x128xbf16>)
// CHECK:           arith.truncf
// CHECK:         return %[[ROUNDED]] : tensor<?x128xbf16>
func.func @entmax_op(%x: tensor<?x128xbf16>) -> tensor<?x128xbf16> {
  %p = sparse_attn.entmax %x <alpha = 1.5> : tensor<?x128xbf16>
  return %p : tensor<?x128xbf16>
}

// -----

// A single row: the per-row tensors have rank 0.

// CHECK-LABEL: func.func @entmax_op_rank1(
// CHECK:         linalg.generic {{.*}} iterator_types = ["reduction"]} {{.*}} outs(%{{.*}} : tensor<f32>)
// CHECK:         scf.while {{.*}} : (tensor<f32>, tensor<f32>) -> (tensor<f32>, tensor<f32>)
// CHECK:           linalg.generic {{.*}} iterator_types = []} {{.*}} outs(%{{.*}} : tensor<i1>)
// CHECK:         math.powf
// CHECK:         return %{{.*}} : tensor<16xf32>
func.func @entmax_op_rank1(%x: tensor<16xf32>) -> tensor<16xf32> {
  %p = sparse_attn.entmax %x <alpha = 3.0> : tensor<16xf32>
  return %p : tensor<16xf32>
}

// -----

// CHECK-LABEL: func.func @dense_mask(
// CHECK-SAME:      %[[N:[a-z0-9]+]]: index) -> tensor<1x1x?x?xi1>
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]], %[[N]]) : tensor<1x1x?x?xi1>
// CHECK:         %[[TRUE:.*]] = arith.constant true
// CHECK:         %[[MASK:.*]] = linalg.fill ins(%[[TRUE]] : i1) outs(%[[EMPTY]] : tensor<1x1x?x?xi1>)
// CHECK:         return %[[MASK]]
func.func @dense_mask(%n: index) -> !sparse_attn.block_mask<1x1x?x?, block = 128x128> {
  %m = sparse_attn.dense_mask(%n, %n) : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
  return %m : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
}

// -----

// Bottom-right aligned: query i sees key j iff j <= i + (512 - 256).

// CHECK-LABEL: func.func @causal_mask() -> tensor<1x1x256x512xi1>
// CHECK:         %[[OFFSET:.*]] = arith.constant 256 : index
// CHECK:         %[[MASK:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x1x256x512xi1>)
// CHECK:           %[[ROW:.*]] = linalg.index 2
// CHECK:           %[[POSITION:.*]] = arith.addi %[[ROW]], %[[OFFSET]]
// CHECK:           %[[COLUMN:.*]] = linalg.index 3
// CHECK:           %[[VISIBLE:.*]] = arith.cmpi sle, %[[COLUMN]], %[[POSITION]]
// CHECK:           linalg.yield %[[VISIBLE]] : i1
// CHECK:         return %[[MASK]]
func.func @causal_mask() -> !sparse_attn.block_mask<1x1x256x512, block = 128x128> {
  %m = sparse_attn.causal_mask() : !sparse_attn.block_mask<1x1x256x512, block = 128x128>
  return %m : !sparse_attn.block_mask<1x1x256x512, block = 128x128>
}

// -----

// CHECK-LABEL: func.func @streaming_mask(
// CHECK-SAME:      %[[N:[a-z0-9]+]]: index)
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]], %[[N]]) : tensor<1x1x?x?xi1>
// CHECK:         %[[QUERIES:.*]] = tensor.dim %[[EMPTY]], %c2
// CHECK:         %[[KEYS:.*]] = tensor.dim %[[EMPTY]], %c3
// CHECK:         %[[OFFSET:.*]] = arith.subi %[[KEYS]], %[[QUERIES]]
// CHECK:         linalg.generic {{.*}} outs(%[[EMPTY]] : tensor<1x1x?x?xi1>)
// CHECK:           %[[POSITION:.*]] = arith.addi %{{.*}}, %[[OFFSET]]
// CHECK:           %[[COLUMN:.*]] = linalg.index 3
// CHECK:           %[[CAUSAL:.*]] = arith.cmpi sle, %[[COLUMN]], %[[POSITION]]
// CHECK:           %[[SINK:.*]] = arith.cmpi slt, %[[COLUMN]], %c4
// CHECK:           %[[DISTANCE:.*]] = arith.subi %[[POSITION]], %[[COLUMN]]
// CHECK:           %[[WINDOW:.*]] = arith.cmpi slt, %[[DISTANCE]], %c256
// CHECK:           %[[SINK_OR_WINDOW:.*]] = arith.ori %[[SINK]], %[[WINDOW]]
// CHECK:           arith.andi %[[CAUSAL]], %[[SINK_OR_WINDOW]]
func.func @streaming_mask(%n: index) -> !sparse_attn.block_mask<1x1x?x?, block = 64x64> {
  %m = sparse_attn.streaming_mask(%n, %n) sink(4) window(256) : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  return %m : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
}

// -----

// Token (i, j) is visible iff the key block j / 128 is listed for the query
// block i / 128 in the first count slots, partial or full.

// CHECK-DAG:   #[[$COUNTS_MAP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2 floordiv 128)>
// CHECK-DAG:   #[[$INDICES_MAP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2 floordiv 128, d4)>
// CHECK-DAG:   #[[$TOKENS_MAP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @mask_from_indices(
// CHECK-SAME:      %[[NUM:[a-z0-9]+]]: tensor<1x8x4xi32>, %[[IDX:[a-z0-9]+]]: tensor<1x8x4x4xi32>, %[[FULL_NUM:[a-z0-9]+]]: tensor<1x8x4xi32>, %[[FULL_IDX:[a-z0-9]+]]: tensor<1x8x4x4xi32>)
// CHECK:         %[[NONE:.*]] = linalg.fill ins(%false : i1) outs(%{{.*}} : tensor<1x8x512x512xi1>)
// CHECK:         %[[MASK:.*]] = linalg.generic
// CHECK-SAME:        indexing_maps = [#[[$COUNTS_MAP]], #[[$INDICES_MAP]], #[[$COUNTS_MAP]], #[[$INDICES_MAP]], #[[$TOKENS_MAP]]]
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME:        ins(%[[NUM]], %[[IDX]], %[[FULL_NUM]], %[[FULL_IDX]] : {{.*}}) outs(%[[NONE]] : tensor<1x8x512x512xi1>)
// CHECK:         ^bb0(%[[COUNT:.*]]: i32, %[[INDEX:.*]]: i32, %[[FULL_COUNT:.*]]: i32, %[[FULL_INDEX:.*]]: i32, %[[ACC:.*]]: i1):
// CHECK:           %[[KEY_BLOCK_INDEX:.*]] = arith.divui %{{.*}}, %c128
// CHECK:           %[[KEY_BLOCK:.*]] = arith.index_cast %[[KEY_BLOCK_INDEX]] : index to i32
// CHECK:           %[[SLOT:.*]] = arith.index_cast %{{.*}} : index to i32
// CHECK:           arith.cmpi slt, %[[SLOT]], %[[COUNT]] : i32
// CHECK:           arith.cmpi eq, %[[INDEX]], %[[KEY_BLOCK]] : i32
// CHECK:           arith.cmpi slt, %[[SLOT]], %[[FULL_COUNT]] : i32
// CHECK:           arith.cmpi eq, %[[FULL_INDEX]], %[[KEY_BLOCK]] : i32
// CHECK:         return %[[MASK]] : tensor<1x8x512x512xi1>
func.func @mask_from_indices(%num: tensor<1x8x4xi32>, %idx: tensor<1x8x4x4xi32>, %fnum: tensor<1x8x4xi32>, %fidx: tensor<1x8x4x4xi32>) -> !sparse_attn.block_mask<1x8x512x512, block = 128x128> {
  %m = sparse_attn.mask_from_indices %num, %idx full(%fnum, %fidx) ()
      : tensor<1x8x4xi32>, tensor<1x8x4x4xi32>, tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
      -> !sparse_attn.block_mask<1x8x512x512, block = 128x128>
  return %m : !sparse_attn.block_mask<1x8x512x512, block = 128x128>
}

// -----

// Broadcasting: a static extent of 1 reads index 0, a dynamic extent selects
// 0 at run time when it is 1; the result extent is the larger one.

// CHECK-LABEL: func.func @mask_union_intersect(
// CHECK-SAME:      %[[A:[a-z0-9]+]]: tensor<1x1x?x?xi1>, %[[B:[a-z0-9]+]]: tensor<?x8x?x?xi1>) -> tensor<?x8x?x?xi1>
// CHECK:         %[[B_BATCH:.*]] = tensor.dim %[[B]], %c0
// CHECK:         %[[BATCH:.*]] = arith.maxui %[[B_BATCH]], %c1
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[BATCH]], %{{.*}}, %{{.*}}) : tensor<?x8x?x?xi1>
// CHECK:         %[[UNION:.*]] = linalg.generic {{.*}} outs(%[[EMPTY]] : tensor<?x8x?x?xi1>)
// CHECK:           %[[FROM_A:.*]] = tensor.extract %[[A]][%c0{{.*}}, %c0{{.*}}, %{{.*}}, %{{.*}}]
// CHECK:           %[[UNIT:.*]] = arith.cmpi eq, %{{.*}}, %c1
// CHECK:           %[[B_INDEX:.*]] = arith.select %[[UNIT]], %c0{{.*}}, %{{.*}} : index
// CHECK:           %[[FROM_B:.*]] = tensor.extract %[[B]][%[[B_INDEX]], %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK:           arith.ori %[[FROM_A]], %[[FROM_B]] : i1
// CHECK:         %[[INTERSECTION:.*]] = linalg.generic
// CHECK:           %[[FROM_UNION:.*]] = tensor.extract %[[UNION]]
// CHECK:           %[[FROM_A_AGAIN:.*]] = tensor.extract %[[A]]
// CHECK:           arith.andi %[[FROM_UNION]], %[[FROM_A_AGAIN]] : i1
// CHECK:         return %[[INTERSECTION]]
func.func @mask_union_intersect(%a: !sparse_attn.block_mask<1x1x?x?, block = 128x128>, %b: !sparse_attn.block_mask<?x8x?x?, block = 128x128>) -> !sparse_attn.block_mask<?x8x?x?, block = 128x128> {
  %u = sparse_attn.mask_union %a, %b
      : !sparse_attn.block_mask<1x1x?x?, block = 128x128>, !sparse_attn.block_mask<?x8x?x?, block = 128x128>
      -> !sparse_attn.block_mask<?x8x?x?, block = 128x128>
  %i = sparse_attn.mask_intersect %u, %a
      : !sparse_attn.block_mask<?x8x?x?, block = 128x128>, !sparse_attn.block_mask<1x1x?x?, block = 128x128>
      -> !sparse_attn.block_mask<?x8x?x?, block = 128x128>
  return %i : !sparse_attn.block_mask<?x8x?x?, block = 128x128>
}

// -----

// Each block scans its clipped region (the last key block holds columns
// 192..199) for visible and invisible pairs; each list counts its blocks,
// ranks them, and places block J at the slot of its rank.

// CHECK-LABEL: func.func @mask_to_indices(
// CHECK-SAME:      %[[MASK:[a-z0-9]+]]: tensor<1x1x256x200xi1>)
// CHECK:         %[[CLASSES:.*]]:2 = linalg.generic {{.*}} outs(%{{.*}}, %{{.*}} : tensor<1x1x2x4xi1>, tensor<1x1x2x4xi1>)
// CHECK:           %[[ROW_BEGIN:.*]] = arith.muli %{{.*}}, %c128
// CHECK:           %[[ROW_LIMIT:.*]] = arith.addi %[[ROW_BEGIN]], %c128
// CHECK:           %[[ROW_END:.*]] = arith.minui %[[ROW_LIMIT]], %c256
// CHECK:           %[[COLUMN_BEGIN:.*]] = arith.muli %{{.*}}, %c64
// CHECK:           %[[COLUMN_LIMIT:.*]] = arith.addi %[[COLUMN_BEGIN]], %c64
// CHECK:           %[[COLUMN_END:.*]] = arith.minui %[[COLUMN_LIMIT]], %c200
// CHECK:           %[[SCAN:.*]]:2 = scf.for %[[ROW:.*]] = %[[ROW_BEGIN]] to %[[ROW_END]]
// CHECK:             scf.for %[[COLUMN:.*]] = %[[COLUMN_BEGIN]] to %[[COLUMN_END]]
// CHECK:               %[[VISIBLE:.*]] = tensor.extract %[[MASK]][%{{.*}}, %{{.*}}, %[[ROW]], %[[COLUMN]]]
// CHECK:               arith.ori %{{.*}}, %[[VISIBLE]]
// CHECK:               arith.andi %{{.*}}, %[[VISIBLE]]
// CHECK:           %[[NOT_ALL:.*]] = arith.xori %[[SCAN]]#1, %{{.*}} : i1
// CHECK:           %[[PARTIAL:.*]] = arith.andi %[[SCAN]]#0, %[[NOT_ALL]] : i1
// CHECK:           linalg.yield %[[PARTIAL]], %[[SCAN]]#1 : i1, i1
// CHECK:         %[[COUNTS:.*]] = linalg.generic {{.*}} ins(%[[CLASSES]]#0 : tensor<1x1x2x4xi1>) outs(%{{.*}} : tensor<1x1x2xi32>)
// CHECK:         %[[RANKS:.*]] = linalg.generic {{.*}} ins(%[[CLASSES]]#0 : tensor<1x1x2x4xi1>) outs(%{{.*}} : tensor<1x1x2x4xi32>)
// CHECK:           arith.cmpi ult
// CHECK:         %[[INDICES:.*]] = linalg.generic {{.*}} ins(%[[CLASSES]]#0, %[[RANKS]] : tensor<1x1x2x4xi1>, tensor<1x1x2x4xi32>) outs(%{{.*}} : tensor<1x1x2x4xi32>)
// CHECK:         %[[FULL_COUNTS:.*]] = linalg.generic {{.*}} ins(%[[CLASSES]]#1 : tensor<1x1x2x4xi1>)
// CHECK:         %[[FULL_RANKS:.*]] = linalg.generic {{.*}} ins(%[[CLASSES]]#1 : tensor<1x1x2x4xi1>)
// CHECK:         %[[FULL_INDICES:.*]] = linalg.generic {{.*}} ins(%[[CLASSES]]#1, %[[FULL_RANKS]] :
// CHECK:         return %[[COUNTS]], %[[INDICES]], %[[FULL_COUNTS]], %[[FULL_INDICES]]
func.func @mask_to_indices(%m: !sparse_attn.block_mask<1x1x256x200, block = 128x64>) -> (tensor<1x1x2xi32>, tensor<1x1x2x4xi32>, tensor<1x1x2xi32>, tensor<1x1x2x4xi32>) {
  %n, %i, %fn, %fi = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x1x256x200, block = 128x64>
      -> tensor<1x1x2xi32>, tensor<1x1x2x4xi32>, tensor<1x1x2xi32>, tensor<1x1x2x4xi32>
  return %n, %i, %fn, %fi : tensor<1x1x2xi32>, tensor<1x1x2x4xi32>, tensor<1x1x2xi32>, tensor<1x1x2x4xi32>
}

// -----

// Masks crossing calls, scf.if and branches are converted with the
// signatures and block arguments that carry them.

// CHECK-LABEL: func.func private @make_mask(index) -> tensor<1x1x?x?xi1>
// CHECK-LABEL: func.func @mask_through_control_flow(
// CHECK:         %[[MADE:.*]] = call @make_mask(%{{.*}}) : (index) -> tensor<1x1x?x?xi1>
// CHECK:         %[[CHOSEN:.*]] = scf.if %{{.*}} -> (tensor<1x1x?x?xi1>)
// CHECK:           %[[DENSE:.*]] = linalg.fill
// CHECK:           scf.yield %[[DENSE]] : tensor<1x1x?x?xi1>
// CHECK:           scf.yield %[[MADE]] : tensor<1x1x?x?xi1>
// CHECK:         cf.br ^bb1(%[[CHOSEN]] : tensor<1x1x?x?xi1>)
// CHECK:       ^bb1(%[[MASK:.*]]: tensor<1x1x?x?xi1>):
// CHECK:         linalg.generic
// CHECK:           tensor.extract %[[MASK]]
func.func private @make_mask(index) -> !sparse_attn.block_mask<1x1x?x?, block = 64x64>

func.func @mask_through_control_flow(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>, %n: index, %c: i1) -> tensor<1x2x?x16xf32> {
  %a = call @make_mask(%n) : (index) -> !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  %s = scf.if %c -> !sparse_attn.block_mask<1x1x?x?, block = 64x64> {
    %d = sparse_attn.dense_mask(%n, %n) : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
    scf.yield %d : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  } else {
    scf.yield %a : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  }
  cf.br ^bb1(%s : !sparse_attn.block_mask<1x1x?x?, block = 64x64>)
^bb1(%m: !sparse_attn.block_mask<1x1x?x?, block = 64x64>):
  %o = sparse_attn.attention softmax %q, %k, %v mask(%m : !sparse_attn.block_mask<1x1x?x?, block = 64x64>)
      : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x2x?x16xf32>
  return %o : tensor<1x2x?x16xf32>
}

// -----

// A token-level query the tiled passes could not fuse: the element of the
// mask's visibility tensor, a batch extent of 1 broadcast, false outside
// the mask's sequence lengths (the read clamped in bounds).

// CHECK-LABEL: func.func @mask_visible(
// CHECK-SAME:      %[[M:[a-z0-9]+]]: tensor<1x2x?x8xi1>, %[[B:[a-z0-9]+]]: index, %[[H:[a-z0-9]+]]: index, %[[I:[a-z0-9]+]]: index, %[[J:[a-z0-9]+]]: index) -> i1
// CHECK:         %[[ROWS:.*]] = tensor.dim %[[M]], %c2
// CHECK:         %[[ROW_IN:.*]] = arith.cmpi slt, %[[I]], %[[ROWS]]
// CHECK:         %[[COLUMN_IN:.*]] = arith.cmpi slt, %[[J]], %c8
// CHECK:         %[[VALUE:.*]] = tensor.extract %[[M]][%c0{{.*}}, %[[H]], %{{.*}}, %{{.*}}] : tensor<1x2x?x8xi1>
// CHECK:         %[[BOTH:.*]] = arith.andi %[[ROW_IN]], %[[COLUMN_IN]]
// CHECK:         %[[VISIBLE:.*]] = arith.andi %[[BOTH]], %[[VALUE]]
// CHECK:         return %[[VISIBLE]] : i1
func.func @mask_visible(%m: !sparse_attn.block_mask<1x2x?x8, block = 4x4>, %b: index, %h: index,
                        %i: index, %j: index) -> i1 {
  %v = sparse_attn.mask_visible %m[%b, %h, %i, %j] : !sparse_attn.block_mask<1x2x?x8, block = 4x4>
  return %v : i1
}
