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

/** Node's codes for a TLS certificate it does not trust, or that names another host. */
const CERTIFICATE_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A certificate error does not pass with the next reconnect: the log line says what to change.
 * Other errors keep their message.
 */
export function redisErrorMessage(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined || !CERTIFICATE_ERRORS.has(code)) return error.message;
  const fix =
    code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? 'the Redis certificate must name the host the apps connect to (with Sentinels: the address they announce)'
      : 'set REDIS_TLS_CA_FILE to the CA certificate that signed the Redis certificates';
  return `${error.message} (${code}): ${fix}`;
}
