import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiEnvSchema, loadEnv, redisTarget, workerEnvSchema } from '#shared';

// The env schema reads REDIS_TLS_CA_FILE at boot: a real file (its content need only look like PEM here;
// test/reliability/redis-tls.test.ts connects with a real CA).
const dir = mkdtempSync(join(tmpdir(), 'sw-redis-env-'));
const caFile = join(dir, 'ca.pem');
const notPem = join(dir, 'ca.der');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
writeFileSync(notPem, Buffer.from([0x30, 0x82, 0x01, 0x0a]));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sentinels = { REDIS_SENTINELS: '10.0.0.1:26379, sentinel-1.redis:26380,[::1]:26381', REDIS_SENTINEL_MASTER: 'shardwise' };

describe('Redis environment (Sentinel, replica acknowledgement)', () => {
  it('without REDIS_SENTINELS connects to REDIS_URL as before, with no replica wait', () => {
    const env = loadEnv(apiEnvSchema, { REDIS_URL: 'redis://:pw@redis:6379/2' });
    expect(env.REDIS_SENTINELS).toBeUndefined();
    expect(env).toMatchObject({ REDIS_MIN_REPLICAS_ACK: 0, REDIS_REPLICA_ACK_TIMEOUT_MS: 1000 });
    const target = redisTarget(env);
    expect(target).toEqual({ url: 'redis://:pw@redis:6379/2', options: {}, description: 'Redis at redis://:***@redis:6379/2 (REDIS_URL)' });
  });

  it('with REDIS_SENTINELS asks the Sentinels for the named primary', () => {
    const env = loadEnv(workerEnvSchema, { ...sentinels, REDIS_PASSWORD: 'secret', REDIS_SENTINEL_PASSWORD: 'sp', REDIS_SENTINEL_TLS: 'true', REDIS_URL: 'rediss://redis' });
    expect(env.REDIS_SENTINELS).toEqual([
      { host: '10.0.0.1', port: 26379 },
      { host: 'sentinel-1.redis', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
    const { options, description } = redisTarget(env);
    expect(options).toMatchObject({
      name: 'shardwise',
      role: 'master',
      password: 'secret',
      sentinelPassword: 'sp',
      sentinelTLS: {},
      enableTLSForSentinelMode: true,
      sentinels: env.REDIS_SENTINELS,
    });
    expect(description).not.toContain('secret');
  });

  it('with REDIS_TLS_CA_FILE trusts that CA on the TLS connections, to the nodes and to the Sentinels', () => {
    const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const single = redisTarget(loadEnv(apiEnvSchema, { REDIS_URL: 'rediss://redis:6380', REDIS_TLS_CA_FILE: caFile }));
    expect(single.options).toEqual({ tls: { ca } });
    const both = redisTarget(loadEnv(apiEnvSchema, { ...sentinels, REDIS_URL: 'rediss://redis', REDIS_SENTINEL_TLS: 'true', REDIS_TLS_CA_FILE: caFile }));
    expect(both.options).toMatchObject({ tls: { ca }, sentinelTLS: { ca }, enableTLSForSentinelMode: true });
    // Sentinels over TLS, nodes in the clear: the CA goes to the Sentinel connections only.
    const sentinelsOnly = redisTarget(loadEnv(apiEnvSchema, { ...sentinels, REDIS_SENTINEL_TLS: 'true', REDIS_TLS_CA_FILE: caFile }));
    expect(sentinelsOnly.options).toMatchObject({ sentinelTLS: { ca }, enableTLSForSentinelMode: false });
    expect(sentinelsOnly.options.tls).toBeUndefined();
  });

  it.each([
    [{ REDIS_URL: 'rediss://redis', REDIS_TLS_CA_FILE: join(dir, 'missing.pem') }, /REDIS_TLS_CA_FILE=".*missing\.pem": cannot read the file: ENOENT/],
    [{ REDIS_URL: 'rediss://redis', REDIS_TLS_CA_FILE: notPem }, /REDIS_TLS_CA_FILE=".*ca\.der": holds no PEM certificate/],
    [{ REDIS_TLS_CA_FILE: caFile }, /REDIS_TLS_CA_FILE=".*": only used with TLS: REDIS_URL rediss:\/\/\.\.\. or REDIS_SENTINEL_TLS=true/],
    [{ REDIS_SENTINELS: 'sentinel-0' }, /REDIS_SENTINELS="sentinel-0": "sentinel-0" is not host:port/],
    [{ REDIS_SENTINELS: 'a:26379,b:99999', REDIS_SENTINEL_MASTER: 'm' }, /REDIS_SENTINELS=.*"b:99999" is not host:port/],
    [{ REDIS_SENTINELS: 'a:26379' }, /REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS/],
    [{ REDIS_SENTINEL_MASTER: 'm' }, /REDIS_SENTINEL_MASTER="m": only used with REDIS_SENTINELS/],
    [{ REDIS_SENTINEL_PASSWORD: 'p' }, /REDIS_SENTINEL_PASSWORD="\*\*\*": only used with REDIS_SENTINELS/],
    [{ REDIS_SENTINEL_TLS: 'yes' }, /REDIS_SENTINEL_TLS="yes": must be true or false/],
    [{ ...sentinels, REDIS_SENTINEL_MASTER: 'my master' }, /REDIS_SENTINEL_MASTER="my master": letters, digits/],
    [{ REDIS_MIN_REPLICAS_ACK: '-1' }, /REDIS_MIN_REPLICAS_ACK="-1"/],
    [{ REDIS_REPLICA_ACK_TIMEOUT_MS: '0' }, /REDIS_REPLICA_ACK_TIMEOUT_MS="0"/],
  ])('refuses %o, naming the variable', (vars, message) => {
    expect(() => loadEnv(apiEnvSchema, vars)).toThrow(message);
    expect(() => loadEnv(workerEnvSchema, vars)).toThrow(message);
  });
});
