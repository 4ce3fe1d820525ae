/**
 * One loaded model inside an inference thread: tokenizes with our own
 * truncation, builds padded int64 batches and post-processes outputs.
 */
import { Tensor } from '@huggingface/transformers';
import { DEFAULT_ENCODE_OPTIONS } from './encode-options.js';
import { loadParts, type LoadedParts } from './model-loader.js';
import type { ModelInfo } from './model-info.js';
import { runWithSplitRetry } from './split-retry.js';
import type { ResolvedEncodeOptions } from './tasks/registry.js';
import { taskModule, type TaskModule } from './tasks/index.js';
import type { TensorLike } from './tensor-data.js';
import type { ModelRef, RunResult, ThreadConfig, TokenizeResult } from './thread-protocol.js';
import { alignableTokenizer } from './alignable-tokenizer.js';
import { alignTokens, type AlignableTokenizer, type TokenAlignment } from './token-alignment.js';
import {
  assemblePair,
  detectPairLayout,
  detectSpecialLayout,
  longestFirstLengths,
  pairSpecials,
  truncateIds,
  type PairTokenLayout,
  type SpecialTokenLayout,
} from './truncation.js';

export class ModelRunner {
  readonly info: ModelInfo;
  readonly layout: SpecialTokenLayout;
  private readonly padId: number;
  private readonly wantsTokenTypes: boolean;
  private readonly task: TaskModule;
  private pairLayout: PairTokenLayout | undefined;
  /** Set for tasks that align tokens to the text (TaskModule.alignsTokens). */
  private readonly aligner: AlignableTokenizer | undefined;

  private constructor(
    private readonly parts: LoadedParts,
    task: ModelRef['task'],
  ) {
    this.task = taskModule(task);
    this.info = parts.info;
    const encode = (text: string, special: boolean): number[] => parts.tokenizer.encode(text, { add_special_tokens: special });
    this.layout = detectSpecialLayout(encode);
    // Encoders without a pad token (rare) get 0; masked positions never reach the pooled output anyway.
    this.padId = parts.tokenizer.pad_token_id ?? 0;
    this.wantsTokenTypes = parts.inputNames.includes('token_type_ids');
    this.aligner = this.task.alignsTokens ? alignableTokenizer(parts.tokenizer) : undefined;
  }

  /** Loads the model and runs a one-text batch so the first real batch does not pay for allocator warm-up. */
  static async load(ref: ModelRef, config: ThreadConfig): Promise<ModelRunner> {
    const runner = new ModelRunner(await loadParts(ref, config), ref.task);
    const warm = runner.tokenize(['warm up'], true);
    await runner.run(warm.ids, warm.lengths, DEFAULT_ENCODE_OPTIONS);
    return runner;
  }

  /**
   * Tokenizes without transformers.js truncation (which drops the closing special token) and truncates here.
   * `textPairs[i]`, when given and not null, is the second text of item i: the pair is truncated
   * `longest_first` as Python's tokenizers do, and its token types come back in `typeIds`.
   */
  tokenize(texts: readonly string[], truncate: boolean, textPairs?: readonly (string | null)[]): TokenizeResult {
    const started = performance.now();
    const { maxTokens } = this.info;
    const kept: ArrayLike<number>[] = new Array(texts.length);
    const keptTypes: ArrayLike<number>[] | undefined = textPairs ? new Array(texts.length) : undefined;
    const lengths = new Int32Array(texts.length);
    const original = new Int32Array(texts.length);
    const alignments: TokenAlignment[] | undefined = this.aligner ? new Array(texts.length) : undefined;
    let total = 0;
    for (let i = 0; i < texts.length; i++) {
      const pair = textPairs?.[i];
      let out: ArrayLike<number>;
      if (typeof pair === 'string') {
        const encoded = this.encodePair(texts[i] as string, pair, truncate);
        original[i] = encoded.original;
        out = encoded.ids;
        (keptTypes as ArrayLike<number>[])[i] = encoded.types;
      } else {
        const ids = this.parts.tokenizer.encode(texts[i] as string);
        original[i] = ids.length;
        out = ids.length <= maxTokens ? ids : truncate ? truncateIds(ids, maxTokens, this.layout) : [];
        if (keptTypes) keptTypes[i] = new Int32Array(out.length);
      }
      kept[i] = out;
      if (alignments && this.aligner) alignments[i] = alignTokens(texts[i] as string, out, this.aligner);
      lengths[i] = out.length;
      total += out.length;
    }
    const flat = new Int32Array(total);
    const types = keptTypes ? new Int32Array(total) : undefined;
    let offset = 0;
    kept.forEach((ids, i) => {
      flat.set(ids, offset);
      if (types && keptTypes) types.set(keptTypes[i] as ArrayLike<number>, offset);
      offset += ids.length;
    });
    return { ids: flat, ...(types ? { typeIds: types } : {}), lengths, original, ...(alignments ? { alignments } : {}), seconds: (performance.now() - started) / 1000 };
  }

