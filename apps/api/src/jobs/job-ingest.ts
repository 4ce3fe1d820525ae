import { dedupKey, DEFAULT_MAX_TOKENS, estimateTokensOfBytes, InputError, type InputItem, type JobOptions } from '#shared';
import { taskModule, type TaskInputKind, type TaskName } from '#models';
import { DedupIndex } from '../ingest/dedup-index.js';
import { DuplicateIdDetector } from '../ingest/duplicate-ids.js';
import type { DuplicateRefsWriter } from '../ingest/duplicate-refs-writer.js';
import { ShardPlanner, type ShardLimits, type ShardPlan } from '../ingest/shard-plan.js';

export interface IngestTarget {
  jobId: string;
  /** The model's maximum tokens per text when known: caps the backlog's token estimate of each text. */
  maxTokens?: number | null;
  task: TaskName;
  modelId: string;
  options: JobOptions;
  /** Identical texts are computed once (the job's `dedup`, true unless the client turned it off). */
  dedup: boolean;
}

/** What dedup needs while the corpus is read: the distinct texts seen so far, and where cross-shard repeats go. */
export interface IngestDedup {
  /** DEDUP_MAX_TEXTS: distinct texts remembered. */
  maxTexts: number;
  refs: DuplicateRefsWriter;
}

export interface IngestLimits extends ShardLimits {
  /** MAX_INPUTS_PER_JOB. */
  maxInputs: number;
}

/** How items are named in messages: NDJSON by physical line, JSON by index in `inputs`. */
export type OriginStyle = 'line' | 'index';

/** An item's id and where it came from, as the duplicate-id check reads them again. */
export interface IdOrigin {
  id: string;
  origin: number;
}

export interface IngestTotals {
  total: number;
  plan: ShardPlan;
  estTokens: number;
  /** The job dedups: each shard's references to earlier shards (none: within-shard repeats only). */
  dedup?: DuplicateRefsWriter;
  /** Repeats found at ingest (within and across shards): what dedup should save at most. */
  repeats: number;
}

/**
 * One upload's validation and sharding, in the same pass as the input object is written: items are
 * planned into shards (byte ranges of the input object), their ids checked for duplicates and, for
 * dedup, their texts looked up. What it keeps in memory does not grow with the texts: 48 bytes per
 * shard, the duplicate-id filter (about 2 bytes per item, ids themselves go to a temp file) and the
 * dedup table (at most 16 bytes per distinct text up to DEDUP_MAX_TEXTS; repeats go to the store).
 * Nothing here touches Redis.
 */
export class JobIngest {
  private readonly planner: ShardPlanner;
  private readonly dupes = new DuplicateIdDetector();
  private readonly maxTokens: number;
  private readonly texts: DedupIndex | null;
  private estTokens = 0;
  private repeats = 0;
  /** What one item of the job's task is (TaskModule.input). */
  readonly input: TaskInputKind;

  constructor(
    target: IngestTarget,
    private readonly limits: IngestLimits,
    private readonly style: OriginStyle,
    private readonly dedup?: IngestDedup,
  ) {
    this.planner = new ShardPlanner(limits);
    this.maxTokens = target.maxTokens ?? DEFAULT_MAX_TOKENS;
    this.input = taskModule(target.task).input;
    this.texts = dedup ? new DedupIndex(dedup.maxTexts) : null;
  }

  /** Items accepted so far. */
  get count(): number {
    return this.planner.itemCount;
  }

