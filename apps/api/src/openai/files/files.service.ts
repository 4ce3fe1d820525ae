import { Inject, Injectable, Logger } from '@nestjs/common';
import busboy from 'busboy';
import { pipeline } from 'node:stream/promises';
import { fileKey, OBJECT_STORE, type ObjectStore, type ObjectWriter } from '#shared';
import { API_ENV, type ApiEnv } from '../../config/api-env.js';
import type { ApiRequest, ApiResponse } from '../../http/request.types.js';
import { FileCatalog, newFileId, type FileRecord } from '../../storage/file-catalog.repository.js';
import type { PageQuery } from '../../redis/sorted-set-page.js';
import { notFound, OpenAIError } from '../openai-error.js';
import { unixSeconds } from '../http-params.js';

/** OpenAI's file object. */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
  status_details: null;
  /** Unix seconds when the file is deleted (OpenAI's field; here every file has one, from RETENTION_SECONDS or `expires_after`). */
  expires_at: number | null;
}

export const toFileObject = (file: FileRecord): FileObject => ({
  id: file.id,
  object: 'file',
  bytes: file.bytes,
  created_at: file.createdAt,
  filename: file.filename,
  purpose: file.purpose,
  status: 'processed',
  status_details: null,
  expires_at: file.expiresAt ?? null,
});

const MAX_FILENAME = 255;
/** Purposes an upload may have: batch inputs, and corpora for POST /v1/jobs (input_file_id); batch_output is the server's own. */
const UPLOAD_PURPOSES = ['batch', 'user_data'] as const;

/**
 * The Files API: multipart uploads streamed straight into the object store (never held in memory),
 * records in Redis, contents streamed back. Uploads are checked for size and purpose here; their
 * lines are validated when a batch or a job is created from them, which then read these bytes
 * directly (no copy is made).
 */
