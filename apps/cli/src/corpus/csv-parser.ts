import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, type InfoRecord, parse } from 'csv-parse';

export interface CsvRecord {
  fields: string[];
  /** 1-based physical line of the file on which the record starts. */
  line: number;
}

export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvSyntaxError';
  }
}

const NEWLINE = /\r\n|\r|\n/g;

/**
 * The records of CSV text read in chunks of any size, with csv-parse: fields separated by a delimiter,
 * optionally quoted with `"` (`""` inside quotes is a quote; delimiters and newlines there are data).
 * Records end at LF, CRLF or CR, all three accepted in one file. Leniencies: records of any length, and
 * stray quotes are data (`ab"c` is `ab"c`, `"d"e` is `"d"e`). An empty line is no record (spreadsheet
 * exports end with them), `""` alone on a line is one.
 *
 * Line numbers: only quoted fields hold newlines, so a record starts one line after the newlines of the
 * one before, plus the empty lines csv-parse skipped in between.
 */
export async function* csvRecords(text: AsyncIterable<string>, delimiter = ','): AsyncGenerator<CsvRecord> {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new Error(`invalid CSV delimiter ${JSON.stringify(delimiter)}`);
  }
  const newlines = (fields: string[]) => fields.reduce((n, field) => n + (field.match(NEWLINE)?.length ?? 0), 0);
  // Numbered as the parser reads them (not as they are consumed), so an error names the right line.
  let line = 1;
  let emptyLinesBefore = 0;
  const startLine = (emptyLines: number) => line + emptyLines - emptyLinesBefore;
  const lineOf = new WeakMap<string[], number>();
  const numbered = (fields: string[], { empty_lines }: InfoRecord): string[] => {
    const start = startLine(empty_lines);
    emptyLinesBefore = empty_lines;
    line = start + newlines(fields) + 1;
    lineOf.set(fields, start);
    return fields;
  };
  const parser = parse({ delimiter, record_delimiter: ['\r\n', '\n', '\r'], relax_quotes: true, relax_column_count: true, skip_empty_lines: true, on_record: numbered });
  const feeding = pipeline(Readable.from(text), parser);
  feeding.catch(() => undefined); // its error also ends the loop below, which reports it
  try {
    for await (const fields of parser as AsyncIterable<string[]>) yield { fields, line: lineOf.get(fields) as number };
    await feeding;
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const at = startLine(Number(error.empty_lines ?? emptyLinesBefore));
    throw new CsvSyntaxError(error.code === 'CSV_QUOTE_NOT_CLOSED' ? 'a quoted field is never closed (unbalanced ")' : error.message, at);
  }
}
