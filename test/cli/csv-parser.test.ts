import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorpusSource } from '../../apps/cli/src/corpus/corpus-source.js';
import { CsvSyntaxError, csvRecords, type CsvRecord } from '../../apps/cli/src/corpus/csv-parser.js';
import { CliError } from '../../apps/cli/src/exit-codes.js';
import { parseSse } from '../../apps/cli/src/sse.js';

async function* chunks(text: string, size: number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function parse(text: string, chunkSize = text.length || 1, delimiter = ','): Promise<CsvRecord[]> {
  const out: CsvRecord[] = [];
  for await (const record of csvRecords(chunks(text, chunkSize), delimiter)) out.push(record);
  return out;
}

const SAMPLE = 'id,text\r\n1,"hello, world"\r\n2,"she said ""hi"""\n3,"two\nlines"\n\n4,plain\r5,"crlf\r\ninside",extra\n6,""\n7,last';
const EXPECTED: CsvRecord[] = [
  { fields: ['id', 'text'], line: 1 },
  { fields: ['1', 'hello, world'], line: 2 },
  { fields: ['2', 'she said "hi"'], line: 3 },
  { fields: ['3', 'two\nlines'], line: 4 },
  { fields: ['4', 'plain'], line: 7 },
  { fields: ['5', 'crlf\r\ninside', 'extra'], line: 8 },
  { fields: ['6', ''], line: 10 },
  { fields: ['7', 'last'], line: 11 },
];

describe('CSV parser', () => {
  it('handles quotes, doubled quotes, delimiters and newlines in fields, CRLF/LF/CR, blank lines', async () => {
    expect(await parse(SAMPLE)).toEqual(EXPECTED);
  });

  it('gives the same records for every chunking (quotes and CRLF split across chunks)', async () => {
    for (const size of [1, 2, 3, 5, 7, 13]) expect(await parse(SAMPLE, size), `chunks of ${size}`).toEqual(EXPECTED);
  });

  it('keeps a lone quoted empty line as a record, supports other delimiters and is lenient with stray quotes', async () => {
    expect(await parse('a\n""\n')).toEqual([
      { fields: ['a'], line: 1 },
      { fields: [''], line: 2 },
    ]);
    expect(await parse('a\tb\n"x\ty"\tz\n', 4, '\t')).toEqual([
      { fields: ['a', 'b'], line: 1 },
      { fields: ['x\ty', 'z'], line: 2 },
    ]);
    // A stray quote is data; so is a field that goes on after its closing quote, quotes included
    // (csv-parse's relax_quotes; the hand-written parser dropped them there, as Python does: 'de').
    expect(await parse('ab"c,"d"e\n')).toEqual([{ fields: ['ab"c', '"d"e'], line: 1 }]);
  });

  it('counts a CR ending one field and an LF starting the next as two lines', async () => {
    expect(await parse('"a\r","\nb"\nc\n', 2)).toEqual([
      { fields: ['a\r', '\nb'], line: 1 },
      { fields: ['c'], line: 4 },
    ]);
  });

  it('refuses an unterminated quote, naming the line where the record starts', async () => {
    await expect(parse('a,b\n1,"never closed\nmore\n')).rejects.toThrow(CsvSyntaxError);
    await expect(parse('a,b\n1,"never closed\nmore\n')).rejects.toThrow(/line 2/);
    await expect(parse('a\n\r\n\n"never closed\n', 3)).rejects.toThrow(/^line 4: /);
  });
});

describe('corpus files to NDJSON', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-cli-corpus-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function body(name: string, content: string, options: Partial<ConstructorParameters<typeof CorpusSource>[1]> = {}): Promise<string[]> {
    const path = join(dir, name);
    await writeFile(path, content);
    const format = name.endsWith('.csv') ? 'csv' : name.endsWith('.txt') ? 'txt' : 'jsonl';
    const source = new CorpusSource(path, { format, ...options });
    let text = '';
    for await (const chunk of source.chunks()) text += chunk.toString('utf8');
    return text.split('\n').slice(0, -1);
  }

  it('.txt: ids are line numbers, blank lines stay blank so line numbers match the file', async () => {
    expect(await body('a.txt', '\uFEFFfirst\r\n\nthird "quoted"\n   \nfifth')).toEqual([
      '{"id":"1","text":"first"}',
      '',
      '{"id":"3","text":"third \\"quoted\\""}',
      '',
      '{"id":"5","text":"fifth"}',
    ]);
  });

  it('.csv: each item on the line where its record starts', async () => {
    const lines = await body('a.csv', 'text,id\n"multi\nline, text",x1\nsecond,x2\n', { idColumn: 'id' });
    expect(lines).toEqual(['', '{"id":"x1","text":"multi\\nline, text"}', '', '{"id":"x2","text":"second"}']);
    const byRow = await body('b.csv', 'Body\nalpha\nbeta\n');
    expect(byRow).toEqual(['', '{"id":"1","text":"alpha"}', '{"id":"2","text":"beta"}']);
  });

  it('.csv: a missing column is a usage error; a short record or bad quoting is refused input', async () => {
    await expect(body('c.csv', 'a,b\n1,2\n')).rejects.toMatchObject({ exitCode: 1 });
    await expect(body('d.csv', 'id,text\n1\n', { idColumn: 'id' })).rejects.toMatchObject({ exitCode: 2, details: { line: 2 } });
    await expect(body('e.csv', 'text\n"open\n')).rejects.toBeInstanceOf(CliError);
  });

  it('refuses a .csv file that is not UTF-8', async () => {
    const path = join(dir, 'latin1.csv');
    await writeFile(path, Buffer.concat([Buffer.from('text\nok\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])]));
    const source = new CorpusSource(path, { format: 'csv' });
    await expect(
      (async () => {
        for await (const _ of source.chunks()) void _;
      })(),
    ).rejects.toMatchObject({ exitCode: 2, details: { code: 'INVALID_UTF8' } });
  });

  it('refuses text that is not UTF-8', async () => {
    const path = join(dir, 'latin1.txt');
    await writeFile(path, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const source = new CorpusSource(path, { format: 'txt' });
    await expect(
      (async () => {
        for await (const _ of source.chunks()) void _;
      })(),
    ).rejects.toMatchObject({ exitCode: 2 });
  });
});

describe('server-sent events parser', () => {
  it('parses events, skips comments, handles CRLF and chunk boundaries', async () => {
    const text = ': hello\r\nretry: 3000\r\n\r\nevent: job\ndata: {"a":1}\n\n: heartbeat\n\nevent: progress\r\ndata: {"a":\r\ndata: 2}\r\n\r\n';
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 3) controller.enqueue(bytes.subarray(i, i + 3));
        controller.close();
      },
    });
    const events = [];
    for await (const event of parseSse(stream)) events.push(event);
    expect(events).toEqual([
      { event: 'job', data: '{"a":1}' },
      { event: 'progress', data: '{"a":\n2}' },
    ]);
  });

  it('cancels the body when the reader stops early (the connection closes)', async () => {
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('event: completed\ndata: {}\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const event of parseSse(stream)) {
      expect(event).toEqual({ event: 'completed', data: '{}' });
      break;
    }
    expect(cancelled).toBe(true);
  });
});
