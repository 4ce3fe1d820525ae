import { z } from 'zod';
import { TASK_MODULES, TASK_NAMES, taskModule, type Entity, type ItemResult, type RankedDocument, type TaskOutputKind } from '#models';
import type { ShardOutcome, ShardPayload } from '../queue/shard-payload.js';
import { FLOAT32_TEXT_MAX_BYTES, float32Shortest, writeFloat32Shortest, type ItemError, type ResultLine } from './result-lines.js';

/**
 * One shard's output as ONE binary object: the worker stores numbers, the API renders NDJSON, f32
 * rows and .npy from them when read, byte for byte the files workers used to write as text.
 *
 * Layout (all integers and floats little-endian whatever the host):
 *
 *   0   "SWR1"                magic
 *   4   u32                   header length H in bytes
 *   8   header                UTF-8 JSON, ShardResultHeader
 *   D = 8 + H rounded up to 4: zero padding, then the sections. Each section starts at a multiple of
 *       4 from D (zero padding between), `header.sections[name] = [offset from D, length in bytes]`,
 *       and the object ends where the last section ends.
 *
 *   values      f32 rows of `width`, one row per item (present when width > 0):
 *               embed:     the embedding; failed items are NaN rows (the embeddings file as it was).
 *               sentiment: slot 0 the top label's score, then the kept scores in the order of the
 *                          line's `scores` object; unused slots and failed items hold NaN.
 *   tokens      u32 per item: tokens fed to the model (all items; failed ones count too).
 *   labelIndex  u16 per value (sentiment with width > 0): index into header.labels, 0xFFFF = none.
 *   flags       u8 per item: bit 0 truncated, bit 1 failed.
 *   json        JSON array with each item's value, null for failed items (tasks whose output is json,
 *               such as token-classification's entities; the line prints it as the task's one result field).
 *   ids         JSON array of the items' ids; only when header.ids is 'list' ('default': the id of
 *               item i is String(start + i); 'unknown': ids could not be read, lines say `"id":null`).
 *   errors      JSON array of distinct errors, each `{code, message, items}` with the relative
 *               indexes of the failed items it belongs to (a failed shard stores its reason once).
 *
 * Width: embed, the embedding length (0 = unknown, only for a shard that failed before its model
 * loaded: no rows); sentiment, 1 + labels.length (0 when the labels are unknown); json tasks, 0.
 */

export type ShardResultTask = ShardPayload['task'];

/** Whether a task's rows are float vectors (TaskModule.output 'vector'). */
const isVector = (task: ShardResultTask): boolean => taskModule(task).output === 'vector';
/** Whether a task's rows are a label and its scores (TaskModule.output 'label-scores'). */
const isLabelScores = (task: ShardResultTask): boolean => taskModule(task).output === 'label-scores';
/** The line field of a task whose output is a JSON value: its one result field (`entities`). */
const jsonField = (task: ShardResultTask): string | undefined => (taskModule(task).output === 'json' ? Object.keys(taskModule(task).resultFields)[0] : undefined);

/** A task whose results have this output, to name it in a message. */
const taskWith = (output: TaskOutputKind): string => TASK_MODULES.find((task) => task.output === output)?.name ?? output;

/** Bytes to read first for readShardResultHeader: headers are a few hundred bytes (more with many labels). */
export const SHARD_RESULT_HEADER_PROBE_BYTES = 4096;

/** A stored shard result that cannot be what a worker wrote (truncated, overwritten, another format). */
export class CorruptShardResultError extends Error {
  override readonly name = 'CorruptShardResultError';
  constructor(what: string) {
    super(`corrupt shard result: ${what}`);
  }
}

const MAGIC = 'SWR1';
const PREFIX_BYTES = 8;
const NO_LABEL = 0xffff;
const TRUNCATED = 1;
const FAILED = 2;
const MAX_U32 = 0xffffffff;
const [NEWLINE, COMMA, COLON, CLOSE_ARRAY, CLOSE_OBJECT] = Buffer.from('\n,:]}');
const EMBEDDING = Buffer.from(',"embedding":[');
const LABEL = Buffer.from(',"label":');
const SCORE = Buffer.from(',"score":');
const SCORES = Buffer.from(',"scores":{');
const TRUNCATED_TRUE = Buffer.from(',"truncated":true');

