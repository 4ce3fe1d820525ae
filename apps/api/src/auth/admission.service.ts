import { Inject, Injectable } from '@nestjs/common';
import { JobStore, type AdmissionLimits, type AdmissionVerdict } from '../../../../libs/shared/src/index.js';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { ApiError } from '../http/api-error.js';
import type { ApiKeyRegistry } from './api-keys.js';
import { API_KEYS } from './auth.tokens.js';

/** Seconds a client is asked to wait: a tenant's jobs finish in seconds to minutes, a full backlog drains slower. */
const RETRY_AFTER_TOO_MANY_JOBS = 5;
const RETRY_AFTER_BACKLOG_FULL = 15;

/**
 * Admission of new jobs: the tenant's unfinished-job limit (TOO_MANY_JOBS) and the queue-wide budget
 * of shard bytes held in Redis (BACKLOG_FULL), both 429 with Retry-After. Checked before an upload
 * is read, while it is staged (each shard), and atomically when the job record is created
 * (JobStore.create), so concurrent submissions on any number of API replicas cannot overshoot.
 */
@Injectable()
export class AdmissionService {
  constructor(
    @Inject(API_KEYS) private readonly keys: ApiKeyRegistry,
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly jobs: JobStore,
  ) {}

  limitsOf(tenant: string): AdmissionLimits {
    return { maxActiveJobs: this.keys.limitsOf(tenant).maxConcurrentJobs, maxBacklogBytes: this.env.ADMISSION_MAX_BACKLOG_BYTES };
  }

  /** Throws the 429 a new job of this tenant would get now; call before reading its body. */
  async precheck(tenant: string): Promise<void> {
    const verdict = await this.jobs.admissionCheck(tenant, this.limitsOf(tenant));
    if (verdict !== 'OK') throw this.refusal(verdict, tenant);
  }

  refusal(verdict: Exclude<AdmissionVerdict, 'OK'>, tenant: string): ApiError {
    if (verdict === 'TOO_MANY_JOBS') {
      const max = this.limitsOf(tenant).maxActiveJobs;
      return new ApiError('TOO_MANY_JOBS', `this tenant already has ${max} unfinished jobs (the limit); wait for one to finish or cancel one`, 429, {}, { 'Retry-After': String(RETRY_AFTER_TOO_MANY_JOBS) });
    }
    return backlogFull(this.env.ADMISSION_MAX_BACKLOG_BYTES);
  }
}

export function backlogFull(budget: number): ApiError {
  return new ApiError(
    'BACKLOG_FULL',
    `the queue holds its budget of ${budget} bytes of waiting shards (ADMISSION_MAX_BACKLOG_BYTES); retry later, or send a smaller job`,
    429,
    {},
    { 'Retry-After': String(RETRY_AFTER_BACKLOG_FULL) },
  );
}
