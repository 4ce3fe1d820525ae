import { describe, expect, it } from 'vitest';
import { InputError, readNdjsonLines, splitNdjsonLines } from '#shared';

async function* chunksOf(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

/** Line numbers and texts (byte offsets are checked on their own below). */
async function collect(source: AsyncIterable<Uint8Array>, max = 1024): Promise<Array<{ line: number; text: string }>> {
  const out: Array<{ line: number; text: string }> = [];
  for await (const { line, text } of readNdjsonLines(source, max)) out.push({ line, text });
  return out;
}

async function failure(source: AsyncIterable<Uint8Array>, max = 1024): Promise<InputError> {
  try {
    await collect(source, max);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected the reader to fail');
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Every way of cutting `data` into two chunks. */
function* splits(data: Uint8Array): Generator<[Uint8Array, Uint8Array]> {
  for (let at = 0; at <= data.length; at++) yield [data.subarray(0, at), data.subarray(at)];
}

describe('readNdjsonLines', () => {
  it('yields lines with 1-based physical numbers and skips blank ones', async () => {
    const lines = await collect(chunksOf(bytes('{"text":"a"}\n\n   \n"b"\n\t\n{"text":"c"}\n')));
    expect(lines).toEqual([
      { line: 1, text: '{"text":"a"}' },
      { line: 4, text: '"b"' },
      { line: 6, text: '{"text":"c"}' },
    ]);
  });

  it('keeps a final line without newline', async () => {
    expect(await collect(chunksOf(bytes('"a"\n"b"')))).toEqual([
      { line: 1, text: '"a"' },
      { line: 2, text: '"b"' },
    ]);
  });

  it('strips CR of CRLF endings, also when CR and LF arrive in different chunks', async () => {
    expect(await collect(chunksOf(bytes('"a"\r\n"b"\r'), bytes('\n"c"\r\n')))).toEqual([
      { line: 1, text: '"a"' },
      { line: 2, text: '"b"' },
      { line: 3, text: '"c"' },
    ]);
  });

  it('strips a UTF-8 BOM on the first line only', async () => {
    const lines = await collect(chunksOf(bytes('\uFEFF"a"\n\uFEFF"b"\n')));
    expect(lines[0]).toEqual({ line: 1, text: '"a"' });
    // A BOM further down is content (and then invalid JSON, reported by the caller with its line).
    expect(lines[1]).toEqual({ line: 2, text: '\uFEFF"b"' });
  });

  it('strips a BOM split across chunks', async () => {
    const data = bytes('\uFEFF"a"\n');
    for (const [a, b] of splits(data)) {
      expect(await collect(chunksOf(a, b))).toEqual([{ line: 1, text: '"a"' }]);
    }
  });

  it('decodes multi-byte characters split at every byte position', async () => {
    // 2-, 3- and 4-byte sequences, across a line break and at the end without newline.
    const text = '{"text":"é€😀"}\n"ñ😀"';
    const data = bytes(text);
    for (const [a, b] of splits(data)) {
      expect(await collect(chunksOf(a, b))).toEqual([
        { line: 1, text: '{"text":"é€😀"}' },
        { line: 2, text: '"ñ😀"' },
      ]);
    }
  });

  it('decodes a body delivered one byte at a time', async () => {
    const data = bytes('\uFEFF"😀"\r\n\r\n"€"');
    const oneByOne = Array.from(data, (_, i) => data.subarray(i, i + 1));
    expect(await collect(chunksOf(...oneByOne))).toEqual([
      { line: 1, text: '"😀"' },
      { line: 3, text: '"€"' },
    ]);
  });

  it('reports invalid UTF-8 with its line', async () => {
    const error = await failure(chunksOf(bytes('"ok"\n\n'), Uint8Array.from([0x22, 0xff, 0x22, 0x0a])));
    expect(error.code).toBe('INVALID_UTF8');
    expect(error.where.line).toBe(3);
    expect(error.message).toMatch(/^line 3: /);
  });

  it('reports a truncated multi-byte sequence at the end of a line', async () => {
    const euro = bytes('€');
    const error = await failure(chunksOf(bytes('"a"\n"'), euro.subarray(0, 2), bytes('"\n')));
    expect(error.code).toBe('INVALID_UTF8');
    expect(error.where.line).toBe(2);
  });

  it('accepts a line of exactly the limit, with or without CRLF', async () => {
    const line = `"${'x'.repeat(62)}"`; // 64 bytes
    expect(await collect(chunksOf(bytes(`${line}\n`)), 64)).toHaveLength(1);
    expect(await collect(chunksOf(bytes(`${line}\r\n`)), 64)).toHaveLength(1);
    expect(await collect(chunksOf(bytes(line)), 64)).toHaveLength(1);
  });

  it('rejects a line over the limit with its line number', async () => {
    const error = await failure(chunksOf(bytes(`"a"\n"${'x'.repeat(63)}"\n"b"\n`)), 64);
    expect(error.code).toBe('LINE_TOO_LONG');
    expect(error.status).toBe(413);
    expect(error.where.line).toBe(2);
  });

  it('rejects an over-long line as soon as it passes the limit, without reading the rest', async () => {
    let chunksRead = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      yield bytes('"short"\n');
      for (;;) {
        chunksRead++;
        yield bytes('x'.repeat(16));
      }
    }
    const error = await failure(endless(), 64);
    expect(error.code).toBe('LINE_TOO_LONG');
    expect(error.where.line).toBe(2);
    expect(chunksRead).toBeLessThanOrEqual(5);
  });

  it('rejects an over-long final line without newline', async () => {
    const error = await failure(chunksOf(bytes('x'.repeat(65))), 64);
    expect(error.code).toBe('LINE_TOO_LONG');
    expect(error.where.line).toBe(1);
  });

  it('yields nothing for an empty or blank body', async () => {
    expect(await collect(chunksOf())).toEqual([]);
    expect(await collect(chunksOf(bytes('\n \r\n\n')))).toEqual([]);
  });

  it('gives each line its byte range, terminator included, whatever the chunking', async () => {
    const body = bytes('\uFEFF"a"\r\n\n{"text":"é"}\n"c"');
    const expected = [
      { line: 1, text: '"a"', start: 0, end: 8 },
      { line: 3, text: '{"text":"é"}', start: 9, end: 23 },
      { line: 4, text: '"c"', start: 23, end: 26 },
    ];
    for (const [a, b] of splits(body)) {
      const lines = [];
      for await (const line of readNdjsonLines(chunksOf(a, b), 1024)) lines.push(line);
      expect(lines).toEqual(expected);
    }
    // The ranges cut the body into the same lines again.
    expect(
      expected.map(({ start, end }) =>
        Buffer.from(body.subarray(start, end))
          .toString('utf8')
          .replace(/^\uFEFF/, '')
          .trim(),
      ),
    ).toEqual(['"a"', '{"text":"é"}', '"c"']);
  });

  it('reads a byte range of an object like the stream it came from: offsets shifted, a BOM only at byte 0', () => {
    const body = bytes('"x"\n\uFEFF"y"\n"z"\n');
    const whole = splitNdjsonLines(body, 1024);
    expect(whole.map((l) => l.text)).toEqual(['"x"', '\uFEFF"y"', '"z"']);
    const range = splitNdjsonLines(body.subarray(4), 1024, { offset: 4 });
    expect(range.map((l) => [l.text, l.start, l.end])).toEqual([
      ['\uFEFF"y"', 4, 11],
      ['"z"', 11, 15],
    ]);
  });
});
