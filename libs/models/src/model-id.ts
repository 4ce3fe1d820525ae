import { realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { InvalidModelError, UnknownModelError } from './errors.js';
import { TASKS, type TaskName } from './tasks/index.js';

/** Short names clients may use instead of full Hub ids. */
export const MODEL_REGISTRY: Readonly<Record<string, string>> = Object.freeze({
  'all-MiniLM-L6-v2': 'Xenova/all-MiniLM-L6-v2',
  'all-MiniLM-L12-v2': 'Xenova/all-MiniLM-L12-v2',
  'all-mpnet-base-v2': 'Xenova/all-mpnet-base-v2',
  'bge-small-en-v1.5': 'Xenova/bge-small-en-v1.5',
  'bge-base-en-v1.5': 'Xenova/bge-base-en-v1.5',
  'distilbert-base-uncased-finetuned-sst-2-english': 'Xenova/distilbert-base-uncased-finetuned-sst-2-english',
  'bert-base-multilingual-uncased-sentiment': 'Xenova/bert-base-multilingual-uncased-sentiment',
  'twitter-roberta-base-sentiment-latest': 'Xenova/twitter-roberta-base-sentiment-latest',
});

export interface ResolveModelOptions {
  /** Folder holding local models; when set, only folders under it (with a config.json) are accepted. */
  modelDir?: string;
  /** Per-task defaults used when the request names no model. @defaultValue `TASKS[task].defaultModel` */
  defaults?: Partial<Record<TaskName, string>>;
}

const MAX_ID_LENGTH = 256;
const SAFE_CHARS = /^[A-Za-z0-9._/-]+$/;

/**
 * Rejects anything that could leave the model directory or confuse a path
 * join. The id comes from API clients, so this is a security boundary: we
 * whitelist characters instead of trying to normalise (which is how `%2e%2e`,
 * `a\..\b` and NUL tricks get through).
 */
export function assertSafeModelId(id: string): string[] {
  if (typeof id !== 'string' || id.length === 0) throw new InvalidModelError(String(id), 'model id must be a non-empty string');
  if (id.length > MAX_ID_LENGTH) throw new InvalidModelError(id, `longer than ${MAX_ID_LENGTH} characters`);
  if (id.includes('\0')) throw new InvalidModelError(id, 'contains a NUL byte');
  if (id.includes('\\')) throw new InvalidModelError(id, "backslashes are not allowed; separate folders with '/'");
  if (id.startsWith('/')) throw new InvalidModelError(id, 'absolute paths are not allowed; give an id or a path relative to modelDir');
  if (!SAFE_CHARS.test(id)) {
    throw new InvalidModelError(id, "only letters, digits, '.', '_', '-' and '/' are allowed (no URL encoding, spaces or drive letters)");
  }
  const segments = id.split('/');
  for (const segment of segments) {
    if (segment === '') throw new InvalidModelError(id, "empty path segment (leading, trailing or doubled '/')");
    if (segment === '.' || segment === '..') throw new InvalidModelError(id, "'.' and '..' path segments are not allowed");
    if (segment.startsWith('.')) throw new InvalidModelError(id, "path segments may not start with '.'");
  }
  return segments;
}

/**
 * Turns what a client sent (nothing, a registry short name, a Hub id or a
 * folder under modelDir) into the id the inference threads load.
 */
export function resolveModelId(name: string | undefined, task: TaskName, opts: ResolveModelOptions = {}): string {
  const requested = name === undefined || name === '' ? (opts.defaults?.[task] ?? TASKS[task].defaultModel) : name;
  const segments = assertSafeModelId(requested);
  const registryId = Object.hasOwn(MODEL_REGISTRY, requested) ? MODEL_REGISTRY[requested] : undefined;

  if (opts.modelDir !== undefined) {
    const candidates = registryId === undefined ? [requested] : [requested, registryId];
    for (const candidate of candidates) {
      if (hasLocalModel(opts.modelDir, candidate)) return candidate;
    }
    throw new UnknownModelError(
      requested,
      `no folder with a config.json at ${candidates.map((c) => join(opts.modelDir as string, c)).join(' or ')}; generate or copy the model there, or fix the name`,
    );
  }
  if (registryId !== undefined) return registryId;
  if (segments.length === 2) return requested;
  if (segments.length === 1) {
    throw new UnknownModelError(requested, `not a registry name (${Object.keys(MODEL_REGISTRY).join(', ')}) nor a Hub id of the form "org/name"`);
  }
  throw new InvalidModelError(requested, 'Hub ids have the form "org/name"; nested folders need a modelDir');
}

/** True when `modelDir/id/config.json` exists and the folder really lies inside modelDir (symlinks included). */
export function hasLocalModel(modelDir: string, id: string): boolean {
  let root: string;
  let folder: string;
  try {
    root = realpathSync(modelDir);
    folder = realpathSync(join(root, id));
  } catch {
    return false;
  }
  if (!folder.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new InvalidModelError(id, 'resolves (through a symlink) to a folder outside modelDir');
  }
  try {
    return statSync(join(folder, 'config.json')).isFile();
  } catch {
    return false;
  }
}
