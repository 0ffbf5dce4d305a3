import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { WebhookSignatureError } from '../../../connectors/types.js';
import { ApiError } from '../../../domain/errors.js';
import { receiveWebhook } from '../../../sync/webhooks.js';
import { success } from '../../envelope.js';
import type { Services } from '../../services.js';

const Params = Type.Object({
  connector: Type.String({ maxLength: 32 }),
  accountId: Type.String({ maxLength: 64 }),
});

/**
 * `POST /v1/webhooks/{connector}/{accountId}`: where LinkedIn's vendor (Unipile) or the sandbox
 * pushes new messages and account status changes for one connected account. It is called by the
 * provider, not by API clients, so it takes no API key: the connector verifies the request's
 * signature (or shared secret) over the raw body. The events are queued durably and the answer is
 * immediate; the worker stores them. Any failed verification, including an unknown account, is
 * the same 401. Hidden from the OpenAPI document (it is not part of Sonarly's API); see
 * docs/connectors.md.
 */
export function registerReceiveWebhook(app: FastifyInstance, services: Services): void {
  void app.register(async (scope) => {
    // Signatures are computed over the exact bytes sent: keep the body raw, whatever its type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    scope.post<{ Params: { connector: string; accountId: string } }>(
      '/v1/webhooks/:connector/:accountId',
      { schema: { hide: true, params: Params } },
      async (request, reply) => {
        if (!services.connectors) throw new ApiError('SERVICE_UNAVAILABLE', 'Webhooks are not enabled on this server.');
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        try {
          const { accepted } = await receiveWebhook(
            { db: services.db, clock: services.clock, connectors: services.connectors },
            request.params.connector,
            request.params.accountId,
            { headers: request.headers, body },
          );
          return reply.code(200).send(success(request.id, { accepted }));
        } catch (error) {
          if (error instanceof WebhookSignatureError) {
            throw new ApiError('UNAUTHORIZED', 'The webhook signature is missing or does not match.', 'Configure the webhook with the secret shown by `sonarly accounts connect`.');
          }
          throw error;
        }
      },
    );
  });
}