const uint = z.number().int().min(0);
const span = z.tuple([uint, uint]);
const headerSchema = z.object({
  v: z.literal(1),
  task: z.enum(TASK_NAMES as [ShardResultTask, ...ShardResultTask[]]),
  start: uint,
  count: uint,
  width: uint,
  /** Sentiment: the model's labels in logit order ([] when unknown). */
  labels: z.array(z.string()).optional(),
  /** Successful lines carry `"tokens":n` (job option). */
  itemTokens: z.boolean(),
  summary: z.object({ succeeded: uint, failed: uint, truncated: uint, tokens: uint, deduplicated: uint.optional() }),
  ids: z.enum(['default', 'list', 'unknown']),
  sections: z.object({ values: span.optional(), tokens: span, labelIndex: span.optional(), flags: span, ids: span.optional(), errors: span, json: span.optional() }),
});
const errorsSchema = z.array(z.object({ code: z.string(), message: z.string(), items: z.array(uint) }));
const idsSchema = z.array(z.string());

export type ShardResultHeader = z.infer<typeof headerSchema>;
type SectionName = keyof ShardResultHeader['sections'];

export interface ShardResultLayout {
  task: ShardResultTask;
  /** Index of the shard's first item in the job. */
  start: number;
  count: number;
  /** The items' ids in order, or 'unknown' when the shard failed before they could be read. */
  ids: readonly string[] | 'unknown';
  /** Embed: the embedding width, 0 when unknown (then no item can succeed). */
  dimensions?: number;
  /** Sentiment: the model's labels in logit order, [] when unknown (then no item can succeed). */
  labels?: readonly string[];
  /** Successful lines carry `"tokens":n`. @defaultValue `false` */
  itemTokens?: boolean;
  /** Items whose result was copied from an identical text's (dedup), kept in the summary. @defaultValue `0` */
  deduplicated?: number;
}

export interface ItemMeta {
  tokens: number;
  truncated: boolean;
}

export interface Classification extends ItemMeta {
  label: string;
  score: number;
  /** Label -> probability, in the order the line prints them (JS object order). */
  scores: Readonly<Record<string, number>>;
}

/**
 * Fills a shard's result item by item, then `finish()` encodes it. Every item must be set exactly
 * once; a value the format cannot carry (non-finite, wrong width, unknown label) throws, since the
 * caller decides which outputs are item errors.
 */
export class ShardResultWriter {
  private readonly width: number;
  private readonly values: DataView;
  /** The same bytes as `values`, as float32 in host order: set in bulk where the host is little-endian. */
  private readonly floats: Float32Array | undefined;
  private readonly labelIndex: DataView | undefined;
  private readonly tokens: DataView;
  private readonly flags: Uint8Array;
  private readonly set: Uint8Array;
  private readonly labelOf = new Map<string, number>();
  private readonly errors = new Map<string, { code: string; message: string; items: number[] }>();
  private readonly summary: ShardOutcome = { succeeded: 0, failed: 0, truncated: 0, tokens: 0 };
  /** Json tasks: each item's value (null until set, and for failed items). */
  private readonly jsonValues: unknown[] | undefined;

