/**
 * A streaming CSV parser (RFC 4180 plus the usual leniency): fields separated by a delimiter,
 * optionally quoted with `"`; inside quotes, `""` is a quote and delimiters and newlines (LF, CRLF,
 * CR) are data. Records end at LF, CRLF or CR outside quotes. Text is fed in chunks of any size (a
 * quote pair or CRLF may straddle two chunks) and records come out as soon as they are complete,
 * so a file of any size is read with constant memory. Like Python's csv module, a quote in the
 * middle of an unquoted field is kept as data, and characters after a closing quote are appended.
 */
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

enum State {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted field: the end of the field, or the first half of `""`. */
  QuoteInQuoted,
}

export class CsvParser {
  private state = State.FieldStart;
  private field = '';
  private fields: string[] = [];
  /** Physical line of the next character (CRLF, LF and a lone CR each end one line). */
  private line = 1;
  private prevCR = false;
  private recordLine = 1;
  /** A record just ended on CR: an LF right after it (maybe in the next chunk) belongs to that newline. */
  private skipLF = false;
  /** Any character of the current record seen (an empty line is no record). */
  private started = false;
  /** The current record had a quoted field (so `""` alone on a line is a record, an empty line is not). */
  private quoted = false;

  constructor(private readonly delimiter = ',') {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
      throw new Error(`invalid CSV delimiter ${JSON.stringify(delimiter)}`);
    }
  }

  /** Parses a chunk; returns the records it completed. */
  push(chunk: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    const d = this.delimiter;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as string;
      const lineOfChar = this.line;
      if (c === '\r') {
        this.line++;
        this.prevCR = true;
      } else {
        if (c === '\n' && !this.prevCR) this.line++;
        this.prevCR = false;
      }
      if (this.skipLF) {
        this.skipLF = false;
        if (c === '\n') continue;
      }
      if (!this.started) {
        this.started = true;
        this.recordLine = lineOfChar;
      }
      if (this.state === State.Quoted) {
        if (c === '"') this.state = State.QuoteInQuoted;
        else this.field += c;
        continue;
      }
      if (this.state === State.QuoteInQuoted) {
        if (c === '"') {
          this.field += '"';
          this.state = State.Quoted;
          continue;
        }
        this.state = State.Unquoted; // the closing quote; text up to the delimiter is appended
      }
      if (c === d) {
        this.fields.push(this.field);
        this.field = '';
        this.state = State.FieldStart;
      } else if (c === '\n' || c === '\r') {
        if (c === '\r') this.skipLF = true;
        this.endRecord(out);
      } else if (c === '"' && this.state === State.FieldStart) {
        this.state = State.Quoted;
        this.quoted = true;
      } else {
        this.field += c;
        this.state = State.Unquoted;
      }
    }
    return out;
  }

  /** Ends the input; returns the last record if the text did not end with a newline. */
  end(): CsvRecord[] {
    if (this.state === State.Quoted) throw new CsvSyntaxError('a quoted field is never closed (unbalanced ")', this.recordLine);
    const out: CsvRecord[] = [];
    if (this.started) this.endRecord(out);
    return out;
  }

  private endRecord(out: CsvRecord[]): void {
    this.fields.push(this.field);
    const fields = this.fields;
    const quoted = this.quoted;
    this.fields = [];
    this.field = '';
    this.state = State.FieldStart;
    this.started = false;
    this.quoted = false;
    // An empty line is skipped (spreadsheet exports end with them); `""` on its own line is a record.
    if (fields.length === 1 && fields[0] === '' && !quoted) return;
    out.push({ fields, line: this.recordLine });
  }
}
