import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { MESSAGE_PAGE_DEFAULT, MESSAGE_PAGE_MAX, listMessages } from '../../../domain/messages.js';
import { errorResponses, rawSuccess, ref, successEnvelope } from '../../envelope.js';
import { AccountGroupParams, Id, Timestamp } from '../../params.js';
import { requireGroupAccess } from '../../plugins/auth.js';
import type { Services } from '../../services.js';

const Attachment = Type.Object(
  {
    type: Type.String({ description: 'img, video, audio, file or linkedin_post.', examples: ['file'] }),
    id: Type.String(),
    url: Type.String({ examples: ['https://example.com/resource'] }),
    fileName: Type.Union([Type.String(), Type.Null()]),
    mimeType: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);

const NullableString = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

export const Message = Type.Object(
  {
    id: Id('Message ID.'),
    text: Type.String({ description: 'Message body.' }),
    sentAt: Timestamp('When the message was sent.'),
    accountId: Id('The connected LinkedIn account whose inbox holds the message.'),
    accountType: Type.String({ description: 'linkedin, sales_navigator or recruiter.', examples: ['linkedin'] }),
    conversationId: Id('Conversation ID; pass it as `conversationId` to list one conversation or to reply in it.'),
    conversationProviderId: Type.String({ description: 'The conversation ID on LinkedIn.' }),
    conversationName: NullableString('Display name of the conversation (usually the other participant).'),
    participantProviderId: NullableString(
      'LinkedIn provider ID of the other participant of the conversation. Resolve it with GET /v1/accounts/{accountGroupId}/prospects/by-provider-id/{providerId}.',
    ),
    senderId: NullableString('LinkedIn provider ID of the sender.'),
    isSender: Type.Boolean({ description: 'True when the connected account sent the message.' }),
    unreadCount: Type.Integer({ description: 'Unread messages in the conversation.' }),
    parentMessageId: NullableString('The message this one replies to, when known.'),
    attachments: Type.Array(Attachment),
  },
  { additionalProperties: false },
);

export const MessageListSuccessResponse = successEnvelope(
  'MessageListSuccessResponse',
  Type.Object(
    {
      items: Type.Array(Message),
      nextCursor: Type.Union([Type.String(), Type.Null()], {
        description: 'Pass as `cursor` to get the next page; null on the last page.',
        examples: ['eyJ2IjoxLCJnIjoiNTA3ZjFmNzdiY2Y4NmNkNzk5NDM5MDExIn0.c2lnbmF0dXJl'],
      }),
      hasMore: Type.Boolean({ description: 'Whether another page exists.' }),
    },
    { additionalProperties: false },
  ),
  'Paginated full message history across connected accounts or within one filtered conversation',
);

const Query = Type.Object({
  cursor: Type.Optional(
    Type.String({
      maxLength: 1024,
      description:
        'Opaque pagination cursor returned by the previous page. It is bound to the account group and the filters that produced it; any other cursor is rejected with 400.',
    }),
  ),
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MESSAGE_PAGE_MAX,
      default: MESSAGE_PAGE_DEFAULT,
      description: `Maximum number of items to return in this page: 1 to ${MESSAGE_PAGE_MAX}, default ${MESSAGE_PAGE_DEFAULT}. Values outside the range are rejected, not clamped.`,
    }),
  ),
  conversationId: Type.Optional(Id('Existing conversation ID: narrows the list to that conversation of this account group.')),
});

export function registerListMessages(app: FastifyInstance, services: Services): void {
  app.get<{ Params: { accountGroupId: string }; Querystring: { cursor?: string; limit?: number; conversationId?: string } }>(
    '/v1/accounts/:accountGroupId/messages',
    {
      config: { permission: 'messages:read' },
      preHandler: requireGroupAccess,
      schema: {
        operationId: 'listMessages',
        tags: ['Messages'],
        summary: 'List full message history across connected accounts or within one conversation',
        description:
          'Every message of every connected account in the group, newest first by (`sentAt`, `id`). Keyset pagination: a walk from the first page to `hasMore: false` returns every message that existed when it began exactly once, even while new messages arrive. Resolve participants with GET /v1/accounts/{accountGroupId}/prospects/by-provider-id/{providerId} and `items[].participantProviderId`. With `conversationId`, a conversation whose older history is still being synced is first completed from LinkedIn, within a few seconds; if LinkedIn fails, the answer is 502 `UPSTREAM_ERROR` (other requests are unaffected). Needs `messages:read`.',
        security: [{ bearerAuth: [] }],
        params: AccountGroupParams,
        querystring: Query,
        response: { 200: ref(MessageListSuccessResponse), ...errorResponses([400, 401, 403, 429, 500, 502]) },
      },
    },
    async (request, reply) => {
      const { cursor, limit = MESSAGE_PAGE_DEFAULT, conversationId } = request.query;
      const page = await listMessages(services.db, services.cursors, {
        accountGroupId: request.params.accountGroupId,
        limit,
        ...(cursor !== undefined ? { cursor } : {}),
        ...(conversationId !== undefined ? { conversationId } : {}),
      }, services.readThrough);
      const data = `{"items":${page.itemsJson},"nextCursor":${JSON.stringify(page.nextCursor)},"hasMore":${page.hasMore}}`;
      return reply.type('application/json; charset=utf-8').send(rawSuccess(request.id, data));
    },
  );
}
