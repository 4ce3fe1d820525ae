/**
 * The pieces the token-classification tests share: the generated NER models, and the alignable
 * view of a transformers.js tokenizer that the inference thread builds (ModelRunner).
 */
import { AutoTokenizer, type PreTrainedTokenizer } from '@huggingface/transformers';
import { type Family, MODEL_DIR } from './fixtures.js';

export function nerModelId(family: Family): string {
  return `shardwise-random/${family}-tiny-ner`;
}

/** Generates (or reuses) the tiny NER models of every family under .cache/models. */
export async function ensureNerModels(): Promise<string> {
  const { generateModels } = await import('../../tools/model-generator/index.js');
  await generateModels({ out: MODEL_DIR, size: 'tiny', head: ['ner'], dtype: ['fp32'] });
  return MODEL_DIR;
}

export async function loadTokenizer(family: Family): Promise<PreTrainedTokenizer> {
  return AutoTokenizer.from_pretrained(nerModelId(family));
}
