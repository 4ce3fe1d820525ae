import type { Family, Head } from './model-spec.js';

/**
 * Hugging Face state_dict names per family, used as initializer names so a
 * generated graph can be inspected side by side with a real export.
 */
export interface LayerParamNames {
  query: string;
  key: string;
  value: string;
  attentionOut: string;
  attentionNorm: string;
  ffnIn: string;
  ffnOut: string;
  outputNorm: string;
}

export interface ParamNames {
  wordEmbeddings: string;
  positionEmbeddings: string;
  tokenTypeEmbeddings: string;
  embeddingNorm: string;
  layer(index: number): LayerParamNames;
}

export function paramNames(family: Family, head: Head): ParamNames {
  // Task models nest the encoder under the family name (bert.*, roberta.*).
  const root = head === 'embed' ? '' : `${family}.`;
  const emb = `${root}embeddings`;
  if (family === 'distilbert') {
    return {
      wordEmbeddings: `${emb}.word_embeddings.weight`,
      positionEmbeddings: `${emb}.position_embeddings.weight`,
      tokenTypeEmbeddings: '',
      embeddingNorm: `${emb}.LayerNorm`,
      layer: (i) => {
        const p = `${root}transformer.layer.${i}`;
        return {
          query: `${p}.attention.q_lin`,
          key: `${p}.attention.k_lin`,
          value: `${p}.attention.v_lin`,
          attentionOut: `${p}.attention.out_lin`,
          attentionNorm: `${p}.sa_layer_norm`,
          ffnIn: `${p}.ffn.lin1`,
          ffnOut: `${p}.ffn.lin2`,
          outputNorm: `${p}.output_layer_norm`,
        };
      },
    };
  }
  return {
    wordEmbeddings: `${emb}.word_embeddings.weight`,
    positionEmbeddings: `${emb}.position_embeddings.weight`,
    tokenTypeEmbeddings: `${emb}.token_type_embeddings.weight`,
    embeddingNorm: `${emb}.LayerNorm`,
    layer: (i) => {
      const p = `${root}encoder.layer.${i}`;
      return {
        query: `${p}.attention.self.query`,
        key: `${p}.attention.self.key`,
        value: `${p}.attention.self.value`,
        attentionOut: `${p}.attention.output.dense`,
        attentionNorm: `${p}.attention.output.LayerNorm`,
        ffnIn: `${p}.intermediate.dense`,
        ffnOut: `${p}.output.dense`,
        outputNorm: `${p}.output.LayerNorm`,
      };
    },
  };
}
