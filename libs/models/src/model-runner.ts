/**
 * One loaded model inside an inference thread: tokenizes with our own
 * truncation, builds padded int64 batches and post-processes outputs.
 */
import { Tensor } from '@huggingface/transformers';
import { loadParts, type LoadedParts } from './model-loader.js';
import type { ModelInfo } from './model-info.js';
import { runWithSplitRetry } from './split-retry.js';
import type { ResolvedEncodeOptions } from './tasks/task-io.js';
import { taskModule, type TaskModule } from './tasks/index.js';
import type { TensorLike } from './tensor-data.js';
import type { ModelRef, RunResult, ThreadConfig, TokenizeResult } from './thread-protocol.js';
import { alignableTokenizer } from './alignable-tokenizer.js';
import { alignTokens, type AlignableTokenizer, type TokenAlignment } from './token-alignment.js';
import { detectSpecialLayout, truncateIds, type SpecialTokenLayout } from './truncation.js';

export class ModelRunner {
  readonly info: ModelInfo;
  readonly layout: SpecialTokenLayout;
  private readonly padId: number;
  private readonly wantsTokenTypes: boolean;
  private readonly task: TaskModule;
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
    await runner.run(warm.ids, warm.lengths, {
      pooling: 'mean',
      normalize: true,
      topK: null,
      functionToApply: null,
      dimensions: null,
      prompt: null,
      promptName: null,
      truncate: true,
      aggregationStrategy: 'none',
      ignoreLabels: ['O'],
    });
    return runner;
  }

  /** Tokenizes without transformers.js truncation (which drops the closing special token) and truncates here. */
  tokenize(texts: readonly string[], truncate: boolean): TokenizeResult {
    const started = performance.now();
    const { maxTokens } = this.info;
    const kept: ArrayLike<number>[] = new Array(texts.length);
    const lengths = new Int32Array(texts.length);
    const original = new Int32Array(texts.length);
    const alignments: TokenAlignment[] | undefined = this.aligner ? new Array(texts.length) : undefined;
    let total = 0;
    for (let i = 0; i < texts.length; i++) {
      const ids = this.parts.tokenizer.encode(texts[i] as string);
      original[i] = ids.length;
      const out = ids.length <= maxTokens ? ids : truncate ? truncateIds(ids, maxTokens, this.layout) : [];
      kept[i] = out;
      if (alignments && this.aligner) alignments[i] = alignTokens(texts[i] as string, out, this.aligner);
      lengths[i] = out.length;
      total += out.length;
    }
    const flat = new Int32Array(total);
    let offset = 0;
    for (const ids of kept) {
      flat.set(ids, offset);
      offset += ids.length;
    }
    return { ids: flat, lengths, original, ...(alignments ? { alignments } : {}), seconds: (performance.now() - started) / 1000 };
  }

  /** Runs one planned batch (`ids` concatenated, `lengths` per item); poison items are isolated by split retry. */
  async run(ids: Int32Array, lengths: Int32Array, options: ResolvedEncodeOptions): Promise<RunResult> {
    const started = performance.now();
    const offsets = new Int32Array(lengths.length);
    for (let i = 1; i < lengths.length; i++) offsets[i] = (offsets[i - 1] as number) + (lengths[i - 1] as number);
    const width = this.task.rowWidth(this.info, options);
    const values = new Float32Array(lengths.length * width);
    const items = Array.from({ length: lengths.length }, (_, i) => i);

    const attempts = await runWithSplitRetry(items, async (subset) => {
      const rows = await this.forward(subset, ids, offsets, lengths, options);
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

  private async forward(subset: readonly number[], ids: Int32Array, offsets: Int32Array, lengths: Int32Array, options: ResolvedEncodeOptions): Promise<Float32Array> {
    const batch = subset.length;
    // Right padding; at least one column so an all-empty batch (tokenizer without specials) still runs.
    const seq = Math.max(1, ...subset.map((i) => lengths[i] as number));
    const inputIds = new BigInt64Array(batch * seq).fill(BigInt(this.padId)); // [batch, seq]
    const mask = new BigInt64Array(batch * seq); // [batch, seq]
    const subLengths = new Int32Array(batch);
    subset.forEach((item, b) => {
      const length = lengths[item] as number;
      const start = offsets[item] as number;
      subLengths[b] = length;
      for (let t = 0; t < length; t++) {
        inputIds[b * seq + t] = BigInt(ids[start + t] as number);
        mask[b * seq + t] = 1n;
      }
    });
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', inputIds, [batch, seq]),
      attention_mask: new Tensor('int64', mask, [batch, seq]),
    };
    // Single-segment input: all zeros, as the tokenizer would produce (transformers.js would also fill zeros itself).
    if (this.wantsTokenTypes) feeds.token_type_ids = new Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]);

    const output = (await this.parts.model.forward(feeds)) as Record<string, TensorLike | undefined>;
    return this.task.postProcess(output, { info: this.info, batch, seq, lengths: subLengths, options });
  }
}
