/**
 * API keys change without a restart: the API reloads API_KEYS_FILE when it changes (and on SIGHUP),
 * refuses a file that does not validate or lists no key while keeping the keys in use, and never
 * logs a key.
 */
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppProcess } from '../support/app-process.js';
import { until } from '../events/stack.js';
import { newApiKey as newKey, sha256Hex as sha256, Stack } from '../support/stack.js';

describe('API key reload', () => {
  let stack: Stack;
  let api: AppProcess;
  let dir: string;
  let keysFile: string;
  const first = newKey();
  const second = newKey();
  const third = newKey();

  const status = async (key: string) => (await fetch(`${api.baseUrl}/v1/jobs`, { headers: { authorization: `Bearer ${key}` } })).status;
  /** Atomic replace, as a Kubernetes Secret volume or a careful operator does it. */
  const writeKeys = async (content: unknown) => {
    const temp = join(dir, `keys-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(temp, typeof content === 'string' ? content : JSON.stringify(content));
    await rename(temp, keysFile);
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-keys-reload-'));
    keysFile = join(dir, 'keys.json');
    await writeKeys([{ tenant: 'acme', key_sha256: sha256(first) }]);
    stack = await Stack.start({ env: { API_KEYS_FILE: keysFile, API_KEYS_RELOAD_MS: '200' } });
    stack.tempDir(dir);
    api = await stack.startApi();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('takes a changed key file without a restart: new keys work, removed keys stop working', async () => {
    expect(await status(first)).toBe(200);
    expect(await status(second)).toBe(401);
    await writeKeys([{ tenant: 'acme', key_sha256: sha256(second) }]);
    await until('the new key to be accepted', async () => (await status(second)) === 200, 10_000);
    expect(await status(first)).toBe(401);
    expect(api.output()).toMatch(/API keys reloaded \(API_KEYS_FILE changed\): 1 key\(s\) for 1 tenant\(s\)/);
  });

  it('keeps the keys in use when the new file is invalid or empty, and says why', async () => {
    await writeKeys('{"tenant": "acme"'); // cut short
    await until('the refusal to be logged', async () => /API keys NOT reloaded \(API_KEYS_FILE changed\).*cannot read a JSON array/.test(api.output()), 10_000);
    expect(await status(second)).toBe(200);
    await writeKeys([]);
    await until('the empty file to be refused', async () => /NOT reloaded.*turn authentication off/.test(api.output()), 10_000);
    expect(await status(second)).toBe(200);
    expect(await status(newKey())).toBe(401);
  });

  it('reloads on SIGHUP too, and never logs a key or its hash', async () => {
    await writeKeys([{ tenant: 'globex', key_sha256: sha256(third) }]);
    api.process.kill('SIGHUP');
    await until('the third key to be accepted', async () => (await status(third)) === 200, 10_000);
    await until('the SIGHUP reload to be logged', async () => /API keys reloaded \(SIGHUP\)/.test(api.output()), 10_000);
    expect(await status(second)).toBe(401);
    expect(api.process.exitCode).toBeNull();
    const log = api.output();
    for (const key of [first, second, third]) {
      expect(log).not.toContain(key);
      expect(log).not.toContain(sha256(key));
    }
  });
});
