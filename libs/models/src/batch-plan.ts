/**
 * Groups texts into padded batches. Sorting by length keeps padding low, and
 * the budget is on padded tokens because that is what ONNX Runtime computes
 * (and allocates: attention is [batch, heads, seq, seq]).
 */

export interface BatchLimits {
  /** Upper bound on `batchSize * longestInBatch`. */
  maxBatchTokens: number;
  /** Upper bound on texts per batch. */
  maxBatchSize: number;
}

export interface PlannedBatch {
  /** Indices into the caller's list, longest first. */
  indices: number[];
  /** Padded sequence length (the longest member). */
  seqLength: number;
}

/**
 * Plans batches over `indices` (default: all) of `lengths`, longest first.
 * A text longer than the whole budget still gets a batch of its own, since
 * refusing it would fail the item for a reason the client cannot fix.
 */
export function planBatches(lengths: ArrayLike<number>, limits: BatchLimits, indices?: readonly number[]): PlannedBatch[] {
  const order = indices ? [...indices] : Array.from({ length: lengths.length }, (_, i) => i);
  // Ties broken by index so plans are deterministic (tests compare runs).
  order.sort((a, b) => (lengths[b] as number) - (lengths[a] as number) || a - b);

  const batches: PlannedBatch[] = [];
  let current: PlannedBatch | null = null;
  for (const index of order) {
    const length = Math.max(1, lengths[index] as number);
    if (current !== null) {
      const size = current.indices.length + 1;
      // Sorted descending, so the batch's padded length never grows after its first item.
      if (size <= limits.maxBatchSize && size * current.seqLength <= limits.maxBatchTokens) {
        current.indices.push(index);
        continue;
      }
    }
    current = { indices: [index], seqLength: length };
    batches.push(current);
  }
  return batches;
}

/** Padded tokens a plan costs (what `stats.paddedTokens` reports). */
export function paddedTokens(batches: readonly PlannedBatch[]): number {
  return batches.reduce((sum, b) => sum + b.indices.length * b.seqLength, 0);
}

/**
 * What one more batch costs beyond its padded tokens, in token-equivalents: a session.run call,
 * building its input tensors and a round trip to a thread. Measured on CPU with the MiniLM shape
 * it is worth a few dozen tokens; it only decides between plans of nearly equal padding.
 */
export const BATCH_OVERHEAD_TOKENS = 32;

/**
 * Like planBatches (same limits, same longest-first order, same guarantees), but where the cuts
 * between batches fall is chosen to minimise `paddedTokens + BATCH_OVERHEAD_TOKENS * batches`
 * instead of filling each batch greedily. Greedy filling hurts in the sparse long tail of a real
 * corpus: a 512-token text starts a batch that the budget then fills with 300- and 200-token
 * texts, all padded to 512. Exact dynamic programming over the sorted order, O(n * maxBatchSize).
 */
export function planBatchesMinPadding(lengths: ArrayLike<number>, limits: BatchLimits, indices?: readonly number[]): PlannedBatch[] {
  const order = indices ? [...indices] : Array.from({ length: lengths.length }, (_, i) => i);
  order.sort((a, b) => (lengths[b] as number) - (lengths[a] as number) || a - b);
  const n = order.length;
  const length = Int32Array.from(order, (i) => Math.max(1, lengths[i] as number));
  // best[i]: cheapest plan of the first i items (in sorted order); from[i]: where its last batch starts.
  const best = new Float64Array(n + 1).fill(Infinity);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let end = 1; end <= n; end++) {
    for (let start = end - 1; start >= 0; start--) {
      const size = end - start;
      // Sorted descending: the batch is padded to its first item, and size * seq only grows as start moves left.
      const padded = size * (length[start] as number);
      if (size > 1 && (size > limits.maxBatchSize || padded > limits.maxBatchTokens)) break;
      const cost = (best[start] as number) + padded + BATCH_OVERHEAD_TOKENS;
      if (cost < (best[end] as number)) {
        best[end] = cost;
        from[end] = start;
      }
    }
  }
  const batches: PlannedBatch[] = [];
  for (let end = n; end > 0; end = from[end] as number) {
    const start = from[end] as number;
    batches.push({ indices: order.slice(start, end), seqLength: length[start] as number });
  }
  return batches.reverse();
}
