import type { ItemResult, TaskName } from '../../../../libs/models/src/index.js';
import type { ShardOutcome, ShardResultFiles } from '../../../../libs/shared/src/index.js';

/**
 * Pure builders of a shard's result files (see ShardResultFiles). Lines are collected in an array
 * and joined once, and embeddings go straight into one preallocated buffer, so a full shard
 * (512 texts x 384 dims) costs linear time on the main thread.
 */

export interface ShardItem {
  id: string;
}

export interface ShardOutput {
  files: ShardResultFiles;
  /** Failed items per error code, for metrics. */
  failedByCode: Map<string, number>;
}

export interface ItemError {
  code: string;
  message: string;
}

export const SHARD_FAILED = 'SHARD_FAILED';
/** A model produced NaN or Infinity, which JSON cannot carry and no client wants. */
export const NON_FINITE_OUTPUT = 'NON_FINITE_OUTPUT';

/** Exact powers of ten in float64 (10^22 is the largest). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The shortest decimal that reads back as the same float32: embeddings are float32, and printing
 * their float64 widening would add noise digits. A full 512 x 384 shard formats about 200k numbers
 * on the worker's main thread, so the common case is plain arithmetic: round |f| to k significant
 * digits as `m / 10^s` with an exact power of ten (one correctly rounded division, the same double
 * that parsing the k-digit text gives) and keep the smallest k that rounds back to f. 9 digits
 * always round-trip. A 512 x 384 shard took 128 ms with toPrecision alone and takes about 45 ms
 * this way, JSON.stringify included. Values whose scale needs an inexact power of ten (below about
 * 1e-14 or above 1e28) take the toPrecision path.
 */
export function float32Shortest(value: number): number {
  const f = Math.fround(value);
  if (f === 0) return 0; // -0 included: JSON has no negative zero
  if (!Number.isFinite(f)) return f;
  const scale = shortestScale(f);
  if (scale === undefined) return shortestByPrecision(f);
  const v = scaledValue(Math.abs(f), scale);
  return f < 0 ? -v : v;
}

/**
 * The s of the shortest `m * 10^-s` (m of 1 to 9 digits) that reads back as float32 `f` (finite,
 * not 0), or undefined when that needs a power of ten beyond 10^22 (not an exact double).
 */
function shortestScale(f: number): number | undefined {
  const a = Math.abs(f);
  // Decimal exponent of the leading digit; log10 can be off by one next to a power of ten (table
  // lookups here: Math.pow doubled the cost of this function).
  let e = Math.floor(Math.log10(a));
  if (e >= -22 && e <= 22) {
    if (e >= 0 ? a < (POW10[e] as number) : a * (POW10[-e] as number) < 1) e--;
    else if (e + 1 <= 22 && (e + 1 >= 0 ? a >= (POW10[e + 1] as number) : a * (POW10[-(e + 1)] as number) >= 1)) e++;
  }
  // Tries with 7 to 9 digits need 10^(6-e) to 10^(8-e) exact (|exponent| <= 22).
  if (e < -14 || e > 28) return undefined;
  const fits = (k: number): boolean => {
    const s = k - 1 - e;
    return s <= 22 && s >= -22 && Math.fround(scaledValue(a, s)) === a;
  };
  // Most float32 values need 7 to 9 digits: try 7, then fewer while they still read back, else 8, then 9.
  if (fits(7)) {
    let k = 7;
    while (k > 1 && fits(k - 1)) k--;
    return k - 1 - e;
  }
  if (fits(8)) return 7 - e;
  if (fits(9)) return 8 - e;
  return undefined;
}

/** a rounded to a multiple of 10^-s: one correctly rounded operation on an exact power of ten, so the same double as parsing the decimal text. */
function scaledValue(a: number, s: number): number {
  if (s >= 0) {
    const p = POW10[s] as number;
    return Math.round(a * p) / p;
  }
  const p = POW10[-s] as number;
  return Math.round(a / p) * p;
}

/** The same answer through toPrecision: slower, exact for every magnitude. */
function shortestByPrecision(f: number): number {
  let best = Number(f.toPrecision(9));
  for (let digits = 8; digits >= 1; digits--) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) !== f) break;
    best = candidate;
  }
  return best;
}

export function embedLine(id: string, index: number, embedding: ArrayLike<number>, truncated: boolean): string {
  const values = new Array<number>(embedding.length);
  for (let i = 0; i < embedding.length; i++) values[i] = float32Shortest(embedding[i] as number);
  return JSON.stringify(truncated ? { id, index, embedding: values, truncated: true } : { id, index, embedding: values });
}

export function sentimentLine(id: string, index: number, label: string, score: number, scores: Readonly<Record<string, number>>, truncated: boolean): string {
  const rounded: Record<string, number> = {};
  for (const [name, p] of Object.entries(scores)) rounded[name] = float32Shortest(p);
  const line = { id, index, label, score: float32Shortest(score), scores: rounded };
  return JSON.stringify(truncated ? { ...line, truncated: true } : line);
}

export function errorLine(id: string, index: number, error: ItemError): string {
  return JSON.stringify({ id, index, error: { code: error.code, message: error.message } });
}

