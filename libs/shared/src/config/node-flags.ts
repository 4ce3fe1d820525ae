/**
 * Node (V8) flags the API runs with, wherever it is started: `npm run start:api`, the Docker image,
 * the demo, the benchmarks and the tests. They are command-line flags because V8 reads them when it
 * sets up the heap (and NODE_OPTIONS does not take them).
 *
 * `--heap-growing-percent=25`: V8 lets the old generation grow to about four times what survived the
 * last full collection when collecting is cheap. A long upload promotes a steady trickle of
 * short-lived parse objects, so the API's heap climbed to ~130 MB over a 2M-line upload with ~31 MB
 * alive; growing by at most 25% per collection keeps it near what is alive (peak RSS 285 -> 187 MB on
 * that upload, the same upload time).
 */
export const API_NODE_FLAGS: readonly string[] = ['--heap-growing-percent=25'];
