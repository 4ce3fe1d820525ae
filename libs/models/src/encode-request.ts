/**
 * One EncodeRequest, run on the main thread: tokenize in parallel chunks, plan
 * length-sorted batches, spread them over the threads and put every result
 * back at its input index.
 */
import { planBatchesMinPadding, paddedTokens, type BatchLimits } from './batch-plan.js';
import type { ResolvedEncodeOptions } from './encode-options.js';
import type { ModelInfo } from './model-info.js';
import { taskModule } from './tasks/index.js';
import type { ModelRef, RunResult } from './thread-protocol.js';
import type { Cancellation, ThreadScheduler } from './thread-scheduler.js';
import type { TokenAlignment } from './token-alignment.js';
import type { EncodeResponse, ItemResult } from './types.js';

// Small enough that tokenizing spreads over threads, large enough that messaging stays negligible.
const TOKENIZE_CHUNK = 256;

/** What running one request needs: the pool's scheduler and limits, the loaded model, the texts. */
export interface EncodeRequestRun {
  scheduler: ThreadScheduler;
  threads: number;
  limits: BatchLimits;
  model: ModelRef;
  info: ModelInfo;
  texts: readonly string[];
  /** Second texts of pairs, index for index with `texts` (null: a single text). */
  textPairs?: readonly (string | null)[];
  options: ResolvedEncodeOptions;
  cancellation: Cancellation;
}

export async function runEncodeRequest(run: EncodeRequestRun): Promise<EncodeResponse> {
  const { scheduler, model, info, texts, options, cancellation } = run;
  const n = texts.length;
  const results: ItemResult[] = new Array(n);
  const stats = { tokens: 0, paddedTokens: 0, batches: 0, tokenizeSeconds: 0, inferenceSeconds: 0 };
  if (n === 0) return { results, stats };

  // 1. Tokenize, split across threads; a prompt goes before each text first, so truncation cuts the text's end.
  const prefix = taskModule(model.task).textPrefix?.(info, options) ?? '';
  const inputs = prefix === '' ? texts : texts.map((text) => prefix + text);
  const chunk = Math.max(1, Math.min(TOKENIZE_CHUNK, Math.ceil(n / run.threads)));
  const starts = Array.from({ length: Math.ceil(n / chunk) }, (_, c) => c * chunk);
  const tokenized = await Promise.all(
    starts.map((start) => {
      const textPairs = run.textPairs?.slice(start, start + chunk);
      return scheduler.submit(
        { type: 'tokenize', model, texts: inputs.slice(start, start + chunk), truncate: options.truncate, ...(textPairs ? { textPairs } : {}) },
        [],
        cancellation,
      );
    }),
  );
  const ids: Int32Array[] = new Array(n);
  const typeIds: Int32Array[] | undefined = run.textPairs ? new Array(n) : undefined;
  const lengths = new Int32Array(n);
  const original = new Int32Array(n);
  const alignments: Array<TokenAlignment | undefined> = new Array(n);
  const runnable: number[] = [];
  tokenized.forEach((part, c) => {
    stats.tokenizeSeconds += part.seconds;
    let offset = 0;
    for (let j = 0; j < part.lengths.length; j++) {
      const i = (starts[c] as number) + j;
      const kept = part.lengths[j] as number;
      const full = part.original[j] as number;
      ids[i] = part.ids.subarray(offset, offset + kept);
      if (typeIds && part.typeIds) typeIds[i] = part.typeIds.subarray(offset, offset + kept);
      lengths[i] = kept;
      original[i] = full;
      alignments[i] = part.alignments?.[j];
      offset += kept;
      if (full > info.maxTokens && !options.truncate) {
        const message = `text has ${full} tokens; model ${model.modelId} accepts at most ${info.maxTokens}`;
        results[i] = { ok: false, tokens: full, truncated: false, error: { code: 'TEXT_TOO_LONG', message } };
      } else {
        runnable.push(i);
      }
    }
  });

  // 2. Plan and run batches; longest first, so the slowest work starts earliest. Cuts minimise
  // padding (a shard's sparse long tail padded greedily cost ~10% more compute; see batch-plan.ts).
  const plan = planBatchesMinPadding(lengths, run.limits, runnable);
  stats.batches = plan.length;
  stats.paddedTokens = paddedTokens(plan);
  // Per planned batch, for the worker's batch histograms (EncodeStats.perBatch).
  const perBatch = plan.map((b) => ({
    texts: b.indices.length,
    tokens: b.indices.reduce((sum, i) => sum + (lengths[i] as number), 0),
    paddedTokens: b.indices.length * b.seqLength,
  }));
  await Promise.all(
    plan.map(async (batch) => {
      const batchLengths = Int32Array.from(batch.indices, (i) => lengths[i] as number);
      const batchIds = new Int32Array(batchLengths.reduce((a, b) => a + b, 0));
      const batchTypes = typeIds ? new Int32Array(batchIds.length) : undefined;
      let offset = 0;
      for (const i of batch.indices) {
        batchIds.set(ids[i] as Int32Array, offset);
        if (batchTypes && typeIds) batchTypes.set(typeIds[i] as Int32Array, offset);
        offset += (ids[i] as Int32Array).length;
      }
      const request = { type: 'run', model, ids: batchIds, lengths: batchLengths, options, ...(batchTypes ? { typeIds: batchTypes } : {}) } as const;
      const buffers = [batchIds.buffer, batchLengths.buffer, ...(batchTypes ? [batchTypes.buffer] : [])] as ArrayBuffer[];
      const answer = await scheduler.submit(request, buffers, cancellation);
      stats.inferenceSeconds += answer.seconds;
      stats.tokens += offset;
      fillBatch(results, batch.indices, answer, run, { lengths, original, alignments });
    }),
  );
  return { results, stats: { ...stats, perBatch } };
}

interface Tokenized {
  lengths: Int32Array;
  original: Int32Array;
  alignments: ReadonlyArray<TokenAlignment | undefined>;
}

function fillBatch(results: ItemResult[], indices: readonly number[], answer: RunResult, run: EncodeRequestRun, { lengths, original, alignments }: Tokenized): void {
  const failed = new Map(answer.failed.map((f) => [f.index, f.message]));
  const { width, values } = answer;
  const task = taskModule(run.model.task);
  indices.forEach((i, j) => {
    const tokens = lengths[i] as number;
    const message = failed.get(j);
    if (message !== undefined) {
      results[i] = { ok: false, tokens, truncated: false, error: { code: 'INFERENCE_FAILED', message } };
      return;
    }
    const truncated = (original[i] as number) > tokens;
    results[i] = { ok: true, tokens, truncated, ...task.toResult(values.subarray(j * width, (j + 1) * width), run.info, run.options, alignments[i]) };
  });
}
