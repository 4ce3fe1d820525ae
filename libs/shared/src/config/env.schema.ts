import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DEFAULT_HUB_ENDPOINT, TASK_MODULES } from '#models';
import { parseSentinels, type SentinelAddress } from '../redis/redis-target.js';
import { caFileProblem } from '../redis/redis-tls.js';
import { storeUrlProblem } from '../storage/store-url.js';

const int = (min: number, def: number) => z.coerce.number().int().min(min).default(def);
const optionalText = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

/** Overrides a task's default model (e.g. a generated model in MODEL_DIR): one variable per task, each module's `defaultModelVariable`. */
export function defaultModelVariables<const Modules extends readonly { readonly defaultModelVariable: string }[]>(
  modules: Modules,
): { [Variable in Modules[number]['defaultModelVariable']]: typeof optionalText } {
  return Object.fromEntries(modules.map((task) => [task.defaultModelVariable, optionalText])) as { [Variable in Modules[number]['defaultModelVariable']]: typeof optionalText };
}

/** A variable that no longer exists: refused with `why`, so a stale deploy does not run on a setting that does nothing. */
const removed = (why: string) =>
  z
    .unknown()
    .optional()
    .refine((value) => value === undefined, { message: `no longer supported: ${why}` });

/** Variables shared by the API and the worker. Names are a public contract: deploy manifests rely on them. */
const commonEnvObject = z.object({
  /** @defaultValue redis://127.0.0.1:6379 */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .default('redis://127.0.0.1:6379'),
  /** Password of the Redis nodes; overrides one in REDIS_URL (so it can come from a secret of its own). */
  REDIS_PASSWORD: optionalText,
  /**
   * Sentinels, as a comma list of `host:port`: every connection then goes to the primary they name for
   * REDIS_SENTINEL_MASTER and follows it through failovers; REDIS_URL gives only the password, user,
   * database and TLS (rediss://) of the Redis nodes. @defaultValue unset: the one Redis of REDIS_URL
   */
  REDIS_SENTINELS: optionalText.transform((value, ctx): SentinelAddress[] | undefined => {
    if (value === undefined) return undefined;
    const parsed = parseSentinels(value);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  }),
  /** The master name the Sentinels monitor (`sentinel monitor <name> ...`); required with REDIS_SENTINELS. */
  REDIS_SENTINEL_MASTER: optionalText.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ., _ and - only')
      .optional(),
  ),
  /** Password of the Sentinels themselves (`requirepass` in sentinel.conf), when they have one. */
  REDIS_SENTINEL_PASSWORD: optionalText,
  /** The Sentinels speak TLS. @defaultValue false */
  REDIS_SENTINEL_TLS: z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true' || value === '1'),
  /**
   * PEM file of the certificate authorities that signed the TLS certificates of the Redis nodes and
   * Sentinels (a private CA): Redis connections then trust these instead of Node's default CAs. Read
   * at boot. Only with TLS: REDIS_URL rediss://, or REDIS_SENTINEL_TLS.
   * @defaultValue unset: Node's default CAs (plus NODE_EXTRA_CA_CERTS)
   */
  REDIS_TLS_CA_FILE: optionalText.superRefine((path, ctx) => {
    const problem = path === undefined ? undefined : caFileProblem(path);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /**
   * Replicas that must confirm (Redis WAIT) a job's submission before the API answers 202, and a
   * shard's count before a worker reports it done; when fewer confirm within
   * REDIS_REPLICA_ACK_TIMEOUT_MS, the submission answers 503 REDIS_NOT_REPLICATED and the shard goes
   * back to the queue for a second, without spending an attempt. 0 = no wait (a write acknowledged a moment before a failover may be lost). @defaultValue 0
   */
  REDIS_MIN_REPLICAS_ACK: int(0, 0),
  /** How long a write waits for REDIS_MIN_REPLICAS_ACK replicas. @defaultValue 1000 */
  REDIS_REPLICA_ACK_TIMEOUT_MS: int(1, 1000),
  /** Prefix of every Redis key this system writes. @defaultValue sw */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('sw'),
  /** Local model folders; when set, models load from here only and never from the Hub. */
  MODEL_DIR: optionalText,
  /**
   * Where models come from when MODEL_DIR is unset: the Hugging Face Hub, or a mirror or proxy that serves
   * `<endpoint>/<org>/<name>/resolve/<revision>/<file>` as it does (huggingface_hub's variable). Workers
   * download through it; the API reads a model's config files from it to check jobs at submit.
   * @defaultValue https://huggingface.co
   */
  HF_ENDPOINT: optionalText
    .pipe(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional())
    .transform((url) => (url ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '')),
  /**
   * The object store every job's input, results and files live in, when STORE_URL is unset: a folder on
   * a volume that the API and all workers share (one ReadWriteMany volume in Kubernetes). @defaultValue ./data/results
   */
  RESULTS_DIR: z.string().min(1).default('./data/results'),
  /**
   * The object store, as a URL: `file:///absolute/folder` (a folder, on a ReadWriteMany volume when
   * there are several pods) or `s3://bucket/prefix` (an S3-compatible bucket; every key lands under
   * the optional prefix). Credentials for S3 come from the AWS SDK's default chain only: AWS_* keys,
   * a profile, IRSA (AWS_WEB_IDENTITY_TOKEN_FILE) or container credentials. The store is checked at
   * boot (reachable, readable, writable). @defaultValue unset: the folder RESULTS_DIR
   */
  STORE_URL: optionalText.superRefine((value, ctx) => {
    const problem = value === undefined ? undefined : storeUrlProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /**
   * Endpoint of an S3-compatible service (MinIO, Ceph RGW, R2, ...), e.g. `http://minio.storage:9000`.
   * @defaultValue unset: AWS S3 of S3_REGION
   */
  S3_ENDPOINT: optionalText.pipe(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional()),
  /** Region to sign requests for. @defaultValue the SDK's: AWS_REGION, then the profile's region */
  S3_REGION: optionalText.pipe(
    z
      .string()
      .regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and - only (e.g. eu-west-1)')
      .optional(),
  ),
  /**
   * Address buckets as `<endpoint>/<bucket>` instead of `<bucket>.<endpoint>`: what MinIO, Ceph and
   * most self-hosted services need. @defaultValue false
   */
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true' || value === '1'),
  /** DEFAULT_MODEL_EMBED, DEFAULT_MODEL_SENTIMENT, ...: the registry's default model per task, overridden. */
  ...defaultModelVariables(TASK_MODULES),
  /** Attempts per shard before it ends failed (transient errors are retried with backoff). @defaultValue 3 */
  SHARD_ATTEMPTS: int(1, 3),
  LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  /** Delivery attempts per job webhook (callback_url) before it is given up. @defaultValue 5 */
  WEBHOOK_ATTEMPTS: int(1, 5),
  /** First retry delay of a webhook; each further retry waits twice as long. @defaultValue 5000 */
  WEBHOOK_BACKOFF_MS: int(10, 5000),
  /** TEST ONLY (fault injection): the first N writes of every store object fail with ENOSPC. Never set in production. */
  SHARDWISE_FAULT_STORE_WRITE: optionalText,
  /** TEST ONLY (fault injection): the first N reads of every store object fail with EIO, or every read with `always`. Never set in production. */
  SHARDWISE_FAULT_STORE_READ: optionalText,
  /** TEST ONLY (fault injection): every store read waits this many ms first. Never set in production. */
  SHARDWISE_FAULT_STORE_READ_DELAY_MS: optionalText,
  /** TEST ONLY (fault injection): only store keys matching this regular expression get the faults above. */
  SHARDWISE_FAULT_STORE_KEYS: optionalText,
});

/** The Sentinel variables go together: a half-configured Sentinel setup stops the boot, naming the variable. */
export const commonEnvSchema = commonEnvObject.superRefine((env, ctx) => {
  if (env.REDIS_TLS_CA_FILE !== undefined && !env.REDIS_URL.startsWith('rediss://') && !env.REDIS_SENTINEL_TLS) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_TLS_CA_FILE'], message: 'only used with TLS: REDIS_URL rediss://... or REDIS_SENTINEL_TLS=true' });
  }
  const sentinelOnly = ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD'] as const;
  if (env.REDIS_SENTINELS !== undefined) {
    if (env.REDIS_SENTINEL_MASTER === undefined)
      ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINEL_MASTER'], message: 'required with REDIS_SENTINELS: the master name the Sentinels monitor' });
    return;
  }
  for (const name of sentinelOnly) {
    if (env[name] !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: 'only used with REDIS_SENTINELS, which is unset' });
  }
  if (env.REDIS_SENTINEL_TLS) ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINEL_TLS'], message: 'only used with REDIS_SENTINELS, which is unset' });
});

export const apiEnvSchema = commonEnvSchema.extend({
  /** @defaultValue 8080 */
  PORT: int(0, 8080).pipe(z.number().max(65535)),
  /** Upper bound on texts per shard. @defaultValue 512 */
  SHARD_MAX_TEXTS: int(1, 512),
  /** Upper bound on UTF-8 bytes of text per shard (what one worker reads from the store for it). @defaultValue 1048576 */
  SHARD_MAX_BYTES: int(1024, 1024 * 1024),
  /** Longest accepted NDJSON line in bytes; must not exceed SHARD_MAX_BYTES. @defaultValue 262144 */
  MAX_LINE_BYTES: int(64, 256 * 1024),
  /** Most inputs one job may hold. @defaultValue 10000000 */
  MAX_INPUTS_PER_JOB: int(1, 10_000_000),
  /**
   * Dedup: distinct texts per job the API remembers (16 bytes each at most, 32 MiB at the default) so that a
   * repeat in a later shard reuses the first one's result; texts past the bound are not remembered, so
   * only their repeats within a shard are found. 0 turns dedup off for every job. @defaultValue 1000000
   */
  DEDUP_MAX_TEXTS: int(0, 1_000_000).pipe(z.number().max(10_000_000)),
  /** Limit for application/json bodies (small jobs); large corpora go as NDJSON streams. @defaultValue 16777216 */
  MAX_JSON_BODY_BYTES: int(1024, 16 * 1024 * 1024),
  /** JSON file of API keys: `[{"tenant", "key_sha256", "rate_per_second"?, "max_concurrent_jobs"?}]`. Unset together with API_KEYS = auth off. */
  API_KEYS_FILE: optionalText,
  /** API keys as a comma list of `tenant:sha256hex` (the SHA-256 of each key, never the key). */
  API_KEYS: optionalText,
  /** How often API_KEYS_FILE is checked for changes, which are loaded without a restart (also on SIGHUP); 0 = only on SIGHUP. @defaultValue 10000 */
  API_KEYS_RELOAD_MS: int(0, 10_000),
  /** Requests per second per tenant (token bucket in Redis, shared by all API replicas); 0 = unlimited. A key file entry's rate_per_second overrides it. @defaultValue 0 */
  RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).default(0),
  /** Bucket size (burst) of the per-tenant rate limit; 0 = twice the rate, at least 1. @defaultValue 0 */
  RATE_LIMIT_BURST: z.coerce.number().min(0).default(0),
  /** Unfinished (queued or running) jobs per tenant; 0 = unlimited. A key file entry's max_concurrent_jobs overrides it. @defaultValue 0 */
  MAX_CONCURRENT_JOBS: int(0, 0),
  /**
   * Budget of texts not yet done in unfinished jobs, all tenants: a job that would take the backlog past
   * it gets 429 BACKLOG_FULL with a Retry-After estimated from the workers' throughput, unless the
   * backlog is empty (a job larger than the budget runs on an idle system). 0 = no limit. @defaultValue 50000000
   */
  ADMISSION_MAX_QUEUED_TEXTS: int(0, 50_000_000),
  /** Removed: Redis holds no texts any more. Set, it stops the boot with a pointer to its replacement. */
  ADMISSION_MAX_BACKLOG_BYTES: removed(
    'Redis no longer holds texts (shards are references into the object store); budget the backlog by texts with ADMISSION_MAX_QUEUED_TEXTS and TENANT_MAX_QUEUED_TEXTS',
  ),
  /** The same budget per tenant; 0 = no limit. A key file entry's max_queued_texts overrides it. @defaultValue 0 */
  TENANT_MAX_QUEUED_TEXTS: int(0, 0),
  /**
   * How often the API removes what a crash left in the object store: partial writes and the objects of
   * jobs that were never accepted, once older than ORPHAN_GRACE_MS. One replica at a time. 0 = never. @defaultValue 600000
   */
  STORE_JANITOR_MS: int(0, 600_000),
  /** Age after which a partial write, or a job's objects without a job record, count as left behind. @defaultValue 3600000 */
  ORPHAN_GRACE_MS: int(1000, 3_600_000),
  /**
   * Retention: seconds a job (record, shard records, input and results), a file and a batch are kept;
   * for jobs and batches counted from when they end, for files from their creation. A job's
   * `expires_after`, a file's `expires_after` and a batch's `output_expires_after` override it.
   * The store janitor deletes what expired. @defaultValue 604800 (7 days)
   */
  RETENTION_SECONDS: int(1, 7 * 24 * 3600),
  /**
   * Tokens per second one worker is assumed to finish while no worker has reported a measured rate
   * (scale from zero); shardwise_backlog_worker_seconds divides the backlog by it. @defaultValue 5000
   */
  AUTOSCALE_DEFAULT_TOKENS_PER_SECOND: int(1, 5000),
  /** How long POST /v1/embeddings (and /v1/classifications) waits for its shards before answering 504. @defaultValue 60000 */
  SYNC_TIMEOUT_MS: int(100, 60_000),
  /** Largest file accepted by POST /v1/files (OpenAI-compatible uploads, streamed into the object store under files/). @defaultValue 536870912 */
  MAX_UPLOAD_BYTES: int(1024, 512 * 1024 * 1024),
  /** Interval of the comment lines that keep idle `GET /v1/jobs/:id/events` streams open through proxies. @defaultValue 15000 */
  SSE_HEARTBEAT_MS: int(50, 15_000),
  /**
   * Tenants whose keys read every tenant's usage on `GET /v1/usage` (and may filter by `tenant`), as a
   * comma list of tenant names; the others see their own only. @defaultValue unset: none
   */
  ADMIN_TENANTS: optionalText.transform((value, ctx): string[] => {
    const names = (value ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    const bad = names.find((name) => !/^[A-Za-z0-9_.-]{1,64}$/.test(name));
    if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `"${bad}" is not a tenant name (letters, digits, ".", "_" and "-" only, at most 64)` });
    return names;
  }),
});

