import { taskModule, type ItemResult, type TaskName } from '#models';
import type { ShardOutcome } from '../queue/shard-payload.js';
import { float32Shortest, NON_FINITE_OUTPUT, SHARD_FAILED, type ItemError } from './result-lines.js';
import { ShardResultWriter } from './shard-result.js';

/**
 * Pure builders of a shard's result object (shard-result.ts) from the inference results, used by
 * the worker: numbers go in as float32, and the API renders the text when the results are read, so
 * the worker formats nothing.
 */

export interface ShardOutput {
  /** The encoded shard result, stored as one object. */
  object: Buffer;
  summary: ShardOutcome;
  /** Failed items per error code, for metrics. */
  failedByCode: Map<string, number>;
}

export interface ShardOutputExtras {
  /** Successful lines carry the item's token count as `tokens` (job option, for OpenAI `usage`). @defaultValue `false` */
  itemTokens?: boolean;
  /** Sentiment: the model's labels in logit order (ModelInfo.labels); every result's labels must be among them. */
  labels?: readonly string[] | null;
  /** Items whose result is another item's, copied (dedup): counted in the summary. @defaultValue `0` */
  deduplicated?: number;
}

const NON_FINITE: ItemError = { code: NON_FINITE_OUTPUT, message: 'the model produced NaN or Infinity for this text' };

/**
 * Builds the result of a shard that ran. `results[i]` belongs to `ids[i]`; `index` is `start + i`.
 * `dimensions` is the model's embedding width (embed only). Throws when the results cannot belong
 * to these items, which is an engine bug: the shard is retried rather than written wrong.
 */
export function buildShardOutput(
  task: TaskName,
  ids: readonly string[],
  start: number,
  results: readonly ItemResult[],
  dimensions: number,
  extras: ShardOutputExtras = {},
): ShardOutput {
  if (results.length !== ids.length) throw new Error(`inference returned ${results.length} results for ${ids.length} texts`);
  const { output } = taskModule(task);
  const vectors = output === 'vector';
  if (output === 'label-scores' && !extras.labels?.length) throw new Error(`a ${task} shard needs the model labels (ModelInfo.labels)`);
  const writer = new ShardResultWriter({
    task,
    start,
    count: ids.length,
    ids,
    dimensions: vectors ? dimensions : 0,
    labels: output === 'label-scores' ? (extras.labels ?? undefined) : undefined,
    itemTokens: extras.itemTokens,
    deduplicated: extras.deduplicated,
  });
  const failedByCode = new Map<string, number>();
  const fail = (i: number, error: ItemError, tokens: number) => {
    writer.setError(i, error, tokens);
    failedByCode.set(error.code, (failedByCode.get(error.code) ?? 0) + 1);
  };

  for (let i = 0; i < results.length; i++) {
    const result = results[i] as ItemResult;
    if (!result.ok) {
      fail(i, result.error, result.tokens);
    } else if (output === 'json' && 'ranking' in result) {
      // Rerank. Scores print as float32, like every other score (the model computed them in float32).
      const ranking = result.ranking.map((ranked) => ({ ...ranked, score: float32Shortest(ranked.score) }));
      if (ranking.every((ranked) => Number.isFinite(ranked.score))) writer.setJson(i, ranking, result);
      else fail(i, NON_FINITE, result.tokens);
    } else if (vectors) {
      if (!('embedding' in result)) throw new Error(`inference returned a non-embedding result for an ${task} shard (item ${start + i})`);
      if (result.embedding.length !== dimensions) throw new Error(`embedding of item ${start + i} has ${result.embedding.length} values, expected ${dimensions}`);
      if (!writer.setEmbeddingIfFinite(i, result.embedding, result)) fail(i, NON_FINITE, result.tokens);
    } else if (output === 'json') {
      if (!('entities' in result)) throw new Error(`inference returned neither entities nor a ranking for a ${task} shard (item ${start + i})`);
      if (result.entities.every((entity) => Number.isFinite(entity.score))) writer.setJson(i, result.entities, result);
      else fail(i, NON_FINITE, result.tokens);
    } else {
      if (!('label' in result)) throw new Error(`inference returned a non-classification result for a ${task} shard (item ${start + i})`);
      if (Number.isFinite(result.score) && Object.values(result.scores).every(Number.isFinite)) writer.setClassification(i, result);
      else fail(i, NON_FINITE, result.tokens);
    }
  }
  return { object: writer.finish(), summary: writer.outcome, failedByCode };
}

/**
 * The result of a shard that ran out of attempts: every item gets the same SHARD_FAILED error.
 * `ids` is 'unknown' when the shard's input could not be read (lines then say `"id":null`).
 * `dimensions` (embed only, from the job record) sizes the NaN rows; null when the width is unknown.
 */
export function buildFailedShardOutput(task: TaskName, ids: readonly string[] | 'unknown', start: number, count: number, reason: string, dimensions: number | null): ShardOutput {
  const writer = new ShardResultWriter({ task, start, count, ids, dimensions: taskModule(task).output === 'vector' ? (dimensions ?? 0) : 0 });
  const error: ItemError = { code: SHARD_FAILED, message: reason };
  for (let i = 0; i < count; i++) writer.setError(i, error);
  return { object: writer.finish(), summary: writer.outcome, failedByCode: new Map(count > 0 ? [[SHARD_FAILED, count]] : []) };
}
