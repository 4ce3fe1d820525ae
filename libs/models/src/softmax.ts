/** Classifier post-processing: the pipeline's function over the logits (softmax, sigmoid, none) and label ranking. */
import type { ClassificationFunction, TaskModelShape } from './tasks/task-io.js';

/**
 * Softmax over each row of `logits` `// [batch, labels]` into `out`. Uses the
 * max-subtraction trick and float64 sums, so large logits neither overflow
 * nor lose the small probabilities.
 */
export function softmaxRows(logits: ArrayLike<number>, width: number, out: Float32Array): Float32Array {
  const exps = new Float64Array(width);
  for (let start = 0; start < logits.length; start += width) {
    let max = -Infinity;
    for (let i = 0; i < width; i++) max = Math.max(max, logits[start + i] as number);
    let sum = 0;
    for (let i = 0; i < width; i++) {
      const e = Math.exp((logits[start + i] as number) - max);
      exps[i] = e;
      sum += e;
    }
    for (let i = 0; i < width; i++) out[start + i] = (exps[i] as number) / sum;
  }
  return out;
}

/** Logistic function of each logit into `out`, computed in float64 (1 / (1 + e^-x), as torch.sigmoid). */
export function sigmoidRows(logits: ArrayLike<number>, out: Float32Array): Float32Array {
  for (let i = 0; i < logits.length; i++) out[i] = 1 / (1 + Math.exp(-(logits[i] as number)));
  return out;
}

/**
 * The function Python transformers' TextClassificationPipeline applies when none is asked for:
 * sigmoid for `multi_label_classification` and for single-logit models (num_labels == 1, e.g.
 * cross-encoders), softmax otherwise. transformers.js agrees except for single-logit models,
 * where it applies softmax (every score 1.0).
 */
export function defaultClassificationFunction(info: Pick<TaskModelShape, 'labels' | 'problemType'>): Exclude<ClassificationFunction, 'none'> {
  return info.problemType === 'multi_label_classification' || info.labels?.length === 1 ? 'sigmoid' : 'softmax';
}

/** Scores of `logits` `// [batch, labels]` into `out` by `fn`. */
export function scoreRows(fn: ClassificationFunction, logits: ArrayLike<number>, width: number, out: Float32Array): Float32Array {
  if (fn === 'softmax') return softmaxRows(logits, width, out);
  if (fn === 'sigmoid') return sigmoidRows(logits, out);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] as number;
  return out;
}

export interface Classification {
  label: string;
  score: number;
  /** Label -> score, highest first; only the topK best when topK is set. */
  scores: Record<string, number>;
}

/** Ranks one row of probabilities; ties keep label order, like a stable argmax. */
export function classify(probs: ArrayLike<number>, labels: readonly string[], topK: number | null): Classification {
  const order = labels.map((_, i) => i).sort((a, b) => (probs[b] as number) - (probs[a] as number) || a - b);
  const keep = topK === null ? order : order.slice(0, Math.max(1, topK));
  const scores: Record<string, number> = {};
  for (const i of keep) scores[labels[i] as string] = probs[i] as number;
  const best = order[0] as number;
  return { label: labels[best] as string, score: probs[best] as number, scores };
}
