/** The binary shard result: renders exactly the text files workers used to write, and rejects what it cannot be. */
import { describe, expect, it } from 'vitest';
import { classify, softmaxRows } from '../../libs/models/src/softmax.js';
import {
  embedLine,
  errorLine,
  FLOAT32_TEXT_MAX_BYTES,
  float32Shortest,
  sentimentLine,
  SHARD_FAILED,
  withTokens,
  writeFloat32Shortest,
  type ItemError,
  type ResultLine,
  CorruptShardResultError,
  decodeShardResult,
  readShardResultHeader,
  SHARD_RESULT_HEADER_PROBE_BYTES,
  shardResultHeaderBytes,
  ShardResultWriter,
  type ShardResultLayout,
} from '#shared';

type Item =
  | { kind: 'embed'; values: Float32Array; tokens: number; truncated: boolean }
  | { kind: 'sentiment'; label: string; score: number; scores: Record<string, number>; tokens: number; truncated: boolean }
  | { kind: 'error'; error: ItemError; tokens: number };

/** Seeded, so a failure reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the items and encodes them. */
function encode(layout: ShardResultLayout, items: readonly Item[]): Buffer {
  const writer = new ShardResultWriter(layout);
  items.forEach((item, i) => {
    if (item.kind === 'embed') writer.setEmbedding(i, item.values, item);
    else if (item.kind === 'sentiment') writer.setClassification(i, item);
    else writer.setError(i, item.error, item.tokens);
  });
  return writer.finish();
}

/** The files as workers wrote them before the binary format: lines from the line functions, rows through a DataView. */
function todaysFiles(layout: ShardResultLayout, items: readonly Item[]): { results: string; errors: string; embeddings: Buffer | null } {
  const { ids, start, itemTokens } = layout;
  const lines: string[] = [];
  const errors: string[] = [];
  const dims = layout.dimensions ?? 0;
  const rows = layout.task === 'embed' && dims > 0 ? Buffer.alloc(items.length * dims * 4) : null;
  const view = rows ? new DataView(rows.buffer, rows.byteOffset, rows.byteLength) : null;
  items.forEach((item, i) => {
    const id = ids === 'unknown' ? null : (ids[i] as string);
    if (item.kind === 'error') {
      const line = errorLine(id, start + i, item.error);
      lines.push(line);
      errors.push(line);
      for (let j = 0; j < dims; j++) view?.setFloat32((i * dims + j) * 4, Number.NaN, true);
    } else if (item.kind === 'embed') {
      lines.push(withTokens(embedLine(id, start + i, item.values, item.truncated), itemTokens, item.tokens));
      for (let j = 0; j < dims; j++) view?.setFloat32((i * dims + j) * 4, item.values[j] as number, true);
    } else {
      lines.push(withTokens(sentimentLine(id, start + i, item.label, item.score, item.scores, item.truncated), itemTokens, item.tokens));
    }
  });
  const ndjson = (l: string[]) => (l.length === 0 ? '' : `${l.join('\n')}\n`);
  return { results: ndjson(lines), errors: ndjson(errors), embeddings: rows };
}

/** Every way of reading the object agrees with today's files. */
function expectSameAsToday(layout: ShardResultLayout, items: readonly Item[]): Buffer {
  const object = encode(layout, items);
  const today = todaysFiles(layout, items);
  const result = decodeShardResult(object);
  const results = result.renderNdjson('results');
  expect(results.toString()).toBe(today.results);
  expect(results.equals(Buffer.from(today.results))).toBe(true);
  expect(result.renderNdjson('errors').equals(Buffer.from(today.errors))).toBe(true);
  const parsed = today.results
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultLine);
  expect([...result.lines()]).toEqual(parsed);
  const rows = result.embeddingRows();
  if (today.embeddings === null) expect(rows).toBeNull();
  else expect(rows?.equals(today.embeddings)).toBe(true);
  return object;
}

