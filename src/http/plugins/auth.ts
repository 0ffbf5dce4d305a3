import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AuthenticatedKey, authenticateKey } from '../../domain/apiKeys.js';
import { ApiError } from '../../domain/errors.js';
import type { Permission } from '../../domain/permissions.js';
import type { Services } from '../services.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission the route needs; 'any' admits every valid key. Routes without it are public. */
    permission?: Permission | 'any';
  }
  interface FastifyRequest {
    apiKey: AuthenticatedKey | null;
  }
}

const BEARER = /^Bearer +(\S+)\s*$/i;

function unauthorized(message: string) {
  return new ApiError(
    'UNAUTHORIZED',
    message,
    'Send the API key as `Authorization: Bearer sk_live_…`. Keys are created with `sonarly keys create`.',
  );
}

/**
 * Authentication and permission run on every protected route before its input is validated, so a
 * caller without a key learns nothing about the route. Account-group access is checked after
 * validation (`requireGroupAccess`), once the path id is known to be well formed.
 */
export function registerAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest('apiKey', null);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const permission = request.routeOptions.config.permission;
    if (!permission) return;
    const header = request.headers.authorization;
    if (!header) throw unauthorized('Missing API key.');
    const secret = BEARER.exec(header)?.[1];
    if (!secret) throw unauthorized('The Authorization header must be `Bearer <API key>`.');
    const key = await authenticateKey(services.db, secret);
    if (!key) throw unauthorized('Invalid or revoked API key.');
    request.apiKey = key;
    if (permission !== 'any' && !key.permissions.has(permission)) {
      throw new ApiError('FORBIDDEN', `This API key lacks the '${permission}' permission.`, `Create a key with --permissions ${permission}.`);
    }
  });
}

/**
 * Same answer whether the group exists or not, so a key cannot probe for other tenants' groups.
 */
export async function requireGroupAccess(request: FastifyRequest<{ Params: { accountGroupId: string } }>, _reply: FastifyReply): Promise<void> {
  if (!request.apiKey?.accountGroupIds.has(request.params.accountGroupId)) {
    throw new ApiError(
      'FORBIDDEN',
      'This API key has no access to that account group.',
      'GET /v1/accounts lists the account groups this key can access.',
    );
  }
}
