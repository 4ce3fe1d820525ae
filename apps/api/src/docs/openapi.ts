import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard.js';
import { EarlyRefusal } from '../http/early-refusal.js';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';

export const DOCS_PATH = 'docs';
export const OPENAPI_JSON_PATH = 'docs/openapi.json';

/**
 * The OpenAPI document, generated from the controllers and their @nestjs/swagger decorators
 * (every route is listed, decorated or not), served as JSON at /docs/openapi.json with Swagger UI
 * at /docs. Request bodies are described by the zod schemas that validate them (openApiSchemaOf),
 * responses by the *.schema.ts files next to their types. Call after NestFactory.create and before init.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('shardwise')
    .setDescription(
      'Distributed batch inference for transformer models: submit corpora as jobs, follow them, download embeddings or labels. ' +
        'The OpenAI-compatible routes (files, batches, embeddings) let the official `openai` clients work with their base URL set to this server; ' +
        'they answer errors in OpenAI\'s shape `{"error": {message, type, param, code}}`, the other routes as `{"error": {code, message, line?, field?}}`.',
    )
    .setVersion('1')
    .addTag('jobs', 'Submit, follow, list and cancel jobs')
    .addTag('results', "A job's results and errors")
    .addTag('models', 'Models this deployment serves')
    .addTag('usage', 'Texts and tokens billed, by day, tenant and model')
    .addTag('health', 'Liveness, readiness and Prometheus metrics')
    .addTag('OpenAI: files', 'OpenAI Files API (batch input, output and error files)')
    .addTag('OpenAI: batches', 'OpenAI Batch API over shardwise jobs')
    .addTag('OpenAI: embeddings and classifications', 'Synchronous OpenAI-style inference for small requests')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/**
 * Serves the docs as authenticated routes (they are open only while auth is off). Swagger's routes
 * are Express routes, outside Nest's guards, so AuthGuard is put in front of them here.
 */
export function setupApiDocs(app: NestExpressApplication): void {
  const guard = app.get(AuthGuard);
  app.use(`/${DOCS_PATH}`, (req: ApiRequest, res: ApiResponse, next: (error?: unknown) => void) => {
    guard.authenticate(req).then(
      () => next(),
      (error: unknown) => {
        if (!req.complete) req.resume();
        if (error instanceof EarlyRefusal) error.respond(res);
        else next(error);
      },
    );
  });
  // Built on first request, once: the routes are all known by then.
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup(DOCS_PATH, app, () => (document ??= buildOpenApiDocument(app)), {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 'shardwise API',
  });
}
