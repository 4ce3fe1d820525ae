import type { GraphDef, NodeDef, TensorDef } from './onnx-graph.js';

const FLOAT = 1;
const FLOAT16 = 10;
const HALF_MAX = 65504;

/** IEEE half bits of each value, round-to-nearest-even, saturating at ±65504. */
export function toHalfArray(values: Float32Array): Uint16Array {
  const clamped = values.map((v) => (v > HALF_MAX ? HALF_MAX : Math.max(v, -HALF_MAX)));
  const bits = new Uint32Array(clamped.buffer, clamped.byteOffset, clamped.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfFromFloatBits(bits[i]);
  return out;
}

function halfFromFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // NaN (inf cannot occur after clamping)
  const e = exp - 127 + 15;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    const m = mant | 0x800000; // subnormal half: shift the implicit 1 in
    const shift = 14 - e;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Rounding up may carry into the exponent, which is still the correct result.
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

function halfTensor(t: TensorDef): TensorDef {
  if (t.type !== 'float32' || !(t.data instanceof Float32Array)) return t;
  return { ...t, type: 'float16', data: toHalfArray(t.data) };
}

/**
 * fp16 weights and compute with fp32 inputs/outputs, like onnxconverter-common's
 * convert_float_to_float16(keep_io_types=True): float initializers become
 * half (finfo.min mask constants saturate to -65504, still exp() = 0 after
 * softmax's max shift), float Casts retarget to half, and graph outputs get
 * a Cast back to float32.
 */
export function toFloat16(graph: GraphDef): GraphDef {
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const nodes = graph.nodes.map((node): NodeDef => {
    if (node.op === 'Cast' && node.attrs.to === FLOAT) return { ...node, attrs: { ...node.attrs, to: FLOAT16 } };
    if (node.op === 'Identity' && outputs.has(node.outputs[0])) return { ...node, op: 'Cast', attrs: { to: FLOAT } };
    return node;
  });
  return { ...graph, nodes, initializers: graph.initializers.map(halfTensor) };
}
