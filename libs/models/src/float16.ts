/**
 * IEEE 754 binary16 ("half") codec: the one place that converts between float32 values and half
 * bits. The runtime decodes fp16 models' outputs with it; the model generator encodes fp16 weights.
 * Hand-written because Node 20 has no Float16Array, and the polyfill (@petamoriken/float16) reads
 * element by element through a Proxy, which is slow for whole output tensors.
 */

const HALF_MAX = 65504;

/** IEEE half bits of each value, round-to-nearest-even, saturating at ±65504. */
export function float32ToHalfBits(values: Float32Array): Uint16Array {
  const clamped = values.map((v) => (v > HALF_MAX ? HALF_MAX : Math.max(v, -HALF_MAX)));
  const bits = new Uint32Array(clamped.buffer, clamped.byteOffset, clamped.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfFromFloatBits(bits[i] as number);
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

/** Decodes IEEE 754 binary16 bit patterns. */
export function halfBitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i] as number;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 0x1f) out[i] = fraction ? NaN : sign * Infinity;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}
