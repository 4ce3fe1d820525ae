#!/usr/bin/env node
/**
 * npm run models:generate -- [--out DIR, default $MODEL_DIR, else .cache/models] [--size tiny|minilm|all]
 *   [--family bert,distilbert,roberta] [--head embed,sentiment,multilabel,score,ner,nli]
 *   [--dtype fp32,q8,fp16] [--force]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_DTYPES, DEFAULT_OUT, DTYPES, FAMILIES, generateModels, HEADS, SIZES, type Size } from './index.js';

/** Splits a comma list and rejects anything outside `allowed`. */
function list<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = items.filter((item) => !(allowed as readonly string[]).includes(item));
  if (bad.length > 0 || items.length === 0) throw new Error(`--${flag}: expected a comma list of ${allowed.join(', ')}; got "${value}"`);
  return items as T[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: process.env.MODEL_DIR || DEFAULT_OUT },
      size: { type: 'string', default: 'tiny' },
      family: { type: 'string' },
      head: { type: 'string' },
      dtype: { type: 'string', default: DEFAULT_DTYPES.join(',') },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: models:generate [--out DIR] [--size tiny|minilm|all] [--family bert,distilbert,roberta] [--head embed,sentiment,multilabel,score,ner,nli] [--dtype fp32,q8,fp16] [--force]');
    return;
  }
  const size = values.size === 'all' ? 'all' : list<Size>('size', values.size, SIZES);
  const started = Date.now();
  const models = await generateModels({
    out: values.out,
    size,
    family: list('family', values.family, FAMILIES),
    head: list('head', values.head, HEADS),
    dtype: list('dtype', values.dtype, DTYPES),
    force: values.force,
    log: (line) => console.log(line),
  });
  const written = models.filter((m) => m.written).length;
  console.log(`${written} written, ${models.length - written} up to date, in ${((Date.now() - started) / 1000).toFixed(1)} s (${values.out})`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
