/**
 * Shared setup for the model tests.
 *
 * The inference threads run compiled JavaScript (a worker_thread cannot load
 * .ts on Node 20), so `ensureThreadBuild()` compiles the thread's import graph
 * into dist/ when dist/ is missing or older than libs/models/src. It invokes
 * tsc on inference-thread.ts alone, which is fast and unaffected by type
 * errors elsewhere in the tree.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DIST } from '../support/dist.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MODEL_DIR = join(ROOT, '.cache', 'models');
export const FAMILIES = ['bert', 'distilbert', 'roberta'] as const;
export type Family = (typeof FAMILIES)[number];

const SRC = join(ROOT, 'libs/models/src');
const THREAD_JS = join(DIST, 'libs/models/src/inference-thread.js');
const LOCK = join(ROOT, '.cache', 'models-build.lock');

function newestSource(): number {
  return Math.max(
    // Recursive: the thread imports the task modules under tasks/ too.
    ...readdirSync(SRC, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => statSync(join(SRC, f)).mtimeMs),
  );
}

export function ensureThreadBuild(): void {
  if (existsSync(THREAD_JS) && statSync(THREAD_JS).mtimeMs >= newestSource()) return;
  mkdirSync(join(ROOT, '.cache'), { recursive: true });
  // Test files run in parallel processes; a mkdir lock keeps two tsc runs from interleaving writes.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() > deadline) rmSync(LOCK, { recursive: true, force: true });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (existsSync(THREAD_JS) && statSync(THREAD_JS).mtimeMs >= newestSource()) return;
    try {
      execFileSync(
        process.execPath,
        [
          join(ROOT, 'node_modules/typescript/bin/tsc'),
          join(SRC, 'inference-thread.ts'),
          '--ignoreConfig',
          '--outDir',
          DIST,
          '--rootDir',
          ROOT,
          '--target',
          'ES2022',
          '--module',
          'NodeNext',
          '--moduleResolution',
          'NodeNext',
          '--strict',
          '--skipLibCheck',
          '--esModuleInterop',
          '--sourceMap',
          '--types',
          'node',
          '--lib',
          'ES2023',
        ],
        { cwd: ROOT, stdio: 'pipe' },
      );
    } catch (error) {
      // tsc still emits on type errors; only a missing or stale output is fatal here.
      if (!existsSync(THREAD_JS) || statSync(THREAD_JS).mtimeMs < newestSource()) {
        throw new Error(`building the inference thread failed:\n${String((error as { stdout?: Buffer }).stdout ?? error)}`);
      }
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

export type Head = 'embed' | 'sentiment' | 'multilabel' | 'score';

export function modelId(family: Family, head: Head | 'nli'): string {
  return `shardwise-random/${family}-tiny-${head}`;
}

/** Generates (or reuses) the tiny random models under .cache/models; `heads` adds the multilabel and score classifiers. */
export async function ensureTinyModels(heads: readonly (Head | 'nli')[] = ['embed', 'sentiment']): Promise<string> {
  // generateModels skips complete, current folders, so this is cheap after the first run.
  const { generateModels } = await import('../../tools/model-generator/index.js');
  await generateModels({ out: MODEL_DIR, size: 'tiny', family: [...FAMILIES], head: heads, dtype: ['fp32', 'q8'] });
  return MODEL_DIR;
}

/** Generates (or reuses) the tiny pair cross-encoders (`score`: one logit, for rerank; `nli`: three labels) under .cache/models. */
export async function ensurePairModels(): Promise<string> {
  return ensureTinyModels(['score', 'nli']);
}

/** ~count text pairs from mixedTexts: short and long on either side (so `longest_first` cuts one side or both), empty ones included. */
export function mixedPairs(count = 400, seed = 11): Array<[string, string]> {
  const firsts = mixedTexts(count, seed);
  const seconds = mixedTexts(count, seed + 1);
  return firsts.map((text, i) => [text, seconds[i] as string]);
}

/** Deterministic PRNG so the mixed text list is the same every run. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'shard', 'queue', 'worker', 'token', 'embedding', 'café', 'naïve'];
const EXTRAS = ['😀', '🚀🔥', '東京', '你好世界', '한국어', 'Ωμέγα', '👩‍👩‍👧‍👦', 'ÅÄÖ', 'ﬁ', '\u200b'];

/** ~300 texts: empty strings, emoji, CJK, short and over-limit texts, shuffled. */
export function mixedTexts(count = 300, seed = 7): string[] {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 10;
    if (kind === 0) texts.push('');
    else if (kind === 1) texts.push(Array.from({ length: 150 + Math.floor(random() * 250) }, () => pick(WORDS)).join(' '));
    else if (kind === 2) texts.push(Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(EXTRAS)).join(' '));
    else texts.push(Array.from({ length: 1 + Math.floor(random() * 60) }, () => (random() < 0.15 ? pick(EXTRAS) : pick(WORDS))).join(' '));
  }
  for (let i = texts.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [texts[i], texts[j]] = [texts[j] as string, texts[i] as string];
  }
  return texts;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}
