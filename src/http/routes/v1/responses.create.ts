import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { LIMITS, type ScheduleResponseInput } from '../../../domain/responses/create.js';
import { IDEMPOTENCY_KEY_MAX, parseIdempotencyKey } from '../../../domain/responses/idempotency.js';
import { scheduleResponseOnce } from '../../../domain/responses/service.js';
import { errorPayload, errorResponses, ref, success } from '../../envelope.js';
import { AccountGroupParams, Id } from '../../params.js';
import { requireGroupAccess } from '../../plugins/auth.js';
import type { Services } from '../../services.js';
import { ScheduledMessageResponseSuccessResponse } from './responses.schema.js';

const Body = Type.Object(
  {
    prospectId: Id('The Sonarly prospect ID, scoped to the account group.'),
    message: Type.String({
      minLength: 1,
      maxLength: LIMITS.directMessage,
      description: `The message body to queue or send: at most ${LIMITS.directMessage} characters for a direct message, ${LIMITS.inmailBody} for an InMail (LinkedIn's limits). Not empty or only whitespace.`,
    }),
    channel: Type.Optional(
      Type.Union([Type.Literal('direct_message'), Type.Literal('inmail')], {
        description: 'The delivery channel (default `direct_message`). Use `direct_message` when the prospect has an existing chat; `inmail` with a `subject` for eligible new conversations.',
      }),
    ),
    conversationId: Type.Optional(
      Id('Existing conversation ID used when responding in a direct message thread. Without it, a direct message goes to the prospect\'s most recent conversation.'),
    ),
    subject: Type.Optional(Type.String({ maxLength: LIMITS.subject, description: `The InMail subject line; required when \`channel\` is \`inmail\`. At most ${LIMITS.subject} characters.` })),
  },
  { additionalProperties: false },
);

export function registerScheduleResponse(app: FastifyInstance, services: Services): void {
  app.post<{ Params: { accountGroupId: string }; Body: ScheduleResponseInput }>(
    '/v1/accounts/:accountGroupId/messages/responses',
    {
      config: { permission: 'messages:write' },
      preHandler: requireGroupAccess,
      schema: {
        operationId: 'scheduleMessageResponse',
        tags: ['Messages'],
        summary: 'Queue a scheduled message response',
        description: [
          "Queues a reply to a prospect through the outbound scheduler; it is never sent synchronously. The scheduler sends it through the conversation's connected account at that account's pace (minimum gap with jitter, daily caps per channel, optional working hours) and records it in the message history once sent. Needs `messages:write`.",
          '',
          `**Idempotency.** Send an \`Idempotency-Key\` header (1–${IDEMPOTENCY_KEY_MAX} printable characters; quoted or bare) on requests you may retry. Keys are scoped to the account group and kept 24 hours. The same key with the same body (key order and whitespace do not matter) returns the original result with \`Idempotency-Replayed: true\`; with another body, 409 \`IDEMPOTENCY_CONFLICT\`; while the first request is still running, 409 \`IDEMPOTENCY_IN_PROGRESS\` (retry after \`Retry-After\`). 202 and 422 outcomes are stored; 400, 401, 403, 409 \`CONFLICT\` and 429 are not, so a corrected retry goes through.`,
          '',
          '**Errors.** 400: malformed body, unknown `channel`, empty `message`, text over LinkedIn\'s limits, `inmail` without `subject`. 422: `prospectId` or `conversationId` not in this group, a conversation with someone else, a direct message to a prospect with no conversation (use `inmail`), no InMail-capable account. 409 `CONFLICT`: the sending account is disconnected or paused.',
        ].join('\n'),
        security: [{ bearerAuth: [] }],
        params: AccountGroupParams,
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ description: 'Makes retries safe: see the description.' })),
        }),
        body: Body,
        response: {
          202: ref(ScheduledMessageResponseSuccessResponse),
          ...errorResponses([400, 401, 403, 409, 422, 429, 500, 502]),
        },
      },
    },
    async (request, reply) => {
      const key = parseIdempotencyKey(request.headers['idempotency-key']);
      const result = await scheduleResponseOnce(services.db, services.clock, request.params.accountGroupId, request.body, key);
      if (!result.replayed) return reply.code(202).send(success(request.id, result.response));
      reply.header('Idempotency-Replayed', 'true').code(result.status);
      return result.error
        ? reply.send(errorPayload(request.id, result.error.code, result.error.message, result.error.details))
        : reply.send(success(request.id, result.data));
    },
  );
}
