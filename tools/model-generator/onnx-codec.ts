import type { onnx } from 'onnx-proto';
// onnx-proto is CommonJS whose exports Node cannot detect statically, so the
// value must come through the default import; the types come from the namespace.
import onnxProto from 'onnx-proto';
import { ONNX_DTYPE, tensorBytes, type AttrValue, type GraphDef, type TensorDef, type ValueInfoDef } from './onnx-graph.js';

const proto = onnxProto.onnx;
const AttrType = proto.AttributeProto.AttributeType;

export const IR_VERSION = 8;
export const OPSET_VERSION = 17;

function encodeAttr(name: string, value: AttrValue): onnx.IAttributeProto {
  if (typeof value === 'number') return { name, type: AttrType.INT, i: value };
  if (Array.isArray(value)) return { name, type: AttrType.INTS, ints: [...value] };
  return { name, type: AttrType.FLOAT, f: (value as { float: number }).float };
}

function encodeTensor(t: TensorDef): onnx.ITensorProto {
  // raw_data is little-endian; every platform onnxruntime-node ships for is LE.
  return { name: t.name, dims: t.dims, dataType: ONNX_DTYPE[t.type], rawData: tensorBytes(t.data) };
}

function encodeValueInfo(v: ValueInfoDef): onnx.IValueInfoProto {
  const dim = v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name: v.name, type: { tensorType: { elemType: ONNX_DTYPE[v.type], shape: { dim } } } };
}

/** Serializes a GraphDef into ONNX ModelProto bytes (ir 8, opset 17). */
export function encodeModel(graph: GraphDef, producer = 'shardwise-generate'): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    producerName: producer,
    producerVersion: '1',
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    graph: {
      name: graph.name,
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => encodeAttr(k, v)),
      })),
      initializer: graph.initializers.map(encodeTensor),
      input: graph.inputs.map(encodeValueInfo),
      output: graph.outputs.map(encodeValueInfo),
    },
  };
  return proto.ModelProto.encode(model).finish();
}

/** float32 initializers of an ONNX file by name (for inspection and reference checks). */
export function readFloatInitializers(bytes: Uint8Array): Map<string, Float32Array> {
  const model = proto.ModelProto.decode(bytes);
  const out = new Map<string, Float32Array>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataType !== ONNX_DTYPE.float32 || !t.name || !t.rawData) continue;
    // Copy: the decoded rawData may be an unaligned view into `bytes`.
    const raw = Uint8Array.from(t.rawData);
    out.set(t.name, new Float32Array(raw.buffer, 0, raw.length / 4));
  }
  return out;
}
