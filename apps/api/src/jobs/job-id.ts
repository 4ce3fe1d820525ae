import { randomBytes } from 'node:crypto';

/** 128 random bits: ids are unguessable, since knowing one is enough to read a job's results. */
export function newJobId(): string {
  return `job_${randomBytes(16).toString('base64url')}`;
}

const JOB_ID = /^job_[A-Za-z0-9_-]{22}$/;

/** Checked before any Redis or filesystem access with an id from a URL. */
export function isJobId(value: string): boolean {
  return JOB_ID.test(value);
}
