import { endianness } from 'node:os';
import { Bool, Field, FixedSizeList, Float32, Int32, Int64, makeData, Map_, RecordBatch, Schema, Struct, Utf8, vectorFromArray, type Data, type DataType } from 'apache-arrow';
import { taskModule, type TaskName } from '#models';
import type { ResultLine, ShardResult } from '#shared';

/**
 * A job's result lines as Arrow record batches, one batch per shard, for the Parquet download.
 * Columns, in this order (every one nullable unless said otherwise):
 *
 *   id             utf8      the item's id; null when its shard failed before the ids were read
 *   index          int64     position in the input, not null (BIGINT in DuckDB, int64 in pandas)
 *   embed (tasks whose output is a vector):
 *   embedding      fixed_size_list<float32 not null>[dimensions]; null for a failed item
 *   sentiment (tasks whose output is label scores):
 *   label          utf8      the top label
 *   score          float32   its probability
 *   scores         map<utf8, float32 not null>, entries in the order of the line's `scores`
 *   token-classification (tasks whose output is a JSON value):
 *   entities       utf8      the line's value as JSON text (`json_extract` in DuckDB, `json.loads`
 *                            in pandas); a string because entity fields differ by aggregation
 *   truncated      bool      the text was cut to the model's length; null for a failed item
 *   tokens         int32     only when the job asked for per-item token counts; null when failed
 *   error_code     utf8      set exactly for failed items, as are
 *   error_message  utf8
 *
 * Errors are two flat columns rather than a struct so that `WHERE error_code IS NOT NULL` and
 * `df[df.error_code.notna()]` work as they read. Floats are the stored float32 bits, so they equal
 * `Math.fround` of the NDJSON numbers (which print the shortest decimal of the same float32).
 */
export interface ResultColumns {
  task: TaskName;
  /** Embed: the job's embedding width; 0 when no shard knows it (then every item failed). */
  dimensions: number;
  /** The job option that adds `tokens` to each successful line. */
  itemTokens: boolean;
}

// Float32Array reads the stored little-endian rows in the host's order.
if (endianness() !== 'LE') throw new Error('the Parquet results writer needs a little-endian host');

export function resultSchema(columns: ResultColumns): Schema {
  const fields: Field[] = [new Field('id', new Utf8(), true), new Field('index', new Int64(), false)];
  const jsonField = jsonFieldOf(columns.task);
  if (jsonField !== undefined) {
    fields.push(new Field(jsonField, new Utf8(), true));
  } else if (taskModule(columns.task).output === 'vector') {
    fields.push(new Field('embedding', new FixedSizeList(columns.dimensions, new Field('element', new Float32(), false)), true));
  } else {
    const entry = new Struct([new Field('key', new Utf8(), false), new Field('value', new Float32(), false)]);
    fields.push(new Field('label', new Utf8(), true), new Field('score', new Float32(), true), new Field('scores', new Map_(new Field('entries', entry, false)), true));
  }
  fields.push(new Field('truncated', new Bool(), true));
  if (columns.itemTokens) fields.push(new Field('tokens', new Int32(), true));
  fields.push(new Field('error_code', new Utf8(), true), new Field('error_message', new Utf8(), true));
  return new Schema(fields);
}

