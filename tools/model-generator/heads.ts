import { firstToken, linear, type LayerContext } from './layers.js';
import type { ModelSpec } from './model-spec.js';

/**
 * Sequence classification head on the first token, as each HF *ForSequenceClassification
 * builds it. Weights use the encoder's 1/fan_in init; calibrate-head.ts later
 * rescales the final projection so the labels spread across texts.
 * [b, s, h] -> [b, labels]
 */
export function classificationHead(ctx: LayerContext, spec: ModelSpec, hidden: string): string {
  const { b } = ctx;
  const h = spec.dims.hidden;
  const n = spec.labels.length;
  const cls = firstToken(ctx, hidden); // [b, h]
  switch (spec.family) {
    case 'bert': {
      // BertPooler (dense + tanh) then dropout (no-op) and classifier.
      const pooled = b.op('Tanh', [linear(ctx, cls, 'bert.pooler.dense', h, h)]);
      return linear(ctx, pooled, 'classifier', h, n);
    }
    case 'distilbert': {
      const pre = b.op('Relu', [linear(ctx, cls, 'pre_classifier', h, h)]);
      return linear(ctx, pre, 'classifier', h, n);
    }
    case 'roberta': {
      // RobertaClassificationHead: dense + tanh on <s>, then out_proj.
      const dense = b.op('Tanh', [linear(ctx, cls, 'classifier.dense', h, h)]);
      return linear(ctx, dense, 'classifier.out_proj', h, n);
    }
  }
}

/**
 * Token classification head, as each HF *ForTokenClassification builds it: dropout (a no-op at
 * inference) and one linear layer on every token's state. Calibrated like the sequence head.
 * [b, s, h] -> [b, s, labels]
 */
export function tokenClassificationHead(ctx: LayerContext, spec: ModelSpec, hidden: string): string {
  return linear(ctx, hidden, 'classifier', spec.dims.hidden, spec.labels.length);
}
