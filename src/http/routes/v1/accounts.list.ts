import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { listAccountGroups } from '../../../domain/accountGroups.js';
import { errorResponses, ref, success, successEnvelope } from '../../envelope.js';
import { Id, Timestamp } from '../../params.js';
import type { Services } from '../../services.js';

export const AccountGroup = Type.Object(
  { id: Id('The accountGroupId used in the path of every scoped route.'), name: Type.String({ examples: ['Acme Growth'] }), createdAt: Timestamp('When the group was created.') },
  { additionalProperties: false },
);

export const AccountListSuccessResponse = successEnvelope(
  'AccountListSuccessResponse',
  Type.Object(
    {
      items: Type.Array(AccountGroup),
      nextCursor: Type.Null({ description: 'Always null: every accessible group is returned at once.' }),
      hasMore: Type.Boolean({ description: 'Always false.' }),
    },
    { additionalProperties: false },
  ),
  'The account groups this API key can access.',
);

export function registerListAccounts(app: FastifyInstance, services: Services): void {
  app.get(
    '/v1/accounts',
    {
      config: { permission: 'any' },
      schema: {
        operationId: 'listAccounts',
        tags: ['Accounts'],
        summary: 'List accounts accessible with this API key',
        description:
          'Returns the account groups this key may access. `data.items[].id` is the `accountGroupId` of every scoped route. Works with any valid key. Not paginated: `nextCursor` is always null and `hasMore` false.',
        security: [{ bearerAuth: [] }],
        response: { 200: ref(AccountListSuccessResponse), ...errorResponses([401, 429, 500]) },
      },
    },
    async (request) => {
      const items = await listAccountGroups(services.db, [...request.apiKey!.accountGroupIds]);
      return success(request.id, { items, nextCursor: null, hasMore: false });
    },
  );
}
