/**
 * Isolates poison inputs: when a batch fails, retry its halves, down to
 * single items, so one bad text costs one item error instead of a whole
 * batch. A failing batch of n items costs at most about 2n extra runs, and
 * only on the failure path.
 */

export type Attempt<R> = { ok: true; value: R } | { ok: false; message: string };

/** Runs `run` over `items`; the result array lines up with `items`. `run` must return one value per item. */
export async function runWithSplitRetry<T, R>(items: readonly T[], run: (items: readonly T[]) => Promise<readonly R[]>): Promise<Attempt<R>[]> {
  try {
    const values = await run(items);
    if (values.length !== items.length) throw new Error(`batch returned ${values.length} results for ${items.length} inputs`);
    return values.map((value) => ({ ok: true, value }));
  } catch (error) {
    if (items.length <= 1) return items.map(() => ({ ok: false, message: errorMessage(error) }));
    const middle = Math.ceil(items.length / 2);
    const left = await runWithSplitRetry(items.slice(0, middle), run);
    const right = await runWithSplitRetry(items.slice(middle), run);
    return [...left, ...right];
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
