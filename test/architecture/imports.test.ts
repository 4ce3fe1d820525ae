import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
// A BullMQ Worker or @Processor would consume shards inside the API; transformers.js or onnxruntime
// would mean inference there. (Importing the models barrel for names and model info is fine: the
// thread code that loads models is only reached through new InferencePool.)
const RUNS_WORK = /@Processor\(|import\s*\{[^}]*\bWorker\b[^}]*\}\s*from\s*'bullmq'|from '@huggingface\/transformers'|from 'onnxruntime-node'|new InferencePool\(/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** The libraries' import aliases (package.json "imports": '#shared' -> libs/shared/src/index.ts). */
const ALIASES: Record<string, string> = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).imports;

/** Relative and aliased imports of each file (type-only imports included: they still couple modules). */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pattern = /(?:import|export)\s[^'"]*?from\s+'((?:\.{1,2}\/|#)[^']+)'|import\(\s*'((?:\.{1,2}\/|#)[^']+)'\s*\)/g;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const targets: string[] = [];
    for (const match of text.matchAll(pattern)) {
      const spec = match[1] ?? match[2];
      const alias = ALIASES[spec];
      targets.push(alias ? join(ROOT, alias) : resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    }
    graph.set(
      file,
      targets.filter((t) => graph.has(t) || files.includes(t)),
    );
  }
  return graph;
}

function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'active');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'active') cycles.push(stack.slice(stack.indexOf(next)).concat(next));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

function reachable(graph: Map<string, string[]>, from: string): Set<string> {
  const seen = new Set<string>([from]);
  const queue = [from];
  while (queue.length > 0) for (const next of graph.get(queue.pop()!) ?? []) if (!seen.has(next)) seen.add(next) && queue.push(next);
  return seen;
}

describe('module structure', () => {
  const files = ['apps', 'libs'].flatMap((dir) => sourceFiles(join(ROOT, dir)));
  const graph = importGraph(files);

  it('has no circular imports', () => {
    expect(files.length).toBeGreaterThan(100);
    const cycles = findCycles(graph).map((cycle) => cycle.map((f) => relative(ROOT, f)).join(' -> '));
    expect(cycles).toEqual([]);
  });

  it('keeps inference and queue consumers out of the API process', () => {
    const api = reachable(graph, join(ROOT, 'apps/api/src/main.ts'));
    expect(api.size).toBeGreaterThan(30);
    const offenders = [...api].filter((file) => {
      const text = readFileSync(file, 'utf8');
      return RUNS_WORK.test(text);
    });
    expect(offenders.map((f) => relative(ROOT, f))).toEqual([]);
  });

  it('reaches the libraries only through their public index (the #shared and #models aliases)', () => {
    expect(Object.keys(ALIASES).sort()).toEqual(['#models', '#shared']);
    const deep = [...graph].flatMap(([file, targets]) =>
      targets
        .filter((t) => {
          const lib = /^libs\/([^/]+)\//.exec(relative(ROOT, t))?.[1];
          return lib !== undefined && !relative(ROOT, file).startsWith(`libs/${lib}/`) && !t.endsWith('/src/index.ts');
        })
        .map((t) => `${relative(ROOT, file)} -> ${relative(ROOT, t)}`),
    );
    expect(deep).toEqual([]);
    const relativeToLibs = files.filter((f) => f.startsWith(join(ROOT, 'apps')) && /from '(\.\.\/)+libs\//.test(readFileSync(f, 'utf8')));
    expect(relativeToLibs.map((f) => relative(ROOT, f))).toEqual([]);
  });

  it('finds a cycle and a consumer when there is one (the checks are not vacuous)', () => {
    const a = join(ROOT, 'a.ts');
    const b = join(ROOT, 'b.ts');
    expect(
      findCycles(
        new Map([
          [a, [b]],
          [b, [a]],
        ]),
      ),
    ).toHaveLength(1);
    expect(
      reachable(
        new Map([
          [a, [b]],
          [b, []],
        ]),
        a,
      ).has(b),
    ).toBe(true);
    expect(RUNS_WORK.test(readFileSync(join(ROOT, 'apps/worker/src/shards/shard-consumer.service.ts'), 'utf8'))).toBe(true);
  });
});
