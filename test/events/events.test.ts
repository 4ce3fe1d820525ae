import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postNdjson } from '../support/stack.js';
import { EMBED_DIMS, EMBED_MODEL, lines, parseNpy, sleep, startStack, until, type Stack } from './stack.js';

const HAS_NUMPY = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

/**
 * GET /v1/jobs/:id/events (server-sent events fed by Redis pub/sub) and GET /v1/jobs/:id/results?format=npy.
 * The API starts without a worker, so streams are open while jobs are still queued; the worker joins later.
 */

interface SseEvent {
  event: string;
  data: Record<string, any>;
}

/** An open event stream: parsed events, comment lines and whether the server ended it. */
class EventStream {
  events: SseEvent[] = [];
  comments: string[] = [];
  ended = false;
  status = 0;
  contentType = '';
  private readonly controller = new AbortController();

  static async open(url: string): Promise<EventStream> {
    const stream = new EventStream();
    const response = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal: stream.controller.signal });
    stream.status = response.status;
    stream.contentType = response.headers.get('content-type') ?? '';
    if (response.status !== 200 || !response.body) {
      stream.ended = true;
      return stream;
    }
    void stream.read(response.body);
    return stream;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) this.comments.push(line);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) this.events.push({ event, data: JSON.parse(data.join('\n')) });
        }
      }
    } catch {
      // aborted by the test
    }
    this.ended = true;
  }

  names(): string[] {
    return this.events.map((e) => e.event);
  }

  close(): void {
    this.controller.abort();
  }
}

