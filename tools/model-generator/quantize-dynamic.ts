import type { GraphDef, NodeDef, TensorDef } from './onnx-graph.js';

/**
 * int8 dynamic quantization in the shape onnxruntime's quantize_dynamic
 * emits (and that ORT then fuses into DynamicQuantizeMatMul):
 *   MatMul(x, W)  ->  DynamicQuantizeLinear(x) -> MatMulInteger(xq, Wq, xzp, Wzp)
 *                     -> Cast(float) -> Mul(xscale * Wscale)
 *   Gather(T, ids) -> Gather(Tq, ids) -> DequantizeLinear(Tscale)
 * Weights are symmetric int8 (zero point 0): per output column for MatMul, per
 * tensor for embedding tables. Activations are asymmetric uint8 per tensor, so
 * a row's result depends slightly on what else is in the batch, exactly as in
 * the Hub's q8 files; the worker makes both batch-independent at load
 * (libs/models/src/per-token-quantization.ts, Q8_MODE=per-token).
 */

const asFloat2d = (t: TensorDef | undefined): (TensorDef & { data: Float32Array }) | null =>
  t && t.type === 'float32' && t.dims.length === 2 && t.data instanceof Float32Array ? (t as TensorDef & { data: Float32Array }) : null;

/** Per-column symmetric int8: [K, N] -> int8 [K, N] plus scale [N]. */
function quantizeColumns(w: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(cols);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) scale[c] = Math.max(scale[c], Math.abs(w[i]));
  }
  for (let c = 0; c < cols; c++) scale[c] = scale[c] > 0 ? scale[c] / 127 : 1;
  const q = new Int8Array(rows * cols);
  // |w| <= 127·scale by construction, so rounding never leaves [-127, 127].
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) q[i] = Math.round(w[i] / scale[c]);
  }
  return { q, scale };
}

/** Per-tensor symmetric int8. */
function quantizeTensor(w: Float32Array): { q: Int8Array; scale: number } {
  let max = 0;
  for (let i = 0; i < w.length; i++) max = Math.max(max, Math.abs(w[i]));
  const scale = max > 0 ? max / 127 : 1;
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = Math.round(w[i] / scale);
  return { q, scale };
}

export function quantizeDynamic(graph: GraphDef): GraphDef {
  const inits = new Map(graph.initializers.map((t) => [t.name, t]));
  const added: TensorDef[] = [];
  const replaced = new Set<string>();
  const nodes: NodeDef[] = [];
  const f32 = (name: string, dims: number[], data: Float32Array): string => {
    added.push({ name, type: 'float32', dims, data });
    return name;
  };
  const i8 = (name: string, dims: number[], data: Int8Array): string => {
    added.push({ name, type: 'int8', dims, data });
    return name;
  };

  for (const node of graph.nodes) {
    const at = (suffix: string): string => `${node.name}/${suffix}`;
    const weight = node.op === 'MatMul' ? asFloat2d(inits.get(node.inputs[1])) : null;
    const table = node.op === 'Gather' ? asFloat2d(inits.get(node.inputs[0])) : null;
    if (weight) {
      const [k, n] = weight.dims;
      const { q, scale } = quantizeColumns(weight.data, k, n);
      const wq = i8(`${weight.name}_quantized`, [k, n], q);
      const wScale = f32(`${weight.name}_scale`, [n], scale);
      const wZero = i8(`${weight.name}_zero_point`, [n], new Int8Array(n));
      const [xq, xScale, xZero] = [at('x_quantized'), at('x_scale'), at('x_zero_point')];
      nodes.push(
        { name: at('DynamicQuantizeLinear'), op: 'DynamicQuantizeLinear', inputs: [node.inputs[0]], outputs: [xq, xScale, xZero], attrs: {} },
        { name: at('MatMulInteger'), op: 'MatMulInteger', inputs: [xq, wq, xZero, wZero], outputs: [at('int32')], attrs: {} },
        { name: at('Cast'), op: 'Cast', inputs: [at('int32')], outputs: [at('float')], attrs: { to: 1 } },
        { name: at('ScaleMul'), op: 'Mul', inputs: [xScale, wScale], outputs: [at('scale')], attrs: {} },
        { name: at('OutputMul'), op: 'Mul', inputs: [at('float'), at('scale')], outputs: node.outputs, attrs: {} },
      );
      replaced.add(weight.name);
    } else if (table) {
      const { q, scale } = quantizeTensor(table.data);
      const tq = i8(`${table.name}_quantized`, table.dims, q);
      const tScale = f32(`${table.name}_scale`, [], Float32Array.of(scale));
      const tZero = i8(`${table.name}_zero_point`, [], new Int8Array(1));
      nodes.push(
        { ...node, inputs: [tq, ...node.inputs.slice(1)], outputs: [at('int8')] },
        { name: at('DequantizeLinear'), op: 'DequantizeLinear', inputs: [at('int8'), tScale, tZero], outputs: node.outputs, attrs: {} },
      );
      replaced.add(table.name);
    } else {
      nodes.push(node);
    }
  }
  const stillUsed = new Set(nodes.flatMap((n) => n.inputs));
  const kept = graph.initializers.filter((t) => !replaced.has(t.name) || stillUsed.has(t.name));
  return { ...graph, nodes, initializers: [...kept, ...added] };
}
