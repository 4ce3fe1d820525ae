import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { fileKey, OBJECT_STORE, readNdjsonLines, readResultLines, ResultStore, type JobRecord, type ObjectStore, type ObjectWriter } from '#shared';
import { API_ENV, type ApiEnv } from '../../config/api-env.js';
import { FileCatalog, newFileId } from '../../storage/file-catalog.repository.js';
import { unixSeconds } from '../http-params.js';
import { parseBatchLine, type OpenAIEndpoint } from '../inference/openai-request.js';
import { requestError, responseBody, type ResultLine } from '../inference/openai-response.js';
import { OpenAIRecordsRepository, type BatchRecord, type BatchStatus } from '../openai-records.repository.js';

/** One replica finalizes a batch; the lock is renewed while it writes, and expires if that replica dies. */
const LOCK_MS = 60_000;
const RENEW_EVERY_LINES = 2000;
const FLUSH_BYTES = 256 * 1024;

const MISSING: Record<'completed' | 'cancelled' | 'expired', { code: string; message: string }> = {
  completed: { code: 'result_missing', message: 'no result was written for this request' },
  cancelled: { code: 'batch_cancelled', message: 'This request was not executed: the batch was cancelled.' },
  expired: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
};

/**
 * Turns a finished job into the batch's output and error files, in OpenAI's line format and input
 * order: the batch's input file and the job's results are read side by side (requests hold
 * consecutive items, results are in item order), one line and one shard in memory at a time.
 * Requests whose inputs all succeeded go to the output file, the others to the error file, with
 * the first failed input's error (or batch_cancelled / batch_expired for inputs never run). The
 * files are written to the object store (`files/<id>`), then the batch record is closed and its
 * pin on the input file released; until then the batch shows `finalizing` (or `cancelling`).
 */
