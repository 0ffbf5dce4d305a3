import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { WebhookSignatureError } from '../../../connectors/types.js';
import { ApiError } from '../../../domain/errors.js';
import { receiveWebhook } from '../../../sync/webhooks.js';
import { SANDBOX_SIGNATURE_HEADER } from '../../../connectors/sandbox/webhooks.js';
import { UNIPILE_SECRET_HEADER } from '../../../connectors/unipile/webhooks.js';
import { errorResponses, ref, success, successEnvelope } from '../../envelope.js';
import type { Services } from '../../services.js';

const Params = Type.Object({
  connector: Type.String({ maxLength: 32, description: 'The connector that registered this webhook: `unipile` or `sandbox`.', examples: ['unipile'] }),
  accountId: Type.String({ maxLength: 64, description: 'The connected account the webhook was registered for (shown by `sonarly accounts connect`).' }),
});

const Headers = Type.Object({
  [UNIPILE_SECRET_HEADER]: Type.Optional(Type.String({ description: 'Unipile: the shared secret the webhook was created with (Unipile v1 webhooks are not signed).' })),
  [SANDBOX_SIGNATURE_HEADER]: Type.Optional(Type.String({ description: 'Sandbox: `sha256=` and the HMAC-SHA256 of the raw body with the account\'s webhook secret.' })),
});

export const WebhookAcceptedSuccessResponse = successEnvelope(
  'WebhookAcceptedSuccessResponse',
  Type.Object({ accepted: Type.Integer({ minimum: 0, description: 'Events queued for the worker (0 for events of no interest).' }) }, { additionalProperties: false }),
  'The delivery was verified and its events queued durably',
);

/**
 * `POST /v1/webhooks/{connector}/{accountId}`: where LinkedIn's vendor (Unipile) or the sandbox
 * pushes new messages and account status changes for one connected account. It is called by the
 * provider, not by API clients, so it takes no API key: the connector verifies the request's
 * signature (or shared secret) over the raw body. The events are queued durably and the answer is
 * immediate; the worker stores them. Any failed verification, including an unknown account, is
 * the same 401. Documented (not part of Sonarly's own API, but it is this server's) so that
 * operators see what it accepts; setup in docs/connectors.md.
 */
export function registerReceiveWebhook(app: FastifyInstance, services: Services): void {
  void app.register(async (scope) => {
    // Signatures are computed over the exact bytes sent: keep the body raw, whatever its type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    scope.post<{ Params: { connector: string; accountId: string } }>(
      '/v1/webhooks/:connector/:accountId',
      {
        schema: {
          operationId: 'receiveConnectorWebhook',
          tags: ['Webhooks'],
          summary: 'Receive a connector webhook (called by LinkedIn\'s vendor, not by API clients)',
          description:
            'Where Unipile (or the sandbox) pushes new messages and account status changes for one connected account. No API key: the connector verifies the shared secret or signature over the raw body, whatever its content type; any failed verification, an unknown account included, is the same 401. The events are queued durably and the answer is immediate; a worker stores them. Rate limited per connected account (`webhook` policy). Register it with `sonarly accounts connect`; see docs/connectors.md.',
          security: [],
          params: Params,
          headers: Headers,
          // Any bytes: the connector parses them after verifying the signature over them.
          body: { description: 'The provider\'s event payload (JSON for Unipile and the sandbox), read as raw bytes.' },
          response: { 200: ref(WebhookAcceptedSuccessResponse), ...errorResponses([400, 401, 404, 429, 500]) },
        },
      },
      async (request, reply) => {
        // An app built without connectors (tests, embedding) has no webhooks to receive.
        if (!services.connectors) throw new ApiError('NOT_FOUND', 'Webhooks are not enabled on this server.');
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
