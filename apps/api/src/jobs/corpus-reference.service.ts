import { Inject, Injectable } from '@nestjs/common';
import { assertObjectKey, fileKey, InputError, InvalidObjectKeyError, OBJECT_STORE, RESERVED_PREFIXES, type ObjectStore } from '#shared';
import type { StoredInput } from '../ingest/input-sources.js';
import { FileCatalog } from '../storage/file-catalog.repository.js';

/** A corpus already in the store that a job runs on by reference. */
export interface CorpusReference {
  input: StoredInput;
  /** The error when the object is gone by the time it is read. */
  missing(): Error;
  /** Keeps the bytes from being deleted while the job needs them (files); nothing for user paths. */
  pin(jobId: string): Promise<void>;
  unpin(jobId: string): Promise<void>;
}

/**
 * Resolves `input_file_id` (a file uploaded through POST /v1/files, of this tenant) or `input_object`
 * (a path inside the configured store that the operator's own tools put there, for example a corpus
 * copied into the bucket) to the object a job's shards will read. Either is read as NDJSON items,
 * the format of POST /v1/jobs bodies. Objects are never copied; a user's object that changes while
 * the job runs makes the shards that read it afterwards fail with that reason (its version is checked).
 */
@Injectable()
export class CorpusReferenceService {
  constructor(
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly files: FileCatalog,
  ) {}

  async resolve(named: { fileId?: unknown; objectPath?: unknown }, tenant: string): Promise<CorpusReference> {
    if (named.fileId !== undefined) return this.file(named.fileId, tenant);
    return this.object(named.objectPath);
  }

  private async file(fileId: unknown, tenant: string): Promise<CorpusReference> {
    if (typeof fileId !== 'string') throw new InputError('INVALID_INPUT', 'field "input_file_id" must be a file id from POST /v1/files', { field: 'input_file_id' });
    const notFound = () =>
      new InputError('INPUT_NOT_FOUND', `input_file_id ${JSON.stringify(fileId.slice(0, 64))} names no file of this tenant (see GET /v1/files)`, { field: 'input_file_id' });
    const file = await this.files.get(fileId, tenant);
    if (file === null) throw notFound();
    const info = await this.objects.stat(fileKey(file.id));
    if (info === null) throw notFound();
    return {
      input: { key: info.key, version: info.version, format: 'ndjson' },
      missing: notFound,
      pin: async (jobId) => {
        if ((await this.files.pin(file.id, tenant, `job:${jobId}`)) === null) throw notFound();
      },
      unpin: (jobId) => this.files.unpin(file.id, `job:${jobId}`),
    };
  }

  private async object(path: unknown): Promise<CorpusReference> {
    const field = { field: 'input_object' };
    if (typeof path !== 'string') throw new InputError('INVALID_INPUT', 'field "input_object" must be the path of an object in the store', field);
    try {
      assertObjectKey(path);
    } catch (error) {
      if (error instanceof InvalidObjectKeyError) throw new InputError('INVALID_INPUT', `field "input_object": ${error.message}`, field);
      throw error;
    }
    if (RESERVED_PREFIXES.some((prefix) => path.startsWith(prefix))) {
      throw new InputError(
        'INVALID_INPUT',
        `field "input_object": paths under ${RESERVED_PREFIXES.join(' and ')} belong to shardwise; name an uploaded file with "input_file_id" instead`,
        field,
      );
    }
    const notFound = () => new InputError('INPUT_NOT_FOUND', `input_object ${JSON.stringify(path)}: no such object in the store`, field);
    const info = await this.objects.stat(path);
    if (info === null) throw notFound();
    return { input: { key: info.key, version: info.version, format: 'ndjson' }, missing: notFound, pin: async () => {}, unpin: async () => {} };
  }
}