const ids = (n: number, prefix = 'id-') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const embedding = (next: () => number, dims: number) =>
  Float32Array.from({ length: dims }, () => {
    const r = next();
    if (r < 0.02) return 0;
    if (r < 0.04) return -0;
    if (r < 0.1) return (next() - 0.5) * 10 ** Math.floor(next() * 83 - 45); // every printing path: exponents, the toPrecision fallback
    return (next() - 0.5) * 0.2;
  });

describe('float32Shortest', () => {
  it('prints the shortest text that reads back as the same float32', () => {
    expect(JSON.stringify(float32Shortest(Math.fround(0.1)))).toBe('0.1');
    expect(JSON.stringify(float32Shortest(Math.fround(-1 / 3)))).toBe('-0.33333334');
    expect(float32Shortest(0.5)).toBe(0.5);
    expect(float32Shortest(-0)).toBe(0);
    expect(Object.is(float32Shortest(-0), 0)).toBe(true);
  });

  it('round-trips every float32 it prints (random values across magnitudes)', () => {
    const values = new Float32Array(20_000);
    for (let i = 0; i < values.length; i++) values[i] = (Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 20 - 10);
    values.set([3.4028234663852886e38, 1.1754943508222875e-38, 1.401298464324817e-45, -2.5, 1e-7], 0);
    for (const f of values) {
      const text = JSON.stringify(float32Shortest(f));
      expect(Math.fround(Number(JSON.parse(text))), text).toBe(f);
      expect(text.replace(/^-|e.*$|\./g, '').replace(/^0+/, '').length).toBeLessThanOrEqual(9);
    }
  });

  it('gives the same answer as the toPrecision search (shortest k whose Number(toPrecision(k)) reads back)', () => {
    const byPrecision = (f: number): number => {
      let best = Number(f.toPrecision(9));
      for (let k = 8; k >= 1; k--) {
        const c = Number(f.toPrecision(k));
        if (Math.fround(c) !== f) break;
        best = c;
      }
      return best;
    };
    // Random bit patterns cover every exponent (the slow path included); embedding-like values are the common case.
    const bits = new Uint32Array(100_000);
    for (let i = 0; i < bits.length; i++) bits[i] = Math.floor(Math.random() * 2 ** 32);
    const values = [...new Float32Array(bits.buffer), ...Array.from({ length: 100_000 }, () => (Math.random() - 0.5) * 0.2)];
    values.push(1, 10, 100, 1e-5, 1e7, 1e22, 1e23, 0.1, 9.999999e-7, 16777216, 1.401298464324817e-45, -3.4028234663852886e38);
    const wrong = values
      .map(Math.fround)
      .filter((f) => Number.isFinite(f) && f !== 0)
      .filter((f) => float32Shortest(f) !== byPrecision(f));
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});

describe('writeFloat32Shortest', () => {
  it('writes the bytes JSON.stringify prints for float32Shortest, in every notation', () => {
    const next = random(6);
    const bits = Uint32Array.from({ length: 300_000 }, () => Math.floor(next() * 2 ** 32));
    const values = [...new Float32Array(bits.buffer), ...Array.from({ length: 100_000 }, () => (next() - 0.5) * 0.2)];
    for (let e = -46; e <= 39; e++) values.push(10 ** e, -(10 ** e), 1.5 * 10 ** e, 9.999999 * 10 ** e, 1.2345678 * 10 ** e);
    values.push(0, -0, Number.NaN, Number.POSITIVE_INFINITY, 3.4028234663852886e38, 1.401298464324817e-45, 16777216, 1e21, 123456789e13, 0.1, 0.000001, 0.0000001);
    const out = Buffer.alloc(FLOAT32_TEXT_MAX_BYTES);
    const wrong: string[] = [];
    let longest = 0;
    for (const value of values) {
      const end = writeFloat32Shortest(value, out, 0);
      const text = out.toString('latin1', 0, end);
      if (text !== JSON.stringify(float32Shortest(value)) && wrong.length < 5) wrong.push(`${value}: ${text} != ${JSON.stringify(float32Shortest(value))}`);
      longest = Math.max(longest, end);
    }
    expect(wrong).toEqual([]);
    expect(longest).toBeLessThanOrEqual(FLOAT32_TEXT_MAX_BYTES);
  });
});

describe('line functions', () => {
  it('escape ids safely', () => {
    const line = embedLine('a"b\n\u2028', 0, [1], false);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line).id).toBe('a"b\n\u2028');
  });
});

