/**
 * Token classification end to end: jobs through the API (JSON body and NDJSON upload, the `ner`
 * alias and options in the query string), real Redis and a worker, results downloaded as NDJSON and
 * as Parquet (entities as a JSON string column, read back with hyparquet), compared with the
 * InferencePool run in-process on the same texts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Entity, InferencePool } from '#models';
import { generateModels } from '../../tools/model-generator/index.js';
import { ensureThreadBuild } from '../models/fixtures.js';
import { API_ENTRY, type AppProcess, startApp, WORKER_ENTRY } from '../support/app-process.js';
import { expectedRow, readParquetResults } from '../support/parquet-results.js';
import { freePort, type RedisHandle, startRedis } from '../support/redis-server.js';
import { finished, postJob, postNdjson, type ResultLine, resultsOf, waitFor } from '../support/stack.js';

const MODEL_DIR = resolve(import.meta.dirname, '../../.cache/models');
const WORDS = ['Ann', 'lives', 'in', 'New', 'York', 'café', 'Zoë', 'unbelievably', '東京', '😀', 'ok,', 'the'];

/** 240 texts: empty, short, emoji and CJK, and some far over the 128-token limit (truncated). */
function texts(): string[] {
  return Array.from({ length: 240 }, (_, i) => {
    if (i % 40 === 0) return '';
    const words = i % 17 === 0 ? 260 : 1 + ((i * 7) % 23);
    return Array.from({ length: words }, (_, k) => WORDS[(i * 5 + k * 3) % WORDS.length]).join(' ');
  });
}

