import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidModelError, TASKS, UnknownModelError, UnknownTaskError, resolveModelId, resolveTask } from '#models';

describe('resolveTask / TASKS', () => {
  it('maps names and aliases', () => {
    for (const name of ['embed', 'embedding', 'feature-extraction']) expect(resolveTask(name)).toBe('embed');
    for (const name of ['sentiment', 'classify', 'text-classification', 'sentiment-analysis']) expect(resolveTask(name)).toBe('sentiment');
  });
  it('lists valid names when it throws', () => {
    expect(() => resolveTask('summarize')).toThrow(UnknownTaskError);
    expect(() => resolveTask('summarize')).toThrow(/use one of: embed, embedding, feature-extraction, sentiment, classify/);
  });
  it('is frozen and has the documented defaults', () => {
    expect(Object.isFrozen(TASKS)).toBe(true);
    expect(Object.isFrozen(TASKS.embed)).toBe(true);
    expect(TASKS.embed.defaultModel).toBe('Xenova/all-MiniLM-L6-v2');
    expect(TASKS.sentiment.defaultModel).toBe('Xenova/distilbert-base-uncased-finetuned-sst-2-english');
    expect(TASKS.sentiment.pipelineTask).toBe('text-classification');
  });
});

describe('resolveModelId without modelDir', () => {
  it('uses task defaults, then overrides', () => {
    expect(resolveModelId(undefined, 'embed', {})).toBe('Xenova/all-MiniLM-L6-v2');
    expect(resolveModelId('', 'sentiment', {})).toBe('Xenova/distilbert-base-uncased-finetuned-sst-2-english');
    expect(resolveModelId(undefined, 'embed', { defaults: { embed: 'org/custom' } })).toBe('org/custom');
  });
  it('maps registry short names and accepts org/name Hub ids', () => {
    expect(resolveModelId('all-MiniLM-L6-v2', 'embed', {})).toBe('Xenova/all-MiniLM-L6-v2');
    expect(resolveModelId('BAAI/bge-small-en-v1.5', 'embed', {})).toBe('BAAI/bge-small-en-v1.5');
  });
  it('rejects unknown single names and nested paths', () => {
    expect(() => resolveModelId('no-such-model', 'embed', {})).toThrow(UnknownModelError);
    expect(() => resolveModelId('a/b/c', 'embed', {})).toThrow(InvalidModelError);
  });
});

describe('resolveModelId path safety', () => {
  const hostile = [
    '../x',
    '/etc/passwd',
    'a/../../b',
    '%2e%2e',
    '%2e%2e/etc',
    'a\\b',
    '..\\x',
    'a\0b',
    'a//b',
    'a/',
    '/',
    '.',
    './x',
    'a/./b',
    '.hidden/x',
    'C:/x',
    'a b',
    'a/b\n',
    '~/x',
    'x'.repeat(300),
  ];
  for (const dir of [undefined, '/tmp']) {
    it(`rejects ${hostile.length} traversal and encoding tricks (modelDir ${dir ?? 'unset'})`, () => {
      for (const id of hostile) {
        expect(() => resolveModelId(id, 'embed', { modelDir: dir }), JSON.stringify(id)).toThrow(InvalidModelError);
      }
    });
  }
  it('does not leak control characters into messages', () => {
    try {
      resolveModelId('a\0b', 'embed', {});
    } catch (error) {
      expect((error as Error).message).not.toContain('\0');
      expect((error as Error).message).toMatch(/NUL/);
    }
  });
});

describe('resolveModelId with modelDir', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'shardwise-ids-'));
    const dirs = ['models/org/model-a', 'models/Xenova/all-MiniLM-L6-v2', 'models/deep/er/model-b', 'models/no-config', 'outside/secret'];
    for (const dir of dirs) mkdirSync(join(root, dir), { recursive: true });
    for (const dir of dirs.filter((d) => d !== 'models/no-config')) writeFileSync(join(root, dir, 'config.json'), '{}');
    symlinkSync(join(root, 'outside'), join(root, 'models', 'escape'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const dir = (): string => join(root, 'models');

  it('accepts folders holding config.json, at any depth', () => {
    expect(resolveModelId('org/model-a', 'embed', { modelDir: dir() })).toBe('org/model-a');
    expect(resolveModelId('deep/er/model-b', 'embed', { modelDir: dir() })).toBe('deep/er/model-b');
  });
  it('maps registry names and defaults onto folders', () => {
    expect(resolveModelId('all-MiniLM-L6-v2', 'embed', { modelDir: dir() })).toBe('Xenova/all-MiniLM-L6-v2');
    expect(resolveModelId(undefined, 'embed', { modelDir: dir() })).toBe('Xenova/all-MiniLM-L6-v2');
  });
  it('rejects missing folders and folders without config.json', () => {
    expect(() => resolveModelId('org/missing', 'embed', { modelDir: dir() })).toThrow(UnknownModelError);
    expect(() => resolveModelId('no-config', 'embed', { modelDir: dir() })).toThrow(UnknownModelError);
    expect(() => resolveModelId(undefined, 'sentiment', { modelDir: dir() })).toThrow(UnknownModelError);
  });
  it('rejects a symlink that leads outside modelDir', () => {
    expect(() => resolveModelId('escape/secret', 'embed', { modelDir: dir() })).toThrow(/outside modelDir/);
  });
});
