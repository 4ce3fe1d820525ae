import { readFileSync } from 'node:fs';

const PEM_CERTIFICATE = '-----BEGIN CERTIFICATE-----';

/** The certificate authorities of REDIS_TLS_CA_FILE, read once at boot (a renewed CA takes a restart). */
export function readRedisCa(path: string): Buffer {
  return readFileSync(path);
}

/** What is wrong with REDIS_TLS_CA_FILE, for the env schema; undefined when it holds a PEM certificate. */
export function caFileProblem(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return `cannot read the file: ${(error as Error).message}`;
  }
  if (!text.includes(PEM_CERTIFICATE)) return `holds no PEM certificate ("${PEM_CERTIFICATE}"): give the CA certificate(s) that signed the Redis TLS certificates`;
  return undefined;
}
