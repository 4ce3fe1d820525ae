import type { ModelSpec } from './model-spec.js';
import type { JsonObject } from './tokenizer-artifacts.js';

/** Bumped when generated weights or graphs change, so stale folders get rebuilt. */
export const GENERATOR_VERSION = 1;

const ARCHITECTURE = {
  bert: { embed: 'BertModel', sentiment: 'BertForSequenceClassification', ner: 'BertForTokenClassification' },
  distilbert: { embed: 'DistilBertModel', sentiment: 'DistilBertForSequenceClassification', ner: 'DistilBertForTokenClassification' },
  roberta: { embed: 'RobertaModel', sentiment: 'RobertaForSequenceClassification', ner: 'RobertaForTokenClassification' },
} as const;

/** Dimension keys spelled the way each family's HF config spells them. */
function familyKeys(spec: ModelSpec): JsonObject {
  const d = spec.dims;
  if (spec.family === 'distilbert') {
    // DistilBertConfig has its own names (and a hard-coded LayerNorm eps of 1e-12).
    return {
      activation: 'gelu',
      dim: d.hidden,
      n_layers: d.layers,
      n_heads: d.heads,
      hidden_dim: d.intermediate,
      dropout: 0.1,
      attention_dropout: 0.1,
      seq_classif_dropout: 0.2,
      sinusoidal_pos_embds: false,
    };
  }
  return {
    hidden_act: 'gelu',
    hidden_size: d.hidden,
    num_hidden_layers: d.layers,
    num_attention_heads: d.heads,
    intermediate_size: d.intermediate,
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    layer_norm_eps: d.layerNormEps,
    type_vocab_size: spec.family === 'bert' ? 2 : 1,
    position_embedding_type: 'absolute',
    ...(spec.family === 'roberta' ? { bos_token_id: 0, eos_token_id: 2 } : {}),
  };
}

export function configJson(spec: ModelSpec): JsonObject {
  const labels: JsonObject =
    spec.head === 'embed'
      ? {}
      : {
          id2label: Object.fromEntries(spec.labels.map((label, id) => [String(id), label])),
          label2id: Object.fromEntries(spec.labels.map((label, id) => [label, id])),
          ...(spec.head === 'sentiment' ? { problem_type: 'single_label_classification' } : {}),
        };
  return {
    _name_or_path: spec.name,
    architectures: [ARCHITECTURE[spec.family][spec.head]],
    model_type: spec.family,
    ...familyKeys(spec),
    max_position_embeddings: spec.dims.maxPositions,
    vocab_size: spec.dims.vocabSize,
    pad_token_id: spec.dims.padTokenId,
    initializer_range: 0.02,
    torch_dtype: 'float32',
    ...labels,
    // Not a trained model: outputs are deterministic noise with the right shapes and invariances.
    shardwise_random_weights: true,
    shardwise_size: spec.size,
    shardwise_generator_version: GENERATOR_VERSION,
  };
}
