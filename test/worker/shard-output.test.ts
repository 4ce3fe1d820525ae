import { describe, expect, it } from 'vitest';
import type { ItemResult } from '#models';
import {
  embedLine,
  errorLine,
  NON_FINITE_OUTPUT,
  SHARD_FAILED,
  withTokens,
  decodeShardResult,
  readShardResultHeader,
  buildFailedShardOutput,
  buildShardOutput,
  type ShardOutput,
} from '#shared';

const results = (out: ShardOutput) => decodeShardResult(out.object).renderNdjson('results').toString();
const errors = (out: ShardOutput) => decodeShardResult(out.object).renderNdjson('errors').toString();
const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const floats = (buffer: Buffer | null) => {
  const b = buffer as Buffer;
  return Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(i * 4));
};
const rows = (out: ShardOutput) => floats(decodeShardResult(out.object).embeddingRows());

const emb = (values: number[], truncated = false, tokens = 3): ItemResult => ({ ok: true, tokens, truncated, embedding: Float32Array.from(values) });
const bad = (code = 'TEXT_TOO_LONG', tokens = 9): ItemResult => ({ ok: false, tokens, truncated: false, error: { code, message: 'no' } });

describe('buildShardOutput (embed)', () => {
  it('writes one line per item in input order with absolute indexes', () => {
    const out = buildShardOutput('embed', ['a', 'b', 'c'], 100, [emb([1, 2]), bad(), emb([0.25, -0.5], true)], 2);
    expect(lines(results(out))).toEqual([
      { id: 'a', index: 100, embedding: [1, 2] },
      { id: 'b', index: 101, error: { code: 'TEXT_TOO_LONG', message: 'no' } },
      { id: 'c', index: 102, embedding: [0.25, -0.5], truncated: true },
    ]);
    expect(results(out).endsWith('}\n')).toBe(true);
    expect(out.summary).toEqual({ succeeded: 2, failed: 1, truncated: 1, tokens: 15 });
    expect(readShardResultHeader(out.object).summary).toEqual(out.summary);
    expect(lines(errors(out))).toEqual([{ id: 'b', index: 101, error: { code: 'TEXT_TOO_LONG', message: 'no' } }]);
    expect(out.failedByCode).toEqual(new Map([['TEXT_TOO_LONG', 1]]));
  });

  it('adds "truncated" only to truncated items, and "tokens" only when the job asks', () => {
    expect(results(buildShardOutput('embed', ['x'], 0, [emb([1, 1])], 2))).toBe('{"id":"x","index":0,"embedding":[1,1]}\n');
    const values = [Math.fround(0.1), -0.5];
    const out = buildShardOutput('embed', ['x', 'y'], 4, [emb(values, true, 7), bad()], 2, { itemTokens: true });
    expect(results(out)).toBe(`${withTokens(embedLine('x', 4, values, true), true, 7)}\n${errorLine('y', 5, { code: 'TEXT_TOO_LONG', message: 'no' })}\n`);
  });

  it('packs embeddings as little-endian float32 rows with NaN rows for failed items', () => {
    const values = [Math.fround(0.1), Math.fround(-1 / 3), 1e-7, 42];
    const out = buildShardOutput('embed', ['a', 'b', 'c'], 0, [emb(values.slice(0, 2)), bad(), emb(values.slice(2))], 2);
    const all = rows(out);
    expect(all).toHaveLength(6);
    expect(all.slice(0, 2)).toEqual([Math.fround(0.1), Math.fround(-1 / 3)]);
    expect(all.slice(2, 4).every(Number.isNaN)).toBe(true);
    expect(all.slice(4)).toEqual([Math.fround(1e-7), 42]);
    // The NDJSON text and the binary agree on every value.
    const json = lines(results(out));
    expect((json[0]!.embedding as number[]).map(Math.fround)).toEqual(all.slice(0, 2));
    expect((json[2]!.embedding as number[]).map(Math.fround)).toEqual(all.slice(4));
  });

  it('turns NaN or Infinity output into an item error instead of invalid JSON', () => {
    const out = buildShardOutput('embed', ['a', 'b'], 0, [emb([1, Number.NaN], false, 4), emb([Number.POSITIVE_INFINITY, 1], false, 5)], 2);
    for (const line of lines(results(out))) expect(line).toMatchObject({ error: { code: NON_FINITE_OUTPUT } });
    expect(out.summary).toEqual({ succeeded: 0, failed: 2, truncated: 0, tokens: 9 });
    expect(out.failedByCode).toEqual(new Map([[NON_FINITE_OUTPUT, 2]]));
    expect(rows(out).every(Number.isNaN)).toBe(true);
  });

  it('refuses results that cannot belong to the items', () => {
    expect(() => buildShardOutput('embed', ['a'], 0, [], 2)).toThrow(/0 results for 1 texts/);
    expect(() => buildShardOutput('embed', ['a'], 0, [emb([1, 2, 3])], 2)).toThrow(/expected 2/);
    const classification: ItemResult = { ok: true, tokens: 1, truncated: false, label: 'A', score: 1, scores: { A: 1 } };
    expect(() => buildShardOutput('embed', ['a'], 5, [classification], 2)).toThrow(/non-embedding result for an embed shard \(item 5\)/);
    expect(() => buildShardOutput('sentiment', ['a'], 5, [emb([1])], 0, { labels: ['A'] })).toThrow(/non-classification result/);
  });

  it('encodes a full-size shard (512 x 384) quickly', () => {
    const dims = 384;
    const ids = Array.from({ length: 512 }, (_, i) => `id-${i}`);
    const items = ids.map(() => emb(Array.from({ length: dims }, () => Math.random() - 0.5)));
    const t0 = performance.now();
    const out = buildShardOutput('embed', ids, 0, items, dims);
    const ms = performance.now() - t0;
    expect(rows(out)).toHaveLength(512 * dims);
    expect(lines(results(out))).toHaveLength(512);
    expect(out.object.length).toBeLessThan(512 * dims * 4 + 16_384);
    expect(ms).toBeLessThan(2000);
  });
});

