/**
 * Character offsets of tokens in the original text. transformers.js tokenizers return no offset
 * mapping, so each kept token is matched back against the text, left to right:
 *
 * - WordPiece and other character tokenizers: the `##` continuation prefix is dropped and every
 *   character of the text is passed through the tokenizer's own normalizer (lowercasing, accent
 *   stripping, CJK spacing), so `cafe` matches `Café` and spans its 4 characters.
 * - Byte-level BPE (RoBERTa, GPT-2): tokens are bytes (`Ġ` = space) and are matched against the
 *   text's UTF-8 bytes; a leading space is not part of the span (HF's `trim_offsets`). Two tokens
 *   that split one character (an emoji) both span that character.
 *
 * Offsets count Unicode code points, as Python's `str` indexes (and HF's offset_mapping) do: in
 * JavaScript, slice `Array.from(text)`, not the UTF-16 string. A token that cannot be matched (a
 * normalizer that rewrites more than one character at a time) gets no offsets; matching goes on
 * after it.
 */

/** How token strings turn back into text (TaskModule word fields). */
export type TokenText = 'wordpiece' | 'byte-level' | 'plain';

/** Per kept token of one text (special tokens included, in model order). */
export interface TokenAlignment {
  /** What Python's `convert_ids_to_tokens` returns (`##ing`, `Ġworld`); the matched text for an unknown token. */
  words: string[];
  /** `[start, end)` pairs in code points `// [tokens, 2]`; -1 for special and unmatched tokens. */
  offsets: Int32Array;
  /** 1 where the token continues a word (Python's `is_subword`), 2 for special tokens. */
  kinds: Uint8Array;
  tokenText: TokenText;
}

export const WORD_START = 0;
export const SUBWORD = 1;
export const SPECIAL = 2;

/** What the aligner needs of a tokenizer. */
export interface AlignableTokenizer {
  idToToken(id: number): string;
  specialIds: ReadonlySet<number>;
  unkId: number | undefined;
  /** WordPiece's `##`; undefined when the model has no continuation prefix. */
  continuationPrefix: string | undefined;
  byteLevel: boolean;
  /** The tokenizer's normalizer (character tokenizers only). */
  normalize: ((text: string) => string) | undefined;
}