  constructor(private readonly layout: ShardResultLayout) {
    const { task, count, ids, start } = layout;
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(count) || count < 0)
      throw new RangeError(`start and count must be integers >= 0, got ${start} and ${count}`);
    if (ids !== 'unknown' && ids.length !== count) throw new RangeError(`${ids.length} ids for ${count} items`);
    if (isVector(task)) {
      this.width = layout.dimensions ?? 0;
      if (!Number.isSafeInteger(this.width) || this.width < 0) throw new RangeError(`dimensions must be an integer >= 0, got ${layout.dimensions}`);
    } else if (!isLabelScores(task)) {
      this.width = 0;
    } else {
      const labels = layout.labels ?? [];
      if (labels.length >= NO_LABEL) throw new RangeError(`${labels.length} labels; the format holds at most ${NO_LABEL - 1}`);
      // Duplicate names print the same, so the first index stands for all of them.
      for (const [index, name] of labels.entries()) if (!this.labelOf.has(name)) this.labelOf.set(name, index);
      this.width = labels.length === 0 ? 0 : labels.length + 1;
    }
    this.values = bytes(count * this.width * 4);
    this.floats = LITTLE_ENDIAN_HOST ? new Float32Array(this.values.buffer) : undefined;
    this.labelIndex = isLabelScores(task) ? bytes(count * this.width * 2) : undefined;
    this.jsonValues = jsonField(task) !== undefined ? new Array<unknown>(count).fill(null) : undefined;
    this.tokens = bytes(count * 4);
    this.flags = new Uint8Array(count);
    this.set = new Uint8Array(count);
    if (layout.deduplicated) this.summary.deduplicated = layout.deduplicated;
  }

  setEmbedding(i: number, values: ArrayLike<number>, item: ItemMeta): void {
    if (!this.setEmbeddingIfFinite(i, values, item)) throw new RangeError(`embedding of item ${i} holds NaN or Infinity; report it as an item error`);
  }

  /**
   * The same, but an embedding with a NaN or an infinite value (once stored as float32) is not set:
   * false, and the caller records the item's error. One pass over the values does both.
   */
  setEmbeddingIfFinite(i: number, values: ArrayLike<number>, item: ItemMeta): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.layout.count) throw new RangeError(`item ${i} is outside the shard (0 to ${this.layout.count - 1})`);
    if (!isVector(this.layout.task)) throw new RangeError(`an ${taskWith('vector')} result for item ${i} of a ${this.layout.task} shard`);
    if (this.width === 0) throw new RangeError('the embedding width is unknown: such a shard can only hold errors');
    if (values.length !== this.width) throw new RangeError(`embedding of item ${i} has ${values.length} values, expected ${this.width}`);
    if (this.set[i]) throw new RangeError(`item ${i} was already set`);
    const base = i * this.width;
    if (this.floats !== undefined) {
      // One bulk copy, then the check on what was stored (a float32 row the engine hands over is copied as is).
      this.floats.set(values, base);
      for (let j = base; j < base + this.width; j++) {
        const v = this.floats[j] as number;
        if (v - v !== 0) return false;
      }
    } else {
      for (let j = 0; j < this.width; j++) {
        const v = Math.fround(values[j] as number);
        if (!Number.isFinite(v)) return false;
        this.values.setFloat32((base + j) * 4, v, true);
      }
    }
    this.claim(i, 'vector', item.tokens);
    this.succeeded(i, item.truncated);
    return true;
  }

  setClassification(i: number, item: Classification): void {
    this.claim(i, 'label-scores', item.tokens);
    const labelIndex = this.labelIndex as DataView;
    if (this.width === 0) throw new RangeError('the labels are unknown: such a shard can only hold errors');
    let slot = 0;
    const put = (name: string, p: number) => {
      const index = this.labelOf.get(name);
      if (index === undefined) throw new RangeError(`label ${JSON.stringify(name)} of item ${i} is not one of the model's labels`);
      if (!Number.isFinite(p)) throw new RangeError(`score of item ${i} is ${p}; report it as an item error`);
      // Object keys are distinct and each names a label, so at most labels.length follow slot 0.
      const at = i * this.width + slot++;
      this.values.setFloat32(at * 4, p, true);
      labelIndex.setUint16(at * 2, index, true);
    };
    put(item.label, item.score);
    for (const name of Object.keys(item.scores)) put(name, item.scores[name] as number);
    for (; slot < this.width; slot++) this.none(i * this.width + slot);
    this.succeeded(i, item.truncated);
  }

  /** A json task's value for item i (token-classification: its entities); it must survive JSON.stringify. */
  setJson(i: number, value: unknown, item: ItemMeta): void {
    this.claim(i, 'json', item.tokens);
    if (value === undefined || value === null) throw new RangeError(`item ${i} has no value`);
    (this.jsonValues as unknown[])[i] = value;
    this.succeeded(i, item.truncated);
  }

  setError(i: number, error: ItemError, tokens = 0): void {
    this.claim(i, undefined, tokens);
    this.flags[i] = FAILED;
    this.summary.failed++;
    const key = `${error.code}\u0000${error.message}`;
    const entry = this.errors.get(key);
    if (entry) entry.items.push(i);
    else this.errors.set(key, { code: error.code, message: error.message, items: [i] });
    if (this.floats !== undefined && this.labelIndex === undefined) this.floats.fill(Number.NaN, i * this.width, (i + 1) * this.width);
    else for (let slot = 0; slot < this.width; slot++) this.none(i * this.width + slot);
  }

  finish(): Buffer {
    const unset = this.set.indexOf(0);
    if (unset !== -1) throw new RangeError(`item ${unset} of ${this.layout.count} was never set`);
    const { task, start, count, ids } = this.layout;
    const idMode = ids === 'unknown' ? 'unknown' : ids.every((id, i) => id === String(start + i)) ? 'default' : 'list';
    const sections: Array<[SectionName, Uint8Array]> = [];
    if (this.width > 0) sections.push(['values', asBytes(this.values)]);
    sections.push(['tokens', asBytes(this.tokens)]);
    if (this.labelIndex && this.width > 0) sections.push(['labelIndex', asBytes(this.labelIndex)]);
    sections.push(['flags', this.flags]);
    if (idMode === 'list') sections.push(['ids', Buffer.from(JSON.stringify(ids))]);
    sections.push(['errors', Buffer.from(JSON.stringify([...this.errors.values()]))]);
    if (this.jsonValues) sections.push(['json', Buffer.from(JSON.stringify(this.jsonValues))]);

    const spans: Partial<Record<SectionName, [number, number]>> = {};
    let end = 0;
    for (const [name, data] of sections) {
      const offset = align4(end);
      spans[name] = [offset, data.length];
      end = offset + data.length;
    }
    const header: ShardResultHeader = {
      v: 1,
      task,
      start,
      count,
      width: this.width,
      ...(isLabelScores(task) ? { labels: [...(this.layout.labels ?? [])] } : {}),
      itemTokens: this.layout.itemTokens ?? false,
      summary: { ...this.summary },
      ids: idMode,
      sections: spans as ShardResultHeader['sections'],
    };
    const headerBytes = Buffer.from(JSON.stringify(header));
    const dataStart = align4(PREFIX_BYTES + headerBytes.length);
    // Not zero-filled: every byte is written below, the padding explicitly.
    const out = Buffer.allocUnsafe(dataStart + end);
    out.write(MAGIC, 0, 'latin1');
    out.writeUInt32LE(headerBytes.length, 4);
    headerBytes.copy(out, PREFIX_BYTES);
    out.fill(0, PREFIX_BYTES + headerBytes.length, dataStart);
    let written = 0;
    for (const [name, data] of sections) {
      const offset = (spans[name] as [number, number])[0];
      out.fill(0, dataStart + written, dataStart + offset);
      out.set(data, dataStart + offset);
      written = offset + data.length;
    }
    return out;
  }

  /** The summary so far (complete after every item is set). */
  get outcome(): ShardOutcome {
    return { ...this.summary };
  }

  /** `output`: what kind of result is set; undefined for an error, which any shard holds. */
  private claim(i: number, output: TaskOutputKind | undefined, tokens: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.layout.count) throw new RangeError(`item ${i} is outside the shard (0 to ${this.layout.count - 1})`);
    if (output !== undefined && output !== taskModule(this.layout.task).output) throw new RangeError(`a ${taskWith(output)} result for item ${i} of a ${this.layout.task} shard`);
    if (this.set[i]) throw new RangeError(`item ${i} was already set`);
    if (!Number.isInteger(tokens) || tokens < 0 || tokens > MAX_U32) throw new RangeError(`tokens of item ${i} must be an integer from 0 to ${MAX_U32}, got ${tokens}`);
    this.set[i] = 1;
    this.tokens.setUint32(i * 4, tokens, true);
    this.summary.tokens += tokens;
  }

  private succeeded(i: number, truncated: boolean): void {
    this.summary.succeeded++;
    if (truncated) {
      this.flags[i] = TRUNCATED;
      this.summary.truncated++;
    }
  }

  /** An unused slot: NaN, and no label for sentiment. */
  private none(at: number): void {
    this.values.setFloat32(at * 4, Number.NaN, true);
    this.labelIndex?.setUint16(at * 2, NO_LABEL, true);
  }
}

