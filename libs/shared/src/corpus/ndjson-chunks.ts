/**
 * Items as an NDJSON upload body (POST /v1/jobs, application/x-ndjson): one JSON line per item,
 * handed out in chunks of about `chunkBytes` the way a client streams a large corpus. The demo,
 * the benchmarks and the tests upload with it; `Readable.from(ndjsonChunks(...))` makes the body.
 */
export async function* ndjsonChunks<T>(items: Iterable<T> | AsyncIterable<T>, chunkBytes = 64 * 1024): AsyncGenerator<Buffer> {
  let chunk = '';
  for await (const item of items) {
    chunk += `${JSON.stringify(item)}\n`;
    if (chunk.length >= chunkBytes) {
      yield Buffer.from(chunk);
      chunk = '';
    }
  }
  if (chunk) yield Buffer.from(chunk);
}