describe('buildShardOutput (sentiment)', () => {
  it('writes label, score and scores with the model labels; no embeddings', () => {
    const r: ItemResult = { ok: true, tokens: 4, truncated: true, label: 'POSITIVE', score: 0.9, scores: { POSITIVE: 0.9, NEGATIVE: 0.1 } };
    const out = buildShardOutput('sentiment', ['s', 't'], 7, [r, bad('INFERENCE_FAILED')], 768, { labels: ['NEGATIVE', 'POSITIVE'] });
    expect(lines(results(out))).toEqual([
      { id: 's', index: 7, label: 'POSITIVE', score: 0.9, scores: { POSITIVE: 0.9, NEGATIVE: 0.1 }, truncated: true },
      { id: 't', index: 8, error: { code: 'INFERENCE_FAILED', message: 'no' } },
    ]);
    expect(decodeShardResult(out.object).embeddingRows()).toBeNull();
    expect(out.summary).toEqual({ succeeded: 1, failed: 1, truncated: 1, tokens: 13 });
  });

  it('fails non-finite scores as items and needs the model labels', () => {
    const r: ItemResult = { ok: true, tokens: 4, truncated: false, label: 'A', score: Number.NaN, scores: { A: Number.NaN } };
    expect(lines(results(buildShardOutput('sentiment', ['s'], 0, [r], 0, { labels: ['A'] })))[0]).toMatchObject({ error: { code: NON_FINITE_OUTPUT } });
    expect(() => buildShardOutput('sentiment', ['s'], 0, [r], 0)).toThrow(/needs the model labels/);
    const unknown: ItemResult = { ok: true, tokens: 4, truncated: false, label: 'Z', score: 1, scores: { Z: 1 } };
    expect(() => buildShardOutput('sentiment', ['s'], 0, [unknown], 0, { labels: ['A'] })).toThrow(/not one of the model's labels/);
  });
});

describe('buildFailedShardOutput', () => {
  it('fails every item with SHARD_FAILED and NaN rows of the known width', () => {
    const out = buildFailedShardOutput('embed', ['a', 'b'], 10, 2, 'model exploded', 3);
    expect(lines(results(out))).toEqual([
      { id: 'a', index: 10, error: { code: SHARD_FAILED, message: 'model exploded' } },
      { id: 'b', index: 11, error: { code: SHARD_FAILED, message: 'model exploded' } },
    ]);
    expect(errors(out)).toBe(results(out));
    expect(rows(out)).toHaveLength(6);
    expect(rows(out).every(Number.isNaN)).toBe(true);
    expect(out.summary).toEqual({ succeeded: 0, failed: 2, truncated: 0, tokens: 0 });
    expect(out.failedByCode).toEqual(new Map([[SHARD_FAILED, 2]]));
  });

  it('has no embedding rows when the width is unknown or the task is sentiment', () => {
    expect(decodeShardResult(buildFailedShardOutput('embed', ['a'], 0, 1, 'x', null).object).embeddingRows()).toBeNull();
    expect(decodeShardResult(buildFailedShardOutput('sentiment', ['a'], 0, 1, 'x', 3).object).embeddingRows()).toBeNull();
  });

  it('says "id":null when the ids could not be read', () => {
    const out = buildFailedShardOutput('embed', 'unknown', 4, 2, 'input object changed', 2);
    expect(results(out)).toBe(
      `${errorLine(null, 4, { code: SHARD_FAILED, message: 'input object changed' })}\n${errorLine(null, 5, { code: SHARD_FAILED, message: 'input object changed' })}\n`,
    );
    expect(buildFailedShardOutput('embed', 'unknown', 4, 0, 'x', 2).failedByCode.size).toBe(0);
  });
});
