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
