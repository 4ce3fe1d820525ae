import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import type { TaskName } from '#models';
import type { ResultLine } from '#shared';

/**
 * Reads a results Parquet file with hyparquet (an implementation independent of the arrow-rs
 * writer behind parquet-wasm) and turns NDJSON result lines into the rows it must hold, so a test
 * compares the two with one toEqual.
 */
export interface ParquetResults {
  rows: Array<Record<string, unknown>>;
  /** Rows per row group, in file order. */
  rowGroups: number[];
  columns: string[];
  /** The file's key-value metadata (ARROW:schema left out). */
  metadata: Record<string, string>;
}

export async function readParquetResults(file: Uint8Array): Promise<ParquetResults> {
  const buffer = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(buffer);
  const rows = await parquetReadObjects({ file: buffer });
  return {
    rows: rows.map(comparable),
    rowGroups: meta.row_groups.map((group) => Number(group.num_rows)),
    columns: parquetSchema(meta).children.map((child) => child.element.name),
    metadata: Object.fromEntries((meta.key_value_metadata ?? []).filter(({ key }) => key !== 'ARROW:schema').map(({ key, value }) => [key, value ?? ''])),
  };
}

/** The Parquet row of an NDJSON line (results-arrow.ts); floats as float32, score maps as ordered entries. */
export function expectedRow(line: ResultLine, job: { task: TaskName; itemTokens?: boolean }): Record<string, unknown> {
  const failed = line.error !== undefined;
  const row: Record<string, unknown> = { id: line.id, index: line.index };
  if (job.task === 'token-classification') {
    row.entities = failed ? null : JSON.stringify(line.entities);
  } else if (job.task === 'rerank') {
    row.ranking = failed ? null : JSON.stringify(line.ranking);
  } else if (job.task === 'embed') {
    row.embedding = failed ? null : (line.embedding ?? []).map((v) => Math.fround(v));
  } else {
    row.label = line.label ?? null;
    row.score = line.score === undefined ? null : Math.fround(line.score);
    row.scores = failed ? null : Object.entries(line.scores ?? {}).map(([label, p]) => [label, Math.fround(p)]);
  }
  row.truncated = failed ? null : line.truncated === true;
  if (job.itemTokens) row.tokens = failed ? null : (line.tokens ?? null);
  row.error_code = line.error?.code ?? null;
  row.error_message = line.error?.message ?? null;
  return row;
}

/** int64 as a number, a map as its entries in file order, -0 as 0 (NDJSON prints no negative zero). */
function comparable(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row, index: Number(row.index) };
  if (Array.isArray(row.embedding)) out.embedding = row.embedding.map((v: number) => (v === 0 ? 0 : v));
  if (row.scores !== null && row.scores !== undefined) out.scores = Object.entries(row.scores as Record<string, number>);
  return out;
}
