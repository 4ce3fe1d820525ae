import { embeddingTable, layerNorm, type LayerContext } from './layers.js';
import type { ModelSpec } from './model-spec.js';
import type { ParamNames } from './param-names.js';

export interface EncoderInputs {
  inputIds: string; // int64 [b, s]
  attentionMask: string; // int64 [b, s]
  tokenTypeIds: string | null; // int64 [b, s], BERT only
}

/** Position ids 0..s-1, shared by every row: [s] */
function sequentialPositions(ctx: LayerContext, inputIds: string): string {
  const { b } = ctx;
  const seqLen = b.op('Gather', [b.op('Shape', [inputIds]), b.int64([1], [])], { axis: 0 }); // scalar
  return b.op('Range', [b.int64([0], []), seqLen, b.int64([1], [])]);
}

/**
 * HF create_position_ids_from_input_ids: pads keep position padding_idx, real
 * tokens count up from padding_idx + 1. Because it depends on the ids, not on
 * the padded length, right-padding never shifts a row's positions. [b, s]
 */
function robertaPositions(ctx: LayerContext, inputIds: string, padId: number): string {
  const { b } = ctx;
  const isPad = b.op('Equal', [inputIds, b.int64([padId], [])]);
  const mask = b.op('Cast', [b.op('Not', [isPad])], { to: 7 }); // int64 [b, s]
  const counted = b.op('CumSum', [mask, b.int64([1], [])]);
  return b.op('Add', [b.op('Mul', [counted, mask]), b.int64([padId], [])]);
}

/** word + position (+ token type) embeddings, then LayerNorm. [b, s, h] */
export function embeddings(ctx: LayerContext, spec: ModelSpec, names: ParamNames, inputs: EncoderInputs): string {
  const { b } = ctx;
  const { hidden, vocabSize, maxPositions, padTokenId, layerNormEps } = spec.dims;
  const wordTable = embeddingTable(ctx, names.wordEmbeddings, vocabSize, hidden);
  const posTable = embeddingTable(ctx, names.positionEmbeddings, maxPositions, hidden);
  const words = b.op('Gather', [wordTable, inputs.inputIds]); // [b, s, h]
  const positionIds = spec.family === 'roberta' ? robertaPositions(ctx, inputs.inputIds, padTokenId) : sequentialPositions(ctx, inputs.inputIds);
  // [b, s, h] for RoBERTa, [s, h] otherwise (broadcasts over the batch).
  let sum = b.op('Add', [words, b.op('Gather', [posTable, positionIds])]);
  if (spec.family === 'bert' && inputs.tokenTypeIds) {
    const typeTable = embeddingTable(ctx, names.tokenTypeEmbeddings, 2, hidden);
    sum = b.op('Add', [sum, b.op('Gather', [typeTable, inputs.tokenTypeIds])]);
  } else if (spec.family === 'roberta') {
    // type_vocab_size 1 and no token_type_ids input: the export folds row 0 into a constant add.
    sum = b.op('Add', [sum, embeddingTable(ctx, names.tokenTypeEmbeddings, 1, hidden)]);
  }
  return layerNorm(ctx, sum, names.embeddingNorm, hidden, layerNormEps);
}

/**
 * HF get_extended_attention_mask: (1 - mask) * finfo(float32).min, shaped to
 * broadcast over heads and query rows. Masked keys underflow to exactly zero
 * probability in Softmax, which is what makes padded batches equal single runs.
 * [b, 1, 1, s]
 */
export function extendedAttentionMask(ctx: LayerContext, attentionMask: string): string {
  const { b } = ctx;
  const maskF = b.op('Cast', [attentionMask], { to: 1 }); // float [b, s]
  const inverted = b.op('Sub', [b.float32([1], []), maskF]);
  const additive = b.op('Mul', [inverted, b.float32([FLOAT32_MIN], [])]);
  return b.op('Unsqueeze', [additive, b.int64([1, 2])]);
}

/** torch.finfo(torch.float32).min */
export const FLOAT32_MIN = -3.4028234663852886e38;