describe('embed shards', () => {
  it("render today's bytes with failures, truncation and item tokens", () => {
    const next = random(1);
    const dims = 24;
    const items: Item[] = Array.from({ length: 60 }, (_, i): Item => {
      if (i % 7 === 3) return { kind: 'error', error: { code: i % 2 ? 'TEXT_TOO_LONG' : 'NON_FINITE_OUTPUT', message: `item ${i} "failed"\n` }, tokens: i };
      return { kind: 'embed', values: embedding(next, dims), tokens: 1 + i, truncated: i % 5 === 0 };
    });
    for (const itemTokens of [false, true]) {
      expectSameAsToday({ task: 'embed', start: 1000, count: items.length, ids: ids(items.length), dimensions: dims, itemTokens }, items);
    }
  });

  it('store default ids once and list the others, escaped', () => {
    const next = random(2);
    const items: Item[] = Array.from({ length: 3 }, () => ({ kind: 'embed', values: embedding(next, 2), tokens: 2, truncated: false }));
    const numbered = expectSameAsToday({ task: 'embed', start: 40, count: 3, ids: ['40', '41', '42'], dimensions: 2 }, items);
    expect(readShardResultHeader(numbered).ids).toBe('default');
    expect(readShardResultHeader(numbered).sections.ids).toBeUndefined();
    const odd = expectSameAsToday({ task: 'embed', start: 40, count: 3, ids: ['40', 'ünï "cödé"\n\u2028', '042'], dimensions: 2 }, items);
    expect(readShardResultHeader(odd).ids).toBe('list');
  });

  it('write the summary into the header', () => {
    const items: Item[] = [
      { kind: 'embed', values: Float32Array.of(1, 2), tokens: 3, truncated: true },
      { kind: 'error', error: { code: 'TEXT_TOO_LONG', message: 'no' }, tokens: 9 },
      { kind: 'embed', values: Float32Array.of(0.25, -0.5), tokens: 3, truncated: false },
    ];
    const object = expectSameAsToday({ task: 'embed', start: 100, count: 3, ids: ['a', 'b', 'c'], dimensions: 2 }, items);
    expect(readShardResultHeader(object).summary).toEqual({ succeeded: 2, failed: 1, truncated: 1, tokens: 15 });
  });

  it('render a full shard (512 x 384)', () => {
    const next = random(3);
    const items: Item[] = Array.from({ length: 512 }, (_, i) => ({ kind: 'embed', values: embedding(next, 384), tokens: 100 + i, truncated: false }));
    const object = expectSameAsToday({ task: 'embed', start: 0, count: 512, ids: ids(512), dimensions: 384 }, items);
    expect(object.length).toBeLessThan(512 * 384 * 4 + 16_384);
  });
});

