import type { EncodeRequest, EncodeResponse, ItemResult, ModelInfo, TaskName } from '#models';
import type { InferencePort } from '../../apps/worker/src/inference/inference.port.js';

export const FAKE_DIMS = 4;

/**
 * In-process stand-in for InferencePool. Texts steer it: "fail:…" fails the item, "long:…" is
 * truncated; embeddings are derived from the text so tests can check them.
 */
export class FakePool implements InferencePort {
  started = false;
  closed = false;
  loads: string[] = [];
  encodes = 0;
  /** Every text sent to encode(), in order. */
  encodedTexts: string[] = [];
  /** Thrown by every encode() while set (a shard-level failure). */
  failWith: Error | undefined;
  /** While set, encode() waits for it (or for its signal) before answering. */
  gate: Promise<void> | undefined;
  /** Called once an encode() is waiting on the gate. */
  onBlocked: (() => void) | undefined;

  async start(): Promise<void> {
    this.started = true;
  }

  async load(modelId: string, task: TaskName): Promise<ModelInfo> {
    if (!this.started) throw new Error('not started');
    this.loads.push(`${task}:${modelId}`);
    return {
      id: modelId,
      family: 'bert',
      tasks: [task],
      dimensions: FAKE_DIMS,
      labels: task === 'sentiment' ? ['NEGATIVE', 'POSITIVE'] : null,
      maxTokens: 16,
      dtypes: ['fp32'],
    };
  }

  async encode(request: EncodeRequest): Promise<EncodeResponse> {
    this.encodes++;
    if (this.failWith) throw this.failWith;
    this.encodedTexts.push(...request.texts);
    if (this.gate) {
      this.onBlocked?.();
      await Promise.race([
        this.gate,
        new Promise<never>((_, reject) => {
          if (request.signal?.aborted) reject(new Error('aborted'));
          request.signal?.addEventListener('abort', () => reject(Object.assign(new Error('encode request was aborted'), { name: 'AbortError' })));
        }),
      ]);
    }
    const results = request.texts.map((text): ItemResult => fakeResult(request.task, text));
    const tokens = results.reduce((sum, r) => sum + r.tokens, 0);
    return { results, stats: { tokens, paddedTokens: tokens, batches: 1, tokenizeSeconds: 0, inferenceSeconds: 0 } };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export function fakeEmbedding(text: string): Float32Array {
  return Float32Array.from([text.length, text.charCodeAt(0) || 0, 0.1, -1 / 3]);
}

function fakeResult(task: TaskName, text: string): ItemResult {
  const tokens = text.split(/\s+/).length + 2;
  if (text.startsWith('fail:')) return { ok: false, tokens, truncated: false, error: { code: 'TEXT_TOO_LONG', message: 'too long' } };
  const truncated = text.startsWith('long:');
  if (task === 'embed') return { ok: true, tokens, truncated, embedding: fakeEmbedding(text) };
  const positive = text.includes('good') ? 0.9 : 0.2;
  return {
    ok: true,
    tokens,
    truncated,
    label: positive > 0.5 ? 'POSITIVE' : 'NEGATIVE',
    score: Math.max(positive, 1 - positive),
    scores: { POSITIVE: positive, NEGATIVE: 1 - positive },
  };
}
