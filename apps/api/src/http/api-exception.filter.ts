import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { EarlyRefusal } from './early-refusal.js';
import { ErrorResponder } from './error-responder.js';
import type { ApiRequest, ApiResponse } from './request.types.js';

/** Global filter: every error leaves the API as `{"error": {...}}`. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly responder: ErrorResponder) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<ApiRequest>();
    // An upload refused halfway is read on and discarded, not cut off: fetch-style clients only see
    // the error response once their body is sent, and closing the socket would leave them an EPIPE.
    if (!req.complete) req.resume();
    const res = http.getResponse<ApiResponse>();
    if (exception instanceof EarlyRefusal) exception.respond(res);
    else this.responder.send(res, exception);
  }
}