const WHITESPACE = /\s/u;
// BERT's _is_punctuation: ASCII symbols and Unicode punctuation end a word (and so an [UNK]).
const PUNCTUATION = /[!-/:-@[-`{-~\p{P}]/u;
const BYTE_DECODER = byteDecoder();

export function alignTokens(text: string, ids: ArrayLike<number>, tokenizer: AlignableTokenizer): TokenAlignment {
  const n = ids.length;
  const words: string[] = new Array(n);
  const offsets = new Int32Array(2 * n).fill(-1);
  const kinds = new Uint8Array(n);
  const points = Array.from(text);
  const stream = tokenizer.byteLevel ? byteStream(points) : charStream(points, tokenizer.normalize);
  let pos = 0;
  for (let j = 0; j < n; j++) {
    const id = ids[j] as number;
    const token = tokenizer.idToToken(id) ?? '';
    words[j] = token;
    if (tokenizer.specialIds.has(id)) {
      kinds[j] = SPECIAL;
      continue;
    }
    let span: [number, number] | undefined;
    if (id === tokenizer.unkId) {
      pos = skipSpace(stream, pos);
      span = unknownSpan(stream, pos);
    } else {
      const prefix = tokenizer.continuationPrefix;
      const surface = tokenizer.byteLevel ? tokenBytes(token) : Array.from(prefix && token.startsWith(prefix) ? token.slice(prefix.length) : token);
      // A token that is only whitespace (byte-level `Ġ` before an emoji) spans that whitespace.
      if (!isBlank(surface)) pos = skipSpace(stream, pos);
      span = matchAt(stream, pos, surface) ?? searchFrom(stream, pos, surface);
    }
    if (span === undefined) continue;
    const [from, to] = span; // stream positions, `to` exclusive
    pos = to;
    const start = stream.origin[from] as number;
    let end = (stream.origin[to - 1] as number) + 1;
    // Code points the normalizer removed (a combining accent after its letter) belong to the token before them.
    while (end < points.length && stream.vanished[end] === 1) end++;
    offsets[2 * j] = start;
    offsets[2 * j + 1] = end;
    const reference = points.slice(start, end).join('');
    if (id === tokenizer.unkId) {
      words[j] = reference;
    } else if (tokenizer.continuationPrefix !== undefined) {
      // Python compares the token's length with the text it covers, which means "has the prefix" except where
      // normalizing changed the length (a combining accent, a ligature) and Python wrongly joins two words.
      kinds[j] = token.startsWith(tokenizer.continuationPrefix) ? SUBWORD : WORD_START;
    } else {
      // Python's fallback heuristic for tokenizers without a prefix: a subword unless a space is at or right before the start.
      kinds[j] = start > 0 && points[start - 1] !== ' ' && points[start] !== ' ' ? SUBWORD : WORD_START;
    }
  }
  return { words, offsets, kinds, tokenText: tokenizer.byteLevel ? 'byte-level' : tokenizer.continuationPrefix === '##' ? 'wordpiece' : 'plain' };
}

function skipSpace(stream: Stream, pos: number): number {
  let at = pos;
  while (at < stream.units.length && stream.space[at]) at++;
  return at;
}

function isBlank(surface: ReadonlyArray<string | number>): boolean {
  return surface.length > 0 && surface.every((unit) => (typeof unit === 'string' ? WHITESPACE.test(unit) : isSpaceByte(unit)));
}

function isSpaceByte(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** Python's `convert_tokens_to_string` for these token kinds. */
export function tokensToString(tokens: readonly string[], tokenText: TokenText): string {
  if (tokenText === 'byte-level') {
    const bytes: number[] = [];
    for (const token of tokens) for (const ch of token) pushBytes(bytes, ch);
    return Buffer.from(bytes).toString('utf8');
  }
  if (tokenText === 'wordpiece') return cleanUpTokenization(tokens.join(' ').replaceAll(' ##', '').trim());
  return tokens.join(' ');
}

/** The text as units to match (normalized characters or UTF-8 bytes), each with the code point it came from. */
interface Stream {
  units: Array<string | number>;
  origin: Int32Array;
  space: Uint8Array;
  /** Per code point: 1 when normalizing left nothing of it. */
  vanished: Uint8Array;
}

function charStream(points: readonly string[], normalize: ((text: string) => string) | undefined): Stream {
  const units: string[] = [];
  const origin: number[] = [];
  const cache = new Map<string, string[]>();
  const vanished = new Uint8Array(points.length);
  points.forEach((point, i) => {
    let normalized = cache.get(point);
    if (normalized === undefined) {
      normalized = Array.from(normalize ? normalize(point) : point);
      cache.set(point, normalized);
    }
    if (normalized.length === 0) vanished[i] = 1;
    for (const ch of normalized) {
      units.push(ch);
      origin.push(i);
    }
  });
  return { units, origin: Int32Array.from(origin), space: Uint8Array.from(units, (ch) => (WHITESPACE.test(ch) ? 1 : 0)), vanished };
}

function byteStream(points: readonly string[]): Stream {
  const units: number[] = [];
  const origin: number[] = [];
  points.forEach((point, i) => {
    for (const byte of Buffer.from(point, 'utf8')) {
      units.push(byte);
      origin.push(i);
    }
  });
  return { units, origin: Int32Array.from(origin), space: Uint8Array.from(units, (b) => (isSpaceByte(b) ? 1 : 0)), vanished: new Uint8Array(points.length) };
}

/** A byte-level token's bytes, without leading whitespace unless it is all whitespace. */
function tokenBytes(token: string): number[] {
  const bytes: number[] = [];
  for (const ch of token) pushBytes(bytes, ch);
  let first = 0;
  while (first < bytes.length && isSpaceByte(bytes[first] as number)) first++;
  return first === bytes.length ? bytes : bytes.slice(first);
}

/** The token's units (characters or bytes) at `pos` of the stream. */
function matchAt(stream: Stream, pos: number, units: ReadonlyArray<string | number>): [number, number] | undefined {
  if (units.length === 0 || pos + units.length > stream.units.length) return undefined;
  for (let k = 0; k < units.length; k++) if (stream.units[pos + k] !== units[k]) return undefined;
  return [pos, pos + units.length];
}

// How far ahead a token that does not match in place is looked for (an unmatched token must not
// pull the rest of the text's tokens far away).
const SEARCH_WINDOW = 32;

function searchFrom(stream: Stream, pos: number, surface: ReadonlyArray<string | number>): [number, number] | undefined {
  const last = Math.min(stream.units.length, pos + SEARCH_WINDOW);
  for (let p = pos + 1; p < last; p++) {
    const span = matchAt(stream, p, surface);
    if (span) return span;
  }
  return undefined;
}

/** WordPiece gives one [UNK] for a whole word: up to whitespace or punctuation, at least one unit. */
function unknownSpan(stream: Stream, pos: number): [number, number] | undefined {
  if (pos >= stream.units.length) return undefined;
  let end = pos + 1;
  const isBoundary = (p: number): boolean => stream.space[p] === 1 || (typeof stream.units[p] === 'string' && PUNCTUATION.test(stream.units[p] as string));
  if (!isBoundary(pos)) while (end < stream.units.length && !isBoundary(end)) end++;
  return [pos, end];
}

function pushBytes(bytes: number[], ch: string): void {
  const byte = BYTE_DECODER.get(ch);
  if (byte !== undefined) bytes.push(byte);
  else for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
}

/** GPT-2's bytes_to_unicode, reversed: the printable character that stands for each byte. */
function byteDecoder(): ReadonlyMap<string, number> {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const decoder = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const code = printable.includes(b) ? b : 256 + extra++;
    decoder.set(String.fromCodePoint(code), b);
  }
  return decoder;
}

/** HF's clean_up_tokenization, which the WordPiece decoder applies (`cleanup: true`). */
function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
