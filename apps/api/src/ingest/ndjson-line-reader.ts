import { InputError } from '../../../../libs/shared/src/index.js';

/** One non-blank NDJSON line, decoded; `line` is the 1-based physical line number. */
export interface NdjsonLine {
  line: number;
  text: string;
}

const LF = 0x0a;
const CR = 0x0d;
const BOM = [0xef, 0xbb, 0xbf] as const;

/**
 * Splits a byte stream into lines without ever holding more than one line (at most
 * maxLineBytes + 1) plus the current chunk, so an upload of any size keeps memory flat.
 * Each line is decoded on its own with a fatal decoder: invalid UTF-8 is reported with its line,
 * and a multi-byte character split across chunks is fine because lines are joined as bytes first.
 */
export async function* readNdjsonLines(source: AsyncIterable<Uint8Array | string>, maxLineBytes: number): AsyncGenerator<NdjsonLine> {
  // ignoreBOM keeps a BOM in the output: only line 1 may start with one, and it is stripped as bytes below.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 1;

  const finish = (tail: Buffer): NdjsonLine | null => {
    let bytes = pending.length === 0 ? tail : Buffer.concat([...pending, tail], pendingBytes + tail.length);
    pending = [];
    pendingBytes = 0;
    const line = lineNo++;
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (line === 1 && startsWithBom(bytes)) bytes = bytes.subarray(BOM.length);
    if (bytes.length > maxLineBytes) throw tooLong(line, maxLineBytes);
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new InputError('INVALID_UTF8', `line ${line}: not valid UTF-8`, { line });
    }
    return text.trim() === '' ? null : { line, text };
  };

  for await (const raw of source) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(LF, start);
      if (newline < 0) break;
      const item = finish(chunk.subarray(start, newline));
      if (item) yield item;
      start = newline + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      pendingBytes += rest.length;
      // +1 leaves room for a CR of a CRLF ending (+3 for a BOM on line 1): anything more is over the limit
      // already, so it is refused now instead of after buffering the rest of a huge line.
      if (pendingBytes > maxLineBytes + 1 + (lineNo === 1 ? BOM.length : 0)) throw tooLong(lineNo, maxLineBytes);
      // Copy: a view would keep the whole chunk alive, and sources may reuse their buffers.
      pending.push(Buffer.from(rest));
    }
  }
  if (pendingBytes > 0) {
    const item = finish(Buffer.alloc(0));
    if (item) yield item;
  }
}

function startsWithBom(bytes: Buffer): boolean {
  return bytes.length >= 3 && bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2];
}

function tooLong(line: number, max: number): InputError {
  return new InputError('LINE_TOO_LONG', `line ${line}: longer than ${max} bytes (MAX_LINE_BYTES); send longer texts split or raise the limit`, { line });
}