describe('sentiment shards', () => {
  /** Results as the engine makes them: softmax, then classify with topK. */
  function classified(labels: readonly string[], topK: number | null, logits: number[][]): Item[] {
    return logits.map((row, i) => {
      const probs = softmaxRows(row, row.length, new Float32Array(row.length));
      return { kind: 'sentiment', ...classify(probs, labels, topK), tokens: 5 + i, truncated: i === 1 };
    });
  }

  it("render today's bytes for every topK, integer-like labels (JS reorders them) and ties", () => {
    const next = random(4);
    const labelSets = [
      ['NEGATIVE', 'POSITIVE'],
      ['2', '0', '10', '1', 'neutral', 'a"b'],
      ['LABEL_1', '1', 'LABEL_0', '0'],
      ['ünï', '€'],
    ];
    for (const labels of labelSets) {
      const logits = Array.from({ length: 12 }, (_, i) =>
        // Rows 0 and 1 tie every label; row 2 ties two.
        labels.map((_, j) => (i < 2 ? 0.5 : i === 2 && j < 2 ? 3 : (next() - 0.5) * 20)),
      );
      for (const topK of [null, 1, 2, labels.length]) {
        const items = classified(labels, topK, logits);
        items[5] = { kind: 'error', error: { code: 'INFERENCE_FAILED', message: 'boom' }, tokens: 0 };
        for (const itemTokens of [false, true]) expectSameAsToday({ task: 'sentiment', start: 7, count: items.length, ids: ids(items.length), labels, itemTokens }, items);
      }
    }
  });

  it('keep the scores in the order the object gives them, not the label order', () => {
    const items: Item[] = [{ kind: 'sentiment', label: 'b', score: 0.75, scores: { b: 0.75, '1': 0.125, a: 0.125 }, tokens: 1, truncated: false }];
    const object = expectSameAsToday({ task: 'sentiment', start: 0, count: 1, ids: ['x'], labels: ['a', 'b', '1'] }, items);
    expect(decodeShardResult(object).renderNdjson('results').toString()).toBe('{"id":"x","index":0,"label":"b","score":0.75,"scores":{"1":0.125,"b":0.75,"a":0.125}}\n');
  });

  it('refuse labels the model does not have', () => {
    const writer = new ShardResultWriter({ task: 'sentiment', start: 0, count: 1, ids: ['x'], labels: ['a'] });
    expect(() => writer.setClassification(0, { label: 'z', score: 1, scores: { z: 1 }, tokens: 1, truncated: false })).toThrow(/"z" of item 0 is not one of the model's labels/);
  });
});

describe('failed and empty shards', () => {
  const failed = (n: number): Item[] => Array.from({ length: n }, () => ({ kind: 'error', error: { code: SHARD_FAILED, message: 'model exploded' }, tokens: 0 }));

  it('render SHARD_FAILED lines with NaN rows of a known width', () => {
    const object = expectSameAsToday({ task: 'embed', start: 10, count: 4, ids: ids(4), dimensions: 3 }, failed(4));
    const result = decodeShardResult(object);
    expect(result.renderNdjson('errors').equals(result.renderNdjson('results'))).toBe(true);
    expect(result.embeddingRows()?.length).toBe(4 * 3 * 4);
    // The reason is stored once, not once per item.
    expect(object.toString('latin1').split('model exploded')).toHaveLength(2);
  });

  it('have no rows when the width is unknown, and null ids when the ids are', () => {
    expectSameAsToday({ task: 'embed', start: 10, count: 2, ids: ids(2), dimensions: 0 }, failed(2));
    const object = expectSameAsToday({ task: 'embed', start: 10, count: 2, ids: 'unknown', dimensions: 0 }, failed(2));
    const result = decodeShardResult(object);
    expect(result.embeddingRows()).toBeNull();
    expect(result.renderNdjson('results').toString()).toBe(
      '{"id":null,"index":10,"error":{"code":"SHARD_FAILED","message":"model exploded"}}\n{"id":null,"index":11,"error":{"code":"SHARD_FAILED","message":"model exploded"}}\n',
    );
    expectSameAsToday({ task: 'sentiment', start: 10, count: 2, ids: 'unknown', labels: [] }, failed(2));
  });

  it('render nothing for an empty shard', () => {
    for (const layout of [
      { task: 'embed', start: 5, count: 0, ids: [], dimensions: 8 },
      { task: 'embed', start: 5, count: 0, ids: 'unknown', dimensions: 0 },
      { task: 'sentiment', start: 5, count: 0, ids: [], labels: ['a', 'b'] },
    ] satisfies ShardResultLayout[]) {
      const result = decodeShardResult(expectSameAsToday(layout, []));
      expect(result.renderNdjson('results').length).toBe(0);
      expect(result.header.summary).toEqual({ succeeded: 0, failed: 0, truncated: 0, tokens: 0 });
    }
  });
});

describe('reading', () => {
  const sample = () =>
    encode({ task: 'sentiment', start: 3, count: 3, ids: ['a', 'b', 'c'], labels: ['NEG', 'POS'], itemTokens: true }, [
      { kind: 'sentiment', label: 'POS', score: 0.75, scores: { POS: 0.75, NEG: 0.25 }, tokens: 4, truncated: true },
      { kind: 'error', error: { code: 'TEXT_TOO_LONG', message: 'too long' }, tokens: 600 },
      { kind: 'sentiment', label: 'NEG', score: 0.5, scores: { NEG: 0.5 }, tokens: 2, truncated: false },
    ]);

  it('reads the header from the first bytes alone', () => {
    const object = sample();
    const prefix = object.subarray(0, Math.min(object.length, SHARD_RESULT_HEADER_PROBE_BYTES));
    expect(shardResultHeaderBytes(object.subarray(0, 8))).toBeLessThanOrEqual(prefix.length);
    const header = readShardResultHeader(object.subarray(0, shardResultHeaderBytes(object)));
    expect(header).toEqual(decodeShardResult(object).header);
    expect(header).toMatchObject({ task: 'sentiment', start: 3, count: 3, labels: ['NEG', 'POS'], summary: { succeeded: 2, failed: 1, truncated: 1, tokens: 606 } });
    expect(() => readShardResultHeader(object.subarray(0, 20))).toThrow(/the header needs \d+ bytes, got 20/);
  });

  it('decodes a Buffer that does not start on a 4-byte boundary', () => {
    const object = sample();
    for (const shift of [1, 2, 3]) {
      const shifted = Buffer.alloc(object.length + shift).fill(0xee);
      object.copy(shifted, shift);
      const view = shifted.subarray(shift);
      expect(view.byteOffset % 4).toBe(shift);
      expect(decodeShardResult(view).renderNdjson('results').equals(decodeShardResult(object).renderNdjson('results'))).toBe(true);
    }
    const next = random(5);
    const items: Item[] = Array.from({ length: 5 }, () => ({ kind: 'embed', values: embedding(next, 7), tokens: 1, truncated: false }));
    const layout: ShardResultLayout = { task: 'embed', start: 0, count: 5, ids: ids(5), dimensions: 7 };
    const embed = encode(layout, items);
    const shifted = Buffer.concat([Buffer.of(1), embed]).subarray(1);
    expect(decodeShardResult(shifted).renderNdjson('results').toString()).toBe(todaysFiles(layout, items).results);
    expect(
      decodeShardResult(shifted)
        .embeddingRows()
        ?.equals(todaysFiles(layout, items).embeddings as Buffer),
    ).toBe(true);
  });

  it('rejects corrupt or truncated objects, naming the problem', () => {
    const object = sample();
    const headerEnd = shardResultHeaderBytes(object);
    const header = readShardResultHeader(object);
    const dataStart = (headerEnd + 3) & ~3;
    const withHeader = (change: (h: Record<string, unknown>) => void): Buffer => {
      const h = JSON.parse(JSON.stringify(header)) as Record<string, unknown>;
      change(h);
      const json = Buffer.from(JSON.stringify(h));
      const start = (8 + json.length + 3) & ~3;
      const out = Buffer.alloc(start + object.length - dataStart);
      out.write('SWR1');
      out.writeUInt32LE(json.length, 4);
      json.copy(out, 8);
      object.copy(out, start, dataStart);
      return out;
    };
    const patched = (offset: number, byte: number) => {
      const copy = Buffer.from(object);
      copy[offset] = byte;
      return copy;
    };
    const flags = dataStart + (header.sections.flags[0] as number);
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.alloc(0), /shorter than the 8-byte prefix/],
      [Buffer.from('NOPE\0\0\0\0'), /magic is "NOPE"/],
      [object.subarray(0, 30), /the header needs/],
      [object.subarray(0, object.length - 1), /truncated|sections end/],
      [Buffer.concat([object, Buffer.alloc(4)]), /the sections end at/],
      [patched(8, 0x21), /header is not JSON/],
      [withHeader((h) => (h.v = 2)), /header\.v/],
      [withHeader((h) => (h.task = 'translate')), /header\.task/],
      [withHeader((h) => (h.count = 4)), /summary counts 3 items, header 4/],
      [withHeader((h) => (h.width = 9)), /width 9 does not fit 2 labels/],
      [withHeader((h) => ((h.summary as Record<string, number>).tokens = 5)), /the summary says/],
      [withHeader((h) => delete (h.sections as Record<string, unknown>).flags), /header\.sections\.flags/],
      [withHeader((h) => ((h.sections as Record<string, number[]>).tokens = [0, 8])), /section tokens has 8 bytes, expected 12/],
      [withHeader((h) => ((h.sections as Record<string, number[]>).values = [2, 36])), /section values starts at 2/],
      [patched(flags, 0), /item 0 is not failed but|summary says/],
      [patched(flags + 1, 0), /item 1 is not failed but has an error/],
      [patched(flags + 2, 7), /item 2 has flags 7/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => decodeShardResult(bytes), String(message)).toThrow(CorruptShardResultError);
      expect(() => decodeShardResult(bytes), String(message)).toThrow(message);
    }
  });
});

