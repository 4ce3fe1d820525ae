import { DEFAULT_MAX_TOKENS, estimateShardTokens, InputError, type JobOptions, type JobStore, type ShardPayload } from '../../../../libs/shared/src/index.js';
import type { TaskName } from '../../../../libs/models/src/index.js';
import { backlogFull } from '../auth/admission.service.js';
import type { InputItem } from '../ingest/input-item.js';
import { ShardCutter, type ShardDraft, type ShardLimits } from '../ingest/shard-cutter.js';

export interface IngestTarget {
  jobId: string;
  /** The model's maximum tokens per text when known: caps the backlog's token estimate of each text. */
  maxTokens?: number | null;
  task: TaskName;
  modelId: string;
  options: JobOptions;
}

export interface IngestLimits extends ShardLimits {
  maxInputs: number;
  /** ADMISSION_MAX_BACKLOG_BYTES: staging stops with 429 BACKLOG_FULL rather than pass it (0 or absent = no limit). */
  maxBacklogBytes?: number;
}

/** How items are named in messages: NDJSON by physical line, JSON by index in `inputs`. */
export type OriginStyle = 'line' | 'index';

/**
 * One upload's path into staging: items are cut into shards and each full shard is written to
 * Redis (ids claimed, payload staged). Reading goes on while one shard is written, never while
 * two are: that backpressure keeps API memory flat (two shards at most). Nothing here is visible
 * to workers; the service enqueues on success.
 */
export class JobIngest {
  private readonly cutter: ShardCutter;
  /** The shard being written to Redis while the next one fills: at most one in flight. */
  private inflight: Promise<void> = Promise.resolve();
  /** Estimated tokens of the shards staged so far (for the backlog metrics). */
  private estTokens = 0;

  constructor(
    private readonly target: IngestTarget,
    private readonly limits: IngestLimits,
    private readonly style: OriginStyle,
    private readonly store: JobStore,
  ) {
    this.cutter = new ShardCutter(limits);
  }

  /** Items accepted so far. */
  get count(): number {
    return this.cutter.count;
  }

  /** Shards that may have staging keys (for cleanup): every shard handed out, plus the one being filled. */
  get stagingExtent(): number {
    return this.cutter.shardsCut + 1;
  }

  async add(item: InputItem, origin: number): Promise<void> {
    if (this.cutter.count >= this.limits.maxInputs) {
      throw new InputError(
        'TOO_MANY_INPUTS',
        `${this.name(origin)}: more than ${this.limits.maxInputs} inputs (MAX_INPUTS_PER_JOB); split the corpus into several jobs`,
        this.where(origin),
      );
    }
    const closed = this.cutter.push(item, origin);
    if (closed) await this.stageNext(closed);
  }

  /** Stages the last shard; returns the job's totals. */
  async finish(): Promise<{ total: number; shards: number; estTokens: number }> {
    const last = this.cutter.flush();
    if (last) await this.stageNext(last);
    await this.inflight;
    if (this.cutter.count === 0) {
      const what = this.style === 'line' ? 'the body has no non-blank lines' : 'field "inputs" is empty';
      throw new InputError('EMPTY_CORPUS', `${what}; a job needs at least one input`, this.style === 'index' ? { field: 'inputs' } : {});
    }
    return { total: this.cutter.count, shards: this.cutter.shardsCut, estTokens: this.estTokens };
  }

  /**
   * Waits for any Redis write still in flight (so no staging key is written after cleanup) and
   * returns its error: it concerns earlier input than an error found while reading on.
   */
  async settle(): Promise<unknown> {
    return this.inflight.then(
      () => undefined,
      (error: unknown) => error,
    );
  }

  /** Waits for the previous shard's write (surfacing its error), then starts this one's. */
  private async stageNext(shard: ShardDraft): Promise<void> {
    await this.inflight;
    const write = this.stage(shard);
    // Observed here so a failure is never unhandled; it is rethrown by the next await of inflight.
    write.catch(() => undefined);
    this.inflight = write;
  }

  private async stage(shard: ShardDraft): Promise<void> {
    const entries = shard.items.map((item, i) => ({ id: item.id, line: shard.origins[i] as number }));
    const duplicate = await this.store.claimIds(this.target.jobId, entries);
    if (duplicate) {
      throw new InputError(
        'DUPLICATE_ID',
        `${this.name(duplicate.line)}: duplicate id ${JSON.stringify(duplicate.id)} (already used by ${this.name(duplicate.firstLine)})`,
        { ...this.where(duplicate.line), field: 'id' },
      );
    }
    const payload: ShardPayload = {
      v: 1,
      jobId: this.target.jobId,
      shard: shard.index,
      start: shard.start,
      task: this.target.task,
      modelId: this.target.modelId,
      options: this.target.options,
      items: shard.items,
      estTokens: estimateShardTokens(shard.items, this.target.maxTokens ?? DEFAULT_MAX_TOKENS),
    };
    const staged = await this.store.stageShard(this.target.jobId, shard.index, JSON.stringify(payload), this.limits.maxBacklogBytes ?? 0);
    if (!staged) throw backlogFull(this.limits.maxBacklogBytes ?? 0);
    this.estTokens += payload.estTokens ?? 0;
  }

  private name(origin: number): string {
    return this.style === 'line' ? `line ${origin}` : `inputs[${origin}]`;
  }

  private where(origin: number): { line?: number } {
    return this.style === 'line' ? { line: origin } : {};
  }
}
