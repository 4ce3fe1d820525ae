import { describe, expect, it } from 'vitest';
import { l2NormalizeRows, poolHidden } from '../../libs/models/src/pooling.js';
import { halfBitsToFloat32 } from '#models';
import { toFloat32 } from '../../libs/models/src/tensor-data.js';

// [batch 2, seq 3, hidden 2]
const hidden = Float32Array.from([1, 2, 3, 4, 100, 100, /* row 2 */ 5, 6, 7, 8, 9, 10]);

describe('poolHidden', () => {
  it('mean-pools only the unmasked (first `length`) tokens', () => {
    const out = poolHidden(hidden, [2, 3, 2], [2, 3], 'mean', new Float32Array(4));
    expect([...out]).toEqual([2, 3, 7, 8]);
  });
  it('cls-pools token 0', () => {
    const out = poolHidden(hidden, [2, 3, 2], [2, 3], 'cls', new Float32Array(4));
    expect([...out]).toEqual([1, 2, 5, 6]);
  });
  it('gives zeros (not NaN) for a row with no tokens', () => {
    const out = poolHidden(hidden, [2, 3, 2], [0, 1], 'mean', new Float32Array(4));
    expect([...out]).toEqual([0, 0, 5, 6]);
  });
});

describe('l2NormalizeRows', () => {
  it('normalises each row to unit length', () => {
    const rows = l2NormalizeRows(Float32Array.from([3, 4, 0, 5]), 2);
    expect(rows[0]).toBeCloseTo(0.6, 7);
    expect(rows[1]).toBeCloseTo(0.8, 7);
    expect([...rows.subarray(2)]).toEqual([0, 1]);
  });
  it('leaves a zero vector at zero', () => {
    expect([...l2NormalizeRows(new Float32Array(3), 3)]).toEqual([0, 0, 0]);
  });
});

describe('fp16 outputs', () => {
  it('decodes IEEE half bit patterns', () => {
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00, 0x0000, 0x8000]);
    const out = halfBitsToFloat32(bits);
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(-2);
    expect(out[2]).toBeCloseTo(1 / 3, 3);
    expect(out[3]).toBeCloseTo(5.96e-8, 10);
    expect(out[4]).toBe(Infinity);
    expect(Object.is(out[6], -0)).toBe(true);
  });
  it('returns float32 data without copying and converts float16 tensors', () => {
    const data = new Float32Array(2);
    expect(toFloat32({ type: 'float32', data, dims: [2] })).toBe(data);
    expect([...toFloat32({ type: 'float16', data: Uint16Array.from([0x3c00]), dims: [1] })]).toEqual([1]);
  });
});
