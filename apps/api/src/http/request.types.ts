import type { IncomingMessage, ServerResponse } from 'node:http';

/** The parts of Express's request the API uses (express ships no types here). */
export interface ApiRequest extends IncomingMessage {
  /** Set by express.json for application/json requests only. */
  body?: unknown;
  query: Record<string, unknown>;
  /** The matched route; its path is the template (`/v1/jobs/:id`), safe as a metric label. */
  route?: { path: string };
  /**
   * The tenant the request acts for: set by AuthMiddleware (apps/api/src/auth) on every request
   * outside PUBLIC_PATHS, `default` while auth is off. Read it through `tenantOf(req)`.
   */
  tenant: string;
}

export type ApiResponse = ServerResponse;