const defaultThreads = Math.max(1, Math.min(availableParallelism(), 8));

/**
 * Per-device defaults of MAX_BATCH_TOKENS, MAX_BATCH_SIZE and INFERENCE_THREADS. Batches on CPU:
 * on 2 cores (`npm run bench`, raw onnxruntime-node, MiniLM shape) budgets of 256 to 768 padded
 * tokens ran within 1% of each other on the whole corpus (q8), while 2,048 was 6-15% slower than the
 * better of 512 and 1,024 (q8 and fp32): small batches stay in cache. GPUs want large batches to
 * fill the device: 256 x 128 tokens, the shape of the figures in the device README; not tuned here
 * (no GPU was measured). Threads: one per core on CPU; two sessions per GPU, so one runs kernels
 * while the other tokenizes and reads its output back.
 */
export const BATCH_DEFAULTS = {
  cpu: { tokens: 512, texts: 64, threads: defaultThreads },
  webgpu: { tokens: 32_768, texts: 256, threads: 2 },
  cuda: { tokens: 32_768, texts: 256, threads: 2 },
} as const;

/** The worker's variables as a plain object (its `.shape` lists every name); workerEnvSchema adds the per-device defaults. */
export const workerEnvObjectSchema = commonEnvSchema.extend({
  /** Port of the worker's health and metrics endpoints. @defaultValue 8081 */
  WORKER_PORT: int(0, 8081).pipe(z.number().max(65535)),
  /**
   * Inference threads per worker process, each with its own ONNX session.
   * @defaultValue by DEVICE: cpu = available cores (max 8); webgpu and cuda = 2 (one session runs on the GPU while the other tokenizes and reads back)
   */
  INFERENCE_THREADS: z.coerce.number().int().min(1).optional(),
  /** onnxruntime intra-op threads per inference thread. @defaultValue 1 */
  INTRA_OP_THREADS: int(1, 1),
  /** Shards a worker holds at once; 2 lets the next shard load while one runs. @defaultValue 2 */
  WORKER_CONCURRENCY: int(1, 2),
  DEVICE: z.enum(['cpu', 'webgpu', 'cuda']).default('cpu'),
  DTYPE: z.enum(['fp32', 'fp16', 'q8']).default('fp32'),
  /**
   * Activation quantization of q8 models. `per-token`: one scale per token, so a text gets the same vector
   * whatever its batch-mates (the ONNX file is rewritten at load); `dynamic`: the file as exported, one scale
   * per batch, a little faster, but a text's vector moves by ~1e-3 with its batch-mates. @defaultValue per-token
   */
  Q8_MODE: z.enum(['per-token', 'dynamic']).default('per-token'),
  /** Padded tokens (texts x longest text) per inference batch. @defaultValue by DEVICE: see BATCH_DEFAULTS */
  MAX_BATCH_TOKENS: z.coerce.number().int().min(16).optional(),
  /** Texts per inference batch. @defaultValue by DEVICE: see BATCH_DEFAULTS */
  MAX_BATCH_SIZE: z.coerce.number().int().min(1).optional(),
  /** Comma-separated model ids to load and warm up before reporting ready. */
  PRELOAD_MODELS: optionalText,
  /**
   * transformers.js's file cache: models downloaded from HF_ENDPOINT are kept in `<dir>/<org>/<name>/`,
   * so a worker restarted with them cached needs no network. @defaultValue transformers.js's own, `.cache/` in its package folder
   */
  HF_CACHE_DIR: optionalText,
  /** BullMQ lock per shard; renewed while the shard runs, expires when a worker dies. @defaultValue 30000 */
  SHARD_LOCK_MS: int(1000, 30_000),
  /**
   * After SIGTERM: how long the shards in flight get to finish; those still running then go back to
   * the queue (no attempt spent) for another worker. A worker with nothing in flight exits within 5 s,
   * whatever Redis is doing. Keep it under the orchestrator's grace period (Kubernetes:
   * terminationGracePeriodSeconds). @defaultValue 25000
   */
  SHUTDOWN_GRACE_MS: int(0, 25_000),
  /** TEST ONLY (fault injection): the first N result writes of every shard fail with ENOSPC, as on a full disk (SHARDWISE_FAULT_STORE_WRITE for result keys only). Never set in production. @defaultValue 0 */
  SHARDWISE_FAULT_RESULT_WRITE: int(0, 0),
  /**
   * TEST ONLY: `noop-test-only` replaces inference by fixed vectors, to measure the queue, store, HTTP and result path alone
   * (`npm run bench:scale`). Refused unless SHARDWISE_ALLOW_NOOP_ENGINE=1. Never set in production. @defaultValue onnx
   */
  INFERENCE_ENGINE: z.enum(['onnx', 'noop-test-only']).default('onnx'),
  SHARDWISE_ALLOW_NOOP_ENGINE: z.enum(['0', '1']).default('0'),
  /** HMAC-SHA256 key of the X-Shardwise-Signature header on job webhooks; unset = deliveries go unsigned. */
  WEBHOOK_SECRET: z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v)),
  /** Time a webhook receiver has to answer one delivery. @defaultValue 10000 */
  WEBHOOK_TIMEOUT_MS: int(100, 10_000),
  /** Webhook deliveries in flight per worker process. @defaultValue 8 */
  WEBHOOK_CONCURRENCY: int(1, 8),
  /**
   * How often each worker queues webhooks that a stopped process left unqueued (the webhook outbox);
   * an entry must be this old before a sweep takes it. @defaultValue 30000
   */
  WEBHOOK_SWEEP_MS: int(100, 30_000),
  /**
   * Days a day of the usage ledger (`GET /v1/usage`) is kept in Redis after its last update; 0 = for
   * ever. Each day is one small hash (tenants x models x 2 fields). @defaultValue 400
   */
  USAGE_RETENTION_DAYS: int(0, 400),
  /**
   * Tenants that get their own `tenant` label on shardwise_usage_*_total in one worker process; later
   * ones are counted as `other`, so a deployment with many tenants cannot grow the series without
   * bound (the ledger behind GET /v1/usage keeps every tenant). @defaultValue 50
   */
  USAGE_METRICS_MAX_TENANTS: int(0, 50),
});

export const workerEnvSchema = workerEnvObjectSchema
  .refine((env) => env.INFERENCE_ENGINE !== 'noop-test-only' || env.SHARDWISE_ALLOW_NOOP_ENGINE === '1', {
    path: ['INFERENCE_ENGINE'],
    message: 'noop-test-only returns fixed vectors instead of running a model (benchmarks of the queue only); set SHARDWISE_ALLOW_NOOP_ENGINE=1 to confirm',
  })
  .transform((env) => ({
    ...env,
    INFERENCE_THREADS: env.INFERENCE_THREADS ?? BATCH_DEFAULTS[env.DEVICE].threads,
    MAX_BATCH_TOKENS: env.MAX_BATCH_TOKENS ?? BATCH_DEFAULTS[env.DEVICE].tokens,
    MAX_BATCH_SIZE: env.MAX_BATCH_SIZE ?? BATCH_DEFAULTS[env.DEVICE].texts,
  }));

export type CommonEnv = z.infer<typeof commonEnvSchema>;
export type ApiEnv = z.infer<typeof apiEnvSchema>;
export type WorkerEnv = z.output<typeof workerEnvSchema>;
