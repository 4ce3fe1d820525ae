/**
 * TEST ONLY: s3rver (an S3-protocol server backed by a folder) on a loopback port, in its own process.
 * Started by s3-server.ts with one JSON argument: { directory, bucket, requestLog, conditional }.
 * Prints one line, {"port": N}, once it listens.
 *
 * s3rver 3.7.1 lacks some of what AWS S3, MinIO and Ceph RGW do; this script adds it in front of
 * s3rver's routes, following the AWS API reference, so that the store is tested over HTTP with the
 * official SDK end to end:
 * - listings in key order (s3rver walks folders in readdir order, which breaks ordering and paging);
 * - ListMultipartUploads, ListParts and AbortMultipartUpload (s3rver answers NotImplemented or
 *   MethodNotAllowed), on s3rver's own upload folders; no paging (at most 1,000 of each); NoSuchUpload
 *   for parts and completions of an upload that was aborted;
 * - requests on one key one at a time (s3rver streams a PUT straight into the object's file and
 *   rewrites its metadata file in place, so two writes at once interleave and a read in between
 *   fails; S3 never shows a torn object). Reads hold the key only until their body starts;
 * - with `conditional`: If-None-Match: * on PutObject and CompleteMultipartUpload (412 when the key
 *   exists) and If-Match on GetObject and HeadObject (412 when the ETag differs). Without it, s3rver
 *   ignores both, as some S3-compatible services do.
 * Every request is appended to `requestLog` as one JSON line (method, path, query, range, status, bytes).
 * PUT /__faults with a JSON list of { method, path (a regular expression over `path?query`), status,
 * code, times? } makes matching requests fail (each path its first `times` times, or always).
 * The added routes do not check signatures (s3rver checks only the access key id of SigV4 anyway).
 */
import { appendFileSync, readdirSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const options = JSON.parse(process.argv[2]);

// Key order: a folder `a` sorts as `a/`, an object file `a-c._S3rver_object` as `a-c`. Every folder is
// walked: s3rver's filter skips folders below a delimiter, so `p/z/y/x` never showed `p/z/` as a common
// prefix (listObjects filters the keys itself). Patched before s3rver's store module takes walk.
const utils = require('s3rver/lib/utils');
utils.walk = function* walk(dir) {
  const entries = readdirSync(dir, { withFileTypes: true }).map((entry) => ({
    path: `${dir}/${entry.name}`,
    folder: entry.isDirectory(),
    order: entry.isDirectory() ? `${entry.name}/` : entry.name.replace(/\._S3rver_.*$/, ''),
  }));
  entries.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  for (const entry of entries) {
    if (!entry.folder) yield entry.path;
    else yield* walk(entry.path);
  }
};
const S3rver = require('s3rver');
const S3Error = require('s3rver/lib/models/error');

const server = new S3rver({ address: '127.0.0.1', port: 0, directory: options.directory, silent: true, configureBuckets: [{ name: options.bucket }] });
const uploadsDir = (bucket) => join(options.directory, bucket, '._S3rver_uploads');

function s3Error(code, message, status) {
  const error = new S3Error(code, message);
  if (status !== undefined) error.status = status;
  return error;
}

/** bucket and key of a path-style request. */
function target(ctx) {
  const [, bucket = '', ...rest] = ctx.path.split('/');
  return { bucket, key: decodeURIComponent(rest.join('/')) };
}

async function listMultipartUploads(ctx, bucket) {
  const prefix = ctx.query.prefix ?? '';
  const uploads = [];
  for (const uploadId of await readdir(uploadsDir(bucket)).catch(() => [])) {
    const keyFile = join(uploadsDir(bucket), uploadId, 'key');
    const key = await readFile(keyFile, 'utf8').catch(() => null);
    if (key === null || !key.startsWith(prefix)) continue;
    uploads.push({ Key: key, UploadId: uploadId, Initiated: (await stat(keyFile)).mtime.toISOString(), StorageClass: 'STANDARD' });
  }
  uploads.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : a.UploadId < b.UploadId ? -1 : 1));
  ctx.body = {
    ListMultipartUploadsResult: {
      '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
      Bucket: bucket,
      KeyMarker: '',
      UploadIdMarker: '',
      Prefix: prefix,
      MaxUploads: 1000,
      IsTruncated: false,
      Upload: uploads,
    },
  };
}

async function uploadFolder(bucket, key, uploadId) {
  const folder = join(uploadsDir(bucket), String(uploadId).replace(/[^0-9a-f]/g, ''));
  const owner = await readFile(join(folder, 'key'), 'utf8').catch(() => null);
  if (owner !== key) throw s3Error('NoSuchUpload', 'The specified upload does not exist.', 404);
  return folder;
}

async function listParts(ctx, bucket, key) {
  const folder = await uploadFolder(bucket, key, ctx.query.uploadId);
  const parts = [];
  for (const name of await readdir(folder)) {
    if (!/^\d+$/.test(name)) continue;
    const info = await stat(join(folder, name));
    const md5 = await readFile(join(folder, `${name}.md5`), 'utf8').catch(() => '');
    parts.push({ PartNumber: Number(name), LastModified: info.mtime.toISOString(), ETag: JSON.stringify(md5), Size: info.size });
  }
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  ctx.body = {
    ListPartsResult: {
      '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
      Bucket: bucket,
      Key: key,
      UploadId: ctx.query.uploadId,
      PartNumberMarker: 0,
      MaxParts: 1000,
      IsTruncated: false,
      Part: parts,
    },
  };
}

