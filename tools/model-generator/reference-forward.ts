import type { ModelSpec } from './model-spec.js';
import { paramNames } from './param-names.js';

/**
 * The HF forward pass written out in float64 over the initializers, one
 * unpadded sequence at a time. It exists to check the ONNX graph: any slip
 * in head splitting, scaling or layer order shows up as a mismatch.
 */

export type Weights = ReadonlyMap<string, Float32Array>;
type Matrix = number[][]; // [rows, cols]

/** Abramowitz-Stegun 7.1.26; |error| < 1.5e-7, far below the comparison tolerance. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return Math.sign(x) * (1 - poly * Math.exp(-x * x));
}

export function referenceForward(spec: ModelSpec, weights: Weights, inputIds: number[]): { hidden: Matrix; logits: number[] | null } {
  const { hidden: h, heads, layerNormEps: eps, padTokenId } = spec.dims;
  const hd = h / heads;
  const w = (name: string): Float32Array => {
    const data = weights.get(name);
    if (!data) throw new Error(`missing weight ${name}`);
    return data;
  };
  const row = (table: string, index: number): number[] => Array.from(w(table).subarray(index * h, (index + 1) * h));
  const linear = (x: Matrix, prefix: string): Matrix => {
    const [weight, bias] = [w(`${prefix}.weight`), w(`${prefix}.bias`)];
    const out = bias.length;
    return x.map((v) => Array.from(bias, (b, o) => v.reduce((s, xi, k) => s + xi * weight[k * out + o], b)));
  };
  const layerNorm = (x: Matrix, prefix: string): Matrix => {
    const [gamma, beta] = [w(`${prefix}.weight`), w(`${prefix}.bias`)];
    return x.map((v) => {
      const mean = v.reduce((s, a) => s + a, 0) / v.length;
      const variance = v.reduce((s, a) => s + (a - mean) ** 2, 0) / v.length;
      return v.map((a, j) => ((a - mean) / Math.sqrt(variance + eps)) * gamma[j] + beta[j]);
    });
  };
  const add = (a: Matrix, b: Matrix): Matrix => a.map((v, i) => v.map((x, j) => x + b[i][j]));
  const names = paramNames(spec.family, spec.head);

  // Embeddings. An unpadded RoBERTa sequence has positions padding_idx+1, +2, ...
  let x: Matrix = inputIds.map((id, i) => {
    const position = spec.family === 'roberta' ? i + padTokenId + 1 : i;
    const sum = row(names.wordEmbeddings, id).map((v, j) => v + row(names.positionEmbeddings, position)[j]);
    return spec.family === 'distilbert' ? sum : sum.map((v, j) => v + row(names.tokenTypeEmbeddings, 0)[j]);
  });
  x = layerNorm(x, names.embeddingNorm);

  for (let layer = 0; layer < spec.dims.layers; layer++) {
    const p = names.layer(layer);
    const [q, k, v] = [linear(x, p.query), linear(x, p.key), linear(x, p.value)];
    const context: Matrix = x.map(() => new Array<number>(h).fill(0));
    for (let head = 0; head < heads; head++) {
      const cols = Array.from({ length: hd }, (_, d) => head * hd + d);
      for (let i = 0; i < x.length; i++) {
        const scores = k.map((kj) => cols.reduce((s, c) => s + q[i][c] * kj[c], 0) / Math.sqrt(hd));
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const total = exps.reduce((s, e) => s + e, 0);
        exps.forEach((e, j) => cols.forEach((c) => (context[i][c] += (e / total) * v[j][c])));
      }
    }
    x = layerNorm(add(linear(context, p.attentionOut), x), p.attentionNorm);
    const inner = linear(x, p.ffnIn).map((r) => r.map((a) => 0.5 * a * (1 + erf(a / Math.SQRT2))));
    x = layerNorm(add(linear(inner, p.ffnOut), x), p.outputNorm);
  }

  if (spec.head === 'embed') return { hidden: x, logits: null };
  // Token head: [s * labels], every token's logits in order.
  if (spec.head === 'ner') return { hidden: x, logits: linear(x, 'classifier').flat() };
  const cls = [x[0]];
  const logits =
    spec.family === 'bert'
      ? linear(
          linear(cls, 'bert.pooler.dense').map((r) => r.map(Math.tanh)),
          'classifier',
        )
      : spec.family === 'distilbert'
        ? linear(
            linear(cls, 'pre_classifier').map((r) => r.map((a) => Math.max(0, a))),
            'classifier',
          )
        : linear(
            linear(cls, 'classifier.dense').map((r) => r.map(Math.tanh)),
            'classifier.out_proj',
          );
  return { hidden: x, logits: logits[0] };
}
