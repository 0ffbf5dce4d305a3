import apiReference from '@scalar/fastify-api-reference';
import type { FastifyInstance } from 'fastify';
import { OPENAPI_PATH } from '../openapi.js';

export const DOCS_PATH = '/docs';

/**
 * The API reference page, rendered by Scalar. Its script ships inside the npm package and is
 * served from this process at /docs/js/scalar.js; the page loads nothing from any other host
 * (no CDN, no web fonts, no telemetry, no AI agent), because self-hosted installs often have no
 * internet access. The browser test asserts that no request leaves the origin.
 */
export async function registerApiReference(app: FastifyInstance): Promise<void> {
  await app.register(apiReference, {
    routePrefix: DOCS_PATH,
    logLevel: 'warn',
    configuration: {
      url: OPENAPI_PATH,
      pageTitle: 'Sonarly messaging API reference',
      withDefaultFonts: false,
      telemetry: false,
      hideClientButton: true,
      showDeveloperTools: 'never',
      agent: { disabled: true },
      mcp: { disabled: true },
      defaultOpenAllTags: true,
    } as Record<string, unknown>,
  });
}
