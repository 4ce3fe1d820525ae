/**
 * Plain-data ONNX graph model. Builders and rewrite passes (quantize, fp16)
 * work on these structs; only onnx-codec.ts touches protobuf.
 */

export type ElemType = 'float32' | 'float16' | 'int64' | 'int8' | 'uint8';

/** float16 tensors carry their raw IEEE half bits in a Uint16Array. */
export type TensorData = Float32Array | Uint16Array | BigInt64Array | Int8Array | Uint8Array;

export interface TensorDef {
  name: string;
  type: ElemType;
  dims: number[];
  data: TensorData;
}

/** Marks a float attribute; bare numbers are encoded as INT. */
export interface FloatAttr {
  float: number;
}

export type AttrValue = number | readonly number[] | FloatAttr;

export interface NodeDef {
  name: string;
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export interface ValueInfoDef {
  name: string;
  type: ElemType;
  /** Numbers are fixed dims, strings are symbolic (dim_param) dims. */
  shape: Array<number | string>;
}

export interface GraphDef {
  name: string;
  nodes: NodeDef[];
  initializers: TensorDef[];
  inputs: ValueInfoDef[];
  outputs: ValueInfoDef[];
}

/** ONNX TensorProto.DataType codes for the element types used here. */
export const ONNX_DTYPE: Record<ElemType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int64: 7,
  float16: 10,
};

export function tensorBytes(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Total bytes of all initializers: a quick proxy for on-disk model size. */
export function initializerBytes(graph: GraphDef): number {
  return graph.initializers.reduce((sum, t) => sum + t.data.byteLength, 0);
}