/** Bytes readShardResultHeader needs: the 8-byte prefix plus the header it announces. */
export function shardResultHeaderBytes(prefix: Buffer): number {
  if (prefix.length < PREFIX_BYTES) throw new CorruptShardResultError(`${prefix.length} bytes, shorter than the ${PREFIX_BYTES}-byte prefix`);
  if (prefix.toString('latin1', 0, 4) !== MAGIC) throw new CorruptShardResultError(`magic is ${JSON.stringify(prefix.toString('latin1', 0, 4))}, expected "${MAGIC}"`);
  return PREFIX_BYTES + prefix.readUInt32LE(4);
}

/**
 * The header from the first bytes of a stored object (SHARD_RESULT_HEADER_PROBE_BYTES usually
 * cover it; shardResultHeaderBytes says how many it takes), so a summary is one small ranged read.
 */
export function readShardResultHeader(prefix: Buffer): ShardResultHeader {
  const needed = shardResultHeaderBytes(prefix);
  if (prefix.length < needed) throw new CorruptShardResultError(`the header needs ${needed} bytes, got ${prefix.length} (read as many as shardResultHeaderBytes() says)`);
  let json: unknown;
  try {
    json = JSON.parse(prefix.toString('utf8', PREFIX_BYTES, needed));
  } catch {
    throw new CorruptShardResultError('the header is not JSON');
  }
  const header = parse(headerSchema, json, 'header');
  const { task, width, labels, summary, count: items } = header;
  if (summary.succeeded + summary.failed !== items) throw new CorruptShardResultError(`summary counts ${summary.succeeded + summary.failed} items, header ${items}`);
  if (isLabelScores(task) && labels === undefined) throw new CorruptShardResultError(`a ${task} header without labels`);
  if (isLabelScores(task) && width !== (labels?.length ? labels.length + 1 : 0)) throw new CorruptShardResultError(`width ${width} does not fit ${labels?.length} labels`);
  if (!isLabelScores(task) && labels !== undefined) throw new CorruptShardResultError(`an ${task} header with labels`);
  if (jsonField(task) !== undefined && width !== 0) throw new CorruptShardResultError(`a ${task} header with width ${width}`);
  return header;
}

