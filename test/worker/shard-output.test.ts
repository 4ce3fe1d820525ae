import { describe, expect, it } from 'vitest';
import type { ItemResult } from '../../libs/models/src/index.js';
import {
  buildFailedShardOutput,
  buildShardOutput,
  embedLine,
  float32Shortest,
  NON_FINITE_OUTPUT,
  SHARD_FAILED,
} from '../../apps/worker/src/shards/shard-output.js';

const lines = (text: Buffer | string | undefined) =>
  String(text ?? '')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const floats = (buffer: Buffer | undefined) => {
  const b = buffer as Buffer;
  return Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(i * 4));
};

const emb = (values: number[], truncated = false, tokens = 3): ItemResult => ({ ok: true, tokens, truncated, embedding: Float32Array.from(values) });
const bad = (code = 'TEXT_TOO_LONG', tokens = 9): ItemResult => ({ ok: false, tokens, truncated: false, error: { code, message: 'no' } });

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

describe('buildShardOutput (embed)', () => {
  it('writes one line per item in input order with absolute indexes', () => {
    const out = buildShardOutput('embed', [{ id: 'a' }, { id: 'b' }, { id: 'c' }], 100, [emb([1, 2]), bad(), emb([0.25, -0.5], true)], 2);
    expect(lines(out.files.results)).toEqual([
      { id: 'a', index: 100, embedding: [1, 2] },
      { id: 'b', index: 101, error: { code: 'TEXT_TOO_LONG', message: 'no' } },
      { id: 'c', index: 102, embedding: [0.25, -0.5], truncated: true },
    ]);
    expect(String(out.files.results).endsWith('}\n')).toBe(true);
    expect(out.files.summary).toEqual({ succeeded: 2, failed: 1, truncated: 1, tokens: 15 });
    expect(lines(out.files.errors)).toEqual([{ id: 'b', index: 101, error: { code: 'TEXT_TOO_LONG', message: 'no' } }]);
    expect(out.failedByCode).toEqual(new Map([['TEXT_TOO_LONG', 1]]));
  });

  it('adds "truncated" only to truncated items', () => {
    const out = buildShardOutput('embed', [{ id: 'x' }], 0, [emb([1, 1])], 2);
    expect(String(out.files.results)).toBe('{"id":"x","index":0,"embedding":[1,1]}\n');
  });

  it('packs embeddings as little-endian float32 rows with NaN rows for failed items', () => {
    const values = [Math.fround(0.1), Math.fround(-1 / 3), 1e-7, 42];
    const out = buildShardOutput('embed', [{ id: 'a' }, { id: 'b' }, { id: 'c' }], 0, [emb(values.slice(0, 2)), bad(), emb(values.slice(2))], 2);
    const all = floats(out.files.embeddings);
    expect(all).toHaveLength(6);
    expect(all.slice(0, 2)).toEqual([Math.fround(0.1), Math.fround(-1 / 3)]);
    expect(all.slice(2, 4).every(Number.isNaN)).toBe(true);
    expect(all.slice(4)).toEqual([Math.fround(1e-7), 42]);
    // The NDJSON text and the binary agree on every value.
    const json = lines(out.files.results);
    expect((json[0].embedding as number[]).map(Math.fround)).toEqual(all.slice(0, 2));
    expect((json[2].embedding as number[]).map(Math.fround)).toEqual(all.slice(4));
  });

  it('turns NaN output into an item error instead of invalid JSON', () => {
    const out = buildShardOutput('embed', [{ id: 'a' }], 0, [emb([1, Number.NaN])], 2);
    expect(lines(out.files.results)[0]).toMatchObject({ id: 'a', index: 0, error: { code: NON_FINITE_OUTPUT } });
    expect(out.files.summary.failed).toBe(1);
    expect(floats(out.files.embeddings).every(Number.isNaN)).toBe(true);
  });

  it('refuses results that cannot belong to the items', () => {
    expect(() => buildShardOutput('embed', [{ id: 'a' }], 0, [], 2)).toThrow(/0 results for 1 texts/);
    expect(() => buildShardOutput('embed', [{ id: 'a' }], 0, [emb([1, 2, 3])], 2)).toThrow(/expected 2/);
  });

  it('escapes ids safely', () => {
    const line = embedLine('a"b\n\u2028', 0, [1], false);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line).id).toBe('a"b\n\u2028');
  });

  it('handles a full-size shard (512 x 384) quickly and writes no embeddings file for sentiment', () => {
    const dims = 384;
    const items = Array.from({ length: 512 }, (_, i) => ({ id: `id-${i}` }));
    const results = items.map(() => emb(Array.from({ length: dims }, () => Math.random() - 0.5)));
    const t0 = performance.now();
    const out = buildShardOutput('embed', items, 0, results, dims);
    const ms = performance.now() - t0;
    expect(out.files.embeddings?.length).toBe(512 * dims * 4);
    expect(lines(out.files.results)).toHaveLength(512);
    expect(ms).toBeLessThan(2000);
  });
});

describe('buildShardOutput (sentiment)', () => {
  it('writes label, score and scores; no embeddings', () => {
    const r: ItemResult = { ok: true, tokens: 4, truncated: true, label: 'POSITIVE', score: 0.9, scores: { POSITIVE: 0.9, NEGATIVE: 0.1 } };
    const out = buildShardOutput('sentiment', [{ id: 's' }, { id: 't' }], 7, [r, bad('INFERENCE_FAILED')], 768);
    expect(lines(out.files.results)).toEqual([
      { id: 's', index: 7, label: 'POSITIVE', score: 0.9, scores: { POSITIVE: 0.9, NEGATIVE: 0.1 }, truncated: true },
      { id: 't', index: 8, error: { code: 'INFERENCE_FAILED', message: 'no' } },
    ]);
    expect(out.files.embeddings).toBeUndefined();
    expect(out.files.summary).toEqual({ succeeded: 1, failed: 1, truncated: 1, tokens: 13 });
  });
});

describe('buildFailedShardOutput', () => {
  it('fails every item with SHARD_FAILED and NaN rows of the known width', () => {
    const out = buildFailedShardOutput('embed', [{ id: 'a' }, { id: 'b' }], 10, 'model exploded', 3);
    expect(lines(out.files.results)).toEqual([
      { id: 'a', index: 10, error: { code: SHARD_FAILED, message: 'model exploded' } },
      { id: 'b', index: 11, error: { code: SHARD_FAILED, message: 'model exploded' } },
    ]);
    expect(out.files.errors).toBe(out.files.results);
    expect(floats(out.files.embeddings)).toHaveLength(6);
    expect(floats(out.files.embeddings).every(Number.isNaN)).toBe(true);
    expect(out.files.summary).toEqual({ succeeded: 0, failed: 2, truncated: 0, tokens: 0 });
  });

  it('leaves the embeddings file out when the width is unknown', () => {
    expect(buildFailedShardOutput('embed', [{ id: 'a' }], 0, 'x', null).files.embeddings).toBeUndefined();
    expect(buildFailedShardOutput('sentiment', [{ id: 'a' }], 0, 'x', 3).files.embeddings).toBeUndefined();
  });
});
