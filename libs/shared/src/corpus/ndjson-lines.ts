import { InputError } from '../errors/input.error.js';

/** One non-blank NDJSON line, decoded. */
export interface NdjsonLine {
  /** 1-based physical line number, counted from where the splitter started. */
  line: number;
  text: string;
  /** Byte offset of the line's first byte in the stream (or object). */
  start: number;
  /** Byte offset just past the line's `\n` (or the end of the stream for a last line without one). */
  end: number;
}

const LF = 0x0a;
const CR = 0x0d;
const BOM = [0xef, 0xbb, 0xbf] as const;

export interface SplitterOptions {
  /** Number of the first line (error messages). @defaultValue 1 */
  firstLine?: number;
  /** Byte offset of the first byte pushed, for `start` / `end`. @defaultValue 0 */
  offset?: number;
}

/**
 * Splits bytes into NDJSON lines without holding more than one line (at most maxLineBytes + 1)
 * plus the current chunk, so an upload of any size keeps memory flat. Each line is decoded on its
 * own with a fatal decoder: invalid UTF-8 is reported with its line, and a multi-byte character
 * split across chunks is fine because lines are joined as bytes first. Blank (whitespace-only)
 * lines are skipped but counted. A BOM is accepted at byte 0 only. The same splitter reads an
 * upload in the API and a shard's byte range in the worker, so both see the same items.
 */
export class NdjsonLineSplitter {
  // ignoreBOM keeps a BOM in the output: only byte 0 may hold one, and it is stripped as bytes below.
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineNo: number;
  /** Stream offset of the first byte of the line being collected. */
  private lineStart: number;
  private readonly firstOffset: number;

  constructor(
    private readonly maxLineBytes: number,
    options: SplitterOptions = {},
  ) {
    this.lineNo = options.firstLine ?? 1;
    this.lineStart = options.offset ?? 0;
    this.firstOffset = this.lineStart;
  }

  /** Appends the complete non-blank lines of `chunk` to `out`. */
  push(raw: Uint8Array | string, out: NdjsonLine[]): void {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(LF, start);
      if (newline < 0) break;
      const item = this.finish(chunk.subarray(start, newline), 1);
      if (item) out.push(item);
      start = newline + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pendingBytes += rest.length;
      // +1 leaves room for a CR of a CRLF ending (+3 for a BOM at byte 0): anything more is over the limit
      // already, so it is refused now instead of after buffering the rest of a huge line.
      if (this.pendingBytes > this.maxLineBytes + 1 + (this.lineStart === 0 ? BOM.length : 0)) throw tooLong(this.lineNo, this.maxLineBytes);
      // Copy: a view would keep the whole chunk alive, and sources may reuse their buffers.
      this.pending.push(Buffer.from(rest));
    }
  }

  /** The last line when the input does not end with a newline. */
  end(out: NdjsonLine[]): void {
    if (this.pendingBytes === 0) return;
    const item = this.finish(Buffer.alloc(0), 0);
    if (item) out.push(item);
  }

  private finish(tail: Buffer, terminator: 0 | 1): NdjsonLine | null {
    let bytes = this.pending.length === 0 ? tail : Buffer.concat([...this.pending, tail], this.pendingBytes + tail.length);
    this.pending = [];
    this.pendingBytes = 0;
    const line = this.lineNo++;
    const start = this.lineStart;
    const end = start + bytes.length + terminator;
    this.lineStart = end;
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (start === 0 && this.firstOffset === 0 && startsWithBom(bytes)) bytes = bytes.subarray(BOM.length);
    if (bytes.length > this.maxLineBytes) throw tooLong(line, this.maxLineBytes);
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      throw new InputError('INVALID_UTF8', `line ${line}: not valid UTF-8`, { line });
    }
    return isBlank(text) ? null : { line, text, start, end };
  }
}

/** The lines of a stream, one array per chunk read (fewer awaits than one per line). */
export async function* readNdjsonLineBatches(source: AsyncIterable<Uint8Array | string>, maxLineBytes: number, options?: SplitterOptions): AsyncGenerator<NdjsonLine[]> {
  const splitter = new NdjsonLineSplitter(maxLineBytes, options);
  for await (const chunk of source) {
    const out: NdjsonLine[] = [];
    splitter.push(chunk, out);
    if (out.length > 0) yield out;
  }
  const out: NdjsonLine[] = [];
  splitter.end(out);
  if (out.length > 0) yield out;
}

/** The lines of a stream, one at a time. */
export async function* readNdjsonLines(source: AsyncIterable<Uint8Array | string>, maxLineBytes: number, options?: SplitterOptions): AsyncGenerator<NdjsonLine> {
  for await (const batch of readNdjsonLineBatches(source, maxLineBytes, options)) yield* batch;
}

/** The lines of bytes already in memory (a shard's byte range). */
export function splitNdjsonLines(bytes: Uint8Array, maxLineBytes: number, options?: SplitterOptions): NdjsonLine[] {
  const splitter = new NdjsonLineSplitter(maxLineBytes, options);
  const out: NdjsonLine[] = [];
  splitter.push(bytes, out);
  splitter.end(out);
  return out;
}

function isBlank(text: string): boolean {
  // Fast path: nearly every line starts with "{" or '"'.
  const first = text.charCodeAt(0);
  if (first === 0x7b || first === 0x22) return false;
  return text.trim() === '';
}

function startsWithBom(bytes: Buffer): boolean {
  return bytes.length >= 3 && bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2];
}

function tooLong(line: number, max: number): InputError {
  return new InputError('LINE_TOO_LONG', `line ${line}: longer than ${max} bytes (MAX_LINE_BYTES); send longer texts split or raise the limit`, { line });
}
