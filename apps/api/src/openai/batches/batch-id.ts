import { randomBytes } from 'node:crypto';

const BATCH_ID = /^batch_[A-Za-z0-9_-]{22}$/;

export const newBatchId = (): string => `batch_${randomBytes(16).toString('base64url')}`;
export const isBatchId = (id: string): boolean => BATCH_ID.test(id);
