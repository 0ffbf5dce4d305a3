import { newId } from '../../ids.js';
import { type MessageRow, insertMessages, linkWaitingReplies } from '../../storage/bulk.js';
import type { Queryable } from '../../storage/db.js';
import { FieldReader } from './fields.js';
import type { BatchOutcome, RecordImporter, Rejection } from './importer.js';

export const MESSAGE_FIELDS = [
  'account',
  'conversationProviderId',
  'conversationName',
  'participantProviderId',
  'providerMessageId',
  'senderProviderId',
  'isSender',
  'text',
  'sentAt',
  'parentProviderMessageId',
  'attachments',
] as const;

const REQUIRED = ['account', 'conversationProviderId', 'providerMessageId', 'isSender', 'sentAt'];

export interface MessageImportRow {
  line: number;
  /** A connected account id, or the account's LinkedIn provider id. */
  account: string;
  conversationProviderId: string;
  conversationName: string | null;
  participantProviderId: string | null;
  providerMessageId: string;
  senderProviderId: string | null;
  isSender: boolean;
  text: string;
  sentAt: string;
  parentProviderMessageId: string | null;
  attachments: Record<string, unknown>[];
}

interface ResolvedAccount {
  id: string;
  accountGroupId: string;
}

/** Distinct accounts are few; the cache is cleared past this size so memory stays bounded anyway. */
const ACCOUNT_CACHE_LIMIT = 10_000;

const key = (accountId: string, providerId: string) => `${accountId}\u0000${providerId}`;

export class MessageImporter implements RecordImporter<MessageImportRow> {
  readonly columns = { known: MESSAGE_FIELDS, required: REQUIRED };
  private readonly accounts = new Map<string, ResolvedAccount | string>();

  constructor(private readonly accountGroupId: string | undefined) {}

  parse(fields: Record<string, unknown>, line: number): MessageImportRow {
    const reader = new FieldReader(fields);
    reader.onlyFields(MESSAGE_FIELDS);
    const row: MessageImportRow = {
      line,
      account: reader.string('account', { required: true }),
      conversationProviderId: reader.string('conversationProviderId', { required: true }),
      conversationName: reader.string('conversationName'),
      participantProviderId: reader.string('participantProviderId'),
      providerMessageId: reader.string('providerMessageId', { required: true }),
      senderProviderId: reader.string('senderProviderId'),
      isSender: reader.boolean('isSender'),
      text: reader.string('text', { maxLength: 100_000 }) ?? '',
      sentAt: reader.timestamp('sentAt'),
      parentProviderMessageId: reader.string('parentProviderMessageId'),
      attachments: reader.objectArray('attachments'),
    };
    reader.done();
    return row;
  }

  async store(tx: Queryable, rows: MessageImportRow[]): Promise<BatchOutcome> {
    await this.resolveAccounts(tx, rows);
    const rejected: Rejection[] = [];
    const accepted: (MessageImportRow & { accountId: string; accountGroupId: string })[] = [];
    for (const row of rows) {
      const account = this.accounts.get(row.account)!;
      if (typeof account === 'string') rejected.push({ line: row.line, reason: account });
      else accepted.push({ ...row, accountId: account.id, accountGroupId: account.accountGroupId });
    }
    if (accepted.length === 0) return { imported: 0, duplicates: 0, rejected };

    const conversations = await ensureConversations(tx, accepted);
    const groups = [...new Set(accepted.map((row) => row.accountGroupId))];
    const known = await existingMessages(
      tx,
      groups,
      accepted.flatMap((row) => [
        [row.accountId, row.providerMessageId] as const,
        ...(row.parentProviderMessageId ? [[row.accountId, row.parentProviderMessageId] as const] : []),
      ]),
    );

    // Ids first, parents second: a reply may come before its parent within the batch.
    let duplicates = 0;
    const fresh: (typeof accepted)[number][] = [];
    for (const row of accepted) {
      const k = key(row.accountId, row.providerMessageId);
      if (known.has(k)) duplicates++;
      else {
        known.set(k, newId());
        fresh.push(row);
      }
    }
    const messages: MessageRow[] = fresh.map((row) => ({
      id: known.get(key(row.accountId, row.providerMessageId))!,
      accountGroupId: row.accountGroupId,
      accountId: row.accountId,
      conversationId: conversations.get(key(row.accountId, row.conversationProviderId))!,
      providerMessageId: row.providerMessageId,
      senderProviderId: row.senderProviderId,
      isSender: row.isSender,
      text: row.text,
      sentAt: row.sentAt,
      parentMessageId: row.parentProviderMessageId ? (known.get(key(row.accountId, row.parentProviderMessageId)) ?? null) : null,
      parentProviderMessageId: row.parentProviderMessageId,
      attachments: row.attachments,
    }));
    const inserted = await insertMessages(tx, messages);
    // A reply whose parent comes in a later batch (or a later import) is linked when it arrives;
    // this batch's messages may be such parents of replies stored earlier.
    await linkWaitingReplies(tx, [...new Set(messages.map((message) => message.conversationId))]);
    // A concurrent import may have stored some of these between the lookup and the insert.
    duplicates += messages.length - inserted.length;
    return { imported: inserted.length, duplicates, rejected };
  }