describe('ShardResultWriter', () => {
  it('refuses what the format cannot carry', () => {
    const writer = () => new ShardResultWriter({ task: 'embed', start: 0, count: 2, ids: ['a', 'b'], dimensions: 2 });
    const meta = { tokens: 1, truncated: false };
    expect(() => writer().setEmbedding(0, [1, 2, 3], meta)).toThrow(/has 3 values, expected 2/);
    expect(() => writer().setEmbedding(0, [1, Number.NaN], meta)).toThrow(/NaN/);
    expect(() => writer().setEmbedding(2, [1, 2], meta)).toThrow(/outside the shard/);
    expect(() => writer().setClassification(0, { label: 'a', score: 1, scores: {}, ...meta })).toThrow(/a sentiment result for item 0 of a embed shard/);
    expect(() => writer().finish()).toThrow(/item 0 of 2 was never set/);
    const twice = writer();
    twice.setError(0, { code: 'X', message: 'x' });
    expect(() => twice.setEmbedding(0, [1, 2], meta)).toThrow(/already set/);
    expect(() => new ShardResultWriter({ task: 'embed', start: 0, count: 2, ids: ['a'], dimensions: 2 })).toThrow(/1 ids for 2 items/);
    const unknown = new ShardResultWriter({ task: 'embed', start: 0, count: 1, ids: ['a'], dimensions: 0 });
    expect(() => unknown.setEmbedding(0, [1], meta)).toThrow(/width is unknown/);
  });
});