  /**
   * One valid item, from `origin` (line or index), whose line is bytes `[lineStart, lineEnd)` of the
   * input object, at `position` within that line. Await the answer when it is a promise (the
   * duplicate-id spill applying backpressure).
   */
  add(item: InputItem, origin: number, lineStart: number, lineEnd: number, position = 0): void | Promise<void> {
    if (this.planner.itemCount >= this.limits.maxInputs) {
      throw new InputError(
        'TOO_MANY_INPUTS',
        `${this.name(origin)}: more than ${this.limits.maxInputs} inputs (MAX_INPUTS_PER_JOB); split the corpus into several jobs`,
        this.where(origin),
      );
    }
    this.checkShape(item, origin);
    // A pair is one model input; a rerank item is one per document, each paired with the query.
    const pairBytes = item.textPair === undefined ? 0 : Buffer.byteLength(item.textPair, 'utf8');
    const queryBytes = Buffer.byteLength(item.text, 'utf8');
    const bytes = item.documents ? item.documents.reduce((sum, document) => sum + queryBytes + Buffer.byteLength(document, 'utf8'), 0) : queryBytes + pairBytes;
    const tokens = item.documents
      ? item.documents.reduce((sum, document) => sum + estimateTokensOfBytes(queryBytes + Buffer.byteLength(document, 'utf8'), this.maxTokens), 0)
      : estimateTokensOfBytes(bytes, this.maxTokens);
    this.estTokens += tokens;
    const index = this.planner.itemCount;
    this.planner.add(bytes, tokens, lineStart, lineEnd, position);
    const spilling = this.dupes.add(item.id);
    const writing = this.texts ? this.addText(dedupKey(item), index) : undefined;
    if (spilling && writing) return Promise.all([spilling, writing]).then(() => undefined);
    return spilling ?? writing;
  }

  /** Dedup: a repeat of a text first seen in an earlier shard is written down for the worker; repeats within a shard it finds itself. */
  private addText(text: string, index: number): void | Promise<void> {
    const refs = (this.dedup as IngestDedup).refs;
    const shardStart = this.planner.openStart;
    if (shardStart === index) refs.shardStarted();
    const source = (this.texts as DedupIndex).firstOf(text, index);
    if (source < 0) return;
    this.repeats++;
    if (source < shardStart) return refs.add({ index, source, sourceShard: this.planner.plan.shardOf(source) });
  }

  /**
   * After the last item: the job's totals and shard plan, or the first duplicate id as an InputError.
   * `reread` replays every item's id and origin from the stored input; it runs only when the
   * duplicate filter cannot rule duplicates out on its own.
   */
  async finish(reread: () => AsyncIterable<IdOrigin>): Promise<IngestTotals> {
    const plan = this.planner.finish();
    if (this.count === 0) {
      const what = this.style === 'line' ? 'the body has no non-blank lines' : 'field "inputs" is empty';
      throw new InputError('EMPTY_CORPUS', `${what}; a job needs at least one input`, this.style === 'index' ? { field: 'inputs' } : {});
    }
    const duplicate = await this.dupes.finish(reread);
    if (duplicate !== null) {
      throw new InputError('DUPLICATE_ID', `${this.name(duplicate.origin)}: duplicate id ${JSON.stringify(duplicate.id)} (already used by ${this.name(duplicate.firstOrigin)})`, {
        ...this.where(duplicate.origin),
        field: 'id',
      });
    }
    const dedup = this.dedup?.refs;
    await dedup?.finish();
    return { total: this.count, plan, estTokens: this.estTokens, dedup, repeats: this.repeats };
  }

  /** Removes the duplicate check's temp file; call on every path. */
  async dispose(): Promise<void> {
    await this.dupes.dispose();
  }

  /** Items read from a stored corpus were parsed without knowing the task: their shape is checked here. */
  private checkShape(item: InputItem, origin: number): void {
    const problem =
      this.input === 'query-documents'
        ? item.documents === undefined && 'a rerank input must be {"query", "documents"}'
        : item.documents !== undefined
          ? 'a {"query", "documents"} input is for the rerank task'
          : item.textPair !== undefined && this.input !== 'text-pair' && 'field "text_pair" is only accepted by tasks that classify text pairs (sentiment/classify)';
    if (problem) throw new InputError('INVALID_INPUT', `${this.name(origin)}: ${problem}`, this.where(origin));
  }

  /** Distinct texts remembered for dedup, and the bytes that takes (for the log). */
  get dedupIndex(): { distinct: number; bytes: number; overflowed: number } | null {
    return this.texts && { distinct: this.texts.distinct, bytes: this.texts.bytes, overflowed: this.texts.overflowed };
  }

  private name(origin: number): string {
    return this.style === 'line' ? `line ${origin}` : `inputs[${origin}]`;
  }

  private where(origin: number): { line?: number } {
    return this.style === 'line' ? { line: origin } : {};
  }
}
