import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { InputError } from '#shared';
import { EarlyRefusal } from '../http/early-refusal.js';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';
import { sendJson } from '../http/send-json.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { toOpenAIError } from './openai-error.js';

/** Controller-scoped filter of the OpenAI-compatible routes: `{"error": {message, type, param, code}}`. */
@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  constructor(private readonly metrics: MetricsService) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<ApiRequest>();
    const res = http.getResponse<ApiResponse>();
    // As the global filter does: an upload refused halfway is read on, so the client sees the answer.
    if (!req.complete) req.resume();
    if (exception instanceof EarlyRefusal) {
      exception.respond(res);
      return;
    }
    if (exception instanceof InputError) this.metrics.jobsRejected.inc({ code: exception.code });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (res.destroyed) return;
    const { status, body, headers } = toOpenAIError(exception);
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    sendJson(res, status, body);
  }
}
