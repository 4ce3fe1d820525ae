import { isClassifierHead, type Head, type ModelSpec } from './model-spec.js';
import type { JsonObject } from './tokenizer-artifacts.js';

/** Bumped when generated weights or graphs change, so stale folders get rebuilt. */
export const GENERATOR_VERSION = 2;

const ARCHITECTURE = {
  bert: { base: 'BertModel', classifier: 'BertForSequenceClassification', token: 'BertForTokenClassification' },
  distilbert: { base: 'DistilBertModel', classifier: 'DistilBertForSequenceClassification', token: 'DistilBertForTokenClassification' },
  roberta: { base: 'RobertaModel', classifier: 'RobertaForSequenceClassification', token: 'RobertaForTokenClassification' },
} as const;

/** What config.json says about the task, by head; `score` (one logit) has no problem_type, as cross-encoders ship. */
const PROBLEM_TYPE: Record<Head, string | null> = {
  embed: null,
  sentiment: 'single_label_classification',
  multilabel: 'multi_label_classification',
  score: null,
  ner: null,
  nli: 'single_label_classification',
};

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
  const problemType = PROBLEM_TYPE[spec.head];
  const labels: JsonObject = isClassifierHead(spec.head)
    ? {
        id2label: Object.fromEntries(spec.labels.map((label, id) => [String(id), label])),
        label2id: Object.fromEntries(spec.labels.map((label, id) => [label, id])),
        ...(problemType === null ? {} : { problem_type: problemType }),
      }
    : {};
  return {
    _name_or_path: spec.name,
    architectures: [ARCHITECTURE[spec.family][spec.head === 'ner' ? 'token' : isClassifierHead(spec.head) ? 'classifier' : 'base']],
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

/**
 * sentence-transformers' config_sentence_transformers.json of an embedding model: E5-style prompts
 * (`query: `, `passage: `), no default prompt, so a text without prompt options is encoded as is.
 */
export function sentenceTransformersConfigJson(): JsonObject {
  return { prompts: { query: 'query: ', passage: 'passage: ' }, default_prompt_name: null, similarity_fn_name: 'cosine' };
}
