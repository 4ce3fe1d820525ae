/**
 * Reads ONNX output buffers as float32. fp16 models hand back raw IEEE half
 * bits in a Uint16Array (Node 20 has no Float16Array); those are decoded once
 * into a new Float32Array, float32 buffers are returned as they are.
 */

export interface TensorLike {
  type: string;
  data: ArrayLike<number> | ArrayLike<bigint>;
  dims: readonly number[];
}

export function toFloat32(tensor: TensorLike): Float32Array {
  const { data, type } = tensor;
  if (data instanceof Float32Array) return data;
  if (type === 'float16' && data instanceof Uint16Array) return halfBitsToFloat32(data);
  if (type === 'float16' || type === 'float64' || ArrayBuffer.isView(data)) {
    // Float16Array (newer runtimes) and Float64Array convert element-wise.
    return Float32Array.from(data as ArrayLike<number>);
  }
  throw new TypeError(`cannot read a ${type} tensor as float32`);
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
