/** The Hub file reader against a fake Hub on loopback: URLs as transformers.js builds them, 404 = absent, errors name the URL and status. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchHubFile, fetchHubJson, HubFileError, hubFileUrl, InvalidModelError, readHubModelInfo, UnknownModelError } from '#models';
import { startFakeHub, type FakeHub } from '../support/fake-hub.js';
import { freePort } from '../support/redis-server.js';
import { ensureTinyModels, modelId } from './fixtures.js';

const EMBED = modelId('bert', 'embed');
let hub: FakeHub;

beforeAll(async () => {
  hub = await startFakeHub(await ensureTinyModels(['embed']));
}, 180_000);

afterAll(() => hub?.close());

afterEach(() => {
  hub.failWhen(null);
  delete process.env.HF_TOKEN;
});

describe('hub files', () => {
  it('builds <endpoint>/<model>/resolve/<revision>/<file> as transformers.js does', () => {
    expect(hubFileUrl('org/name', 'onnx/model.onnx')).toBe('https://huggingface.co/org/name/resolve/main/onnx/model.onnx');
    expect(hubFileUrl('org/name', 'config.json', { endpoint: 'http://mirror:8080/hf/', revision: 'refs/pr/1' })).toBe(
      'http://mirror:8080/hf/org/name/resolve/refs%2Fpr%2F1/config.json',
    );
  });

  it('reads a file, answers null for one the repository lacks, and sends no token to a mirror', async () => {
    process.env.HF_TOKEN = 'hf_secret';
    const config = await fetchHubJson(EMBED, 'config.json', { endpoint: hub.url });
    expect(config).toMatchObject({ model_type: 'bert' });
    expect(await fetchHubFile(EMBED, 'no-such-file.json', { endpoint: hub.url })).toBeNull();
    expect(hub.requests.filter((r) => r.modelId === EMBED).map((r) => [r.file, r.status, r.userAgent, r.authorization])).toEqual([
      ['config.json', 200, 'shardwise', undefined],
      ['no-such-file.json', 404, 'shardwise', undefined],
    ]);
  });

  it('names the URL and the status of any other answer, and explains 401', async () => {
    hub.failWhen(() => 401);
    const unauthorized = fetchHubFile(EMBED, 'config.json', { endpoint: hub.url });
    await expect(unauthorized).rejects.toThrow(HubFileError);
    await expect(unauthorized).rejects.toThrow(`cannot read ${hub.url}/${EMBED}/resolve/main/config.json: HTTP 401 (no such repository, or a gated one: set HF_TOKEN)`);
    hub.failWhen(() => 502);
    await expect(fetchHubFile(EMBED, 'config.json', { endpoint: hub.url })).rejects.toMatchObject({ name: 'HubFileError', status: 502 });
    const closed = await freePort();
    await expect(fetchHubFile(EMBED, 'config.json', { endpoint: `http://127.0.0.1:${closed}` })).rejects.toThrow(
      new RegExp(`cannot read http://127\\.0\\.0\\.1:${closed}/.*: fetch failed: .*ECONNREFUSED`),
    );
  });

  it('gives up after timeoutMs when the endpoint does not answer', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    try {
      const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const started = Date.now();
      await expect(fetchHubFile(EMBED, 'config.json', { endpoint, timeoutMs: 200 })).rejects.toThrow(/no answer within 200 ms/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('builds ModelInfo from the three config files, as readModelInfo does from a folder', async () => {
    const info = await readHubModelInfo(EMBED, { endpoint: hub.url });
    expect(info).toMatchObject({ id: EMBED, family: 'bert', tasks: ['embed'], dimensions: 32, labels: null, prompts: { query: 'query: ', passage: 'passage: ' }, dtypes: [] });
    hub.setFile(EMBED, 'config.json', null);
    await expect(readHubModelInfo(EMBED, { endpoint: hub.url })).rejects.toThrow(UnknownModelError);
    hub.setFile(EMBED, 'config.json', '<html>');
    await expect(readHubModelInfo(EMBED, { endpoint: hub.url })).rejects.toThrow(InvalidModelError);
  });
});
