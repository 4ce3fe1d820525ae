import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { API_ENV, type ApiEnv } from '../../config/api-env.js';

export interface TempFile {
  stream: WriteStream;
  commit(): Promise<number>;
  discard(): Promise<void>;
}

const FILE_ID = /^file-[A-Za-z0-9_-]{24}$/;
const BATCH_ID = /^batch_[A-Za-z0-9_-]{22}$/;

export const newFileId = (): string => `file-${randomBytes(18).toString('base64url')}`;
export const isFileId = (id: string): boolean => FILE_ID.test(id);
export const newBatchId = (): string => `batch_${randomBytes(16).toString('base64url')}`;
export const isBatchId = (id: string): boolean => BATCH_ID.test(id);

/**
 * File contents under RESULTS_DIR/files (the shared volume, so every API replica sees them):
 * `<file id>` for files, `<batch id>.input` for the copy of its input a batch keeps until it is
 * finalized (a hard link, so deleting the uploaded file cannot pull it from under the batch).
 * Everything is written to a dot-temp file first and renamed into place.
 */
@Injectable()
export class FileStore {
  readonly dir: string;

  constructor(@Inject(API_ENV) env: ApiEnv) {
    this.dir = join(resolve(env.RESULTS_DIR), 'files');
  }

  /** Ids are checked by the callers (isFileId / isBatchId) before they name a path. */
  path(fileId: string): string {
    if (!isFileId(fileId)) throw new Error(`invalid file id ${JSON.stringify(fileId)}`);
    return join(this.dir, fileId);
  }

  batchInputPath(batchId: string): string {
    if (!isBatchId(batchId)) throw new Error(`invalid batch id ${JSON.stringify(batchId)}`);
    return join(this.dir, `${batchId}.input`);
  }

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /**
   * A temp file to write into (call ensureDir first); `commit` renames it to the file's place and
   * returns its size, `discard` removes it.
   */
  create(fileId: string): TempFile {
    const target = this.path(fileId);
    const tempPath = join(this.dir, `.tmp-${fileId}-${randomBytes(4).toString('hex')}`);
    const stream = createWriteStream(tempPath);
    return {
      stream,
      async commit() {
        const { size } = await stat(tempPath);
        await rename(tempPath, target);
        return size;
      },
      async discard() {
        stream.destroy();
        await rm(tempPath, { force: true });
      },
    };
  }

  open(fileId: string): Readable {
    return createReadStream(this.path(fileId));
  }

  async remove(fileId: string): Promise<void> {
    await rm(this.path(fileId), { force: true });
  }

  /** The batch's own reference to its input; a copy where the volume has no hard links. */
  async pinBatchInput(fileId: string, batchId: string): Promise<string> {
    const target = this.batchInputPath(batchId);
    try {
      await link(this.path(fileId), target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
      await copyFile(this.path(fileId), target);
    }
    return target;
  }

  async unpinBatchInput(batchId: string): Promise<void> {
    await rm(this.batchInputPath(batchId), { force: true });
  }
}
