import { makeBuilder, makeData, RecordBatch, Struct, Table as ArrowTable, tableToIPC, util, type Schema } from 'apache-arrow';
import { Compression, Table as WasmTable, transformParquetStream, WriterPropertiesBuilder, type RecordBatch as WasmRecordBatch } from 'parquet-wasm';
import { taskModule, type TaskName } from '#models';
import { ApiError } from '../http/api-error.js';
import { parquetFooterRows } from './parquet-footer.js';

/**
 * A job's results as one Parquet file, written row group by row group while it streams out:
 * parquet-wasm's transformParquetStream (arrow-rs's AsyncArrowWriter) pulls one Arrow batch at a
 * time, closes a row group every `rowGroupRows` rows and hands its bytes on, and waits while the
 * client reads. What one download holds is a few row groups (the one being filled, encoded bytes on
 * their way out) and one shard, whatever the job's size; WebAssembly memory keeps its high-water
 * mark afterwards (about 35 MiB with 8 MiB row groups).
 */
export const PARQUET_MEDIA_TYPE = 'application/vnd.apache.parquet';

/** Uncompressed bytes a row group aims at: what one download holds in memory at most. */
const ROW_GROUP_TARGET_BYTES = 8 * 1024 * 1024;
/** Fewer rows per group makes the footer (one entry per group and column) grow with the job. */
export const MIN_ROW_GROUP_ROWS = 1024;
const MAX_ROW_GROUP_ROWS = 65_536;
/** After its last batch the writer only encodes one row group and the footer; a writer that failed never ends its output. */
const FINISH_TIMEOUT_MS = 30_000;

/** Rows per row group: about ROW_GROUP_TARGET_BYTES for rows of this width, or fewer when asked. */
export function rowGroupRows(task: TaskName, width: number, requested?: number): number {
  // A vector: the floats, id and index; label scores: a score map entry per label (width = labels + 1);
  // a JSON value (entities): about a dozen entities of ~80 bytes, a guess since the width says nothing.
  const { output } = taskModule(task);
  const rowBytes = output === 'vector' ? 48 + 4 * width : output === 'json' ? 1024 : 64 + 24 * Math.max(width, 4);
  const fit = Math.min(MAX_ROW_GROUP_ROWS, Math.max(MIN_ROW_GROUP_ROWS, Math.floor(ROW_GROUP_TARGET_BYTES / rowBytes)));
  return requested === undefined ? fit : Math.min(fit, requested);
}

/** The `row_group_size` query parameter: undefined when absent, else an integer of at least MIN_ROW_GROUP_ROWS. */
export function parseRowGroupSize(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const rows = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(rows >= MIN_ROW_GROUP_ROWS)) {
    throw new ApiError('INVALID_QUERY', `query parameter "row_group_size" must be an integer of at least ${MIN_ROW_GROUP_ROWS} (rows per Parquet row group)`, 400, {
      field: 'row_group_size',
    });
  }
  return rows;
}

/**
 * The Parquet file's bytes for `batches` (all of `schema`). transformParquetStream drops what it
 * cannot write: after a failed input it ends the file cleanly with the rows so far, and after a
 * refused batch it never ends its output. So the input never errors (a failure closes it), batches
 * of another schema are refused here, the output gets FINISH_TIMEOUT_MS once the input has ended,
 * and the last chunk (the footer) is held back until the rows it declares are all the rows given;
 * otherwise this throws and the response is cut.
 */
export async function* parquetBytes(
  schema: Schema,
  batches: AsyncIterable<RecordBatch>,
  options: { rowGroupRows: number; metadata: ReadonlyMap<string, string> },
): AsyncGenerator<Uint8Array> {
  const pending = batches[Symbol.asyncIterator]();
  let rows = 0;
  let started = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  let ended = false;
  const input = new ReadableStream<WasmRecordBatch>(
    {
      async pull(controller) {
        try {
          // An empty batch first: the writer takes the schema from it, and a job with no rows still gets a file.
          const next = started ? await pending.next() : { done: false as const, value: emptyBatch(schema) };
          started = true;
          if (next.done || stopped) {
            ended = true;
            return controller.close();
          }
          if (!util.compareSchemas(schema, next.value.schema)) throw new Error('a batch of results does not have the schema of the file');
          rows += next.value.numRows;
          const table = WasmTable.fromIPCStream(tableToIPC(new ArrowTable(next.value), 'stream'));
          try {
            for (const batch of table.recordBatches()) controller.enqueue(batch);
          } finally {
            table.free();
          }
        } catch (error) {
          failure = { error };
          ended = true;
          controller.close();
        }
      },
    },
    // Pull a shard only when the writer asks for it.
    { highWaterMark: 0 },
  );
  const properties = new WriterPropertiesBuilder()
    .setCompression(Compression.SNAPPY)
    .setMaxRowGroupSize(options.rowGroupRows)
    // Unique values: dictionaries would be built and then dropped.
    .setColumnDictionaryEnabled('id', false)
    .setColumnDictionaryEnabled('index', false)
    .setColumnDictionaryEnabled('embedding.list.element', false)
    .setKeyValueMetadata(new Map(options.metadata))
    .build();
  const output = await transformParquetStream(input, properties).catch((error: unknown) => {
    throw failure === undefined ? error : failure.error;
  });
  const reader = output.getReader();
  let held: Uint8Array | undefined;
  try {
    for (;;) {
      const { done, value } = ended ? await withTimeout(reader.read(), FINISH_TIMEOUT_MS) : await reader.read();
      if (done) break;
      if (held !== undefined) yield held;
      held = value as Uint8Array;
    }
  } finally {
    // The client left: the writer goes on pulling until its input ends, so end it now.
    stopped = true;
    await reader.cancel().catch(() => undefined);
    await pending.return?.();
  }
  if (failure !== undefined) throw failure.error;
  const declared = held === undefined ? -1 : parquetFooterRows(held);
  if (declared !== rows) throw new Error(`parquet-wasm wrote a file of ${declared} rows for ${rows} rows given`);
  yield held as Uint8Array;
}

function emptyBatch(schema: Schema): RecordBatch {
  const children = schema.fields.map((field) => makeBuilder({ type: field.type }).finish().flush());
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 0, nullCount: 0, children }));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`parquet-wasm did not finish the file within ${ms} ms of its last batch`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