describe('json output (token-classification entities)', () => {
  const entities = [
    { entity_group: 'PER', score: 0.91, word: 'zoë', start: 0, end: 3 },
    { entity_group: 'LOC', score: 0.5, word: '東京', start: 4, end: 6 },
  ];

  it('stores each item value once and prints it as the entities field, failed items as errors', () => {
    const writer = new ShardResultWriter({ task: 'token-classification', start: 10, count: 3, ids: ['a', 'b', 'c'], itemTokens: true });
    writer.setJson(0, entities, { tokens: 7, truncated: false });
    writer.setError(1, { code: 'INFERENCE_FAILED', message: 'boom' }, 4);
    writer.setJson(2, [], { tokens: 130, truncated: true });
    const result = decodeShardResult(writer.finish());
    expect(result.header).toMatchObject({ task: 'token-classification', width: 0, summary: { succeeded: 2, failed: 1, truncated: 1, tokens: 141 } });
    expect(result.header.labels).toBeUndefined();
    const text = result.renderNdjson('results').toString('utf8');
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { id: 'a', index: 10, entities, tokens: 7 },
      { id: 'b', index: 11, error: { code: 'INFERENCE_FAILED', message: 'boom' } },
      { id: 'c', index: 12, entities: [], truncated: true, tokens: 130 },
    ]);
    expect([...result.lines()]).toEqual(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    );
    expect(result.embeddingRows()).toBeNull();
    // Dedup copies: the item as the engine returned it.
    expect(result.itemResult(0)).toEqual({ ok: true, tokens: 7, truncated: false, entities });
    expect(result.itemResult(2)).toEqual({ ok: true, tokens: 130, truncated: true, entities: [] });
  });

  it('refuses an embedding for a token-classification shard and an object whose json section lies', () => {
    const writer = new ShardResultWriter({ task: 'token-classification', start: 0, count: 1, ids: ['a'] });
    expect(() => writer.setEmbedding(0, [1], { tokens: 1, truncated: false })).toThrow(RangeError);
    writer.setJson(0, entities, { tokens: 1, truncated: false });
    const object = writer.finish();
    // Same length, but the json section now says null for an item flagged as succeeded.
    const forged = Buffer.from(
      object.toString('latin1').replace(/\[\[\{.*\}\]\]$/, (json) => `[null${' '.repeat(json.length - 6)}]`),
      'latin1',
    );
    expect(forged.length).toBe(object.length);
    expect(() => decodeShardResult(forged)).toThrow(CorruptShardResultError);
  });
});