@Injectable()
export class BatchFinalizerService {
  private readonly logger = new Logger(BatchFinalizerService.name);
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly results: ResultStore,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly catalog: FileCatalog,
    private readonly records: OpenAIRecordsRepository,
  ) {}

  /** Starts (or joins) the finalization of a batch whose job is finished; never rejects. */
  ensure(batch: BatchRecord, job: JobRecord): Promise<void> {
    let run = this.running.get(batch.id);
    if (!run) {
      run = this.finalize(batch, job)
        .catch((error: unknown) => {
          this.logger.error(`could not finalize ${batch.id} (retried on its next read): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        })
        .finally(() => this.running.delete(batch.id));
      this.running.set(batch.id, run);
    }
    return run;
  }

  private async finalize(batch: BatchRecord, job: JobRecord): Promise<void> {
    const lock = `finalize:${batch.id}`;
    const token = randomBytes(12).toString('hex');
    if (!(await this.records.tryLock(lock, token, LOCK_MS))) return; // another replica is on it
    const out: ObjectWriter[] = [];
    try {
      const fresh = await this.records.getBatch(batch.id, batch.tenant);
      if (!fresh || fresh.finalStatus !== null) return;
      const outcome: 'completed' | 'cancelled' | 'expired' = job.state === 'cancelled' ? (fresh.expiredAt !== null ? 'expired' : 'cancelled') : 'completed';
      const outputId = newFileId();
      const errorId = newFileId();
      const output = await this.objects.createWriter(fileKey(outputId));
      const errors = await this.objects.createWriter(fileKey(errorId));
      out.push(output, errors);
      const counts = await this.write(fresh, job, outcome, output, errors, () => this.records.renewLock(lock, token, LOCK_MS));

      const now = unixSeconds();
      const keep = async (file: ObjectWriter, id: string, count: number, name: string): Promise<string | null> => {
        if (count === 0) return null;
        const info = await file.commit();
        if (info === 'exists') throw new Error(`file ${id} already exists in the store`);
        const expiresAt = now + (fresh.outputExpiresAfter ?? this.env.RETENTION_SECONDS);
        await this.catalog.create({ id, tenant: fresh.tenant, bytes: info.size, createdAt: now, filename: `${fresh.id}_${name}.jsonl`, purpose: 'batch_output', expiresAt });
        return id;
      };
      const outputFileId = await keep(output, outputId, counts.completed, 'output');
      const errorFileId = await keep(errors, errorId, counts.failed, 'error');
      const finishedAt = job.finishedAt === null ? now : unixSeconds(job.finishedAt);
      const finalStatus: BatchStatus = outcome;
      await this.records.updateBatch(fresh.id, {
        finalStatus,
        outputFileId,
        errorFileId,
        completed: counts.completed,
        failed: counts.failed,
        inputTokens: job.usageTokens ?? 0,
        finalizingAt: outcome === 'completed' ? finishedAt : null,
        completedAt: outcome === 'completed' ? now : null,
        cancellingAt: outcome === 'cancelled' ? (fresh.cancellingAt ?? finishedAt) : fresh.cancellingAt,
        cancelledAt: outcome === 'cancelled' ? now : null,
        expiredAt: outcome === 'expired' ? now : null,
      });
      await this.records.expireBatchAt(fresh.id, now + this.env.RETENTION_SECONDS);
      await this.catalog.unpin(fresh.inputFileId, `batch:${fresh.id}`).catch(() => undefined);
      this.logger.log(`batch ${fresh.id} ${outcome}: ${counts.completed} requests succeeded, ${counts.failed} failed`);
    } finally {
      for (const file of out) await file.abort().catch(() => undefined);
      await this.records.unlock(lock, token).catch(() => undefined);
    }
  }

  private async write(
    batch: BatchRecord,
    job: JobRecord,
    outcome: 'completed' | 'cancelled' | 'expired',
    output: ObjectWriter,
    errors: ObjectWriter,
    renew: () => Promise<boolean>,
  ): Promise<{ completed: number; failed: number }> {
    const endpoint = batch.endpoint as OpenAIEndpoint;
    const outBuffer = new Chunked(output);
    const errBuffer = new Chunked(errors);
    const results = readResultLines(this.results, job);
    let next = await results.next();
    let itemIndex = 0;
    let completed = 0;
    let failed = 0;
    let requests = 0;
    try {
      const input = await this.objects.stream(fileKey(batch.inputFileId));
      if (input === null) throw new Error(`the input file ${batch.inputFileId} of ${batch.id} is gone from the store`);
      for await (const { line, text } of readNdjsonLines(input, this.env.MAX_LINE_BYTES)) {
        // Validated when the batch was created; a line that no longer parses means the file changed.
        const { customId, request } = parseBatchLine(text, line, endpoint);
        // Filled, not sparse: every() skips holes, and a hole is an input with no result.
        const lines: (ResultLine | undefined)[] = Array.from({ length: request.inputs.length }, () => undefined);
        for (let position = 0; position < request.inputs.length; position++) {
          const index = itemIndex + position;
          while (!next.done && next.value.index < index) next = await results.next();
          if (!next.done && next.value.index === index) {
            lines[position] = next.value;
            next = await results.next();
          }
        }
        itemIndex += request.inputs.length;
        const id = `batch_req_${randomBytes(12).toString('hex')}`;
        const ok = lines.every((l) => l !== undefined && !l.error);
        if (ok) {
          const body = responseBody(endpoint, job.modelId, lines as ResultLine[], request.encodingFormat);
          const requestId = `req_${randomBytes(12).toString('hex')}`;
          await outBuffer.push(`${JSON.stringify({ id, custom_id: customId, response: { status_code: 200, request_id: requestId, body }, error: null })}\n`);
          completed++;
        } else {
          const error = requestError(lines, request.inputs.length > 1, MISSING[outcome]);
          await errBuffer.push(`${JSON.stringify({ id, custom_id: customId, response: null, error })}\n`);
          failed++;
        }
        if (++requests % RENEW_EVERY_LINES === 0 && !(await renew())) throw new Error('lost the finalization lock (another replica took over)');
      }
    } finally {
      await results.return(undefined);
    }
    await outBuffer.end();
    await errBuffer.end();
    return { completed, failed };
  }
}

/** Writes in chunks of FLUSH_BYTES with backpressure. */
class Chunked {
  private pending: string[] = [];
  private bytes = 0;

  constructor(private readonly writer: ObjectWriter) {}

  async push(text: string): Promise<void> {
    this.pending.push(text);
    this.bytes += text.length;
    if (this.bytes >= FLUSH_BYTES) await this.flush();
  }

  async end(): Promise<void> {
    await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.bytes = 0;
    await this.writer.write(Buffer.from(chunk, 'utf8'));
  }
}
