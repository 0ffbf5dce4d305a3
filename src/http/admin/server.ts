import Fastify, { type FastifyServerOptions } from 'fastify';
import { randomId } from '../../ids.js';
import { errorPayload } from '../envelope.js';
import { registerErrorHandling } from '../plugins/errors.js';
import type { Services } from '../services.js';
import { registerAdminRoutes } from './routes.js';

export interface AdminServer {
  /** `http://127.0.0.1:PORT`, published in the data directory's owner.json. */
  url: string;
  /** Asks running imports to stop after their current batch, then closes the listener. */
  close(): Promise<void>;
}

/**
 * The listener for CLI admin commands of `sonarly serve` on an embedded database. It is separate
 * from the API's: on loopback only whatever host the API binds, and free of the API's policies
 * for the internet (its 30 s request timeout would cut an import's upload, which streams for as
 * long as the file takes; rate limits; CORS). Every request needs the admin token.
 */
export async function startAdminServer(services: Services, options: { adminToken: string; logger?: FastifyServerOptions['logger'] }): Promise<AdminServer> {
  const app = Fastify({
    logger: options.logger ?? false,
    genReqId: () => randomId(),
    requestTimeout: 0,
    bodyLimit: 1024 * 1024,
    // By the time the listener closes, every request has had its answer (see close() below); an
    // upload the import stopped reading must not keep the process open.
    forceCloseConnections: true,
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Trace-Id', request.id);
  });
  // Requests without their answer yet; close() waits for them.
  const unanswered = new Set<object>();
  let allAnswered: (() => void) | null = null;
  const answered = async (request: object) => {
    unanswered.delete(request);
    if (unanswered.size === 0) allAnswered?.();
  };
  app.addHook('onRequest', async (request) => void unanswered.add(request));
  app.addHook('onResponse', answered);
  app.addHook('onRequestAbort', answered);
  registerErrorHandling(app);
  const stopping = new AbortController();
  registerAdminRoutes(app, services, options.adminToken, stopping.signal);
  app.setNotFoundHandler((request, reply) => reply.code(404).send(errorPayload(request.id, 'NOT_FOUND', `No admin route ${request.method} ${request.url.split('?')[0]}.`)));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      // Imports stop after their current batch and send their summary; then the listener closes.
      stopping.abort();
      if (unanswered.size > 0) await new Promise<void>((resolve) => (allAnswered = resolve));
      await app.close();
    },
  };
}
