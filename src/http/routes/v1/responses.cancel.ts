import type { FastifyInstance } from 'fastify';
import { cancelScheduledResponse } from '../../../domain/responses/query.js';
import { errorResponses, ref, success } from '../../envelope.js';
import { requireGroupAccess } from '../../plugins/auth.js';
import type { Services } from '../../services.js';
import { ResponseParams, ScheduledMessageResponseSuccessResponse } from './responses.schema.js';

export function registerCancelScheduledResponse(app: FastifyInstance, services: Services): void {
  app.post<{ Params: { accountGroupId: string; responseId: string } }>(
    '/v1/accounts/:accountGroupId/messages/responses/:responseId/cancel',
    {
      config: { permission: 'messages:write' },
      preHandler: requireGroupAccess,
      schema: {
        operationId: 'cancelScheduledMessageResponse',
        tags: ['Messages'],
        summary: 'Cancel a scheduled message response',
        description:
          'Cancels a response that is still `queued`. Once it is `sending`, `sent`, `failed` or `cancelled`, the answer is 409 `CONFLICT`. Cancelling is itself safe to retry: a second cancel answers 409 with the status in `details`. Needs `messages:write`. No request body.',
        security: [{ bearerAuth: [] }],
        params: ResponseParams,
        response: { 200: ref(ScheduledMessageResponseSuccessResponse), ...errorResponses([400, 401, 403, 404, 409, 429, 500]) },
      },
    },
    async (request) => success(request.id, await cancelScheduledResponse(services.db, services.clock, request.params.accountGroupId, request.params.responseId)),
  );
}