/**
 * Builds the files of a shard that ran. `results[i]` belongs to `items[i]`; `index` is `start + i`.
 * `dimensions` is the model's embedding width (embed only). Throws when the results cannot belong
 * to these items, which is an engine bug: the shard is retried rather than written wrong.
 */
export function buildShardOutput(
  task: TaskName,
  items: readonly ShardItem[],
  start: number,
  results: readonly ItemResult[],
  dimensions: number,
  /** itemTokens: successful lines carry the item's token count as `tokens` (job option, for OpenAI `usage`). */
  extras: { itemTokens?: boolean } = {},
): ShardOutput {
  if (results.length !== items.length) throw new Error(`inference returned ${results.length} results for ${items.length} texts`);
  const lines = new Array<string>(items.length);
  const errors: string[] = [];
  const failedByCode = new Map<string, number>();
  const summary: ShardOutcome = { succeeded: 0, failed: 0, truncated: 0, tokens: 0 };
  const embeddings = task === 'embed' ? new EmbeddingMatrix(items.length, dimensions) : undefined;

  const fail = (i: number, error: ItemError) => {
    const line = errorLine(items[i].id, start + i, error);
    lines[i] = line;
    errors.push(line);
    summary.failed++;
    failedByCode.set(error.code, (failedByCode.get(error.code) ?? 0) + 1);
    embeddings?.fillNaN(i);
  };

  for (let i = 0; i < items.length; i++) {
    const result = results[i];
    const { id } = items[i];
    summary.tokens += result.tokens;
    if (!result.ok) {
      fail(i, result.error);
      continue;
    }
    if (task === 'embed') {
      if (!('embedding' in result)) throw new Error(`inference returned a non-embedding result for an embed shard (item ${start + i})`);
      if (result.embedding.length !== dimensions) throw new Error(`embedding of item ${start + i} has ${result.embedding.length} values, expected ${dimensions}`);
      if (!allFinite(result.embedding)) {
        fail(i, { code: NON_FINITE_OUTPUT, message: 'the model produced NaN or Infinity for this text' });
        continue;
      }
      lines[i] = withTokens(embedLine(id, start + i, result.embedding, result.truncated), extras.itemTokens, result.tokens);
      embeddings?.setRow(i, result.embedding);
    } else {
      if (!('label' in result)) throw new Error(`inference returned a non-classification result for a sentiment shard (item ${start + i})`);
      if (!Number.isFinite(result.score) || !Object.values(result.scores).every(Number.isFinite)) {
        fail(i, { code: NON_FINITE_OUTPUT, message: 'the model produced NaN or Infinity for this text' });
        continue;
      }
      lines[i] = withTokens(sentimentLine(id, start + i, result.label, result.score, result.scores, result.truncated), extras.itemTokens, result.tokens);
    }
    summary.succeeded++;
    if (result.truncated) summary.truncated++;
  }

  return {
    files: { results: ndjson(lines), embeddings: embeddings?.buffer, errors: errors.length > 0 ? ndjson(errors) : undefined, summary },
    failedByCode,
  };
}

/**
 * Files of a shard that ran out of attempts: every item gets the same SHARD_FAILED error.
 * `dimensions` (embed only, from the job record) sizes the NaN rows; null leaves the embeddings
 * file out when the width is unknown.
 */
export function buildFailedShardOutput(task: TaskName, items: readonly ShardItem[], start: number, reason: string, dimensions: number | null): ShardOutput {
  const error = { code: SHARD_FAILED, message: reason };
  const lines = items.map((item, i) => errorLine(item.id, start + i, error));
  const text = ndjson(lines);
  let embeddings: Buffer | undefined;
  if (task === 'embed' && dimensions !== null && dimensions > 0) {
    const matrix = new EmbeddingMatrix(items.length, dimensions);
    for (let i = 0; i < items.length; i++) matrix.fillNaN(i);
    embeddings = matrix.buffer;
  }
  return {
    files: { results: text, embeddings, errors: items.length > 0 ? text : undefined, summary: { succeeded: 0, failed: items.length, truncated: 0, tokens: 0 } },
    failedByCode: new Map(items.length > 0 ? [[SHARD_FAILED, items.length]] : []),
  };
}

/** `rows x dims` little-endian float32, written through a DataView so the byte order does not depend on the host. */
class EmbeddingMatrix {
  readonly buffer: Buffer;
  private readonly view: DataView;

  constructor(rows: number, private readonly dims: number) {
    this.buffer = Buffer.alloc(rows * dims * 4);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  setRow(row: number, values: ArrayLike<number>): void {
    const base = row * this.dims * 4;
    for (let j = 0; j < this.dims; j++) this.view.setFloat32(base + j * 4, values[j] as number, true);
  }

  fillNaN(row: number): void {
    const base = row * this.dims * 4;
    for (let j = 0; j < this.dims; j++) this.view.setFloat32(base + j * 4, Number.NaN, true);
  }
}

/** Appends `"tokens":n` to a JSON object line, only for jobs that asked for it (the default format stays as it was). */
function withTokens(line: string, itemTokens: boolean | undefined, tokens: number): string {
  return itemTokens ? `${line.slice(0, -1)},"tokens":${tokens}}` : line;
}

function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

function ndjson(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