describe('live progress over server-sent events, and .npy results', () => {
  let stack: Stack;
  let redis: Redis;
  let base: string;
  const channel = (id: string) => `${stack.prefix}:progress:${id}`;
  const subscribers = async (id: string) => ((await redis.pubsub('NUMSUB', channel(id))) as [string, number])[1];
  const submit = async (count: number, params: Record<string, string> = {}, text = (i: number) => `text number ${i} about shards`) => {
    const items = Array.from({ length: count }, (_, i) => ({ id: `t${i}`, text: text(i) }));
    const answer = await postNdjson(base, { task: 'embed', model: EMBED_MODEL, ...params }, items);
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    return answer.body.id as string;
  };

  beforeAll(async () => {
    stack = await startStack({ api: { SHARD_MAX_TEXTS: '5', SSE_HEARTBEAT_MS: '150' }, worker: false });
    base = stack.api.baseUrl;
    redis = new Redis(stack.redis.url);
  });

  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('sends the job on connect, heartbeats, progress as shards finish, then the final event, and closes', async () => {
    const id = await submit(200); // 40 shards
    const other = await submit(5);
    const a = await EventStream.open(`${base}/v1/jobs/${id}/events`);
    const b = await EventStream.open(`${base}/v1/jobs/${id}/events`);
    const c = await EventStream.open(`${base}/v1/jobs/${other}/events`);
    expect(a.status).toBe(200);
    expect(a.contentType).toMatch(/^text\/event-stream/);
    await until('the first event on every stream', () => a.events.length > 0 && b.events.length > 0 && c.events.length > 0);
    expect(a.events[0]).toMatchObject({ event: 'job', data: { id, state: 'queued', counts: { total: 200 } } });
    expect(c.events[0]).toMatchObject({ event: 'job', data: { id: other, state: 'queued' } });

    // Heartbeats keep the idle streams open (SSE_HEARTBEAT_MS=150 here).
    await until('a heartbeat', () => a.comments.length >= 2);
    expect(a.comments[0]).toBe(': heartbeat');
    expect(a.names()).toEqual(['job']);

    // One subscriber connection for the whole API process, one channel subscription per watched job.
    const clients = (await redis.client('LIST')) as string;
    expect(clients.split('\n').filter((l) => l.includes('name=shardwise-api-events'))).toHaveLength(1);
    expect(await subscribers(id)).toBe(1);
    expect(await subscribers(other)).toBe(1);

    // A client that goes away is cleaned up: its job's channel is unsubscribed.
    c.close();
    await until('the channel of the closed stream to be unsubscribed', async () => (await subscribers(other)) === 0);

    await stack.startWorker();
    await until('the end of stream a', () => a.ended, 60_000);
    await until('the end of stream b', () => b.ended, 5_000);
    const names = a.names();
    expect(names[0]).toBe('job');
    expect(names.at(-1)).toBe('completed');
    expect(names.filter((n) => n === 'progress').length, names.join(',')).toBeGreaterThanOrEqual(1);
    expect(new Set(names.slice(1, -1))).toEqual(new Set(['progress']));
    const done = a.events.map((e) => e.data.shards.done as number);
    expect(done).toEqual([...done].sort((x, y) => x - y));
    expect(a.events.at(-1)?.data).toMatchObject({ state: 'completed', counts: { total: 200, succeeded: 200, failed: 0 }, shards: { total: 40, done: 40 } });
    expect(b.names().at(-1)).toBe('completed');
    await until('the channel to be unsubscribed after the end', async () => (await subscribers(id)) === 0);
  });

  it('answers a finished job with its view and the final event at once', async () => {
    const id = await submit(3);
    await until('the job to complete', async () => ((await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { state: string }).state === 'completed');
    const stream = await EventStream.open(`${base}/v1/jobs/${id}/events`);
    await until('the end of the stream', () => stream.ended);
    expect(stream.names()).toEqual(['job', 'completed']);
  });

  it('ends with a cancelled event when the job is cancelled', async () => {
    await stack.worker?.stop();
    stack.worker = null;
    const id = await submit(20);
    const stream = await EventStream.open(`${base}/v1/jobs/${id}/events`);
    await until('the first event', () => stream.events.length > 0);
    const cancel = await fetch(`${base}/v1/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    await until('the end of the stream', () => stream.ended);
    expect(stream.names()).toEqual(['job', 'cancelled']);
    expect(stream.events[1]?.data).toMatchObject({ id, state: 'cancelled' });
    await stack.startWorker();
  });

  it('refuses unknown jobs with the usual 404 error before any stream starts', async () => {
    const response = await fetch(`${base}/v1/jobs/job_AAAAAAAAAAAAAAAAAAAAAA/events`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
  });

  describe('format=npy', () => {
    it('streams a .npy v1.0 file whose header gives dtype <f4 and shape (count, dims), with the NDJSON values', async () => {
      const id = await submit(23);
      await until('the job to complete', async () => ((await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { state: string }).state === 'completed', 60_000);
      const response = await fetch(`${base}/v1/jobs/${id}/results?format=npy`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/x-npy');
      expect(response.headers.get('x-item-count')).toBe('23');
      expect(response.headers.get('x-embedding-dimensions')).toBe(String(EMBED_DIMS));
      const file = Buffer.from(await response.arrayBuffer());
      expect(Number(response.headers.get('content-length'))).toBe(file.length);
      const npy = parseNpy(file);
      expect(npy.headerBytes % 64).toBe(0);
      expect(npy).toMatchObject({ descr: '<f4', fortranOrder: false, shape: [23, EMBED_DIMS] });
      expect(npy.data.length).toBe(23 * EMBED_DIMS);

      const ndjson = lines<{ index: number; embedding: number[] }>(await (await fetch(`${base}/v1/jobs/${id}/results`)).text());
      for (const line of ndjson) {
        const row = Array.from(npy.data.subarray(line.index * EMBED_DIMS, (line.index + 1) * EMBED_DIMS));
        // NDJSON prints the shortest decimal that reads back as the same float32.
        expect(row).toEqual(line.embedding.map((v) => Math.fround(v)));
      }
      // The same bytes as format=f32 after the header.
      const f32 = Buffer.from(await (await fetch(`${base}/v1/jobs/${id}/results?format=f32`)).arrayBuffer());
      expect(file.subarray(npy.headerBytes).equals(f32)).toBe(true);
    });

    it.skipIf(!HAS_NUMPY)('loads with numpy.load as float32 (count, dims), equal to the NDJSON embeddings', async () => {
      const id = await submit(9);
      await until('the job to complete', async () => ((await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { state: string }).state === 'completed', 60_000);
      const dir = await mkdtemp(join(tmpdir(), 'sw-npy-'));
      try {
        await writeFile(join(dir, 'e.npy'), Buffer.from(await (await fetch(`${base}/v1/jobs/${id}/results?format=npy`)).arrayBuffer()));
        await writeFile(join(dir, 'e.jsonl'), await (await fetch(`${base}/v1/jobs/${id}/results`)).text());
        const script = [
          'import json, sys, numpy as np',
          'a = np.load(sys.argv[1])',
          'rows = [json.loads(l) for l in open(sys.argv[2])]',
          'b = np.array([r["embedding"] for r in rows], dtype="<f4")',
          'print(json.dumps({"shape": list(a.shape), "dtype": a.dtype.str, "equal": bool(np.array_equal(a, b))}))',
        ].join('\n');
        const py = spawnSync('python3', ['-c', script, join(dir, 'e.npy'), join(dir, 'e.jsonl')], { encoding: 'utf8' });
        expect(py.status, py.stderr).toBe(0);
        expect(JSON.parse(py.stdout)).toEqual({ shape: [9, EMBED_DIMS], dtype: '<f4', equal: true });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('has NaN rows for failed items', async () => {
      const long = 'antidisestablishment '.repeat(200);
      const id = await submit(7, { truncate: 'false' }, (i) => (i % 3 === 1 ? long : `short text ${i}`));
      await until('the job to finish', async () => ((await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { state: string }).state === 'completed', 60_000);
      const npy = parseNpy(Buffer.from(await (await fetch(`${base}/v1/jobs/${id}/results?format=npy`)).arrayBuffer()));
      expect(npy.shape).toEqual([7, EMBED_DIMS]);
      for (let row = 0; row < 7; row++) {
        const values = Array.from(npy.data.subarray(row * EMBED_DIMS, (row + 1) * EMBED_DIMS));
        if (row % 3 === 1) expect(values.every(Number.isNaN), `row ${row}`).toBe(true);
        else expect(values.every(Number.isFinite), `row ${row}`).toBe(true);
      }
    });

    it('is refused for sentiment jobs and unknown formats', async () => {
      const answer = await postNdjson(base, { task: 'sentiment' }, [{ text: 'good' }]);
      const id = answer.body.id as string;
      const refused = await fetch(`${base}/v1/jobs/${id}/results?format=npy&partial=true`);
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_FORMAT');
      const bad = await fetch(`${base}/v1/jobs/${id}/results?format=csv&partial=true`);
      expect(bad.status).toBe(400);
    });
  });

  it('ends open streams when the API shuts down, which then exits 0 promptly', async () => {
    await stack.worker?.stop();
    stack.worker = null;
    const id = await submit(10);
    const stream = await EventStream.open(`${base}/v1/jobs/${id}/events`);
    await until('the first event', () => stream.events.length > 0);
    const started = Date.now();
    expect(await stack.api.stop()).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    await until('the end of the stream', () => stream.ended, 5_000);
    await sleep(0);
  });
});
