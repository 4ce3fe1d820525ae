/** Child-process entry for one in-process measurement: `node child.js '<spec json>'`, answers over IPC (see in-child.ts). */
import { measureInProcess, type InProcessSpec } from './in-process.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as InProcessSpec;
measureInProcess(spec).then(
  (result) => process.send!({ ok: true, result }, () => process.exit(0)),
  (error: unknown) => process.send!({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1)),
);
