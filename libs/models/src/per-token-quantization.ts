/**
 * Load-time rewrite that makes an int8 dynamically quantized ONNX model
 * batch-independent. `DynamicQuantizeLinear` takes one activation scale over
 * the whole padded batch `// [batch, seq, hidden]`, so a text's vector moves
 * (by ~1e-3) with its batch-mates. Each one is replaced here by per-token
 * quantization, one scale per row `// [batch, seq, 1]`, built from standard
 * ONNX ops so that any execution provider runs it:
 *   range  = Max(ReduceMax(Abs(x), axis -1), tiny)             // [batch, seq, 1]
 *   xq     = QuantizeLinear(x * (1 / range), 1/127, 128)       // symmetric codes 1..255 around 128
 *   scale  = range / 127                                       // [batch, seq, 1]
 * The zero point is a constant 128, which MatMulInteger accepts (it takes only
 * per-tensor zero points), and the per-row scale broadcasts through the
 * `Mul(x_scale, w_scale)` that quantize_dynamic emits after it. QuantizeLinear
 * rounds, shifts and saturates in one fused pass; the whole model still runs
 * about 10% slower than with the fused DynamicQuantizeMatMul that onnxruntime
 * makes of the original (bench/README.md, "q8: per-token against dynamic").
 */
import type { onnx } from 'onnx-proto';
// CommonJS whose exports Node cannot detect statically: the value comes through the default import.
import onnxProto from 'onnx-proto';
import { ModelLoadError } from './errors.js';

const proto = onnxProto.onnx;
const FLOAT = 1;
const UINT8 = 2;
const INT64 = 7;
/** Smallest normal float32: keeps an all-zero row from dividing by zero (its codes stay 128). */
const TINY = 1.1754943508222875e-38;

/** What the rewrite changed, for logs and tests. */
export interface PerTokenRewrite {
  bytes: Uint8Array;
  /** DynamicQuantizeLinear nodes replaced. */
  replaced: number;
}

/**
 * Returns the model with every DynamicQuantizeLinear replaced by per-token
 * quantization. Throws when the model has none (nothing to make independent:
 * the caller asked for something this file cannot give) or when its opset is
 * too old for the ops used here (11).
 */
export function toPerTokenQuantization(modelId: string, bytes: Uint8Array): PerTokenRewrite {
  const model = proto.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new ModelLoadError(modelId, 'the q8 ONNX file has no graph');
  const opset = Number(model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  if (opset < 11) throw new ModelLoadError(modelId, `per-token q8 needs ONNX opset 11 or newer (the file has ${opset}); set Q8_MODE=dynamic`);

  const constants: onnx.ITensorProto[] = [
    { name: 'per_token/127', dataType: FLOAT, dims: [], floatData: [127] },
    { name: 'per_token/tiny', dataType: FLOAT, dims: [], floatData: [TINY] },
    { name: 'per_token/step', dataType: FLOAT, dims: [], floatData: [1 / 127] },
    { name: 'per_token/zero', dataType: UINT8, dims: [], rawData: Uint8Array.of(128) },
  ];
  // From opset 18 on, ReduceMax takes its axes as an input instead of an attribute.
  if (opset >= 18) constants.push({ name: 'per_token/last_axis', dataType: INT64, dims: [1], int64Data: [-1] });
  const reduceAxes: Pick<onnx.INodeProto, 'input' | 'attribute'> =
    opset >= 18 ? { input: ['per_token/last_axis'], attribute: [attrInt('keepdims', 1)] } : { input: [], attribute: [attrInts('axes', [-1]), attrInt('keepdims', 1)] };

  const consumers = new Map<string, Array<{ op: string; slot: number }>>();
  for (const node of graph.node ?? []) {
    (node.input ?? []).forEach((name, slot) => consumers.set(name, [...(consumers.get(name) ?? []), { op: node.opType ?? '', slot }]));
  }
  const nodes: onnx.INodeProto[] = [];
  const changedShapes = new Set<string>();
  let replaced = 0;
  for (const node of graph.node ?? []) {
    if (node.opType !== 'DynamicQuantizeLinear' || (node.domain ?? '') !== '') {
      nodes.push(node);
      continue;
    }
    const [x] = node.input ?? [];
    const [xq, xScale, xZero] = node.output ?? [];
    if (!x || !xq || !xScale) throw new ModelLoadError(modelId, `DynamicQuantizeLinear node "${node.name}" lacks an input or output`);
    // A per-row scale is only right where it multiplies a MatMulInteger's rows (QAttention or ConvInteger would need a per-tensor one).
    const misfit = [
      ...(consumers.get(xq) ?? []).filter((c) => c.op !== 'MatMulInteger' || c.slot !== 0),
      ...(consumers.get(xScale) ?? []).filter((c) => c.op !== 'Mul'),
      ...(xZero ? (consumers.get(xZero) ?? []).filter((c) => c.op !== 'MatMulInteger' || c.slot !== 2) : []),
    ][0];
    if (misfit) {
      throw new ModelLoadError(modelId, `per-token q8 cannot rewrite "${node.name}": its output feeds ${misfit.op} (only MatMulInteger is supported); set Q8_MODE=dynamic`);
    }
    const at = (suffix: string): string => `${node.name ?? `dql_${replaced}`}/per_token/${suffix}`;
    nodes.push(
      { name: at('Abs'), opType: 'Abs', input: [x], output: [at('abs')] },
      { name: at('ReduceMax'), opType: 'ReduceMax', input: [at('abs'), ...(reduceAxes.input ?? [])], output: [at('absmax')], attribute: reduceAxes.attribute },
      { name: at('Max'), opType: 'Max', input: [at('absmax'), 'per_token/tiny'], output: [at('range')] },
      { name: at('Scale'), opType: 'Div', input: [at('range'), 'per_token/127'], output: [xScale] },
      { name: at('Reciprocal'), opType: 'Reciprocal', input: [at('range')], output: [at('inverse')] },
      { name: at('Normalize'), opType: 'Mul', input: [x, at('inverse')], output: [at('normalized')] },
      { name: at('QuantizeLinear'), opType: 'QuantizeLinear', input: [at('normalized'), 'per_token/step', 'per_token/zero'], output: [xq] },
    );
    // The zero point output becomes a constant of the same name (nothing else produces it now).
    if (xZero) constants.push({ name: xZero, dataType: UINT8, dims: [], rawData: Uint8Array.of(128) });
    changedShapes.add(xScale);
    if (xZero) changedShapes.add(xZero);
    replaced++;
  }
  if (replaced === 0) throw new ModelLoadError(modelId, 'the q8 ONNX file has no DynamicQuantizeLinear node to make per-token; set Q8_MODE=dynamic');
  graph.node = nodes;
  graph.initializer = [...(graph.initializer ?? []), ...constants];
  // Shapes recorded for the old per-tensor scales and zero points would now be wrong; ORT infers them again.
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !changedShapes.has(v.name ?? ''));
  return { bytes: proto.ModelProto.encode(model).finish(), replaced };
}

function attrInt(name: string, i: number): onnx.IAttributeProto {
  return { name, type: proto.AttributeProto.AttributeType.INT, i };
}

function attrInts(name: string, ints: number[]): onnx.IAttributeProto {
  return { name, type: proto.AttributeProto.AttributeType.INTS, ints };
}
