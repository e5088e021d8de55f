// Causal grouped-query attention in bf16: eight query heads share two
// key/value heads (query head h reads kv head h / 4), and 48 queries attend
// to 80 keys bottom-right aligned: query i sees keys j <= i + 32, as in
// decoding the last 48 tokens of an 80-token sequence.
//
// Run: sparse-attn-run examples/attention-causal-gqa.mlir --check

func.func @attention_causal_gqa(%q: tensor<2x8x48x64xbf16>, %k: tensor<2x2x80x64xbf16>,
                                %v: tensor<2x2x80x64xbf16>) -> tensor<2x8x48x64xbf16> {
  %o = sparse_attn.attention softmax causal %q, %k, %v
      : tensor<2x8x48x64xbf16>, tensor<2x2x80x64xbf16>, tensor<2x2x80x64xbf16>
      -> tensor<2x8x48x64xbf16>
  return %o : tensor<2x8x48x64xbf16>
}
