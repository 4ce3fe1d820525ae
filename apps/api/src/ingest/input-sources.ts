import {
  inputItemLine,
  itemsOfLine,
  NdjsonLineSplitter,
  parseNdjsonItem,
  readNdjsonLineBatches,
  type InputFormat,
  type InputItem,
  type NdjsonLine,
  type ObjectStore,
  type ObjectWriter,
} from '#shared';
import type { IdOrigin, JobIngest, OriginStyle } from '../jobs/job-ingest.js';

/** The object a job's shards reference, as it was when the job was accepted. */
export interface StoredInput {
  key: string;
  version: string;
  format: InputFormat;
}

/**
 * Where a job's items come from. `feed` validates every item into the ingest and, for uploads,
 * writes the input object in the same pass; the job then references that object. Sources that read
 * an object already in the store (an uploaded file, a corpus named by path) write nothing.
 */
export interface InputSource {
  readonly style: OriginStyle;
  feed(ingest: JobIngest): Promise<StoredInput>;
  /** Drops what `feed` wrote, committed or not (the job was refused). Objects only referenced are left alone. */
  discard(): Promise<void>;
  /** Whether the input object is the job's own (deleted with the job) rather than a shared one. */
  readonly owned: boolean;
}

/** Chunks of this size go to the store when the API writes the input object itself (JSON bodies). */
const WRITE_CHUNK = 256 * 1024;

/** A streamed NDJSON body (POST /v1/jobs with application/x-ndjson): stored byte for byte as it is read. */
export class NdjsonBodySource implements InputSource {
  readonly style = 'line';
  readonly owned = true;
  private writer: ObjectWriter | undefined;

  constructor(
    private readonly objects: ObjectStore,
    private readonly key: string,
    private readonly body: AsyncIterable<Buffer>,
    private readonly maxLineBytes: number,
    /** Throws when the body ended early (the client went away). */
    private readonly assertComplete: () => void,
  ) {}

  async feed(ingest: JobIngest): Promise<StoredInput> {
    const writer = await this.objects.createWriter(this.key);
    this.writer = writer;
    const splitter = new NdjsonLineSplitter(this.maxLineBytes);
    const lines: NdjsonLine[] = [];
    const take = async () => {
      for (const line of lines) {
        const pending = ingest.add(parseNdjsonItem(line.text, line.line, ingest.count, ingest.input), line.line, line.start, line.end);
        if (pending) await pending;
      }
      lines.length = 0;
    };
    for await (const chunk of this.body) {
      // The write runs while the chunk is parsed; a bad line still aborts the object below.
      const written = writer.write(chunk);
      written.catch(() => undefined);
      splitter.push(chunk, lines);
      await take();
      await written;
    }
    splitter.end(lines);
    await take();
    this.assertComplete();
    return committed(this.key, await writer.commit(), 'ndjson');
  }

  async discard(): Promise<void> {
    await discardWritten(this.objects, this.key, this.writer);
  }
}

/**
 * Items that are in memory already (an application/json body, a synchronous /v1/embeddings request):
 * stored as canonical NDJSON lines (`inputItemLine`), ids filled in, so the job reads like any other.
 */
export class ItemsSource implements InputSource {
  readonly style: OriginStyle = 'index';
  readonly owned = true;
  private writer: ObjectWriter | undefined;

  constructor(
    private readonly objects: ObjectStore,
    private readonly key: string,
    private readonly count: number,
    /** Validates item i (InputError naming it when it is bad). */
    private readonly item: (index: number) => InputItem,
  ) {}

  async feed(ingest: JobIngest): Promise<StoredInput> {
    const writer = await this.objects.createWriter(this.key);
    this.writer = writer;
    let offset = 0;
    let chunk: string[] = [];
    let chunkBytes = 0;
    for (let index = 0; index < this.count; index++) {
      const item = this.item(index);
      const line = `${inputItemLine(item)}\n`;
      const bytes = Buffer.byteLength(line, 'utf8');
      const pending = ingest.add(item, index, offset, offset + bytes);
      if (pending) await pending;
      offset += bytes;
      chunk.push(line);
      chunkBytes += bytes;
      if (chunkBytes >= WRITE_CHUNK) {
        await writer.write(Buffer.from(chunk.join(''), 'utf8'));
        chunk = [];
        chunkBytes = 0;
      }
    }
    if (chunk.length > 0) await writer.write(Buffer.from(chunk.join(''), 'utf8'));
    return committed(this.key, await writer.commit(), 'ndjson');
  }

  async discard(): Promise<void> {
    await discardWritten(this.objects, this.key, this.writer);
  }
}

/**
 * An object already in the store: an uploaded file (an OpenAI batch input, or a corpus run by
 * reference) or a path a user put there. Read once to validate and plan; nothing is copied.
 * `parseLine` turns a line into its items (InputError naming the line when it is bad).
 */
export class StoredObjectSource implements InputSource {
  readonly style = 'line';
  readonly owned = false;

  constructor(
    private readonly objects: ObjectStore,
    private readonly input: StoredInput,
    private readonly maxLineBytes: number,
    private readonly parseLine: (line: NdjsonLine, index: number, out: InputItem[]) => void = (line, index, out) => itemsOfLine(input.format, line, index, out),
    /** Thrown when the object does not exist (it was deleted since it was named). */
    private readonly missing: () => Error = () => new Error(`object ${input.key} is gone`),
  ) {}

  async feed(ingest: JobIngest): Promise<StoredInput> {
    const stream = await this.objects.stream(this.input.key, undefined, { version: this.input.version });
    if (stream === null) throw this.missing();
    const items: InputItem[] = [];
    try {
      for await (const lines of readNdjsonLineBatches(stream, this.maxLineBytes)) {
        for (const line of lines) {
          this.parseLine(line, ingest.count, items);
          for (let position = 0; position < items.length; position++) {
            const pending = ingest.add(items[position] as InputItem, line.line, line.start, line.end, position);
            if (pending) await pending;
          }
          items.length = 0;
        }
      }
    } finally {
      stream.destroy();
    }
    return this.input;
  }

  async discard(): Promise<void> {}
}

/**
 * Every item's id and origin, read back from the stored input in order: what the duplicate-id check
 * replays when it must confirm a duplicate. Items validated once already, so no check fails here.
 */
export async function* rereadIds(objects: ObjectStore, input: StoredInput, style: OriginStyle): AsyncGenerator<IdOrigin> {
  const stream = await objects.stream(input.key, undefined, { version: input.version });
  if (stream === null) throw new Error(`object ${input.key} disappeared while its job was being accepted`);
  const items: InputItem[] = [];
  let index = 0;
  try {
    // The lines were checked against MAX_LINE_BYTES when they were read the first time.
    for await (const lines of readNdjsonLineBatches(stream, Number.MAX_SAFE_INTEGER)) {
      for (const line of lines) {
        itemsOfLine(input.format, line, index, items);
        for (let k = 0; k < items.length; k++) yield { id: (items[k] as InputItem).id, origin: style === 'line' ? line.line : index + k };
        index += items.length;
        items.length = 0;
      }
    }
  } finally {
    stream.destroy();
  }
}

function committed(key: string, info: Awaited<ReturnType<ObjectWriter['commit']>>, format: InputFormat): StoredInput {
  if (info === 'exists') throw new Error(`object ${key} already exists`);
  return { key, version: info.version, format };
}

async function discardWritten(objects: ObjectStore, key: string, writer: ObjectWriter | undefined): Promise<void> {
  if (writer === undefined) return;
  await writer.abort();
  // After a commit abort does nothing: remove the published object.
  await objects.delete(key);
}
