import { availableParallelism } from 'node:os';
import { z } from 'zod';

const int = (min: number, def: number) => z.coerce.number().int().min(min).default(def);
const optionalText = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

/** Variables shared by the API and the worker. Names are a public contract: deploy manifests rely on them. */
export const commonEnvSchema = z.object({
  /** @defaultValue redis://127.0.0.1:6379 */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key this system writes. @defaultValue sw */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('sw'),
  /** Local model folders; when set, models load from here only and never from the Hub. */
  MODEL_DIR: optionalText,
  /** Shared result store (one ReadWriteMany volume in Kubernetes). @defaultValue ./data/results */
  RESULTS_DIR: z.string().min(1).default('./data/results'),
  /** Overrides the registry's default model per task (e.g. a generated model in MODEL_DIR). */
  DEFAULT_MODEL_EMBED: optionalText,
  DEFAULT_MODEL_SENTIMENT: optionalText,
  /** Attempts per shard before it ends failed (transient errors are retried with backoff). @defaultValue 3 */
  SHARD_ATTEMPTS: int(1, 3),
  LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('log'),
});

export const apiEnvSchema = commonEnvSchema.extend({
  /** @defaultValue 8080 */
  PORT: int(0, 8080).pipe(z.number().max(65535)),
  /** Upper bound on texts per shard. @defaultValue 512 */
  SHARD_MAX_TEXTS: int(1, 512),
  /** Upper bound on UTF-8 bytes of text per shard (one BullMQ job in Redis). @defaultValue 1048576 */
  SHARD_MAX_BYTES: int(1024, 1024 * 1024),
  /** Longest accepted NDJSON line in bytes; must not exceed SHARD_MAX_BYTES. @defaultValue 262144 */
  MAX_LINE_BYTES: int(64, 256 * 1024),
  /** Most inputs one job may hold. @defaultValue 10000000 */
  MAX_INPUTS_PER_JOB: int(1, 10_000_000),
  /** Limit for application/json bodies (small jobs); large corpora go as NDJSON streams. @defaultValue 16777216 */
  MAX_JSON_BODY_BYTES: int(1024, 16 * 1024 * 1024),
});

const defaultThreads = Math.max(1, Math.min(availableParallelism(), 8));

export const workerEnvSchema = commonEnvSchema.extend({
  /** Port of the worker's health and metrics endpoints. @defaultValue 8081 */
  WORKER_PORT: int(0, 8081).pipe(z.number().max(65535)),
  /** Inference threads per worker process, each with its own ONNX session. @defaultValue available cores (max 8) */
  INFERENCE_THREADS: int(1, defaultThreads),
  /** onnxruntime intra-op threads per inference thread. @defaultValue 1 */
  INTRA_OP_THREADS: int(1, 1),
  /** Shards a worker holds at once; 2 lets the next shard load while one runs. @defaultValue 2 */
  WORKER_CONCURRENCY: int(1, 2),
  DEVICE: z.enum(['cpu', 'webgpu', 'cuda']).default('cpu'),
  DTYPE: z.enum(['fp32', 'fp16', 'q8']).default('fp32'),
  /** Padded tokens per inference batch. @defaultValue 2048 */
  MAX_BATCH_TOKENS: int(16, 2048),
  /** @defaultValue 64 */
  MAX_BATCH_SIZE: int(1, 64),
  /** Comma-separated model ids to load and warm up before reporting ready. */
  PRELOAD_MODELS: optionalText,
  /** BullMQ lock per shard; renewed while the shard runs, expires when a worker dies. @defaultValue 30000 */
  SHARD_LOCK_MS: int(1000, 30_000),
});

export type CommonEnv = z.infer<typeof commonEnvSchema>;
export type ApiEnv = z.infer<typeof apiEnvSchema>;
export type WorkerEnv = z.infer<typeof workerEnvSchema>;