export function decodeShardResult(object: Buffer): ShardResult {
  return new ShardResult(object);
}

/** A decoded shard result. Decoding checks the structure; values are read when rendered. */
export class ShardResult {
  readonly header: ShardResultHeader;
  private readonly view: DataView;
  private readonly at: Record<SectionName, number>;
  private readonly ids: readonly string[] | undefined;
  /** Per item: index into `errors`, or -1. */
  private readonly errorOf: Int32Array;
  private readonly errors: ItemError[];
  /** `,"error":{...}}` per error, encoded once. */
  private readonly errorTails: Buffer[];
  /** JSON of each label, encoded once. */
  private readonly labelJson: Buffer[];
  /** Json tasks: the line field and each item's value. */
  private readonly jsonField: string | undefined;
  private readonly jsonValues: unknown[] | undefined;

  constructor(private readonly object: Buffer) {
    const header = readShardResultHeader(object);
    const { count: items, width, task } = header;
    this.header = header;
    this.view = new DataView(object.buffer, object.byteOffset, object.byteLength);
    const dataStart = align4(shardResultHeaderBytes(object));

    const expected: Record<SectionName, number | undefined> = {
      values: width > 0 ? items * width * 4 : undefined,
      tokens: items * 4,
      labelIndex: isLabelScores(task) && width > 0 ? items * width * 2 : undefined,
      flags: items,
      ids: header.ids === 'list' ? -1 : undefined,
      errors: -1,
      json: jsonField(task) !== undefined ? -1 : undefined,
    };
    const at = {} as Record<SectionName, number>;
    let end = dataStart;
    for (const name of Object.keys(expected) as SectionName[]) {
      const span = header.sections[name];
      const size = expected[name];
      if ((span === undefined) !== (size === undefined)) throw new CorruptShardResultError(`section ${name} is ${span ? 'present' : 'missing'}`);
      if (span === undefined) continue;
      const [offset, length] = span;
      if (offset % 4 !== 0) throw new CorruptShardResultError(`section ${name} starts at ${offset}, not a multiple of 4`);
      if (size !== -1 && length !== size) throw new CorruptShardResultError(`section ${name} has ${length} bytes, expected ${size}`);
      if (dataStart + offset + length > object.length)
        throw new CorruptShardResultError(`section ${name} ends at byte ${dataStart + offset + length} of ${object.length}: truncated`);
      at[name] = dataStart + offset;
      end = Math.max(end, dataStart + offset + length);
    }
    if (end !== object.length) throw new CorruptShardResultError(`${object.length} bytes, the sections end at ${end}`);
    this.at = at;

    const json = (name: 'ids' | 'errors' | 'json'): unknown => {
      const [offset, length] = header.sections[name] as [number, number];
      try {
        return JSON.parse(object.toString('utf8', dataStart + offset, dataStart + offset + length));
      } catch {
        throw new CorruptShardResultError(`section ${name} is not JSON`);
      }
    };
    if (header.ids === 'list') {
      this.ids = parse(idsSchema, json('ids'), 'ids');
      if (this.ids.length !== items) throw new CorruptShardResultError(`${this.ids.length} ids for ${items} items`);
    }
    const errors = parse(errorsSchema, json('errors'), 'errors');
    this.errors = errors.map(({ code, message }) => ({ code, message }));
    this.errorTails = this.errors.map((error) => Buffer.from(`,"error":${JSON.stringify(error)}}`));
    this.errorOf = new Int32Array(items).fill(-1);
    errors.forEach(({ items: members }, e) => {
      for (const i of members) {
        if (i >= items || this.errorOf[i] !== -1) throw new CorruptShardResultError(`errors name item ${i} ${i >= items ? 'outside the shard' : 'twice'}`);
        this.errorOf[i] = e;
      }
    });
    this.jsonField = jsonField(task);
    if (this.jsonField !== undefined) {
      const values = json('json');
      if (!Array.isArray(values) || values.length !== items) throw new CorruptShardResultError(`section json is not an array of ${items} values`);
      this.jsonValues = values;
    }
    this.checkItems();
    this.labelJson = (header.labels ?? []).map((name) => Buffer.from(JSON.stringify(name)));
  }

