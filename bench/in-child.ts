import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { InProcessSpec, Measurement } from './in-process.js';

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
