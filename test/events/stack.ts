import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateModels } from '../../libs/models/src/generate/index.js';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import { freePort, startRedis, type RedisHandle } from '../support/redis-server.js';

/** Shared by the CLI, webhook and event tests: a private Redis, the built API and (when asked) a worker. */

export const MODEL_DIR = resolve(import.meta.dirname, '../../.cache/models');
export const EMBED_MODEL = 'shardwise-random/bert-tiny-embed';
export const SENTIMENT_MODEL = 'shardwise-random/bert-tiny-sentiment';
export const EMBED_DIMS = 32;

export interface Stack {
  redis: RedisHandle;
  api: AppProcess;
  worker: AppProcess | null;
  prefix: string;
  resultsDir: string;
  startWorker(extra?: Record<string, string>): Promise<AppProcess>;
  stop(): Promise<void>;
}

export async function startStack(options: { api?: Record<string, string>; worker?: Record<string, string> | false; prefix?: string } = {}): Promise<Stack> {
  await generateModels({ out: MODEL_DIR, size: 'tiny' });
  const redis = await startRedis();
  const resultsDir = await mkdtemp(join(tmpdir(), 'sw-stack-'));
  const prefix = options.prefix ?? 'sw';
  const common = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, MODEL_DIR, RESULTS_DIR: resultsDir, DEFAULT_MODEL_EMBED: EMBED_MODEL, DEFAULT_MODEL_SENTIMENT: SENTIMENT_MODEL, LOG_LEVEL: 'warn' };
  const apiPort = await freePort();
  const api = await startApp(API_ENTRY, { ...common, PORT: String(apiPort), ...options.api }, apiPort);
  const workerEnv = options.worker === false ? {} : (options.worker ?? {});
  const stack: Stack = {
    redis,
    api,
    worker: null,
    prefix,
    resultsDir,
    async startWorker(extra = {}) {
      const port = await freePort();
      stack.worker = await startApp(
        WORKER_ENTRY,
        { ...common, WORKER_PORT: String(port), INFERENCE_THREADS: '1', PRELOAD_MODELS: EMBED_MODEL, ...workerEnv, ...extra },
        port,
      );
      return stack.worker;
    },
    async stop() {
      await stack.worker?.stop();
      await api.stop();
      await redis.stop();
      await rm(resultsDir, { recursive: true, force: true });
    },
  };
  if (options.worker !== false) await stack.startWorker();
  return stack;
}

export interface ParsedNpy {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  headerBytes: number;
  data: Float32Array;
}

/** Reads a .npy v1.0 file the way numpy.lib.format does (magic, version, uint16 LE header length, dict). */
export function parseNpy(file: Buffer): ParsedNpy {
  if (file.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new Error('not an npy file');
  if (file[6] !== 1 || file[7] !== 0) throw new Error(`npy version ${file[6]}.${file[7]}`);
  const length = file.readUInt16LE(8);
  const header = file.subarray(10, 10 + length).toString('latin1');
  if (!header.endsWith('\n')) throw new Error('npy header does not end with a newline');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] ?? '';
  const fortranOrder = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '';
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const body = file.subarray(10 + length);
  const data = new Float32Array(body.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = body.readFloatLE(i * 4);
  return { descr, fortranOrder, shape, headerBytes: 10 + length, data };
}

export function lines<T = Record<string, unknown>>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
