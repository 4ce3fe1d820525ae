import { readModelInfo, resolveEncodeOptions, taskModule, type EncodeRequest, type EncodeResponse, type ItemResult, type ModelInfo, type TaskName } from '#models';
import { estimateTokens } from '#shared';
import type { InferencePort } from './inference.port.js';

/** Width of the fixed vectors when MODEL_DIR does not describe the model: MiniLM's. */
const DEFAULT_DIMENSIONS = 384;
const DEFAULT_LABELS = ['NEGATIVE', 'POSITIVE'];

/**
 * TEST ONLY (INFERENCE_ENGINE=noop-test-only, refused unless SHARDWISE_ALLOW_NOOP_ENGINE=1): answers
 * every text with the same fixed vector (or scores) without running a model, so `npm run bench:scale`
 * measures what is left: the queue, the object store, HTTP and the result path. Token counts are
 * the API's byte estimate, so throughput metrics and the backlog behave as with a model.
 */
export class NoopInferencePool implements InferencePort {
  private readonly vectors = new Map<number, Float32Array>();
  private readonly infos = new Map<string, Promise<ModelInfo>>();

  constructor(private readonly modelDir: string | undefined) {}

  async start(): Promise<void> {}

  async close(): Promise<void> {}

  load(modelId: string, task: TaskName): Promise<ModelInfo> {
    const key = `${task}\u0000${modelId}`;
    let info = this.infos.get(key);
    if (info === undefined) {
      info = this.describe(modelId, task);
      this.infos.set(key, info);
    }
    return info;
  }

  private async describe(modelId: string, task: TaskName): Promise<ModelInfo> {
    const known = this.modelDir === undefined ? null : await readModelInfo(modelId, { modelDir: this.modelDir }).catch(() => null);
    return (
      known ?? {
        id: modelId,
        family: 'noop',
        tasks: [task],
        dimensions: DEFAULT_DIMENSIONS,
        labels: taskModule(task).output === 'label-scores' ? DEFAULT_LABELS : taskModule(task).input === 'query-documents' ? ['LABEL_0'] : null,
        maxTokens: 512,
        dtypes: [],
      }
    );
  }

  async encode(request: EncodeRequest): Promise<EncodeResponse> {
    const info = await this.load(request.modelId, request.task);
    const results: ItemResult[] = new Array(request.texts.length);
    const task = taskModule(request.task);
    const { output } = task;
    const vectors = output === 'vector';
    // The width the real engine would give for these options (`dimensions`).
    const width = task.rowWidth(info, resolveEncodeOptions(request.options));
    let tokens = 0;
    for (let i = 0; i < request.texts.length; i++) {
      const count = estimateTokens(request.texts[i] as string, info.maxTokens);
      tokens += count;
      // Rerank pairs: every document equally relevant.
      if (task.input === 'query-documents') results[i] = { ok: true, tokens: count, truncated: false, relevance: 0.5 };
      else
        results[i] = vectors
          ? { ok: true, tokens: count, truncated: false, embedding: this.vector(width) }
          : output === 'json'
            ? { ok: true, tokens: count, truncated: false, entities: [] }
            : this.scores(info.labels ?? DEFAULT_LABELS, count);
    }
    return { results, stats: { tokens, paddedTokens: tokens, batches: 1, tokenizeSeconds: 0, inferenceSeconds: 0 } };
  }

  /** One shared unit vector per width: nothing is allocated per text. */
  private vector(dimensions: number): Float32Array {
    let vector = this.vectors.get(dimensions);
    if (vector === undefined) {
      vector = new Float32Array(dimensions).fill(1 / Math.sqrt(dimensions));
      this.vectors.set(dimensions, vector);
    }
    return vector;
  }

  private scores(labels: readonly string[], tokens: number): ItemResult {
    const p = 1 / labels.length;
    const scores: Record<string, number> = {};
    for (const label of labels) scores[label] = p;
    return { ok: true, tokens, truncated: false, label: labels[0] as string, score: p, scores };
  }
}
