import type { AttrValue, ElemType, GraphDef, NodeDef, TensorData, TensorDef, ValueInfoDef } from './onnx-graph.js';

/**
 * Small imperative builder: every op() call appends one node and returns the
 * name of its output, so model code reads like the PyTorch forward it mirrors.
 */
export class GraphBuilder {
  private readonly nodes: NodeDef[] = [];
  private readonly initializers = new Map<string, TensorDef>();
  private readonly inputs: ValueInfoDef[] = [];
  private readonly outputs: ValueInfoDef[] = [];
  private readonly constCache = new Map<string, string>();
  private counter = 0;
  /** Prefix for node names, e.g. "encoder.layer.0.attention". */
  scope = '';

  constructor(private readonly name: string) {}

  input(name: string, type: ElemType, shape: Array<number | string>): string {
    this.inputs.push({ name, type, shape });
    return name;
  }

  /** Exposes `value` as graph output `name` (an Identity keeps names stable). */
  output(value: string, name: string, type: ElemType, shape: Array<number | string>): void {
    this.nodes.push({ name: `${name}_identity`, op: 'Identity', inputs: [value], outputs: [name], attrs: {} });
    this.outputs.push({ name, type, shape });
  }

  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.opN(op, inputs, 1, attrs)[0];
  }

  opN(op: string, inputs: string[], outputCount: number, attrs: Record<string, AttrValue> = {}): string[] {
    const base = `${this.scope ? `/${this.scope}` : ''}/${op}_${this.counter++}`;
    const outputs = Array.from({ length: outputCount }, (_, i) => `${base}_output_${i}`);
    this.nodes.push({ name: base, op, inputs, outputs, attrs });
    return outputs;
  }

  tensor(name: string, type: ElemType, dims: number[], data: TensorData): string {
    if (this.initializers.has(name)) throw new Error(`duplicate initializer ${name}`);
    this.initializers.set(name, { name, type, dims, data });
    return name;
  }

  /** Deduplicated int64 constant (shapes, axes, indices). dims [] = scalar. */
  int64(values: number[], dims: number[] = [values.length]): string {
    return this.cached('i64', values, dims, () => BigInt64Array.from(values.map(BigInt)), 'int64');
  }

  /** Deduplicated float32 constant. dims [] = scalar. */
  float32(values: number[], dims: number[] = [values.length]): string {
    return this.cached('f32', values, dims, () => Float32Array.from(values), 'float32');
  }

  build(): GraphDef {
    return {
      name: this.name,
      nodes: [...this.nodes],
      initializers: [...this.initializers.values()],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
    };
  }

  private cached(tag: string, values: number[], dims: number[], make: () => TensorData, type: ElemType): string {
    const key = `${tag}:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = `const_${tag}_${this.constCache.size}`;
    this.tensor(name, type, dims, make());
    this.constCache.set(key, name);
    return name;
  }
}
