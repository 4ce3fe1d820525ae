/**
 * The bucket-backed object store against a real S3-protocol server (s3rver in its own process, over
 * HTTP, with the official SDK): the shared conformance suite twice, on a server with conditional
 * requests (as AWS S3, MinIO and Ceph RGW) and on plain s3rver without them (the fallback path);
 * then what only a bucket has: prefixes, multipart uploads and their sweeping, ranged GETs, boot checks.
 */
import { randomUUID } from 'node:crypto';
import { ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObjectStore } from '#shared';
import { S3ObjectStore, type S3ObjectStoreOptions } from '../../libs/shared/src/storage/s3-object-store.js';
import { probeS3Bucket } from '../../libs/shared/src/storage/s3-client.js';
import { collect, describeObjectStoreConformance, patternBytes } from '../support/object-store-conformance.js';
import { startS3Server, type S3ServerHandle } from '../support/s3-server.js';

const MIB = 1024 * 1024;

/** One server per variant for the whole file; each store gets a fresh prefix, so it starts empty. */
function serverOnce(conditional: boolean): { get(): Promise<S3ServerHandle>; stop(): Promise<void> } {
  let started: Promise<S3ServerHandle> | undefined;
  return {
    get: () => (started ??= startS3Server({ conditional })),
    stop: async () => (started ? (await started).stop() : undefined),
  };
}

const conditionalServer = serverOnce(true);
const plainServer = serverOnce(false);
afterAll(async () => {
  await conditionalServer.stop();
  await plainServer.stop();
});

async function storeOn(server: S3ServerHandle, extra: Partial<S3ObjectStoreOptions> = {}): Promise<{ store: S3ObjectStore; client: S3Client; prefix: string }> {
  const client = server.client();
  const prefix = `t-${randomUUID()}/`;
  const { conditionalWrites } = await probeS3Bucket(client, server.bucket, prefix);
  return { store: new S3ObjectStore({ client, bucket: server.bucket, prefix, conditionalWrites, ...extra }), client, prefix };
}

describeObjectStoreConformance('S3ObjectStore (conditional requests)', async () => {
  const { store } = await storeOn(await conditionalServer.get());
  return { store, cleanup: async () => undefined };
});

describeObjectStoreConformance(
  'S3ObjectStore (plain s3rver: no conditional requests)',
  async () => {
    const { store } = await storeOn(await plainServer.get());
    return { store, cleanup: async () => undefined };
  },
  { atomicIfAbsent: false },
);