describe('ShardResult.itemResult (dedup copies)', () => {
  it('gives each item as the engine returned it: written again, the object is byte for byte the same', () => {
    const rand = random(42);
    const error: ItemError = { code: 'TEXT_TOO_LONG', message: 'text has 900 tokens; the model takes 512' };
    const labels = ['1', 'NEGATIVE', 'POSITIVE', '0'];
    for (const task of ['embed', 'sentiment'] as const) {
      const items: Item[] = Array.from({ length: 40 }, (_, i): Item => {
        if (i % 7 === 3) return { kind: 'error', error, tokens: 900 };
        const tokens = 1 + Math.floor(rand() * 500);
        const truncated = i % 5 === 0;
        if (task === 'embed') return { kind: 'embed', values: Float32Array.from({ length: 8 }, () => rand() * 2 - 1), tokens, truncated };
        // Scores in the order the line prints them, integer-like labels included (JS puts those first).
        const scores: Record<string, number> = {};
        for (const label of labels.slice(0, 1 + (i % labels.length))) scores[label] = Math.fround(rand());
        const [top] = Object.entries(scores).sort((a, b) => b[1] - a[1]);
        return { kind: 'sentiment', label: top![0], score: top![1], scores, tokens, truncated };
      });
      const layout: ShardResultLayout = { task, start: 100, count: items.length, ids: items.map((_, i) => `id-${i}`), dimensions: 8, labels, itemTokens: true };
      const original = encode(layout, items);
      const decoded = decodeShardResult(original);
      const copy = new ShardResultWriter(layout);
      for (let i = 0; i < items.length; i++) {
        const result = decoded.itemResult(i);
        if (!result.ok) copy.setError(i, result.error, result.tokens);
        else if ('embedding' in result) copy.setEmbedding(i, result.embedding, result);
        else if ('label' in result) copy.setClassification(i, result);
      }
      expect(copy.finish().equals(original), task).toBe(true);
      expect(() => decoded.itemResult(items.length)).toThrow(/outside the shard/);
    }
  });
});
