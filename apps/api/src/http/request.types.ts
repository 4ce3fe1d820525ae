import type { IncomingMessage, ServerResponse } from 'node:http';

/** The parts of Express's request the API uses (express ships no types here). */
export interface ApiRequest extends IncomingMessage {
  /** Set by express.json for application/json requests only. */
  body?: unknown;
  query: Record<string, unknown>;
  /** The URL as received, before any mount path was stripped (set by Express). */
  originalUrl?: string;
  /** The matched route; its path is the template (`/v1/jobs/:id`), safe as a metric label. */
  route?: { path: string };
  /**
   * The tenant the request acts for: set by AuthGuard (apps/api/src/auth) on every route not marked
   * @Public(), `default` while auth is off. Controllers take it with @Tenant().
   */
  tenant: string;
}

export type ApiResponse = ServerResponse;
