import { insertProspect } from '../../src/domain/prospects.js';
import { newId } from '../../src/ids.js';
import type { Harness } from './harness.js';

/** A group with a connected account, a prospect and their conversation, ready for replies. */
export async function replyFixture(h: Harness, options: { accountType?: 'linkedin' | 'sales_navigator' | 'recruiter' } = {}) {
  const groupId = await h.group('Outbound');
  const accountId = await h.account(groupId, options.accountType ?? 'linkedin');
  const providerId = `ACo${newId()}`;
  await insertProspect(h.db, { accountGroupId: groupId, providerId, externalId: `crm-${providerId}`, name: 'Avery Stone' });
  const [prospect] = await h.db.query<{ id: string }>('SELECT id FROM prospects WHERE account_group_id = $1 AND provider_id = $2', [groupId, providerId]);
  const conversationId = await h.conversation(groupId, accountId, providerId);
  await h.messages(groupId, accountId, conversationId, ['2026-05-01T10:00:00.000Z', '2026-05-01T11:00:00.000Z']);
  const key = await h.key(['messages:read', 'messages:write'], [groupId]);
  return { groupId, accountId, prospectId: prospect!.id, providerId, conversationId, key };
}

export async function addProspect(h: Harness, groupId: string, providerId = `ACo${newId()}`): Promise<{ prospectId: string; providerId: string }> {
  await insertProspect(h.db, { accountGroupId: groupId, providerId, externalId: `crm-${providerId}`, name: 'Riley Patel' });
  const [prospect] = await h.db.query<{ id: string }>('SELECT id FROM prospects WHERE account_group_id = $1 AND provider_id = $2', [groupId, providerId]);
  return { prospectId: prospect!.id, providerId };
}
