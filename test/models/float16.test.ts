import { describe, expect, it } from 'vitest';
import { float32ToHalfBits, halfBitsToFloat32 } from '#models';

describe('float16 codec', () => {
  it('round-trips values exactly representable in half precision', () => {
    const values = new Float32Array([0, -0, 1, -1, 0.5, 2 ** -14, 2 ** -24, 65504, -65504, 1.5, 0.099975586]);
    expect(Array.from(halfBitsToFloat32(float32ToHalfBits(values)))).toEqual(Array.from(values));
  });

  it('rounds to nearest even, saturates at ±65504 and keeps NaN', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa, 1.
    const out = halfBitsToFloat32(float32ToHalfBits(new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 1e6, -1e6, Number.NaN])));
    expect(Array.from(out.subarray(0, 4))).toEqual([1, 1 + 2 ** -9, 65504, -65504]);
    expect(Number.isNaN(out[4])).toBe(true);
  });

  it('keeps random values within half precision (relative error at most 2^-11)', () => {
    const values = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 9) - 4));
    const back = halfBitsToFloat32(float32ToHalfBits(values));
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (Math.abs(v) >= 2 ** -14) expect(Math.abs((back[i] as number) - v) / Math.abs(v)).toBeLessThanOrEqual(2 ** -11);
    }
  });
});
