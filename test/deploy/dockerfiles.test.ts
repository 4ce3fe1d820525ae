/**
 * Static checks of deploy/docker/*.Dockerfile and .dockerignore (no Docker engine needed): base
 * images, the onnxruntime-node install-script handling, non-root users, no baked-in models, and
 * entry points that match package.json's start scripts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_NODE_FLAGS } from '#shared';

const ROOT = resolve(import.meta.dirname, '../..');
const DOCKER = join(ROOT, 'deploy/docker');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (current !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(current);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    current = '';
  }
  return out;
}

/** Stages with ARG defaults (those before the first FROM) substituted into FROM. */
function stages(file: string): Stage[] {
  const all = instructions(readFileSync(join(DOCKER, file), 'utf8'));
  const globals: Record<string, string> = {};
  const result: Stage[] = [];
  for (const ins of all) {
    if (ins.op === 'ARG' && result.length === 0) {
      const [k, v] = ins.args.split('=');
      if (k && v !== undefined) globals[k] = v;
    } else if (ins.op === 'FROM') {
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const image = parts[0]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globals[a ?? b] ?? '');
      result.push({ from: image, name: parts[2], instructions: [] });
    } else if (result.length > 0) {
      result.at(-1)!.instructions.push(ins);
    }
  }
  return result;
}

/** The image a stage builds on, through `FROM <earlier stage>` links. */
function baseImage(all: Stage[], stage: Stage): string {
  const parent = all.find((s) => s.name === stage.from);
  return parent ? baseImage(all, parent) : stage.from;
}

const runText = (stage: Stage) =>
  stage.instructions
    .filter((i) => i.op === 'RUN')
    .map((i) => i.args)
    .join('\n');
const envText = (stage: Stage) =>
  stage.instructions
    .filter((i) => i.op === 'ENV')
    .map((i) => i.args)
    .join('\n');

function entryOf(stage: Stage): string {
  const cmd = stage.instructions.filter((i) => i.op === 'CMD' || i.op === 'ENTRYPOINT').at(-1);
  expect(cmd, 'CMD').toBeDefined();
  // Exec form, so that node is PID 1 and gets SIGTERM (the worker drains on it).
  return (JSON.parse(cmd!.args) as string[]).join(' ');
}

const IMAGES = [
  { file: 'api.Dockerfile', script: 'start:api', port: '8080', cuda: false },
  { file: 'worker.Dockerfile', script: 'start:worker', port: '8081', cuda: false },
  { file: 'worker-cuda.Dockerfile', script: 'start:worker', port: '8081', cuda: true },
] as const;

describe.each(IMAGES)('deploy/docker/$file', ({ file, script, port, cuda }) => {
  const all = existsSync(join(DOCKER, file)) ? stages(file) : [];
  const final = all.at(-1)!;

  it('is a multi-stage build whose last stage runs the start script as a non-root user', () => {
    expect(all.length, 'stages').toBeGreaterThanOrEqual(2);
    expect(entryOf(final)).toBe(pkg.scripts[script]);
    // The API starts with the V8 flags it is measured and tested with.
    if (script === 'start:api') expect(pkg.scripts[script]).toBe(['node', ...API_NODE_FLAGS, 'dist/apps/api/src/main.js'].join(' '));
    const user = final.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user, 'USER: a numeric uid, so that runAsNonRoot can verify it').toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(final.instructions.some((i) => i.op === 'EXPOSE' && i.args.split(/\s+/).includes(port))).toBe(true);
    expect(envText(final)).toMatch(/NODE_ENV=production/);
  });

  it('ships the .lua scripts: npm run build:product copies them into dist/ (tools/build.mjs), which the last stage copies', () => {
    expect(pkg.scripts['build:product']).toBe('node tools/build.mjs --product');
    expect(final.instructions.some((i) => i.op === 'COPY' && /^--from=\S+ \/app\/dist \.\/dist$/.test(i.args))).toBe(true);
  });

  it('bakes in no models', () => {
    for (const s of all) {
      for (const i of s.instructions.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
        expect(i.args, `${file}: ${i.op} ${i.args}`).not.toMatch(/\.onnx\b|\bmodels?\b|\.cache/);
      }
      expect(runText(s), `${file} downloads no models`).not.toMatch(/huggingface\.co|models:generate|\.onnx\b/);
    }
  });

  it('builds with npm ci and ships only production dependencies', () => {
    const build = all.find((s) => /npm run build/.test(runText(s)));
    expect(build, 'a stage runs npm run build').toBeDefined();
    // The product build: apps and libs only, without the model generator, benchmarks and scripts.
    expect(runText(build!)).toMatch(/npm run build:product\b/);
    expect(baseImage(all, build!)).toMatch(/^node:20(\.|-).*bookworm-slim$/);
    expect(runText(build!)).toMatch(/npm ci/);
    // The build stage never needs onnxruntime-node's CUDA download.
    expect(envText(build!) + runText(build!)).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    const shipped = all.map(runText).join('\n');
    expect(shipped, 'dev dependencies are pruned or never installed').toMatch(/npm prune --omit=dev|npm ci --omit=dev/);
  });

  if (!cuda) {
    it('is a CPU image on node:20-bookworm-slim that skips the CUDA provider download', () => {
      expect(baseImage(all, final)).toMatch(/^node:20(\.|-).*bookworm-slim$/);
      expect(all.map((s) => envText(s) + runText(s)).join('\n')).not.toMatch(/ONNXRUNTIME_NODE_INSTALL=(cuda|true|1\b)/);
    });
  } else {
    it('is a CUDA + cuDNN runtime image whose npm ci runs the approved onnxruntime-node script', () => {
      const from = baseImage(all, final);
      expect(from).toMatch(/^nvidia\/cuda:12\.[\d.]+-cudnn[0-9]*-runtime-ubuntu/);
      const copies = final.instructions
        .filter((i) => i.op === 'COPY')
        .map((i) => i.args)
        .join('\n');
      expect(copies, 'Node is installed into the CUDA image').toMatch(/\/usr\/local\/bin\/node/);
      const install = final.instructions.find((i) => i.op === 'RUN' && /npm ci/.test(i.args));
      expect(install, 'the CUDA stage runs npm ci').toBeDefined();
      // npm 11: the explicit `false` in package.json's allowScripts must be turned into an approval
      // in the same or an earlier step, and the script must not be skipped by the env var.
      const before = final.instructions
        .slice(0, final.instructions.indexOf(install!) + 1)
        .map((i) => i.args)
        .join('\n');
      expect(before).toMatch(/npm pkg set "?allowScripts\.onnxruntime-node=true"? --json/);
      expect(envText(final) + install!.args).not.toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
      expect(install!.args, 'the build fails if the CUDA provider was not fetched').toMatch(/test -f \S*libonnxruntime_providers_cuda\.so/);
    });
  }
});

describe('.dockerignore', () => {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('keeps build outputs, dependencies and VCS data out of the context', () => {
    for (const p of ['node_modules', 'dist', '.git']) {
      expect(
        patterns.some((x) => x === p || x === `**/${p}` || x === `/${p}`),
        p,
      ).toBe(true);
    }
  });

  it('keeps what the build needs', () => {
    for (const p of ['package.json', 'package-lock.json', 'apps', 'libs', 'scripts', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(patterns, p).not.toContain(p);
    }
  });
});
