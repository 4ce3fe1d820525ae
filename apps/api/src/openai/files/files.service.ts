import { Inject, Injectable, Logger } from '@nestjs/common';
import busboy from 'busboy';
import { pipeline } from 'node:stream/promises';
import { API_ENV, type ApiEnv } from '../../config/api-env.js';
import type { ApiRequest, ApiResponse } from '../../http/request.types.js';
import { notFound, OpenAIError } from '../openai-error.js';
import { OpenAIRecordsRepository, type FileRecord, type PageQuery } from '../openai-records.repository.js';
import { unixSeconds } from '../http-params.js';
import { FileStore, isFileId, newFileId, type TempFile } from './file-store.js';

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
  expires_at: null;
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
  expires_at: null,
});

const MAX_FILENAME = 255;

/**
 * The Files API: multipart uploads streamed straight to the result volume (never held in memory),
 * records in Redis, contents streamed back. Uploads are checked for size and purpose here; their
 * lines are validated when a batch is created from them.
 */
@Injectable()
export class FilesService {
  private readonly logger = new Logger(FilesService.name);

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly store: FileStore,
    private readonly records: OpenAIRecordsRepository,
  ) {}

  async upload(req: ApiRequest, tenant: string): Promise<FileRecord> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'multipart/form-data') {
      throw new OpenAIError(415, `Content-Type ${JSON.stringify(type ?? '')} is not accepted; upload files as multipart/form-data with fields "file" and "purpose"`, null, 'unsupported_media_type');
    }
    await this.store.ensureDir();
    const id = newFileId();
    const upload = await this.receive(req, id);
    try {
      if (!upload.file) throw new OpenAIError(400, 'the multipart body has no "file" part', 'file', 'missing_file');
      if (upload.tooLarge) {
        throw new OpenAIError(413, `the file is larger than ${this.env.MAX_UPLOAD_BYTES} bytes (MAX_UPLOAD_BYTES)`, 'file', 'file_too_large');
      }
      const purpose = upload.fields.get('purpose');
      if (purpose !== 'batch') {
        const got = purpose === undefined ? 'no purpose was given' : `got ${JSON.stringify(purpose)}`;
        throw new OpenAIError(400, `"purpose" must be "batch" (the only purpose this server supports); ${got}`, 'purpose', 'invalid_purpose');
      }
      const bytes = await upload.file.commit();
      const record: FileRecord = { id, tenant, bytes, createdAt: unixSeconds(), filename: upload.filename.slice(0, MAX_FILENAME) || 'upload.jsonl', purpose: 'batch' };
      try {
        await this.records.createFile(record);
      } catch (error) {
        await this.store.remove(id).catch(() => undefined);
        throw error;
      }
      this.logger.log(`file ${id} uploaded (${bytes} bytes)`);
      return record;
    } finally {
      await upload.file?.discard();
    }
  }

  async get(id: string, tenant: string): Promise<FileRecord> {
    const file = isFileId(id) ? await this.records.getFile(id, tenant) : null;
    if (!file) throw notFound('File object', id);
    return file;
  }

  async list(tenant: string, page: PageQuery, purpose?: string): Promise<{ items: FileRecord[]; hasMore: boolean }> {
    return this.records.listFiles(tenant, page, purpose);
  }

  /** The record goes first: a file whose record is gone can no longer be reached, even if its bytes linger. */
  async delete(id: string, tenant: string): Promise<void> {
    const file = await this.get(id, tenant);
    await this.records.deleteFile(file);
    await this.store.remove(file.id);
  }

  async sendContent(id: string, tenant: string, res: ApiResponse): Promise<void> {
    const file = await this.get(id, tenant);
    const source = this.store.open(file.id);
    // Opening is lazy: wait for the open so a missing file is still a clean 404, not a cut response.
    await new Promise<void>((resolve, reject) => {
      source.once('open', () => resolve());
      source.once('error', reject);
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw new OpenAIError(404, `the content of ${file.id} is gone from the file store`, 'id', 'not_found');
      throw error;
    });
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

  /** Parses the multipart body, streaming the "file" part to a temp file; other parts are fields. */
  private async receive(req: ApiRequest, id: string): Promise<{ file: TempFile | null; filename: string; tooLarge: boolean; fields: Map<string, string> }> {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: this.env.MAX_UPLOAD_BYTES, fields: 20, fieldSize: 64 * 1024, parts: 30 } });
    } catch (error) {
      throw new OpenAIError(400, `the multipart body cannot be read: ${(error as Error).message}`, null, 'invalid_multipart');
    }
    const fields = new Map<string, string>();
    let file: TempFile | null = null;
    let filename = '';
    let tooLarge = false;
    const writes: Promise<void>[] = [];
    const parsed = new Promise<void>((resolve, reject) => {
      parser.on('file', (name, stream, info) => {
        if (name !== 'file' || file !== null) {
          stream.resume();
          return;
        }
        file = this.store.create(id);
        filename = info.filename ?? '';
        stream.on('limit', () => {
          tooLarge = true;
        });
        const write = pipeline(stream, file.stream);
        write.catch(() => undefined);
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
      const written = file as TempFile | null;
      await written?.discard();
      if (req.destroyed || req.readableAborted) throw new OpenAIError(499, 'the client closed the connection before the upload ended', null, 'client_closed_request');
      throw error;
    }
    return { file, filename, tooLarge, fields };
  }
}