describe('token-classification jobs end to end', () => {
  let redis: RedisHandle;
  let api: AppProcess;
  let worker: AppProcess;
  let resultsDir: string;
  let pool: InferencePool;

  beforeAll(async () => {
    ensureThreadBuild();
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert', 'roberta'], head: ['ner'], dtype: ['fp32'] });
    redis = await startRedis();
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-ner-'));
    const common = { REDIS_URL: redis.url, MODEL_DIR, RESULTS_DIR: resultsDir };
    const apiPort = await freePort();
    api = await startApp(API_ENTRY, { ...common, PORT: String(apiPort), SHARD_MAX_TEXTS: '50' }, apiPort);
    const workerPort = await freePort();
    worker = await startApp(WORKER_ENTRY, { ...common, WORKER_PORT: String(workerPort), INFERENCE_THREADS: '2' }, workerPort);
    pool = new InferencePool({ threads: 1, intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir: MODEL_DIR, maxBatchTokens: 4096, maxBatchSize: 32 });
    await pool.start();
  }, 240_000);

  afterAll(async () => {
    await pool?.close();
    await worker?.stop();
    await api?.stop();
    await redis?.stop();
    if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  });

  /** The entities the pool gives in-process; scores may differ in the last float32 bits with other batch-mates. */
  async function expected(model: string, inputs: string[], options: { aggregationStrategy?: 'none' | 'simple' | 'first' | 'average' | 'max'; ignoreLabels?: string[] }) {
    const { results } = await pool.encode({ modelId: model, task: 'token-classification', texts: inputs, options });
    return results.map((result) => (result.ok && 'entities' in result ? result.entities : null));
  }

  function expectSame(lines: ResultLine[], wanted: Array<Entity[] | null>): void {
    expect(lines).toHaveLength(wanted.length);
    lines.forEach((line, i) => {
      const entities = (line as unknown as { entities?: Entity[] }).entities;
      expect(entities, `line ${i}`).toBeDefined();
      const round = (list: Entity[]) => list.map((e) => ({ ...e, score: Math.round(e.score * 1e4) }));
      expect(round(entities as Entity[]), `line ${i}`).toEqual(round(wanted[i] as Entity[]));
    });
  }

  it('runs a JSON-body job (aggregation simple) and serves NDJSON and Parquet with the same entities', async () => {
    const model = 'shardwise-random/bert-tiny-ner';
    const inputs = texts();
    const submitted = await postJob(api.baseUrl, { task: 'token-classification', model, inputs, options: { aggregation_strategy: 'simple' } });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    expect(submitted.body.options).toMatchObject({ aggregation_strategy: 'simple', ignore_labels: ['O'] });
    const job = await waitFor(api.baseUrl, submitted.body.id as string, finished);
    expect(job.state).toBe('completed');
    expect(job.counts).toMatchObject({ total: inputs.length, succeeded: inputs.length, failed: 0 });
    // The empty texts (and other repeats) are computed once; their copies must carry the same entities (checked below).
    expect((job.counts as { deduplicated?: number }).deduplicated).toBeGreaterThanOrEqual(inputs.filter((t) => t === '').length - 1);
    expect(job.truncated).toBe(inputs.filter((_, i) => i % 17 === 0 && i % 40 !== 0).length);

    const lines = await resultsOf(api.baseUrl, job.id);
    expectSame(lines, await expected(model, inputs, { aggregationStrategy: 'simple' }));
    const all = lines.flatMap((line) => (line as unknown as { entities: Entity[] }).entities);
    expect(all.length).toBeGreaterThan(100);
    for (const entity of all) {
      expect(entity.entity_group).toMatch(/^(PER|ORG|LOC|MISC)$/);
      expect(entity.start).not.toBeNull();
    }
    // Offsets are code points into the submitted text.
    const line = lines.find((l) => (l as unknown as { entities: Entity[] }).entities.length > 0) as unknown as ResultLine & { entities: Entity[] };
    const first = line.entities[0] as Entity;
    const text = Array.from(inputs[line.index] as string);
    expect(
      text
        .slice(first.start as number, first.end as number)
        .join('')
        .toLowerCase()
        .normalize('NFD')
        .replace(/\p{Mn}/gu, ''),
    ).toBe(first.word.replaceAll(' ##', '').replace(/\s/g, ' ').replace(/ /g, ' '));

    const parquet = await fetch(`${api.baseUrl}/v1/jobs/${job.id}/results?format=parquet`);
    expect(parquet.status).toBe(200);
    const file = await readParquetResults(new Uint8Array(await parquet.arrayBuffer()));
    expect(file.columns).toEqual(['id', 'index', 'entities', 'truncated', 'error_code', 'error_message']);
    expect(file.rows).toEqual(lines.map((l) => expectedRow(l, { task: 'token-classification' })));

    const f32 = await fetch(`${api.baseUrl}/v1/jobs/${job.id}/results?format=f32`);
    expect(f32.status).toBe(400);
    expect(((await f32.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_FORMAT');
  }, 240_000);

  it('runs an NDJSON upload with the ner alias and query options (RoBERTa, aggregation first, nothing ignored)', async () => {
    const model = 'shardwise-random/roberta-tiny-ner';
    const inputs = texts().slice(0, 120);
    const submitted = await postNdjson(
      api.baseUrl,
      { task: 'ner', model, aggregation_strategy: 'first', ignore_labels: '' },
      inputs.map((text, i) => ({ id: `t${i}`, text })),
    );
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    expect(submitted.body.task).toBe('token-classification');
    const job = await waitFor(api.baseUrl, submitted.body.id as string, finished);
    expect(job.state).toBe('completed');
    const lines = await resultsOf(api.baseUrl, job.id);
    expect(lines.map((l) => l.id)).toEqual(inputs.map((_, i) => `t${i}`));
    expectSame(lines, await expected(model, inputs, { aggregationStrategy: 'first', ignoreLabels: [] }));
    // Nothing ignored: O groups are there too.
    expect(lines.some((l) => (l as unknown as { entities: Entity[] }).entities.some((e) => e.entity_group === 'O'))).toBe(true);
  }, 240_000);

  it('rejects a bad aggregation strategy with an error naming the option', async () => {
    const reply = await postJob(api.baseUrl, { task: 'ner', model: 'shardwise-random/bert-tiny-ner', inputs: ['x'], options: { aggregation_strategy: 'longest' } });
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toContain('aggregation_strategy');
  });
});
