import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { JobStore, OpsStore, secondsUntilAdmitted, type AdmissionLimits, type AdmissionRefusal } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { ApiError } from '../http/api-error.js';
import { REDIS } from '../redis/redis.tokens.js';
import type { ApiKeyRegistry } from './api-keys.js';
import { API_KEYS } from './auth.tokens.js';

/** Seconds a client is asked to wait when it has too many jobs running: they finish in seconds to minutes. */
const RETRY_AFTER_TOO_MANY_JOBS = 5;

/**
 * Admission of new jobs, by work: the tenant's unfinished-job limit (TOO_MANY_JOBS) and the budgets
 * of texts not yet done, all tenants and per tenant (BACKLOG_FULL), both 429 with a Retry-After that
 * says when retrying succeeds. Checked before an upload is read (could a one-text job get in now?)
 * and atomically with the job's creation, for its real size (JobStore.create), so concurrent
 * submissions on any number of API replicas cannot overshoot. A job is never refused for its size
 * alone: one larger than a budget is admitted once that backlog is empty (libs/shared/src/jobs/lua/includes/checkBudgets.lua).
 */
@Injectable()
export class AdmissionService {
  private readonly ops: OpsStore;

  constructor(
    @Inject(API_KEYS) private readonly keys: ApiKeyRegistry,
    @Inject(API_ENV) private readonly env: ApiEnv,
    @Inject(REDIS) redis: Redis,
    private readonly jobs: JobStore,
  ) {
    this.ops = new OpsStore(redis, env.REDIS_PREFIX);
  }

  limitsOf(tenant: string): AdmissionLimits {
    const limits = this.keys.limitsOf(tenant);
    return { maxActiveJobs: limits.maxConcurrentJobs, maxQueuedTexts: this.env.ADMISSION_MAX_QUEUED_TEXTS, maxTenantQueuedTexts: limits.maxQueuedTexts };
  }

  /** Throws the 429 a new job of this tenant would get now; call before reading its body. */
  async precheck(tenant: string): Promise<void> {
    const verdict = await this.jobs.admissionCheck(tenant, this.limitsOf(tenant));
    if (verdict.verdict !== 'OK') throw await this.refusal(verdict, 1);
  }

  /** The 429 for a refusal of a job of `texts` texts. */
  async refusal(refused: AdmissionRefusal, texts: number): Promise<ApiError> {
    if (refused.verdict === 'TOO_MANY_JOBS') {
      return new ApiError(
        'TOO_MANY_JOBS',
        `this tenant already has ${refused.limit} unfinished jobs (the limit); wait for one to finish or cancel one`,
        429,
        {},
        { 'Retry-After': String(RETRY_AFTER_TOO_MANY_JOBS) },
      );
    }
    const { scope, queued, budget } = refused;
    const snapshot = await this.ops.snapshot().catch(() => null);
    const seconds = snapshot === null ? 60 : secondsUntilAdmitted(snapshot, queued, texts, budget, this.env.AUTOSCALE_DEFAULT_TOKENS_PER_SECOND);
    const what = scope === 'global' ? 'the queue holds' : "this tenant's unfinished jobs hold";
    const setting = scope === 'global' ? 'ADMISSION_MAX_QUEUED_TEXTS' : 'TENANT_MAX_QUEUED_TEXTS / max_queued_texts';
    return new ApiError(
      'BACKLOG_FULL',
      `${what} ${queued} texts not yet done and the budget is ${budget} (${setting}); a job of ${texts} texts fits once that backlog has drained, in about ${seconds} s at the workers' current rate: retry then`,
      429,
      {},
      { 'Retry-After': String(seconds) },
    );
  }
}
