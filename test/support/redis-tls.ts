import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { askRedis, killProcess, waitUntil } from './redis-probe.js';
import { freePort } from './redis-server.js';

export const TLS_SENTINEL_MASTER = 'shardwise-tls';

/** A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost: files in `dir`, never committed. */
export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
}

export function makeCertificates(dir: string): TestCertificates {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', '/CN=shardwise test CA');
  openssl('req', ...ec, '-keyout', file('redis.key'), '-out', file('redis.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file('redis.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('redis.pem'),
    '-days',
    '1',
    '-extfile',
    file('san.ext'),
  );
  return { caFile: file('ca.pem'), certFile: file('redis.pem'), keyFile: file('redis.key'), ca: readFileSync(file('ca.pem')) };
}

/**
 * A primary, a replica and three Sentinels that speak TLS only (no plain port): the replica
 * replicates over TLS, the Sentinels listen on TLS and reach the nodes over TLS. Clients need the CA.
 */
export interface TlsRedis {
  certificates: TestCertificates;
  primaryPort: number;
  replicaPort: number;
  sentinelPorts: number[];
  /** A TLS client of the primary, for the test's own checks. */
  client(): Redis;
  stop(): Promise<void>;
}

export async function startTlsRedis(): Promise<TlsRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'sw-redis-tls-'));
  const certificates = makeCertificates(dir);
  const tlsConf = [
    'port 0',
    'bind 127.0.0.1',
    `tls-cert-file ${certificates.certFile}`,
    `tls-key-file ${certificates.keyFile}`,
    `tls-ca-cert-file ${certificates.caFile}`,
    // Clients show no certificate of their own (as the apps do); the replica and Sentinels reach the nodes over TLS.
    'tls-auth-clients no',
    'tls-replication yes',
  ];
  const children: ChildProcess[] = [];
  const start = async (name: string, lines: string[], sentinel = false): Promise<void> => {
    const conf = join(dir, `${name}.conf`);
    await writeFile(conf, [...tlsConf, ...lines, ''].join('\n'));
    children.push(spawn(process.env.REDIS_SERVER_BIN ?? 'redis-server', sentinel ? [conf, '--sentinel'] : [conf], { stdio: 'ignore' }));
  };
  const answers = (port: number, command: string[]) => askRedis({ host: '127.0.0.1', port, tls: { ca: certificates.ca } }, command);
  const waitFor = (what: string, check: () => Promise<boolean>) => waitUntil(check, 30_000, `TLS Redis: ${what}`, 100);

  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const node = (port: number) => [`tls-port ${port}`, `dir ${dir}`, `dbfilename dump-${port}.rdb`, `appendfilename aof-${port}`, 'save ""', 'maxmemory-policy noeviction'];
  await start('primary', node(primaryPort));
  await waitFor('the primary answers over TLS', async () => (await answers(primaryPort, ['PING'])) === 'PONG');
  await start('replica', [...node(replicaPort), `replicaof 127.0.0.1 ${primaryPort}`]);
  await waitFor('the replica syncs over TLS', async () => /master_link_status:up/.test(String(await answers(replicaPort, ['INFO', 'replication']))));
  const sentinelPorts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    sentinelPorts.push(port);
    await start(
      `sentinel-${i}`,
      [`tls-port ${port}`, `dir ${dir}`, `sentinel monitor ${TLS_SENTINEL_MASTER} 127.0.0.1 ${primaryPort} 2`, `sentinel down-after-milliseconds ${TLS_SENTINEL_MASTER} 1000`],
      true,
    );
  }
  await waitFor('the Sentinels know the replica and each other', async () => {
    for (const port of sentinelPorts) {
      const master = (await answers(port, ['SENTINEL', 'master', TLS_SENTINEL_MASTER])) as string[] | null;
      if (!master) return false;
      const field = (name: string) => Number(master[master.indexOf(name) + 1]);
      if (field('num-slaves') < 1 || field('num-other-sentinels') < 2) return false;
    }
    return true;
  });
  return {
    certificates,
    primaryPort,
    replicaPort,
    sentinelPorts,
    client: () => new Redis({ host: '127.0.0.1', port: primaryPort, tls: { ca: certificates.ca }, maxRetriesPerRequest: null }),
    async stop() {
      for (const child of children) await killProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
