import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ResponseStatus } from '../../../domain/responses/model.js';
import { listScheduledResponses } from '../../../domain/responses/query.js';
import { errorResponses, ref, success } from '../../envelope.js';
import { AccountGroupParams } from '../../params.js';
import { requireGroupAccess } from '../../plugins/auth.js';
import type { Services } from '../../services.js';
import { ScheduledMessageResponseListSuccessResponse } from './responses.schema.js';

const PAGE_DEFAULT = 50;
const PAGE_MAX = 100;

const Query = Type.Object({
  cursor: Type.Optional(Type.String({ maxLength: 1024, description: 'Opaque cursor from the previous page, bound to the account group and `status` filter.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, default: PAGE_DEFAULT, description: `Items per page: 1 to ${PAGE_MAX}, default ${PAGE_DEFAULT}.` })),
  status: Type.Optional(
    Type.Union([Type.Literal('queued'), Type.Literal('sending'), Type.Literal('sent'), Type.Literal('failed'), Type.Literal('cancelled')], {
      description: 'Only responses in this status.',
    }),
  ),
});

export function registerListScheduledResponses(app: FastifyInstance, services: Services): void {
  app.get<{ Params: { accountGroupId: string }; Querystring: { cursor?: string; limit?: number; status?: ResponseStatus } }>(
    '/v1/accounts/:accountGroupId/messages/responses',
    {
      config: { permission: 'messages:read' },
      preHandler: requireGroupAccess,
      schema: {
        operationId: 'listScheduledMessageResponses',
        tags: ['Messages'],
        summary: 'List scheduled message responses',
        description: 'Scheduled responses of the group, newest first by (`createdAt`, `id`), optionally filtered by `status`. Needs `messages:read`.',
        security: [{ bearerAuth: [] }],
        params: AccountGroupParams,
        querystring: Query,
        response: { 200: ref(ScheduledMessageResponseListSuccessResponse), ...errorResponses([400, 401, 403, 429, 500]) },
      },
    },
    async (request) => {
      const { cursor, limit = PAGE_DEFAULT, status } = request.query;
      const page = await listScheduledResponses(services.db, services.cursors, {
        accountGroupId: request.params.accountGroupId,
        limit,
        ...(cursor !== undefined ? { cursor } : {}),
        ...(status !== undefined ? { status } : {}),
      });
      return success(request.id, page);
    },
  );
}
