import { generateModels } from '../../tools/model-generator/index.js';
import type { AppProcess } from '../support/app-process.js';
import type { RedisHandle } from '../support/redis-server.js';
import { MODEL_DIR, sleep, Stack as Processes } from '../support/stack.js';

/**
 * Shared by the CLI, webhook and event tests: a private Redis, the built API and (when asked) a
 * worker, on the tiny generated models. The processes are a support/stack.ts Stack.
 */

export { MODEL_DIR, sleep };
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
  const processes = await Processes.start({
    prefix: options.prefix,
    env: { DEFAULT_MODEL_EMBED: EMBED_MODEL, DEFAULT_MODEL_SENTIMENT: SENTIMENT_MODEL, LOG_LEVEL: 'warn' },
  });
  const workerEnv = options.worker === false ? {} : (options.worker ?? {});
  const stack: Stack = {
    redis: processes.redis,
    api: await processes.startApi(options.api),
    worker: null,
    prefix: processes.prefix,
    resultsDir: processes.resultsDir,
    async startWorker(extra = {}) {
      stack.worker = await processes.startWorker({ PRELOAD_MODELS: EMBED_MODEL, ...workerEnv, ...extra });
      return stack.worker;
    },
    stop: () => processes.stop(),
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
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
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

export async function until<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