  /**
   * An account is named by our id or by its LinkedIn provider id. The same LinkedIn account may be
   * connected in several groups; then the record is ambiguous unless --group narrows it.
   */
  private async resolveAccounts(tx: Queryable, rows: MessageImportRow[]): Promise<void> {
    const refs = [...new Set(rows.map((row) => row.account))].filter((ref) => !this.accounts.has(ref));
    if (refs.length === 0) return;
    if (this.accounts.size + refs.length > ACCOUNT_CACHE_LIMIT) this.accounts.clear();
    const found = await tx.query<{ id: string; account_group_id: string; provider_account_id: string }>(
      `SELECT id, account_group_id, provider_account_id FROM connected_accounts
       WHERE (id = ANY($1::text[]) OR provider_account_id = ANY($1::text[])) AND ($2::text IS NULL OR account_group_id = $2::text)
       ORDER BY id`,
      [refs, this.accountGroupId ?? null],
    );
    const scope = this.accountGroupId ? ` in account group ${this.accountGroupId}` : '';
    for (const ref of refs) {
      const byId = found.find((row) => row.id === ref);
      const byProvider = found.filter((row) => row.provider_account_id === ref);
      const match = byId ?? (byProvider.length === 1 ? byProvider[0] : undefined);
      if (match) this.accounts.set(ref, { id: match.id, accountGroupId: match.account_group_id });
      else if (byProvider.length > 1) {
        const groups = byProvider.map((row) => row.account_group_id).join(', ');
        this.accounts.set(ref, `account ${ref} is connected in several account groups (${groups}); pass --group or use the connected account id`);
      } else this.accounts.set(ref, `unknown account ${ref}${scope} (record it first with \`sonarly accounts add\`)`);
    }
  }
}

/**
 * Creates the batch's conversations or refreshes name, participant and last activity of existing
 * ones. Unlike the sync's upsert it leaves unread counts alone: an import of old history says
 * nothing about what is unread now.
 */
async function ensureConversations(
  tx: Queryable,
  rows: readonly (MessageImportRow & { accountId: string; accountGroupId: string })[],
): Promise<Map<string, string>> {
  const byKey = new Map<string, { accountGroupId: string; accountId: string; providerId: string; name: string | null; participant: string | null; last: string }>();
  for (const row of rows) {
    const k = key(row.accountId, row.conversationProviderId);
    const seen = byKey.get(k);
    if (!seen) {
      byKey.set(k, { accountGroupId: row.accountGroupId, accountId: row.accountId, providerId: row.conversationProviderId, name: row.conversationName, participant: row.participantProviderId, last: row.sentAt });
    } else {
      seen.name = row.conversationName ?? seen.name;
      seen.participant = row.participantProviderId ?? seen.participant;
      if (row.sentAt > seen.last) seen.last = row.sentAt;
    }
  }
  const list = [...byKey.values()];
  const result = await tx.query<{ id: string; account_id: string; provider_id: string }>(
    `INSERT INTO conversations (id, account_group_id, account_id, provider_id, name, participant_provider_id, last_message_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
     ON CONFLICT (account_id, provider_id) DO UPDATE SET
       name = COALESCE(EXCLUDED.name, conversations.name),
       participant_provider_id = COALESCE(EXCLUDED.participant_provider_id, conversations.participant_provider_id),
       last_message_at = GREATEST(conversations.last_message_at, EXCLUDED.last_message_at)
     RETURNING id, account_id, provider_id`,
    [
      list.map(() => newId()),
      list.map((c) => c.accountGroupId),
      list.map((c) => c.accountId),
      list.map((c) => c.providerId),
      list.map((c) => c.name),
      list.map((c) => c.participant),
      list.map((c) => c.last),
    ],
  );
  return new Map(result.map((row) => [key(row.account_id, row.provider_id), row.id]));
}

/** Our ids of the messages already stored under these (account, provider message id) pairs. */
async function existingMessages(tx: Queryable, accountGroupIds: string[], pairs: (readonly [string, string])[]): Promise<Map<string, string>> {
  const rows = await tx.query<{ account_id: string; provider_message_id: string; id: string }>(
    `SELECT m.account_id, m.provider_message_id, m.id
     FROM unnest($1::text[], $2::text[]) AS k(account_id, provider_message_id)
     JOIN messages m ON m.account_id = k.account_id AND m.provider_message_id = k.provider_message_id
     WHERE m.account_group_id = ANY($3::text[])`,
    [pairs.map((p) => p[0]), pairs.map((p) => p[1]), accountGroupIds],
  );
  return new Map(rows.map((row) => [key(row.account_id, row.provider_message_id), row.id]));
}
