/**
 * `node dist/bench/device.js [flags]`: the engine alone (InferencePool, the worker's way: 512-text
 * shards, 2 in flight) on each execution provider a machine has, for the GPU machine of
 * ../shared/device/README.md, where there is no Redis service, no npm and no network. Prints texts/s
 * and tokens/s per configuration and writes them as JSON. The generated MiniLM-sized model (fp32,
 * fp16, q8) is written to MODEL_DIR (.cache/models) first, so nothing needs to be carried but the build.
 *
 *   node dist/bench/device.js --configs webgpu:fp32:1:32768:256,webgpu:fp16:1:32768:256,cpu:q8:16:512:64 --texts 20000 --out "$OUT"
 *
 * A configuration is DEVICE:DTYPE:THREADS:MAX_BATCH_TOKENS:MAX_BATCH_SIZE (1 intra-op thread each).
 * A configuration whose provider is missing is reported with its error, and the others still run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateModels } from '../tools/model-generator/index.js';
import type { Device, PoolDtype } from '#models';
import { inChild } from './in-child.js';
import type { InProcessSpec } from './in-process.js';
import { ROOT } from './processes.js';

interface Config {
  device: Device;
  dtype: PoolDtype;
  threads: number;
  maxBatchTokens: number;
  maxBatchSize: number;
}

const { values } = parseArgs({
  options: {
    configs: { type: 'string', default: `webgpu:fp32:1:32768:256,webgpu:fp16:1:32768:256,cpu:fp32:${availableParallelism()}:512:64,cpu:q8:${availableParallelism()}:512:64` },
    texts: { type: 'string', default: '20000' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: join(ROOT, 'bench-results') },
  },
});

function parseConfig(text: string): Config {
  const [device, dtype, threads, tokens, size] = text.split(':');
  const config = { device: device as Device, dtype: dtype as PoolDtype, threads: Number(threads), maxBatchTokens: Number(tokens), maxBatchSize: Number(size) };
  if (
    !['cpu', 'webgpu', 'cuda'].includes(config.device) ||
    !['fp32', 'fp16', 'q8'].includes(config.dtype) ||
    ![config.threads, config.maxBatchTokens, config.maxBatchSize].every((n) => Number.isInteger(n) && n > 0)
  ) {
    throw new Error(`--configs: "${text}" is not DEVICE:DTYPE:THREADS:MAX_BATCH_TOKENS:MAX_BATCH_SIZE (cpu|webgpu|cuda, fp32|fp16|q8, positive integers)`);
  }
  return config;
}

async function main(): Promise<void> {
  const configs = (values.configs as string)
    .split(',')
    .filter((c) => c !== '')
    .map(parseConfig);
  const texts = Number(values.texts);
  const modelDir = process.env.MODEL_DIR ?? join(ROOT, '.cache/models');
  const dtypes = [...new Set(configs.map((c) => c.dtype))];
  console.log(`shardwise device bench: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  await generateModels({ out: modelDir, size: 'minilm', family: ['bert'], head: ['embed'], dtype: dtypes });
  const corpus = { kind: 'mixed' as const, count: texts, seed: Number(values.seed) };
  const rows: Array<Record<string, unknown>> = [];
  for (const config of configs) {
    const label = `${config.device} ${config.dtype}, ${config.threads} thread(s), batches <= ${config.maxBatchTokens} tokens / ${config.maxBatchSize} texts`;
    const spec: InProcessSpec = { kind: 'engine', modelDir, corpus, shardSize: 512, concurrency: 2, intraOpThreads: 1, ...config };
    try {
      const m = await inChild(spec);
      const row = {
        ...config,
        texts: m.texts,
        tokens: m.tokens,
        paddedTokens: m.paddedTokens,
        seconds: m.seconds,
        textsPerSecond: m.texts / m.seconds,
        tokensPerSecond: m.tokens / m.seconds,
        detail: m.detail,
      };
      rows.push(row);
      console.log(
        `${label}: ${row.textsPerSecond.toFixed(1)} texts/s, ${Math.round(row.tokensPerSecond).toLocaleString('en-US')} tokens/s, padded/real ${(m.paddedTokens / m.tokens).toFixed(2)}, ${m.seconds.toFixed(1)} s`,
      );
    } catch (error) {
      const message = (error as Error).message.split('\n')[0] ?? String(error);
      rows.push({ ...config, error: message });
      console.log(`${label}: FAILED: ${message}`);
    }
  }
  mkdirSync(values.out as string, { recursive: true });
  const file = join(values.out as string, `device-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memory: totalmem(), node: process.version }, corpus, rows }, null, 2));
  console.log(`report: ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
