/**
 * Measurement 3, "limit": raw onnxruntime-node, no transformers.js, no queue, no HTTP. The corpus
 * is tokenized and every padded int64 batch is built before the clock starts; the clock covers
 * running the length-sorted batches on N threads (each its own session) and pooling.
 */
import { Worker } from 'node:worker_threads';
import { planBatches } from '../libs/models/src/batch-plan.js';
import type { Tokenized } from './corpus.js';
import type { OrtBatch } from './ort-thread.js';

export interface LimitConfig {
  threads: number;
  intraOpThreads: number;
  maxBatchTokens: number;
  maxBatchSize: number;
}

export interface LimitRun {
  config: LimitConfig;
  texts: number;
  tokens: number;
  paddedTokens: number;
  batches: number;
  seconds: number;
}

function buildBatches(tok: Tokenized, indices: readonly number[], config: LimitConfig): OrtBatch[] {
  const plan = planBatches(tok.lengths, config, indices);
  return plan.map((planned, id) => {
    const batch = planned.indices.length;
    const seq = Math.max(1, planned.seqLength);
    const inputIds = new BigInt64Array(batch * seq);
    const mask = new BigInt64Array(batch * seq);
    const lengths = new Int32Array(batch);
    planned.indices.forEach((item, b) => {
      const length = tok.lengths[item] as number;
      const start = tok.offsets[item] as number;
      lengths[b] = length;
      for (let t = 0; t < length; t++) {
        inputIds[b * seq + t] = BigInt(tok.ids[start + t] as number);
        mask[b * seq + t] = 1n;
      }
    });
    return { id, batch, seq, lengths, inputIds, mask };
  });
}

async function startThreads(modelPath: string, config: LimitConfig): Promise<Worker[]> {
  const url = new URL('./ort-thread.js', import.meta.url);
  const threads = Array.from({ length: config.threads }, () => new Worker(url, { workerData: { modelPath, intraOpThreads: config.intraOpThreads } }));
  await Promise.all(
    threads.map(
      (t) =>
        new Promise<void>((resolve, reject) => {
          t.once('message', () => resolve());
          t.once('error', reject);
        }),
    ),
  );
  return threads;
}

/** Sends every batch (longest first) to whichever thread is free; resolves with the wall time. */
async function drive(threads: Worker[], batches: OrtBatch[]): Promise<number> {
  const queue = [...batches];
  const started = performance.now();
  await Promise.all(
    threads.map(async (thread) => {
      for (;;) {
        const job = queue.shift();
        if (!job) return;
        await new Promise<void>((resolve, reject) => {
          thread.once('message', (reply: { error?: string }) => (reply.error ? reject(new Error(reply.error)) : resolve()));
          thread.postMessage(job, [job.inputIds.buffer as ArrayBuffer, job.mask.buffer as ArrayBuffer]);
        });
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

export async function measureLimit(modelPath: string, tok: Tokenized, indices: readonly number[], config: LimitConfig): Promise<LimitRun> {
  const threads = await startThreads(modelPath, config);
  try {
    // Warm-up, untimed: a session's first runs allocate; each thread runs the longest and shortest batch of a sample.
    const sample = indices.slice(0, Math.min(indices.length, 256));
    await Promise.all(
      threads.map((thread) => {
        const warm = buildBatches(tok, sample, config);
        return drive([thread], [...new Set([warm[0]!, warm[warm.length - 1]!])]);
      }),
    );
    const batches = buildBatches(tok, indices, config);
    const seconds = await drive(threads, batches);
    let tokens = 0;
    for (const i of indices) tokens += tok.lengths[i] as number;
    const paddedTokens = batches.reduce((s, b) => s + b.batch * b.seq, 0);
    return { config, texts: indices.length, tokens, paddedTokens, batches: batches.length, seconds };
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
}
