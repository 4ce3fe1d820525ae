import type { ApiResponse } from './request.types.js';

/** For handlers whose status depends on the outcome (Nest's reply would override a status set by hand). */
export function sendJson(res: ApiResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.end(payload);
}
