import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/**
 * CORS is off unless origins are configured: the API is meant for servers (keys must not live in
 * browsers), so by default no response carries any Access-Control-* header and browsers refuse
 * cross-origin reads. Operators who front it with their own browser app list its origins.
 */
export async function registerCors(app: FastifyInstance, origins: string[]): Promise<void> {
  if (origins.length === 0) return;
  await app.register(cors, {
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Accept', 'Idempotency-Key'],
    exposedHeaders: ['RateLimit', 'RateLimit-Policy', 'Retry-After', 'X-Trace-Id'],
    maxAge: 600,
    // The preflight is answered before authentication and rate limiting, like any CORS preflight.
    hook: 'onRequest',
  });
}
