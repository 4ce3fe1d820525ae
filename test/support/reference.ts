import { AutoModel, AutoModelForSequenceClassification, AutoTokenizer, env, Tensor } from '@huggingface/transformers';

/**
 * The plain computation results are checked against: one text at a time, no batching, no padding,
 * float64 pooling, written from the Python reference semantics (sentence-transformers mean pooling
 * + L2 norm; transformers' softmax; truncation that keeps the closing special token).
 */
export class ReferenceModel {
  private constructor(
    private readonly tokenizer: Awaited<ReturnType<typeof AutoTokenizer.from_pretrained>>,
    private readonly model: Awaited<ReturnType<typeof AutoModel.from_pretrained>>,
    readonly maxTokens: number,
    readonly labels: string[] | null,
  ) {}

  /** `head`: `embed` loads the base model; any other head a *ForSequenceClassification model. */
  static async load(modelDir: string, id: string, head: 'embed' | 'sentiment' | 'multilabel' | 'score', maxTokens: number): Promise<ReferenceModel> {
    env.localModelPath = modelDir;
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    const tokenizer = await AutoTokenizer.from_pretrained(id);
    const Loader = head === 'embed' ? AutoModel : AutoModelForSequenceClassification;
    const model = await Loader.from_pretrained(id, { dtype: 'fp32', device: 'cpu' });
    const id2label = (model.config as unknown as { id2label?: Record<string, string> }).id2label;
    const labels =
      head !== 'embed' && id2label
        ? Object.keys(id2label)
            .sort((a, b) => Number(a) - Number(b))
            .map((k) => id2label[k])
        : null;
    return new ReferenceModel(tokenizer, model, maxTokens, labels);
  }

  /** Tokens before truncation, special tokens included. */
  fullLength(text: string): number {
    return (this.tokenizer.encode(text) as number[]).length;
  }

  /** Token ids as Python's tokenizer(text, truncation=True, max_length=maxTokens) gives them. */
  ids(text: string): number[] {
    const ids = (this.tokenizer.encode(text) as number[]).slice();
    if (ids.length <= this.maxTokens) return ids;
    return [...ids.slice(0, this.maxTokens - 1), ids[ids.length - 1]];
  }

  private async forward(text: string): Promise<Record<string, Tensor>> {
    const ids = this.ids(text);
    const shape = [1, ids.length];
    const inputs: Record<string, Tensor> = {
      input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), shape),
      attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape),
    };
    const names = (this.model as unknown as { sessions: { model: { inputNames: string[] } } }).sessions.model.inputNames;
    if (names.includes('token_type_ids')) inputs.token_type_ids = new Tensor('int64', new BigInt64Array(ids.length), shape);
    return (await this.model(inputs)) as Record<string, Tensor>;
  }

  /** Mean-pooled last hidden state, float64 sums, not normalised. */
  async meanPooled(text: string): Promise<number[]> {
    const output = await this.forward(text);
    const hidden = output.last_hidden_state; // [1, seq, hidden]
    const [, seq, width] = hidden.dims;
    const data = hidden.data as Float32Array;
    const sum = new Array<number>(width).fill(0);
    for (let t = 0; t < seq; t++) for (let d = 0; d < width; d++) sum[d] += data[t * width + d];
    return sum.map((v) => v / seq);
  }

  async embed(text: string): Promise<number[]> {
    return l2Normalize(await this.meanPooled(text));
  }

  /** Raw classifier logits by label (Python's `function_to_apply="none"`). */
  async logits(text: string): Promise<Record<string, number>> {
    const logits = Array.from((await this.forward(text)).logits.data as Float32Array); // [1, labels]
    const labels = this.labels ?? logits.map((_, i) => `LABEL_${i}`);
    return Object.fromEntries(labels.map((label, i) => [label, logits[i] as number]));
  }

  /** Per-label sigmoid of the logits (Python's pipeline for multi-label and single-logit models). */
  async sigmoid(text: string): Promise<Record<string, number>> {
    return Object.fromEntries(Object.entries(await this.logits(text)).map(([label, logit]) => [label, 1 / (1 + Math.exp(-logit))]));
  }

  async classify(text: string): Promise<Record<string, number>> {
    const logits = Array.from((await this.forward(text)).logits.data as Float32Array); // [1, labels]
    const max = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    const labels = this.labels ?? logits.map((_, i) => `LABEL_${i}`);
    return Object.fromEntries(labels.map((label, i) => [label, exps[i] / total]));
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

/** x / max(||x||, 1e-12), as torch.nn.functional.normalize. */
export function l2Normalize(values: readonly number[]): number[] {
  const norm = Math.sqrt(values.reduce((acc, v) => acc + v * v, 0));
  return values.map((v) => v / Math.max(norm, 1e-12));
}
