import type { GraphBuilder } from './graph-builder.js';
import type { Rng } from './rng.js';

/** HF's initializer_range, used for the embedding tables as in HF init. */
export const INIT_STD = 0.02;

/**
 * Encoder projections use N(0, 1/fan_in) instead of HF's 0.02. With 0.02 the
 * attention is uniform and the value path contributes ~1% of the residual, so
 * the [CLS] state is the same for every text and a random classifier returns
 * one label for everything. With 1/fan_in, attention scores are O(1) and token
 * states really depend on context; post-LN keeps activations bounded.
 */
export const lecunStd = (fanIn: number): number => 1 / Math.sqrt(fanIn);

/** Pairs the graph builder with the seeded RNG that fills its weights. */
export interface LayerContext {
  b: GraphBuilder;
  rng: Rng;
}

/**
 * nn.Linear as MatMul + Add. The weight is stored [in, out] (already transposed,
 * as torch.onnx.export emits it) so MatMul needs no Transpose; the quantize pass
 * recognises exactly this MatMul-with-2D-initializer pattern.
 */
export function linear(ctx: LayerContext, x: string, prefix: string, inDim: number, outDim: number, std = lecunStd(inDim)): string {
  const w = ctx.b.tensor(`${prefix}.weight`, 'float32', [inDim, outDim], ctx.rng.normalArray(inDim * outDim, std));
  const bias = ctx.b.tensor(`${prefix}.bias`, 'float32', [outDim], new Float32Array(outDim));
  return ctx.b.op('Add', [ctx.b.op('MatMul', [x, w]), bias]);
}

/** LayerNorm over the last axis with gamma 1, beta 0 (HF init). */
export function layerNorm(ctx: LayerContext, x: string, prefix: string, dim: number, eps: number): string {
  const gamma = ctx.b.tensor(`${prefix}.weight`, 'float32', [dim], new Float32Array(dim).fill(1));
  const beta = ctx.b.tensor(`${prefix}.bias`, 'float32', [dim], new Float32Array(dim));
  return ctx.b.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: { float: eps } });
}

/**
 * Exact erf GELU, 0.5·x·(1+erf(x/√2)), in the op order ORT's Gelu fusion
 * matches, so the runtime can fuse it like it does for exported HF models.
 */
export function gelu(ctx: LayerContext, x: string): string {
  const { b } = ctx;
  const erf = b.op('Erf', [b.op('Div', [x, b.float32([Math.SQRT2], [])])]);
  const scaled = b.op('Mul', [x, b.op('Add', [erf, b.float32([1], [])])]);
  return b.op('Mul', [scaled, b.float32([0.5], [])]);
}

/** Embedding table of shape [rows, dim] with N(0, 0.02²) init. */
export function embeddingTable(ctx: LayerContext, name: string, rows: number, dim: number): string {
  return ctx.b.tensor(name, 'float32', [rows, dim], ctx.rng.normalArray(rows * dim, INIT_STD));
}

/** Row 0 of the sequence: the [CLS] / <s> token. [b, s, h] -> [b, h] */
export function firstToken(ctx: LayerContext, x: string): string {
  return ctx.b.op('Gather', [x, ctx.b.int64([0], [])], { axis: 1 });
}
