/**
 * Reads ONNX output buffers as float32. fp16 models hand back raw IEEE half
 * bits in a Uint16Array (Node 20 has no Float16Array); those are decoded once
 * into a new Float32Array, float32 buffers are returned as they are.
 */
import { halfBitsToFloat32 } from './float16.js';

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
