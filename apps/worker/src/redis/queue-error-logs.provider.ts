import { Logger, type Provider } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { logConnectionErrors, QueueName, WEBHOOK_QUEUE } from '#shared';

const QUEUE_ERROR_LOGS = Symbol('QUEUE_ERROR_LOGS');

/** A registered queue reports every reconnect attempt as an 'error'; unlistened, BullMQ prints each one. */
export const queueErrorLogsProvider: Provider = {
  provide: QUEUE_ERROR_LOGS,
  inject: [getQueueToken(QueueName.Shards), getQueueToken(WEBHOOK_QUEUE)],
  useFactory: (...queues: Queue[]): true => {
    const logger = new Logger('BullMQ');
    for (const queue of queues) logConnectionErrors(queue, `${queue.name} queue`, (line) => logger.warn(line));
    return true;
  },
};