  /** Exactly the `results.ndjson` / `errors.ndjson` bytes workers used to write (empty when no lines). */
  renderNdjson(part: 'results' | 'errors'): Buffer {
    const { count: items, width, summary } = this.header;
    const lines = part === 'results' ? items : summary.failed;
    const out = new ByteSink(lines * 96 + (part === 'results' ? summary.succeeded * width * 12 : 0));
    for (let i = 0; i < items; i++) {
      if (part === 'errors' && this.errorOf[i] === -1) continue;
      this.writeLine(i, out);
      out.byte(NEWLINE);
    }
    return out.bytes();
  }

  /** The lines as objects, equal to JSON.parse of the rendered lines. */
  *lines(): Iterable<ResultLine> {
    const { start, count: items, task, itemTokens } = this.header;
    for (let i = 0; i < items; i++) {
      const id = this.id(i);
      const index = start + i;
      const e = this.errorOf[i] as number;
      if (e !== -1) {
        const { code, message } = this.errors[e] as ItemError;
        yield { id, index, error: { code, message } };
        continue;
      }
      const line: ResultLine = { id, index };
      if (this.jsonField !== undefined) (line as unknown as Record<string, unknown>)[this.jsonField] = structuredClone(this.jsonValues?.[i]);
      else if (isVector(task)) line.embedding = this.embedding(i);
      else this.classification(i, line);
      if (this.flag(i, TRUNCATED)) line.truncated = true;
      if (itemTokens) line.tokens = this.tokens(i);
      yield line;
    }
  }

