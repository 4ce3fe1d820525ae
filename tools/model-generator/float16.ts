import { float32ToHalfBits } from '#models';
import type { GraphDef, NodeDef, TensorDef } from './onnx-graph.js';

const FLOAT = 1;
const FLOAT16 = 10;
function halfTensor(t: TensorDef): TensorDef {
  if (t.type !== 'float32' || !(t.data instanceof Float32Array)) return t;
  return { ...t, type: 'float16', data: float32ToHalfBits(t.data) };
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
