import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { CliError, ExitCode, usageError } from '../exit-codes.js';
import { CsvSyntaxError, csvRecords, type CsvRecord } from './csv-parser.js';

export type InputFormat = 'jsonl' | 'txt' | 'csv';

export interface CorpusOptions {
  format: InputFormat;
  /** CSV: column holding the text (default: `text`, or the only column). */
  textColumn?: string;
  /** CSV: column holding the id (default: the 1-based data row number). */
  idColumn?: string;
  /** CSV: field delimiter (default `,`; tab for .tsv). */
  delimiter?: string;
}

/** NDJSON is sent in pieces of about this size. */
const CHUNK_BYTES = 256 * 1024;

export function detectFormat(path: string, explicit: string | undefined): { format: InputFormat; delimiter?: string } {
  const name = (explicit ?? extname(path).slice(1)).toLowerCase();
  if (name === 'jsonl' || name === 'ndjson') return { format: 'jsonl' };
  if (name === 'txt' || name === 'text') return { format: 'txt' };
  if (name === 'csv') return { format: 'csv' };
  if (name === 'tsv') return { format: 'csv', delimiter: '\t' };
  throw usageError(
    explicit === undefined
      ? `cannot tell the format of ${JSON.stringify(path)} from its extension; name it .jsonl, .txt, .csv or .tsv, or pass --input-format jsonl|txt|csv`
      : `--input-format must be jsonl, txt or csv, not ${JSON.stringify(explicit)}`,
  );
}

/**
 * Turns a corpus file into the NDJSON body of `POST /v1/jobs`, read as a stream (memory stays flat
 * for files of any size). Body lines are kept on the file's line numbers (lines that carry no item
 * are sent blank, which the API skips), so a line named in an API error is the line in the file:
 *   .jsonl  sent as it is
 *   .txt    line N -> {"id":"N","text":<line>}; blank lines carry no item
 *   .csv    a header row, then one item per record (quoted fields may hold commas and newlines);
 *           the item sits on the line where its record starts
 */
export class CorpusSource {
  /** Bytes of the file read so far (for the upload progress). */
  bytesRead = 0;
  /** Items produced so far (.txt and .csv; .jsonl is passed through uncounted). */
  items = 0;

  constructor(
    private readonly path: string,
    private readonly options: CorpusOptions,
  ) {}

  async *chunks(): AsyncGenerator<Buffer> {
    if (this.options.format === 'jsonl') {
      for await (const chunk of this.raw()) yield chunk;
      return;
    }
    let pending: string[] = [];
    let pendingLength = 0;
    const lines = this.options.format === 'txt' ? this.txtLines() : this.csvLines();
    for await (const line of lines) {
      pending.push(line);
      pendingLength += line.length;
      if (pendingLength >= CHUNK_BYTES) {
        yield Buffer.from(pending.join(''));
        pending = [];
        pendingLength = 0;
      }
    }
    if (pending.length > 0) yield Buffer.from(pending.join(''));
  }

  private async *raw(): AsyncGenerator<Buffer> {
    for await (const chunk of createReadStream(this.path, { highWaterMark: CHUNK_BYTES })) {
      this.bytesRead += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  }

  /** The file as text, decoded strictly: a file that is not UTF-8 is refused rather than sent garbled. */
  private async *text(): AsyncGenerator<string> {
    const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
    try {
      for await (const chunk of this.raw()) {
        const text = decoder.decode(chunk, { stream: true });
        if (text.length > 0) yield text;
      }
      const rest = decoder.decode();
      if (rest.length > 0) yield rest;
    } catch (error) {
      if (error instanceof TypeError) {
        throw new CliError(`${this.path} is not valid UTF-8 text (near byte ${this.bytesRead}); convert it first (iconv -t UTF-8)`, ExitCode.Rejected, { code: 'INVALID_UTF8' });
      }
      throw error;
    }
  }

  private async *txtLines(): AsyncGenerator<string> {
    let lineNo = 0;
    let carry = '';
    const emit = (line: string): string => {
      lineNo++;
      const text = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (text.trim() === '') return '\n';
      this.items++;
      return `${JSON.stringify({ id: String(lineNo), text })}\n`;
    };
    for await (const text of this.text()) {
      const parts = (carry + text).split('\n');
      carry = parts.pop() as string;
      for (const part of parts) yield emit(part);
    }
    if (carry.length > 0) yield emit(carry);
  }

  private async *csvLines(): AsyncGenerator<string> {
    let header: { text: number; id: number | null; names: string[] } | null = null;
    let bodyLine = 1;
    let row = 0;
    const emit = (record: CsvRecord): string => {
      if (header === null) {
        header = this.columns(record);
        return '';
      }
      row++;
      const text = record.fields[header.text];
      if (text === undefined) {
        throw new CliError(
          `${this.path} line ${record.line}: the record has ${record.fields.length} field(s); column ${JSON.stringify(header.names[header.text])} is field ${header.text + 1}`,
          ExitCode.Rejected,
          { code: 'MISSING_TEXT', line: record.line },
        );
      }
      const id = header.id === null ? String(row) : record.fields[header.id];
      if (id === undefined) {
        throw new CliError(`${this.path} line ${record.line}: the record has no ${JSON.stringify(header.names[header.id as number])} field`, ExitCode.Rejected, {
          code: 'INVALID_INPUT',
          line: record.line,
        });
      }
      this.items++;
      // Blank lines up to the record's own line: the API's line numbers then name lines of the file.
      const padding = record.line > bodyLine ? '\n'.repeat(record.line - bodyLine) : '';
      bodyLine = Math.max(bodyLine, record.line) + 1;
      return `${padding}${JSON.stringify({ id, text })}\n`;
    };
    try {
      for await (const record of csvRecords(this.text(), this.options.delimiter ?? ',')) {
        const line = emit(record);
        if (line) yield line;
      }
    } catch (error) {
      if (error instanceof CsvSyntaxError) throw new CliError(`${this.path} ${error.message}`, ExitCode.Rejected, { code: 'INVALID_CSV', line: error.line });
      throw error;
    }
    if (header === null) throw new CliError(`${this.path} is empty: a CSV file needs a header row`, ExitCode.Rejected, { code: 'EMPTY_CORPUS' });
  }

  private columns(record: CsvRecord): { text: number; id: number | null; names: string[] } {
    const names = record.fields.map((name, i) => (i === 0 ? name.replace(/^\uFEFF/, '') : name).trim());
    const find = (name: string): number => {
      const exact = names.indexOf(name);
      return exact >= 0 ? exact : names.findIndex((n) => n.toLowerCase() === name.toLowerCase());
    };
    const list = names.map((n) => JSON.stringify(n)).join(', ');
    let text: number;
    if (this.options.textColumn !== undefined) {
      text = find(this.options.textColumn);
      if (text < 0) throw usageError(`${this.path} has no column ${JSON.stringify(this.options.textColumn)} (--text-column); its columns are ${list}`);
    } else {
      text = names.length === 1 ? 0 : find('text');
      if (text < 0) throw usageError(`${this.path} has no "text" column; name the column with --text-column (columns: ${list})`);
    }
    let id: number | null = null;
    if (this.options.idColumn !== undefined) {
      id = find(this.options.idColumn);
      if (id < 0) throw usageError(`${this.path} has no column ${JSON.stringify(this.options.idColumn)} (--id-column); its columns are ${list}`);
    }
    return { text, id, names };
  }
}
