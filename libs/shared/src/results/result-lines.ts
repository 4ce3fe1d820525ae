/**
 * The NDJSON lines of a job's results, one per input: the format clients download and the OpenAI
 * routes read. Shards are stored in binary (shard-result.ts) and rendered with these rules, so the
 * text stays byte for byte what it always was.
 */

/** A line of a job's results file, with `tokens` only for jobs that asked for it (OpenAI routes do, for `usage`). */
export interface ResultLine {
  /** Null when the shard failed before its ids could be read. */
  id: string | null;
  index: number;
  embedding?: number[];
  label?: string;
  score?: number;
  scores?: Record<string, number>;
  /** Rerank: the documents, highest score first. */
  ranking?: Array<{ index: number; score: number; text?: string }>;
  /** Token classification: the text's entities (Python pipeline shape). */
  entities?: unknown[];
  truncated?: boolean;
  tokens?: number;
  error?: ItemError;
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
 * their float64 widening would add noise digits. A full 512 x 384 shard formats about 200k numbers,
 * so the common case is plain arithmetic: round |f| to k significant digits as `m / 10^s` with an
 * exact power of ten (one correctly rounded division, the same double that parsing the k-digit
 * text gives) and keep the smallest k that rounds back to f. 9 digits always round-trip. A 512 x
 * 384 shard took 128 ms with toPrecision alone and takes about 45 ms this way, JSON.stringify
 * included. Values whose scale needs an inexact power of ten (below about 1e-14 or above 1e28)
 * take the toPrecision path.
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

export function embedLine(id: string | null, index: number, embedding: ArrayLike<number>, truncated: boolean): string {
  const values = new Array<number>(embedding.length);
  for (let i = 0; i < embedding.length; i++) values[i] = float32Shortest(embedding[i] as number);
  return JSON.stringify(truncated ? { id, index, embedding: values, truncated: true } : { id, index, embedding: values });
}

export function sentimentLine(id: string | null, index: number, label: string, score: number, scores: Readonly<Record<string, number>>, truncated: boolean): string {
  const rounded: Record<string, number> = {};
  for (const [name, p] of Object.entries(scores)) rounded[name] = float32Shortest(p);
  const line = { id, index, label, score: float32Shortest(score), scores: rounded };
  return JSON.stringify(truncated ? { ...line, truncated: true } : line);
}

export function errorLine(id: string | null, index: number, error: ItemError): string {
  return JSON.stringify({ id, index, error: { code: error.code, message: error.message } });
}

/** Appends `"tokens":n` to a JSON object line, only for jobs that asked for it (the default format stays as it was). */
export function withTokens(line: string, itemTokens: boolean | undefined, tokens: number): string {
  return itemTokens ? `${line.slice(0, -1)},"tokens":${tokens}}` : line;
}

/** Longest text writeFloat32Shortest produces ("-0.00000123456789", "-1.2345678e-38", 21 digits and a sign before 1e21). */
export const FLOAT32_TEXT_MAX_BYTES = 24;

const DIGITS = new Uint8Array(10);

/**
 * Writes `JSON.stringify(float32Shortest(value))` as ASCII into `out` at `pos` and returns the
 * position after it (`out` needs FLOAT32_TEXT_MAX_BYTES free), with no string in between: rendering
 * a stored shard prints ~200k of these per download. The digits are those of `m` in
 * float32Shortest's `m / 10^s`: with at most 9 significant digits, that decimal is also the
 * shortest text of the double float32Shortest returns, which is what Number#toString prints, in
 * its notation (fixed from 1e-6 up to 1e21, exponential outside).
 */
export function writeFloat32Shortest(value: number, out: Uint8Array, pos: number): number {
  const f = Math.fround(value);
  if (f === 0) {
    out[pos] = 0x30;
    return pos + 1;
  }
  if (!Number.isFinite(f)) return writeAscii('null', out, pos);
  const a = Math.abs(f);
  if (f < 0) out[pos++] = 0x2d;
  let s = shortestScale(f);
  if (s === undefined) return writeAscii(String(shortestByPrecision(a)), out, pos);
  // At most 10^9 (9 digits rounded up): int32 arithmetic.
  let m = (s >= 0 ? Math.round(a * (POW10[s] as number)) : Math.round(a / (POW10[-s] as number))) | 0;
  let tenth = (m / 10) | 0;
  while (m === tenth * 10) {
    m = tenth;
    tenth = (m / 10) | 0;
    s--;
  }
  let length = 1;
  while (length < 10 && m >= (POW10[length] as number)) length++;
  for (let i = length - 1; i >= 0; i--) {
    const rest = (m / 10) | 0;
    DIGITS[i] = 0x30 + m - rest * 10;
    m = rest;
  }
  // The number is 0.DIGITS x 10^point, as in ECMAScript's Number::toString.
  const point = length - s;
  if (point >= length && point <= 21) {
    pos = copyDigits(out, pos, 0, length);
    for (let i = length; i < point; i++) out[pos++] = 0x30;
  } else if (point > 0 && point <= 21) {
    pos = copyDigits(out, pos, 0, point);
    out[pos++] = 0x2e;
    pos = copyDigits(out, pos, point, length);
  } else if (point > -6 && point <= 0) {
    out[pos++] = 0x30;
    out[pos++] = 0x2e;
    for (let i = point; i < 0; i++) out[pos++] = 0x30;
    pos = copyDigits(out, pos, 0, length);
  } else {
    out[pos++] = DIGITS[0] as number;
    if (length > 1) {
      out[pos++] = 0x2e;
      pos = copyDigits(out, pos, 1, length);
    }
    const exponent = point - 1;
    out[pos++] = 0x65;
    out[pos++] = exponent < 0 ? 0x2d : 0x2b;
    pos = writeAscii(String(Math.abs(exponent)), out, pos);
  }
  return pos;
}

function copyDigits(out: Uint8Array, pos: number, from: number, to: number): number {
  for (let i = from; i < to; i++) out[pos++] = DIGITS[i] as number;
  return pos;
}

function writeAscii(text: string, out: Uint8Array, pos: number): number {
  for (let i = 0; i < text.length; i++) out[pos++] = text.charCodeAt(i);
  return pos;
}
