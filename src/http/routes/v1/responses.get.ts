import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../../domain/errors.js';
import { getScheduledResponse } from '../../../domain/responses/model.js';
import { errorResponses, ref, success } from '../../envelope.js';
import { requireGroupAccess } from '../../plugins/auth.js';
import type { Services } from '../../services.js';
import { ResponseParams, ScheduledMessageResponseSuccessResponse } from './responses.schema.js';

export function registerGetScheduledResponse(app: FastifyInstance, services: Services): void {
  app.get<{ Params: { accountGroupId: string; responseId: string } }>(
    '/v1/accounts/:accountGroupId/messages/responses/:responseId',
    {
      config: { permission: 'messages:read' },
      preHandler: requireGroupAccess,
      schema: {
        operationId: 'getScheduledMessageResponse',
        tags: ['Messages'],
        summary: 'Get a scheduled message response',
        description: 'Its current status; once `sent`, `sentMessageId` names the message in the history. Needs `messages:read`.',
        security: [{ bearerAuth: [] }],
        params: ResponseParams,
        response: { 200: ref(ScheduledMessageResponseSuccessResponse), ...errorResponses([400, 401, 403, 404, 429, 500]) },
      },
    },
    async (request) => {
      const response = await getScheduledResponse(services.db, request.params.accountGroupId, request.params.responseId);
      if (!response) throw new ApiError('NOT_FOUND', 'No scheduled response with this id in this account group.');
      return success(request.id, response);
    },
  );
}