async function abortMultipartUpload(ctx, bucket, key) {
  await rm(await uploadFolder(bucket, key, ctx.query.uploadId), { recursive: true, force: true });
  ctx.status = 204;
  ctx.body = '';
}

const keyLocks = new Map();
/** Runs `write` after every earlier write of the same key: a conditional check and its write are one step. */
async function serialized(lockKey, write) {
  const before = keyLocks.get(lockKey) ?? Promise.resolve();
  let release;
  const mine = new Promise((resolve) => (release = resolve));
  const chain = before.then(() => mine);
  keyLocks.set(lockKey, chain);
  await before;
  try {
    return await write();
  } finally {
    release();
    if (keyLocks.get(lockKey) === chain) keyLocks.delete(lockKey);
  }
}

const unquote = (etag) => String(etag).replace(/^"(.*)"$/, '$1');

async function write(ctx, next, bucket, key) {
  return serialized(`${bucket}/${key}`, async () => {
    if (options.conditional && ctx.get('if-none-match') === '*' && (await server.store.existsObject(bucket, key))) {
      // Read the body first: answering before it would reset the connection of a client still sending.
      ctx.req.resume();
      if (!ctx.req.readableEnded) await once(ctx.req, 'end');
      throw Object.assign(s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'), { detail: { Condition: 'If-None-Match' } });
    }
    await next();
  });
}

async function conditionalRead(ctx, next, bucket, key) {
  const expected = ctx.get('if-match');
  if (expected !== '' && expected !== '*') {
    const metadata = await server.store.getMetadata(bucket, key).catch(() => null);
    if (metadata !== null && unquote(metadata.etag) !== unquote(expected)) {
      throw Object.assign(s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'), { detail: { Condition: 'If-Match' } });
    }
  }
  await next();
}

async function compat(ctx, next) {
  const { bucket, key } = target(ctx);
  const query = ctx.query;
  if (ctx.method === 'GET' && key === '' && 'uploads' in query) return listMultipartUploads(ctx, bucket);
  if (ctx.method === 'GET' && key !== '' && 'uploadId' in query) return listParts(ctx, bucket, key);
  if (ctx.method === 'DELETE' && key !== '' && 'uploadId' in query) return abortMultipartUpload(ctx, bucket, key);
  if (key === '') return next();
  // s3rver recreates the folder of an aborted upload on UploadPart and fails with a 500 on Complete.
  if ((ctx.method === 'PUT' || ctx.method === 'POST') && 'uploadId' in query) await uploadFolder(bucket, key, query.uploadId);
  const isPut = ctx.method === 'PUT' && !('uploadId' in query) && !('tagging' in query) && !ctx.get('x-amz-copy-source');
  const isComplete = ctx.method === 'POST' && 'uploadId' in query;
  if (isPut || isComplete) return write(ctx, next, bucket, key);
  const plain = Object.keys(query).length === 0;
  if (plain && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
    return serialized(`${bucket}/${key}`, () => (options.conditional ? conditionalRead(ctx, next, bucket, key) : next()));
  }
  if (plain && ctx.method === 'DELETE') return serialized(`${bucket}/${key}`, next);
  return next();
}

async function logRequest(ctx, next) {
  let error;
  try {
    await next();
  } catch (thrown) {
    error = thrown;
    if ((thrown.status ?? 500) >= 500) process.stderr.write(`${ctx.method} ${ctx.url}: ${thrown.stack}\n`);
    throw thrown;
  } finally {
    const line = {
      method: ctx.method,
      path: decodeURIComponent(ctx.path),
      query: ctx.querystring,
      range: ctx.get('range') || undefined,
      ifMatch: ctx.get('if-match') || undefined,
      ifNoneMatch: ctx.get('if-none-match') || undefined,
      status: error ? (error.status ?? 500) : ctx.status,
      code: error?.code,
      requestBytes: Number(ctx.get('content-length')) || 0,
      responseBytes: error ? 0 : (ctx.response.length ?? 0),
    };
    if (options.requestLog) appendFileSync(options.requestLog, `${JSON.stringify(line)}\n`);
  }
}

/** Rules set through PUT /__faults: matching requests fail with the rule's status, the first `times` times per path. */
let faultRules = [];

async function injectFaults(ctx, next) {
  if (ctx.path === '/__faults' && ctx.method === 'PUT') {
    let text = '';
    for await (const chunk of ctx.req) text += chunk;
    faultRules = JSON.parse(text).map((rule) => ({ ...rule, pattern: new RegExp(rule.path), seen: new Map() }));
    ctx.status = 204;
    return;
  }
  const path = decodeURIComponent(ctx.path);
  for (const rule of faultRules) {
    if (rule.method !== ctx.method || !rule.pattern.test(`${path}?${ctx.querystring}`)) continue;
    const count = (rule.seen.get(path) ?? 0) + 1;
    rule.seen.set(path, count);
    if (rule.times !== undefined && count > rule.times) continue;
    ctx.req.resume();
    if (!ctx.req.readableEnded) await once(ctx.req, 'end');
    throw s3Error(rule.code, `fault injected by s3rver-child (${rule.code}, ${count}${rule.times === undefined ? '' : ` of ${rule.times}`})`, rule.status);
  }
  await next();
}

// Koa runs middleware in array order: the log first (it sees every status), then injected faults;
// the additions just before s3rver's router.
server.middleware.unshift(logRequest, injectFaults);
server.middleware.splice(server.middleware.length - 1, 0, compat);

const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