describe('S3ObjectStore in a bucket', () => {
  let server: S3ServerHandle;

  beforeAll(async () => {
    server = await conditionalServer.get();
  });

  const uploadsUnder = async (client: S3Client, prefix: string) => (await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: prefix }))).Uploads ?? [];

  /** Waits until the writer's multipart upload has `parts` parts on the server (parts go up in the background). */
  async function partsOnServer(client: S3Client, prefix: string, parts: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [upload] = await uploadsUnder(client, prefix);
      if (upload) {
        const listed = await client.send(new ListPartsCommand({ Bucket: server.bucket, Key: upload.Key, UploadId: upload.UploadId }));
        if ((listed.Parts?.length ?? 0) >= parts) return;
      }
      if (Date.now() > deadline) throw new Error(`no multipart upload with ${parts} parts under ${prefix}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('finds out whether the service honours conditional writes', async () => {
    expect(await probeS3Bucket(server.client(), server.bucket, '')).toEqual({ conditionalWrites: true });
    const plain = await plainServer.get();
    expect(await probeS3Bucket(plain.client(), plain.bucket, '')).toEqual({ conditionalWrites: false });
    // The probe leaves nothing behind.
    expect((await server.keys()).filter((key) => key.includes('shardwise-probe'))).toEqual([]);
  });

  it('keeps objects under its prefix and names itself by an s3 URL', async () => {
    const { store, prefix } = await storeOn(server);
    await store.put('jobs/j1/input.ndjson', Buffer.from('{"text":"a"}\n'));
    expect(await server.keys(prefix)).toEqual([`${prefix}jobs/j1/input.ndjson`]);
    expect(store.location).toBe(`s3://${server.bucket}/${prefix}`);
    // An object a user put there under a name that is no store path is not listed (as on a volume).
    await server.client().send(new PutObjectCommand({ Bucket: server.bucket, Key: `${prefix}jobs/odd name`, Body: 'x' }));
    expect((await collect(store.list('jobs/'))).map((info) => info.key)).toEqual(['jobs/j1/input.ndjson']);
  });

  it('streams a large object as a multipart upload that shows only on commit', async () => {
    const { store, client, prefix } = await storeOn(server, { partSize: 5 * MIB });
    const body = patternBytes(11 * MIB + 17);
    const writer = await store.createWriter('big/object');
    for (let offset = 0; offset < body.length; offset += 256 * 1024) await writer.write(body.subarray(offset, offset + 256 * 1024));
    await partsOnServer(client, prefix, 2);
    expect(await store.stat('big/object')).toBeNull();
    expect(await writer.commit()).toMatchObject({ key: 'big/object', size: body.length });
    expect((await store.read('big/object'))!.equals(body)).toBe(true);
    expect(await uploadsUnder(client, prefix)).toEqual([]);
    const parts = (await server.requests()).filter((r) => r.method === 'PUT' && r.path === `/${server.bucket}/${prefix}big/object` && r.query.includes('partNumber'));
    expect(parts.map((r) => r.requestBytes)).toEqual([5 * MIB, 5 * MIB, MIB + 17]);
  });

  it('aborts the multipart upload of an aborted write', async () => {
    const { store, client, prefix } = await storeOn(server, { partSize: 5 * MIB });
    const writer = await store.createWriter('dropped');
    await writer.write(patternBytes(6 * MIB));
    await partsOnServer(client, prefix, 1);
    await writer.abort();
    expect(await uploadsUnder(client, prefix)).toEqual([]);
    expect(await store.stat('dropped')).toBeNull();
  });

  it('sweeps a multipart upload left before the cutoff; a swept write cannot commit', async () => {
    const { store, client, prefix } = await storeOn(server, { partSize: 5 * MIB });
    const swept = await store.createWriter('sweep/swept');
    await swept.write(patternBytes(6 * MIB));
    await partsOnServer(client, prefix, 1);
    expect(await store.sweepPartial(Date.now() - 60_000)).toBe(0);
    expect(await store.sweepPartial(Date.now() + 60_000)).toBe(1);
    expect(await uploadsUnder(client, prefix)).toEqual([]);
    await expect(swept.commit()).rejects.toThrow();
    expect(await store.stat('sweep/swept')).toBeNull();
  });

  it('keeps an upload that started before the cutoff but sent a part after it', async () => {
    const { store, client, prefix } = await storeOn(server, { partSize: 5 * MIB });
    const writer = await store.createWriter('slow/upload');
    await writer.write(patternBytes(6 * MIB));
    await partsOnServer(client, prefix, 1);
    await new Promise((r) => setTimeout(r, 1_100));
    const cutoff = Date.now();
    await new Promise((r) => setTimeout(r, 1_100));
    await writer.write(patternBytes(5 * MIB, 1));
    await partsOnServer(client, prefix, 2);
    expect(await store.sweepPartial(cutoff)).toBe(0);
    expect(await writer.commit()).toMatchObject({ size: 11 * MIB });
  });

  it('reads a range with one ranged GET that moves only those bytes, sending the version as If-Match', async () => {
    const { store, prefix } = await storeOn(server);
    await store.put('r/obj', patternBytes(100_000));
    const { version } = (await store.stat('r/obj'))!;
    expect(await store.read('r/obj', { start: 40_000, end: 40_100 }, { version })).toEqual(patternBytes(100_000).subarray(40_000, 40_100));
    const gets = (await server.requests()).filter((r) => r.method === 'GET' && r.path === `/${server.bucket}/${prefix}r/obj`);
    expect(gets).toEqual([expect.objectContaining({ range: 'bytes=40000-40099', ifMatch: `"${version}"`, status: 206, responseBytes: 100 })]);
  });

  it('cuts the range out when the server sends more than asked', async () => {
    // s3rver answers bytes=0-0 with the whole object (HTTP allows a server to ignore Range).
    const { store } = await storeOn(server);
    await store.put('r/obj', Buffer.from('abcdef'));
    expect(await store.read('r/obj', { start: 0, end: 1 })).toEqual(Buffer.from('a'));
    expect((await collect((await store.stream('r/obj', { start: 0, end: 1 }))!)).map(String)).toEqual(['a']);
  });

  it('fails the boot naming STORE_URL when the bucket is missing, unreachable or refuses the credentials', async () => {
    const env = { RESULTS_DIR: '/nonexistent', S3_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: true };
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    try {
      await expect(createObjectStore({ ...env, STORE_URL: 's3://no-such-bucket/x', S3_ENDPOINT: server.endpoint })).rejects.toThrow(
        /STORE_URL="s3:\/\/no-such-bucket\/x" at S3_ENDPOINT=.* is not a usable store: cannot write to s3:\/\/no-such-bucket\/x\/: NoSuchBucket/,
      );
      await expect(createObjectStore({ ...env, STORE_URL: 's3://some-bucket', S3_ENDPOINT: 'http://127.0.0.1:9' })).rejects.toThrow(
        /STORE_URL="s3:\/\/some-bucket" .*is not a usable store: cannot write to .*ECONNREFUSED/,
      );
      process.env.AWS_ACCESS_KEY_ID = 'NOT-A-KEY';
      await expect(createObjectStore({ ...env, STORE_URL: `s3://${server.bucket}/`, S3_ENDPOINT: server.endpoint })).rejects.toThrow(
        /STORE_URL=.* is not a usable store: .*InvalidAccessKeyId/,
      );
      await expect(createObjectStore({ RESULTS_DIR: '/tmp', S3_ENDPOINT: server.endpoint })).rejects.toThrow(/S3_ENDPOINT set, but the store is a folder \(RESULTS_DIR="\/tmp"\)/);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });
});
