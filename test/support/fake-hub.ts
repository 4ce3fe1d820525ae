/**
 * A tiny Hugging Face Hub on loopback for tests of Hub models (no real Hub is reachable here): it serves
 * model folders (the generated ones under .cache/models) as `/<org>/<name>/resolve/<revision>/<file>`,
 * answers 404 for a file a folder lacks, records every request, and can be told to fail.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, resolve } from 'node:path';

export interface HubRequest {
  modelId: string;
  file: string;
  userAgent: string;
  authorization: string | undefined;
  status: number;
}

export interface FakeHub {
  /** The endpoint, for HF_ENDPOINT / hubEndpoint. */
  readonly url: string;
  /** Every request so far, in order. */
  readonly requests: HubRequest[];
  /** Serves `modelId` from the folder of `folderId` under the model dir (a new id for a generated model). */
  alias(modelId: string, folderId: string): void;
  /** Serves this content for one file of one model instead of the folder's; null answers 404. */
  setFile(modelId: string, file: string, content: string | null): void;
  /** A status to answer instead of the file, per request (undefined: serve it); null turns failing off. */
  failWhen(rule: ((request: Omit<HubRequest, 'status'>) => number | undefined) | null): void;
  /** Requests for this model (and file, when given) that got `status` (200 by default). */
  count(modelId: string, file?: string, status?: number): number;
  close(): Promise<void>;
}

export async function startFakeHub(modelDir: string): Promise<FakeHub> {
  const aliases = new Map<string, string>();
  const overrides = new Map<string, string | null>();
  const requests: HubRequest[] = [];
  let rule: ((request: Omit<HubRequest, 'status'>) => number | undefined) | null = null;

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://hub').pathname);
    const match = /^\/(.+?)\/resolve\/[^/]+\/(.+)$/.exec(path);
    const seen = { modelId: match?.[1] ?? '', file: match?.[2] ?? path, userAgent: req.headers['user-agent'] ?? '', authorization: req.headers.authorization };
    const send = (status: number, body?: string): void => {
      requests.push({ ...seen, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body ?? `status ${status}`);
    };
    if (!match) return send(404);
    const failed = rule?.(seen);
    if (failed !== undefined) return send(failed);
    const key = `${seen.modelId}/${seen.file}`;
    if (overrides.has(key)) {
      const content = overrides.get(key);
      if (content === null || content === undefined) return send(404);
      requests.push({ ...seen, status: 200 });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(content) }).end(content);
      return;
    }
    const folder = resolve(modelDir, aliases.get(seen.modelId) ?? seen.modelId);
    const target = resolve(folder, seen.file);
    if (relative(folder, target).startsWith('..')) return send(404);
    const info = await stat(target).catch(() => undefined);
    if (!info?.isFile()) return send(404);
    requests.push({ ...seen, status: 200 });
    res.writeHead(200, { 'content-length': info.size });
    createReadStream(target).pipe(res);
  }

  const server = createServer((req, res) => {
    answer(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    alias: (modelId, folderId) => aliases.set(modelId, folderId),
    setFile: (modelId, file, content) => overrides.set(join(modelId, file), content),
    failWhen: (next) => {
      rule = next;
    },
    count: (modelId, file, status = 200) => requests.filter((r) => r.modelId === modelId && (file === undefined || r.file === file) && r.status === status).length,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
