import { cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import onnxProto from 'onnx-proto';
import { generateModels } from '../../tools/model-generator/index.js';

/**
 * A test-only model on which inference really fails for one word, and only for it.
 *
 * It is derived from the generated `shardwise-random/bert-tiny-embed`: the word-embedding table of
 * its ONNX graph loses its last row (id 30521) and the tokenizer's vocabulary gives that id to the
 * word POISON_WORD (its old id goes to the token that had 30521). Any text containing the word
 * makes onnxruntime's Gather fail ("indices element out of data bounds") inside the real forward
 * pass, which is exactly how a mismatched tokenizer/model pair fails in production. Every other
 * text runs as on the original model. Nothing in the engine knows about this: the split retry has to
 * isolate the poisoned text on its own.
 */
export const POISON_MODEL = 'shardwise-test/bert-tiny-poison-embed';
export const POISON_WORD = 'poison';
const SOURCE = 'shardwise-random/bert-tiny-embed';
const WORD_TABLE = 'embeddings.word_embeddings.weight';

interface TokenizerJson {
  model: { vocab: Record<string, number> };
}

const CACHE = resolve(import.meta.dirname, '../../.cache/models');

/**
 * Writes the poison model under `modelDir` (a test's own MODEL_DIR, so the shared .cache/models
 * never lists it) from the tiny BERT generated in .cache/models. Returns its id.
 */
export async function ensurePoisonModel(modelDir: string): Promise<string> {
  const target = join(modelDir, POISON_MODEL);
  if (
    await stat(join(target, 'config.json')).then(
      () => true,
      () => false,
    )
  )
    return POISON_MODEL;
  await generateModels({ out: CACHE, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
  const source = join(CACHE, SOURCE);
  const temp = `${target}.tmp-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(join(temp, 'onnx'), { recursive: true });
  for (const file of ['config.json', 'tokenizer_config.json']) await cp(join(source, file), join(temp, file));

  const tokenizer = JSON.parse(await readFile(join(source, 'tokenizer.json'), 'utf8')) as TokenizerJson;
  const vocab = tokenizer.model.vocab;
  const last = Math.max(...Object.values(vocab));
  const lastToken = Object.keys(vocab).find((token) => vocab[token] === last) as string;
  const poisonId = vocab[POISON_WORD];
  if (poisonId === undefined) throw new Error(`"${POISON_WORD}" is not in the ${SOURCE} vocabulary`);
  vocab[lastToken] = poisonId;
  vocab[POISON_WORD] = last;
  await writeFile(join(temp, 'tokenizer.json'), JSON.stringify(tokenizer));

  const proto = onnxProto.onnx;
  const model = proto.ModelProto.decode(await readFile(join(source, 'onnx', 'model.onnx')));
  const table = model.graph?.initializer?.find((t) => t.name === WORD_TABLE);
  if (!table?.rawData || !table.dims) throw new Error(`${SOURCE} has no ${WORD_TABLE} initializer`);
  const rows = Number(table.dims[0]);
  const width = Number(table.dims[1]);
  if (rows !== last + 1) throw new Error(`expected ${last + 1} embedding rows, found ${rows}`);
  table.dims = [rows - 1, width];
  table.rawData = Uint8Array.from(table.rawData.subarray(0, (rows - 1) * width * 4));
  await writeFile(join(temp, 'onnx', 'model.onnx'), proto.ModelProto.encode(model).finish());

  await rm(target, { recursive: true, force: true });
  await mkdir(join(modelDir, 'shardwise-test'), { recursive: true });
  await rename(temp, target);
  return POISON_MODEL;
}
