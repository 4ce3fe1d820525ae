/** The shard result object's json section (tasks with output `json`: rerank): written, checked, rendered. */
import { describe, expect, it } from 'vitest';
import { buildShardOutput, CorruptShardResultError, decodeShardResult, ShardResultWriter } from '#shared';

describe('json results (rerank) in a shard result', () => {
  it('renders each item as its line fields, in NDJSON and as objects, with errors and flags', () => {
    const output = buildShardOutput(
      'rerank',
      ['q0', 'q1', 'q2'],
      10,
      [
        {
          ok: true,
          tokens: 40,
          truncated: true,
          ranking: [
            { index: 1, score: 0.75, text: 'b' },
            { index: 0, score: 0.1 / 3, text: 'a' },
          ],
        },
        { ok: false, tokens: 9, truncated: false, error: { code: 'TEXT_TOO_LONG', message: 'document 0: too long' } },
        { ok: true, tokens: 7, truncated: false, ranking: [{ index: 0, score: -2.5 }] },
      ],
      0,
    );
    expect(output.summary).toEqual({ succeeded: 2, failed: 1, truncated: 1, tokens: 56 });
    const result = decodeShardResult(output.object);
    const text = result.renderNdjson('results').toString('utf8');
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    // Scores print as float32 (1/30 is 0.033333335), like every other score.
    expect(lines).toEqual([
      {
        id: 'q0',
        index: 10,
        ranking: [
          { index: 1, score: 0.75, text: 'b' },
          { index: 0, score: 0.033333335, text: 'a' },
        ],
        truncated: true,
      },
      { id: 'q1', index: 11, error: { code: 'TEXT_TOO_LONG', message: 'document 0: too long' } },
      { id: 'q2', index: 12, ranking: [{ index: 0, score: -2.5 }] },
    ]);
    expect([...result.lines()]).toEqual(lines);
    expect(result.renderNdjson('errors').toString('utf8')).toBe(`${JSON.stringify(lines[1])}\n`);
  });

  it('refuses results of another kind, and a json section that lost an item', () => {
    const writer = new ShardResultWriter({ task: 'rerank', start: 0, count: 1, ids: ['0'] });
    expect(() => writer.setEmbedding(0, [1], { tokens: 1, truncated: false })).toThrow(/rerank shard/);
    writer.setJson(0, [], { tokens: 1, truncated: false });
    const object = writer.finish();
    const broken = Buffer.from(object.toString('latin1').replace('[[]]', '[  ]'), 'latin1');
    expect(() => decodeShardResult(broken)).toThrow(CorruptShardResultError);
  });
});