  /**
   * Item `i` as the engine returned it, so that a repeat of its text elsewhere in the job can take it (dedup):
   * written again with ShardResultWriter it gives the same bytes. Errors keep their code and message.
   */
  itemResult(i: number): ItemResult {
    const { count: items, width, task } = this.header;
    if (!Number.isInteger(i) || i < 0 || i >= items) throw new RangeError(`item ${i} is outside the shard (0 to ${items - 1})`);
    const tokens = this.tokens(i);
    const e = this.errorOf[i] as number;
    if (e !== -1) return { ok: false, tokens, truncated: false, error: { ...(this.errors[e] as ItemError) } };
    const truncated = this.flag(i, TRUNCATED);
    // Json tasks: token-classification's entities, rerank's ranking.
    if (this.jsonField === 'ranking') return { ok: true, tokens, truncated, ranking: structuredClone(this.jsonValues?.[i]) as RankedDocument[] };
    if (this.jsonField !== undefined) return { ok: true, tokens, truncated, entities: structuredClone(this.jsonValues?.[i]) as Entity[] };
    if (isVector(task)) {
      const embedding = new Float32Array(width);
      for (let j = 0; j < width; j++) embedding[j] = this.view.getFloat32(this.at.values + (i * width + j) * 4, true);
      return { ok: true, tokens, truncated, embedding };
    }
    const labels = this.header.labels as string[];
    const row = i * width;
    const scores: Record<string, number> = {};
    for (let slot = 1; slot < width; slot++) {
      const label = this.label(row + slot);
      if (label === NO_LABEL) break;
      scores[labels[label] as string] = this.view.getFloat32(this.at.values + (row + slot) * 4, true);
    }
    const label = labels[this.label(row)] as string;
    return { ok: true, tokens, truncated, label, score: this.view.getFloat32(this.at.values + row * 4, true), scores };
  }

  /** Tokens of the items that succeeded (failed items' counts left out): what the usage ledger bills. */
  succeededTokens(): number {
    let sum = 0;
    for (let i = 0; i < this.header.count; i++) if (this.errorOf[i] === -1) sum += this.tokens(i);
    return sum;
  }

  /** `count x width` little-endian float32, NaN rows for failed items (a view of the object, not a copy); null when the width is unknown or the task is not embed. */
  embeddingRows(): Buffer | null {
    if (!isVector(this.header.task) || this.header.width === 0) return null;
    return this.object.subarray(this.at.values, this.at.values + this.header.count * this.header.width * 4);
  }

  /** One line, as the line functions (result-lines.ts) print it, straight into bytes. */
  private writeLine(i: number, out: ByteSink): void {
    out.text(`{"id":${this.idJson(i)},"index":${this.header.start + i}`);
    const e = this.errorOf[i] as number;
    if (e !== -1) {
      out.put(this.errorTails[e] as Buffer);
      return;
    }
    const { width } = this.header;
    if (this.jsonField !== undefined) {
      out.text(`,${JSON.stringify(this.jsonField)}:${JSON.stringify(this.jsonValues?.[i])}`);
    } else if (isVector(this.header.task)) {
      out.put(EMBEDDING);
      out.reserve(width * (FLOAT32_TEXT_MAX_BYTES + 1));
      const { buffer } = out;
      let end = out.length;
      for (let byte = this.at.values + i * width * 4, j = 0; j < width; j++, byte += 4) {
        if (j > 0) buffer[end++] = COMMA;
        const v = this.view.getFloat32(byte, true);
        if (!Number.isFinite(v)) throw nonFinite(i);
        end = writeFloat32Shortest(v, buffer, end);
      }
      out.length = end;
      out.byte(CLOSE_ARRAY);
    } else {
      const row = i * width;
      out.put(LABEL);
      out.put(this.labelJson[this.label(row)] as Buffer);
      out.put(SCORE);
      this.writeValue(this.at.values + row * 4, i, out);
      out.put(SCORES);
      for (let slot = 1; slot < width; slot++) {
        const label = this.label(row + slot);
        if (label === NO_LABEL) break;
        if (slot > 1) out.byte(COMMA);
        out.put(this.labelJson[label] as Buffer);
        out.byte(COLON);
        this.writeValue(this.at.values + (row + slot) * 4, i, out);
      }
      out.byte(CLOSE_OBJECT);
    }
    if (this.flag(i, TRUNCATED)) out.put(TRUNCATED_TRUE);
    if (this.header.itemTokens) out.text(`,"tokens":${this.tokens(i)}`);
    out.byte(CLOSE_OBJECT);
  }

  private writeValue(byte: number, i: number, out: ByteSink): void {
    const v = this.view.getFloat32(byte, true);
    if (!Number.isFinite(v)) throw nonFinite(i);
    out.reserve(FLOAT32_TEXT_MAX_BYTES);
    out.length = writeFloat32Shortest(v, out.buffer, out.length);
  }

  private embedding(i: number): number[] {
    const { width } = this.header;
    const base = this.at.values + i * width * 4;
    const values = new Array<number>(width);
    for (let j = 0; j < width; j++) values[j] = this.value(base + j * 4, i);
    return values;
  }

