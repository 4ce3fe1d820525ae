import { embeddings, extendedAttentionMask, type EncoderInputs } from './embeddings.js';
import { encoderLayer } from './encoder-layer.js';
import { GraphBuilder } from './graph-builder.js';
import { classificationHead, tokenClassificationHead } from './heads.js';
import type { LayerContext } from './layers.js';
import type { ModelSpec } from './model-spec.js';
import type { GraphDef } from './onnx-graph.js';
import { paramNames } from './param-names.js';
import { createRng, seedFromString } from './rng.js';

const BATCH = 'batch_size';
const SEQ = 'sequence_length';

/**
 * The fp32 graph for one model, with the same inputs/outputs as an Optimum
 * export: input_ids, attention_mask (+ token_type_ids for BERT) ->
 * last_hidden_state [b, s, h], logits [b, labels] (sentiment) or logits [b, s, labels] (ner).
 */
export function buildModelGraph(spec: ModelSpec): GraphDef {
  const b = new GraphBuilder(spec.name.replace('/', '_'));
  // Seed from the name so every model differs but regenerates bit-identically.
  const ctx: LayerContext = { b, rng: createRng(seedFromString(spec.name)) };
  const inputs: EncoderInputs = {
    inputIds: b.input('input_ids', 'int64', [BATCH, SEQ]),
    attentionMask: b.input('attention_mask', 'int64', [BATCH, SEQ]),
    // Optimum's DistilBERT and RoBERTa exports have no token_type_ids input.
    tokenTypeIds: spec.family === 'bert' ? b.input('token_type_ids', 'int64', [BATCH, SEQ]) : null,
  };
  const names = paramNames(spec.family, spec.head);

  b.scope = 'embeddings';
  let hidden = embeddings(ctx, spec, names, inputs); // [b, s, h]
  const mask = extendedAttentionMask(ctx, inputs.attentionMask); // [b, 1, 1, s]
  for (let i = 0; i < spec.dims.layers; i++) {
    b.scope = `encoder/layer.${i}`;
    hidden = encoderLayer(ctx, hidden, mask, spec.dims, names.layer(i));
  }

  if (spec.head === 'embed') {
    b.output(hidden, 'last_hidden_state', 'float32', [BATCH, SEQ, spec.dims.hidden]);
  } else if (spec.head === 'ner') {
    b.scope = 'classifier';
    const logits = tokenClassificationHead(ctx, spec, hidden); // [b, s, labels]
    b.output(logits, 'logits', 'float32', [BATCH, SEQ, spec.labels.length]);
  } else {
    b.scope = 'classifier';
    const logits = classificationHead(ctx, spec, hidden); // [b, labels]
    b.output(logits, 'logits', 'float32', [BATCH, spec.labels.length]);
  }
  return b.build();
}
