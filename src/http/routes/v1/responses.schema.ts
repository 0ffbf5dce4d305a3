import { Type } from 'typebox';
import { successEnvelope } from '../../envelope.js';
import { Id, Timestamp } from '../../params.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T, description: string) => Type.Union([schema, Type.Null()], { description });

/** The scheduled-response object (Sonarly leaves it undocumented; this project defines it). */
export const ScheduledMessageResponse = Type.Object(
  {
    id: Id('Scheduled response ID; also the dedupe id of its send.'),
    status: Type.Union([Type.Literal('queued'), Type.Literal('sending'), Type.Literal('sent'), Type.Literal('failed'), Type.Literal('cancelled')], {
      description:
        '`queued`: waiting for its turn (pacing, working hours, daily caps, retries). `sending`: handed to LinkedIn, outcome being confirmed. `sent`: delivered and in the message history. `failed`: gave up, see `failure`. `cancelled`: cancelled before sending.',
    }),
    prospectId: Id('The prospect the reply goes to.'),
    accountId: Id('The connected LinkedIn account that sends it.'),
    conversationId: Type.Union([Id('Conversation the reply goes into; for an InMail, set once it is sent.'), Type.Null()]),
    channel: Type.Union([Type.Literal('direct_message'), Type.Literal('inmail')]),
    subject: Nullable(Type.String(), 'InMail subject; null for direct messages.'),
    message: Type.String({ description: 'The message body.' }),
    scheduledFor: Timestamp('When the scheduler expects to send it (moves when pacing or a retry defers it).'),
    createdAt: Timestamp('When it was queued.'),
    updatedAt: Timestamp('Last status change.'),
    sentAt: Nullable(Timestamp('When it was sent; null until sent.'), 'When it was sent; null until sent.'),
    sentMessageId: Nullable(Id('The message in the history.'), 'The message in GET …/messages once sent.'),
    failure: Type.Union(
      [
        Type.Object(
          {
            code: Type.String({ description: 'SEND_REJECTED (LinkedIn refused it), SEND_FAILED (retries exhausted), DELIVERY_UNCONFIRMED (timed out and never confirmed).' }),
            message: Type.String(),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ],
      { description: 'Why it failed; null unless `failed`.' },
    ),
  },
  { additionalProperties: false },
);

export const ScheduledMessageResponseSuccessResponse = successEnvelope(
  'ScheduledMessageResponseSuccessResponse',
  ScheduledMessageResponse,
  'A scheduled message response.',
);

export const ScheduledMessageResponseListSuccessResponse = successEnvelope(
  'ScheduledMessageResponseListSuccessResponse',
  Type.Object(
    {
      items: Type.Array(ScheduledMessageResponse),
      nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page.' }),
      hasMore: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
  'Scheduled message responses, newest first.',
);

export const ResponseParams = Type.Object({
  accountGroupId: Id('Account group ID that scopes the request.'),
  responseId: Id('Scheduled response ID.'),
});