  /** One pair's ids and token types, `longest_first` truncated; empty when too long and not truncated. */
  private encodePair(text: string, pair: string, truncate: boolean): { ids: number[]; types: number[]; original: number } {
    const layout = this.pairTokenLayout();
    const a = this.parts.tokenizer.encode(text, { add_special_tokens: false });
    const b = this.parts.tokenizer.encode(pair, { add_special_tokens: false });
    const specials = pairSpecials(layout);
    const original = a.length + b.length + specials;
    if (original > this.info.maxTokens && !truncate) return { ids: [], types: [], original };
    const [aKeep, bKeep] = longestFirstLengths(a.length, b.length, this.info.maxTokens, specials);
    return { ...assemblePair(a, aKeep, b, bKeep, layout), original };
  }

  private pairTokenLayout(): PairTokenLayout {
    if (this.pairLayout) return this.pairLayout;
    const { tokenizer } = this.parts;
    this.pairLayout = detectPairLayout(
      (text, special) => tokenizer.encode(text, { add_special_tokens: special }),
      (text, pair) => {
        const ids = tokenizer.encode(text, { text_pair: pair });
        const encoded = tokenizer(text, { text_pair: pair, return_token_type_ids: true }) as { token_type_ids?: { data: ArrayLike<bigint | number> } };
        const types = encoded.token_type_ids ? Array.from(encoded.token_type_ids.data, Number) : ids.map(() => 0);
        return { ids, types };
      },
    );
    return this.pairLayout;
  }

  /** Runs one planned batch (`ids` concatenated, `lengths` per item); poison items are isolated by split retry. */
  async run(ids: Int32Array, lengths: Int32Array, options: ResolvedEncodeOptions, typeIds?: Int32Array): Promise<RunResult> {
    const started = performance.now();
    const offsets = new Int32Array(lengths.length);
    for (let i = 1; i < lengths.length; i++) offsets[i] = (offsets[i - 1] as number) + (lengths[i - 1] as number);
    const width = this.task.rowWidth(this.info, options);
    const values = new Float32Array(lengths.length * width);
    const items = Array.from({ length: lengths.length }, (_, i) => i);

    const attempts = await runWithSplitRetry(items, async (subset) => {
      const rows = await this.forward(subset, { ids, typeIds, offsets, lengths }, options);
      return subset.map((_, j) => rows.subarray(j * width, (j + 1) * width));
    });
    const failed: RunResult['failed'] = [];
    attempts.forEach((attempt, i) => {
      if (attempt.ok) values.set(attempt.value, i * width);
      else failed.push({ index: i, message: attempt.message });
    });
    return { values, width, failed, seconds: (performance.now() - started) / 1000 };
  }

  async dispose(): Promise<void> {
    await this.parts.model.dispose();
  }

  private async forward(subset: readonly number[], tokens: BatchTokens, options: ResolvedEncodeOptions): Promise<Float32Array> {
    const { ids, typeIds, offsets, lengths } = tokens;
    const batch = subset.length;
    // Right padding; at least one column so an all-empty batch (tokenizer without specials) still runs.
    const seq = Math.max(1, ...subset.map((i) => lengths[i] as number));
    const inputIds = new BigInt64Array(batch * seq).fill(BigInt(this.padId)); // [batch, seq]
    const mask = new BigInt64Array(batch * seq); // [batch, seq]
    const types = new BigInt64Array(this.wantsTokenTypes ? batch * seq : 0); // [batch, seq]
    const subLengths = new Int32Array(batch);
    subset.forEach((item, b) => {
      const length = lengths[item] as number;
      const start = offsets[item] as number;
      subLengths[b] = length;
      for (let t = 0; t < length; t++) {
        inputIds[b * seq + t] = BigInt(ids[start + t] as number);
        mask[b * seq + t] = 1n;
      }
      if (typeIds && types.length > 0) for (let t = 0; t < length; t++) types[b * seq + t] = BigInt(typeIds[start + t] as number);
    });
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', inputIds, [batch, seq]),
      attention_mask: new Tensor('int64', mask, [batch, seq]),
    };
    // Single texts are all segment 0, as the tokenizer would produce; pairs carry their own types.
    if (this.wantsTokenTypes) feeds.token_type_ids = new Tensor('int64', types, [batch, seq]);

    const output = (await this.parts.model.forward(feeds)) as Record<string, TensorLike | undefined>;
    return this.task.postProcess(output, { info: this.info, batch, seq, lengths: subLengths, options });
  }
}

/** A planned batch's tokens: `ids` (and `typeIds` for pairs) of all items concatenated, each item at `offsets[i]`. */
interface BatchTokens {
  ids: Int32Array;
  typeIds: Int32Array | undefined;
  offsets: Int32Array;
  lengths: Int32Array;
}