@Injectable()
export class FilesService {
  private readonly logger = new Logger(FilesService.name);

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly catalog: FileCatalog,
  ) {}

  async upload(req: ApiRequest, tenant: string): Promise<FileRecord> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'multipart/form-data') {
      throw new OpenAIError(
        415,
        `Content-Type ${JSON.stringify(type ?? '')} is not accepted; upload files as multipart/form-data with fields "file" and "purpose"`,
        null,
        'unsupported_media_type',
      );
    }
    const id = newFileId();
    const upload = await this.receive(req, id);
    try {
      if (!upload.file) throw new OpenAIError(400, 'the multipart body has no "file" part', 'file', 'missing_file');
      if (upload.tooLarge) {
        throw new OpenAIError(413, `the file is larger than ${this.env.MAX_UPLOAD_BYTES} bytes (MAX_UPLOAD_BYTES)`, 'file', 'file_too_large');
      }
      const purpose = upload.fields.get('purpose');
      if (!UPLOAD_PURPOSES.includes(purpose as (typeof UPLOAD_PURPOSES)[number])) {
        const got = purpose === undefined ? 'no purpose was given' : `got ${JSON.stringify(purpose)}`;
        throw new OpenAIError(400, `"purpose" must be "batch" (a batch input) or "user_data" (a corpus for POST /v1/jobs); ${got}`, 'purpose', 'invalid_purpose');
      }
      const expiresAfter = parseExpiresAfter(upload.fields, this.env.RETENTION_SECONDS);
      const info = await upload.file.commit();
      if (info === 'exists') throw new Error(`file ${id} already exists in the store`);
      const createdAt = unixSeconds();
      const record: FileRecord = {
        id,
        tenant,
        bytes: info.size,
        createdAt,
        filename: upload.filename.slice(0, MAX_FILENAME) || 'upload.jsonl',
        purpose: purpose as FileRecord['purpose'],
        expiresAt: createdAt + expiresAfter,
      };
      try {
        await this.catalog.create(record);
      } catch (error) {
        await this.objects.delete(fileKey(id)).catch(() => undefined);
        throw error;
      }
      const bytes = info.size;
      this.logger.log(`file ${id} uploaded (${bytes} bytes)`);
      return record;
    } finally {
      // Does nothing once committed.
      await upload.file?.abort();
    }
  }

  async get(id: string, tenant: string): Promise<FileRecord> {
    const file = await this.catalog.get(id, tenant);
    if (!file) throw notFound('File object', id);
    return file;
  }

  async list(tenant: string, page: PageQuery, purpose?: string): Promise<{ items: FileRecord[]; hasMore: boolean }> {
    return this.catalog.list(tenant, page, purpose);
  }

  /** The record goes at once; the bytes too, or once no unfinished batch or job reads them (FileCatalog). */
  async delete(id: string, tenant: string): Promise<void> {
    await this.catalog.delete(await this.get(id, tenant));
  }

  async sendContent(id: string, tenant: string, res: ApiResponse): Promise<void> {
    const file = await this.get(id, tenant);
    const source = await this.objects.stream(fileKey(file.id));
    if (source === null) throw new OpenAIError(404, `the content of ${file.id} is gone from the file store`, 'id', 'not_found');
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(file.bytes));
    res.setHeader('Content-Disposition', `attachment; filename="${file.filename.replace(/[^\w.-]/g, '_')}"`);
    try {
      await pipeline(source, res);
    } catch (error) {
      if (!res.destroyed) throw error;
    }
  }

  /** Parses the multipart body, streaming the "file" part into an object writer; other parts are fields. */
  private async receive(req: ApiRequest, id: string): Promise<{ file: ObjectWriter | null; filename: string; tooLarge: boolean; fields: Map<string, string> }> {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: this.env.MAX_UPLOAD_BYTES, fields: 20, fieldSize: 64 * 1024, parts: 30 } });
    } catch (error) {
      throw new OpenAIError(400, `the multipart body cannot be read: ${(error as Error).message}`, null, 'invalid_multipart');
    }
    const fields = new Map<string, string>();
    let file: ObjectWriter | null = null;
    let seen = false;
    let filename = '';
    let tooLarge = false;
    const writes: Promise<void>[] = [];
    const parsed = new Promise<void>((resolve, reject) => {
      parser.on('file', (name, stream, info) => {
        if (name !== 'file' || seen) {
          stream.resume();
          return;
        }
        seen = true;
        filename = info.filename ?? '';
        stream.on('limit', () => {
          tooLarge = true;
        });
        const write = (async () => {
          const writer = await this.objects.createWriter(fileKey(id));
          file = writer;
          for await (const chunk of stream) await writer.write(chunk as Buffer);
        })();
        write.catch(() => stream.resume());
        writes.push(write);
      });
      parser.on('field', (name, value) => {
        if (!fields.has(name)) fields.set(name, value);
      });
      parser.on('close', () => resolve());
      parser.on('error', (error: Error) => reject(new OpenAIError(400, `the multipart body cannot be read: ${error.message}`, null, 'invalid_multipart')));
    });
    req.pipe(parser);
    try {
      await parsed;
      await Promise.all(writes);
    } catch (error) {
      req.unpipe(parser);
      // Read on (and drop) what is left, so the error answer reaches a client still sending.
      req.resume();
      const written = file as ObjectWriter | null;
      await written?.abort();
      if (req.destroyed || req.readableAborted) throw new OpenAIError(499, 'the client closed the connection before the upload ended', null, 'client_closed_request');
      throw error;
    }
    return { file, filename, tooLarge, fields };
  }
}

/**
 * OpenAI's `expires_after` of an upload (multipart fields `expires_after[anchor]` = `created_at` and
 * `expires_after[seconds]`), or the default retention. OpenAI accepts 3,600 to 2,592,000 seconds;
 * this server accepts any whole number of seconds from 1 (tests use short ones).
 */
export function parseExpiresAfter(fields: ReadonlyMap<string, string>, fallback: number): number {
  const anchor = fields.get('expires_after[anchor]');
  const seconds = fields.get('expires_after[seconds]');
  if (anchor === undefined && seconds === undefined) return fallback;
  if (anchor !== 'created_at') throw new OpenAIError(400, '"expires_after[anchor]" must be "created_at"', 'expires_after', 'invalid_expires_after');
  if (seconds === undefined || !/^\d{1,10}$/.test(seconds) || Number(seconds) < 1) {
    throw new OpenAIError(400, '"expires_after[seconds]" must be a whole number of seconds, at least 1', 'expires_after', 'invalid_expires_after');
  }
  return Number(seconds);
}
