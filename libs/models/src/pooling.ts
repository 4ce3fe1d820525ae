/**
 * Sentence-embedding post-processing straight from the output tensor's
 * buffer: no intermediate [batch, seq, hidden] copies. Sequences are right
 * padded, so a row's attention mask is "first `length` positions".
 */

export type Pooling = 'mean' | 'cls';

/**
 * Pools `hidden` `// [batch, seq, hidden]` into `out` `// [batch, hidden]`.
 * Mean pooling follows sentence-transformers: sum over unmasked tokens
 * divided by max(count, 1e-9), accumulated in float64.
 */
export function poolHidden(hidden: ArrayLike<number>, dims: readonly [number, number, number], lengths: ArrayLike<number>, pooling: Pooling, out: Float32Array): Float32Array {
  const [batch, seq, width] = dims;
  const acc = new Float64Array(width);
  for (let b = 0; b < batch; b++) {
    const rowStart = b * seq * width;
    const outStart = b * width;
    if (pooling === 'cls') {
      for (let h = 0; h < width; h++) out[outStart + h] = hidden[rowStart + h] as number;
      continue;
    }
    const count = Math.min(lengths[b] as number, seq);
    acc.fill(0);
    for (let t = 0; t < count; t++) {
      const tokenStart = rowStart + t * width;
      for (let h = 0; h < width; h++) acc[h] = (acc[h] as number) + (hidden[tokenStart + h] as number);
    }
    const divisor = Math.max(count, 1e-9);
    for (let h = 0; h < width; h++) out[outStart + h] = (acc[h] as number) / divisor;
  }
  return out;
}

/** L2-normalises each row of `rows` `// [batch, width]` in place; zero rows stay zero (torch F.normalize eps). */
export function l2NormalizeRows(rows: Float32Array, width: number): Float32Array {
  for (let start = 0; start < rows.length; start += width) {
    let sum = 0;
    for (let h = 0; h < width; h++) sum += (rows[start + h] as number) ** 2;
    const scale = 1 / Math.max(Math.sqrt(sum), 1e-12);
    for (let h = 0; h < width; h++) rows[start + h] = (rows[start + h] as number) * scale;
  }
  return rows;
}

/** The first `kept` values of each row of `rows` `// [batch, width]` -> `// [batch, kept]` (Matryoshka truncation). */
export function truncateRows(rows: Float32Array, width: number, kept: number): Float32Array {
  const batch = rows.length / width;
  const out = new Float32Array(batch * kept);
  for (let b = 0; b < batch; b++) out.set(rows.subarray(b * width, b * width + kept), b * kept);
  return out;
}
