import { HttpException, Injectable, Logger } from '@nestjs/common';
import { InputError } from '#shared';
import { MetricsService } from '../metrics/metrics.service.js';
import { ApiError, redisUnavailableOr } from './api-error.js';
import type { ApiResponse } from './request.types.js';

export interface ErrorBody {
  error: { code: string; message: string; line?: number; field?: string };
}

const HTTP_CODES: Record<number, string> = { 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 400: 'BAD_REQUEST', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

/**
 * Turns any error into the API's error shape. Shared by the global exception filter and the
 * Express error handler of the JSON body parser, which runs outside Nest's pipeline.
 */
@Injectable()
export class ErrorResponder {
  private readonly logger = new Logger('HttpErrors');

  constructor(private readonly metrics: MetricsService) {}

  private toBody(error: unknown): { status: number; body: ErrorBody } {
    if (error instanceof InputError) {
      // Every InputError is a refused job submission.
      this.metrics.jobsRejected.inc({ code: error.code });
      return { status: error.status, body: { error: { code: error.code, message: error.message, ...error.where } } };
    }
    if (error instanceof ApiError) {
      return { status: error.status, body: { error: { code: error.code, message: error.message, ...error.where } } };
    }
    if (error instanceof HttpException) {
      const status = error.getStatus();
      if (status < 500) return { status, body: { error: { code: HTTP_CODES[status] ?? `HTTP_${status}`, message: error.message } } };
    }
    // Unknown errors keep their detail in the log only; never a text from the corpus is in it.
    this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
  }

  send(res: ApiResponse, thrown: unknown): void {
    const error = redisUnavailableOr(thrown);
    const { status, body } = this.toBody(error);
    if (res.headersSent) {
      // A streamed response already started: the only honest signal left is a cut connection.
      res.destroy();
      return;
    }
    if (res.destroyed) return;
    const payload = JSON.stringify(body);
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(payload));
    res.removeHeader('Location');
    if (error instanceof ApiError) for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
    res.end(payload);
  }
}