/** One shard's lines as a batch of `schema` (from resultSchema with the same columns). */
export function shardBatch(schema: Schema, columns: ResultColumns, result: ShardResult): RecordBatch {
  const lines = [...result.lines()];
  const succeeded = lines.map((line) => line.error === undefined);
  const ok = (value: (line: ResultLine) => unknown) => lines.map((line, i) => (succeeded[i] ? value(line) : null));
  const data: Data[] = [
    column(
      lines.map((line) => line.id),
      new Utf8(),
    ),
    makeData({ type: new Int64(), length: lines.length, nullCount: 0, data: BigInt64Array.from(lines, (line) => BigInt(line.index)) }),
  ];
  const jsonField = jsonFieldOf(columns.task);
  if (jsonField !== undefined)
    data.push(
      column(
        ok((line) => JSON.stringify((line as unknown as Record<string, unknown>)[jsonField])),
        new Utf8(),
      ),
    );
  else if (taskModule(columns.task).output === 'vector') data.push(embeddings(schema, columns.dimensions, result, succeeded));
  else
    data.push(
      column(
        ok((line) => line.label),
        new Utf8(),
      ),
      column(
        ok((line) => line.score),
        new Float32(),
      ),
      scoreMaps(schema, lines, succeeded),
    );
  data.push(
    column(
      ok((line) => line.truncated === true),
      new Bool(),
    ),
  );
  if (columns.itemTokens)
    data.push(
      column(
        ok((line) => line.tokens ?? null),
        new Int32(),
      ),
    );
  data.push(
    column(
      lines.map((line) => line.error?.code ?? null),
      new Utf8(),
    ),
    column(
      lines.map((line) => line.error?.message ?? null),
      new Utf8(),
    ),
  );
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: lines.length, nullCount: 0, children: data }));
}

/** The column of a task whose output is a JSON value: its one result field. */
function jsonFieldOf(task: TaskName): string | undefined {
  return taskModule(task).output === 'json' ? Object.keys(taskModule(task).resultFields)[0] : undefined;
}

function column<T extends DataType>(values: unknown[], type: T): Data<T> {
  return vectorFromArray(values, type).data[0] as Data<T>;
}

/** The stored rows as the list's values (no copy when aligned); a shard that never learnt its width gives zeros under null rows. */
function embeddings(schema: Schema, dimensions: number, result: ShardResult, succeeded: boolean[]): Data {
  const type = fieldType(schema, 'embedding') as FixedSizeList<Float32>;
  const count = succeeded.length;
  const rows = result.embeddingRows();
  let values: Float32Array;
  if (rows !== null && rows.length === count * dimensions * 4) {
    values = rows.byteOffset % 4 === 0 ? new Float32Array(rows.buffer, rows.byteOffset, count * dimensions) : new Float32Array(Uint8Array.from(rows).buffer);
  } else if (succeeded.includes(true)) {
    throw new Error(`shard at item ${result.header.start} has embeddings of width ${result.header.width}, the job ${dimensions}`);
  } else {
    values = new Float32Array(count * dimensions);
  }
  const child = makeData({ type: type.valueType, length: values.length, nullCount: 0, data: values });
  return makeData({ type, length: count, ...validity(succeeded), child });
}

function scoreMaps(schema: Schema, lines: ResultLine[], succeeded: boolean[]): Data {
  const type = fieldType(schema, 'scores') as Map_<Utf8, Float32>;
  const keys: string[] = [];
  const values: number[] = [];
  const offsets = new Int32Array(lines.length + 1);
  lines.forEach((line, i) => {
    for (const [label, p] of Object.entries(line.scores ?? {})) {
      keys.push(label);
      values.push(p);
    }
    offsets[i + 1] = keys.length;
  });
  const entries = makeData({
    type: type.children[0].type,
    length: keys.length,
    nullCount: 0,
    children: [column(keys, new Utf8()), makeData({ type: new Float32(), length: values.length, nullCount: 0, data: Float32Array.from(values) })],
  });
  return makeData({ type, length: lines.length, ...validity(succeeded), valueOffsets: offsets, child: entries });
}

function fieldType(schema: Schema, name: string): DataType {
  const field = schema.fields.find((f) => f.name === name);
  if (field === undefined) throw new Error(`the results schema has no ${name} column`);
  return field.type;
}

function validity(valid: boolean[]): { nullCount: number; nullBitmap: Uint8Array } {
  const nullBitmap = new Uint8Array((valid.length + 7) >> 3);
  let nullCount = 0;
  valid.forEach((v, i) => {
    if (v) nullBitmap[i >> 3] |= 1 << (i & 7);
    else nullCount++;
  });
  return { nullCount, nullBitmap };
}