  private classification(i: number, line: ResultLine): void {
    const labels = this.header.labels as string[];
    const row = i * this.header.width;
    const scores: Record<string, number> = {};
    for (let slot = 1; slot < this.header.width; slot++) {
      const label = this.label(row + slot);
      if (label === NO_LABEL) break;
      scores[labels[label] as string] = this.value(this.at.values + (row + slot) * 4, i);
    }
    line.label = labels[this.label(row)];
    line.score = this.value(this.at.values + row * 4, i);
    line.scores = scores;
  }

  /** A successful item's value as printed: float32Shortest, which JSON cannot carry when not finite. */
  private value(byte: number, i: number): number {
    const v = float32Shortest(this.view.getFloat32(byte, true));
    if (!Number.isFinite(v)) throw nonFinite(i);
    return v;
  }

  private id(i: number): string | null {
    if (this.header.ids === 'default') return String(this.header.start + i);
    return this.ids ? (this.ids[i] as string) : null;
  }

  private idJson(i: number): string {
    if (this.header.ids === 'default') return `"${this.header.start + i}"`;
    return this.ids ? JSON.stringify(this.ids[i]) : 'null';
  }

  private label(at: number): number {
    return this.view.getUint16(this.at.labelIndex + at * 2, true);
  }

  private tokens(i: number): number {
    return this.view.getUint32(this.at.tokens + i * 4, true);
  }

  private flag(i: number, bit: number): boolean {
    return ((this.object[this.at.flags + i] as number) & bit) !== 0;
  }

  /** Flags, errors, labels and the summary agree, so rendering never meets a half-written item. */
  private checkItems(): void {
    const { count: items, width, task, summary, labels } = this.header;
    let failed = 0;
    let truncated = 0;
    let tokens = 0;
    for (let i = 0; i < items; i++) {
      const flags = this.object[this.at.flags + i] as number;
      if (flags > (TRUNCATED | FAILED) || flags === (TRUNCATED | FAILED)) throw new CorruptShardResultError(`item ${i} has flags ${flags}`);
      const isFailed = (flags & FAILED) !== 0;
      if (isFailed !== (this.errorOf[i] !== -1)) throw new CorruptShardResultError(`item ${i} is ${isFailed ? 'failed without an error' : 'not failed but has an error'}`);
      if (isFailed) failed++;
      if (flags & TRUNCATED) truncated++;
      tokens += this.tokens(i);
      if (isFailed) continue;
      if (this.jsonField !== undefined) {
        if (this.jsonValues?.[i] === null || this.jsonValues?.[i] === undefined) throw new CorruptShardResultError(`item ${i} succeeded without a value`);
        continue;
      }
      if (width === 0) throw new CorruptShardResultError(`item ${i} succeeded in a shard of unknown width`);
      if (isVector(task)) continue;
      const row = i * width;
      let last = -1;
      for (let slot = 0; slot < width; slot++) {
        const label = this.label(row + slot);
        if (label === NO_LABEL) continue;
        if (label >= (labels as string[]).length || last !== slot - 1) throw new CorruptShardResultError(`item ${i} has label ${label} in slot ${slot}`);
        last = slot;
      }
      if (last === -1) throw new CorruptShardResultError(`item ${i} succeeded without a label`);
    }
    if (failed !== summary.failed || truncated !== summary.truncated || tokens !== summary.tokens) {
      throw new CorruptShardResultError(
        `items count ${failed} failed, ${truncated} truncated, ${tokens} tokens; the summary says ${summary.failed}, ${summary.truncated}, ${summary.tokens}`,
      );
    }
  }
}

/** A growing byte buffer: rendering writes numbers as bytes, never as strings. */
class ByteSink {
  buffer: Buffer;
  length = 0;

  constructor(estimate: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(64, estimate));
  }

  reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  put(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  text(text: string): void {
    this.reserve(text.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit
    this.length += this.buffer.write(text, this.length, 'utf8');
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

function nonFinite(i: number): CorruptShardResultError {
  return new CorruptShardResultError(`item ${i} succeeded with a non-finite value`);
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new CorruptShardResultError(`${what}${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytes(length: number): DataView {
  return new DataView(new ArrayBuffer(length));
}

function asBytes(view: DataView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
