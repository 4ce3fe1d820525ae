import { gelu, layerNorm, linear, type LayerContext } from './layers.js';
import type { ModelDims } from './model-spec.js';
import type { LayerParamNames } from './param-names.js';

/** [b, s, h] -> [b, heads, s, headDim] (or [b, heads, headDim, s] for keys). */
function splitHeads(ctx: LayerContext, x: string, dims: ModelDims, transposeForKeys: boolean): string {
  const { b } = ctx;
  const headDim = dims.hidden / dims.heads;
  // Reshape's 0 copies the input dim, so batch and sequence stay symbolic.
  const split = b.op('Reshape', [x, b.int64([0, 0, dims.heads, headDim])]); // [b, s, heads, headDim]
  return b.op('Transpose', [split], { perm: transposeForKeys ? [0, 2, 3, 1] : [0, 2, 1, 3] });
}

/** Multi-head self-attention, output projection not included. [b, s, h] */
function selfAttention(ctx: LayerContext, x: string, mask: string, dims: ModelDims, names: LayerParamNames): string {
  const { b } = ctx;
  const h = dims.hidden;
  const q = splitHeads(ctx, linear(ctx, x, names.query, h, h), dims, false); // [b, nh, s, hd]
  const kT = splitHeads(ctx, linear(ctx, x, names.key, h, h), dims, true); // [b, nh, hd, s]
  const v = splitHeads(ctx, linear(ctx, x, names.value, h, h), dims, false); // [b, nh, s, hd]
  const raw = b.op('MatMul', [q, kT]); // [b, nh, s, s]
  const scaled = b.op('Div', [raw, b.float32([Math.sqrt(h / dims.heads)], [])]);
  const probs = b.op('Softmax', [b.op('Add', [scaled, mask])], { axis: -1 }); // mask: [b, 1, 1, s]
  const context = b.op('MatMul', [probs, v]); // [b, nh, s, hd]
  const merged = b.op('Transpose', [context], { perm: [0, 2, 1, 3] }); // [b, s, nh, hd]
  return b.op('Reshape', [merged, b.int64([0, 0, h])]); // [b, s, h]
}

/**
 * One post-LN transformer block (BERT, DistilBERT and RoBERTa share it):
 * x1 = LN(x + attn(x)); out = LN(x1 + W2·gelu(W1·x1)). [b, s, h]
 */
export function encoderLayer(ctx: LayerContext, x: string, mask: string, dims: ModelDims, names: LayerParamNames): string {
  const { b } = ctx;
  const { hidden, intermediate, layerNormEps } = dims;
  const attention = linear(ctx, selfAttention(ctx, x, mask, dims, names), names.attentionOut, hidden, hidden);
  const x1 = layerNorm(ctx, b.op('Add', [attention, x]), names.attentionNorm, hidden, layerNormEps);
  const inner = gelu(ctx, linear(ctx, x1, names.ffnIn, hidden, intermediate)); // [b, s, inter]
  const ffn = linear(ctx, inner, names.ffnOut, intermediate, hidden);
  return layerNorm(ctx, b.op('Add', [ffn, x1]), names.outputNorm, hidden, layerNormEps);
}
