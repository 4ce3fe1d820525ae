/**
 * Child-process entry for one in-process measurement: `node child.js '<spec json>'`, answers over
 * IPC. inChild() (below, for the parent) forks it.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { measureInProcess, type InProcessSpec, type Measurement } from './in-process.js';

/** Runs one measurement in a fresh child process, so its ONNX sessions and thread pools cannot slow the next. */
export function inChild(spec: InProcessSpec): Promise<Measurement> {
  return new Promise((done, fail) => {
    const child = fork(join(import.meta.dirname, 'child.js'), [JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answer: { ok: true; result: Measurement } | { ok: false; error: string } | undefined;
    child.on('message', (message) => (answer = message as typeof answer));
    child.on('error', fail);
    child.on('exit', (code) => {
      if (answer?.ok) done(answer.result);
      else fail(new Error(answer && !answer.ok ? answer.error : `measurement ${spec.kind} exited with code ${code}`));
    });
  });
}

// Only when run as the child entry itself (the parent imports inChild from here too).
if (process.send !== undefined && process.argv[2]?.startsWith('{')) {
  const spec = JSON.parse(process.argv[2]) as InProcessSpec;
  measureInProcess(spec).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (error: unknown) => process.send!({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1)),
  );
}
