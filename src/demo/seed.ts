import { createAccountGroup } from '../domain/accountGroups.js';
import { createApiKey } from '../domain/apiKeys.js';
import { addConnectedAccount } from '../domain/connectedAccounts.js';
import { MESSAGING_PERMISSIONS } from '../domain/permissions.js';
import { insertProspect } from '../domain/prospects.js';
import { newId } from '../ids.js';
import { pick, seededRandom } from '../random.js';
import { type MessageRow, insertMessages, upsertConversations } from '../storage/bulk.js';
import type { Db } from '../storage/db.js';

const FIRST = ['Avery', 'Jordan', 'Riley', 'Morgan', 'Casey', 'Quinn', 'Harper', 'Rowan', 'Sage', 'Elliot', 'Noa', 'Imani', 'Kai', 'Lena', 'Mateo', 'Priya'];
const LAST = ['Stone', 'Lee', 'Patel', 'Garcia', 'Nguyen', 'Okafor', 'Schmidt', 'Rossi', 'Kowalski', 'Tanaka', 'Silva', 'Dubois'];
const COMPANIES = ['Northwind', 'Globex', 'Initech', 'Umbrella Labs', 'Hooli', 'Vandelay', 'Stark Analytics', 'Wayne Logistics'];
const TITLES = ['VP Sales', 'Head of Growth', 'CTO', 'Founder', 'RevOps Lead', 'Account Executive', 'Marketing Director'];
const OUTBOUND = [
  'Thanks for connecting! Curious how your team handles outbound today.',
  'Following up on my last note: would a 15-minute call next week work?',
  'Happy to share the case study we discussed.',
  'Thanks for the context. I can send over details this afternoon.',
];
const INBOUND = [
  'Sounds interesting, tell me more.',
  'We are evaluating tools this quarter, send me a deck.',
  'Not the right time, maybe in Q3.',
  'Can you loop in my colleague?',
  'Sure, Tuesday works.',
];

export interface DemoWorkspace {
  accountGroupId: string;
  apiKey: string;
  messages: number;
  conversations: number;
  prospects: number;
}

function providerId(random: () => number): string {
  let id = 'ACoAA';
  for (let i = 0; i < 20; i++) id += pick(random, [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789']);
  return id;
}

/**
 * A demo workspace: one account group, two connected accounts, a few hundred conversations and
 * prospects, a few thousand messages. Sent times fall on whole minutes, so many messages share a
 * `sentAt` and pagination's tie-breaking is exercised; some messages reply to others and some
 * carry attachments.
 */
export async function seedDemoWorkspace(db: Db, now: Date = new Date(), seed = 42): Promise<DemoWorkspace> {
  const random = seededRandom(seed);
  return db.transaction(async (tx) => {
    const group = await createAccountGroup(tx, 'Demo workspace');
    const accounts = [
      await addConnectedAccount(tx, { accountGroupId: group.id, accountType: 'linkedin', providerAccountId: 'ACoAADemoAvery0001', name: 'Avery Stone' }),
      await addConnectedAccount(tx, { accountGroupId: group.id, accountType: 'sales_navigator', providerAccountId: 'ACwAADemoJordan002', name: 'Jordan Lee' }),
    ];
    const people = Array.from({ length: 300 }, () => ({
      providerId: providerId(random),
      name: `${pick(random, FIRST)} ${pick(random, LAST)}`,
    }));
    let prospects = 0;
    for (const [index, person] of people.entries()) {
      const slug = person.name.toLowerCase().replace(/\s+/g, '-') + '-' + index;
      const base = { accountGroupId: group.id, providerId: person.providerId, publicIdentifier: slug, linkedinUrl: `https://www.linkedin.com/in/${slug}`, name: person.name, companyName: pick(random, COMPANIES), title: pick(random, TITLES) };
      await insertProspect(tx, { ...base, externalId: `demo-${index}` });
      prospects++;
      // A few people were imported twice (two CRM records): their lookup answers `ambiguous`.
      if (index % 50 === 7) {
        await insertProspect(tx, { ...base, externalId: `demo-${index}-dup`, companyName: pick(random, COMPANIES) });
        prospects++;
      }
    }
    const start = now.getTime() - 90 * 24 * 3600 * 1000;
    const messages: MessageRow[] = [];
    const conversations = people.map((person, index) => {
      const account = accounts[index % 2]!;
      return { person, account, id: newId(), providerId: `2-demo-conversation-${index}` };
    });
    const lastMessageAt = new Map<string, string>();
    for (const conversation of conversations) {
      const count = 4 + Math.floor(random() * 22);
      let minute = Math.floor(random() * 60 * 24 * 80);
      let previousId: string | null = null;
      for (let i = 0; i < count; i++) {
        minute += 1 + Math.floor(random() * 600);
        const isSender = i === 0 ? true : random() < 0.5;
        const id = newId();
        const sentAt = new Date(start + minute * 60_000).toISOString();
        messages.push({
          id,
          accountGroupId: group.id,
          accountId: conversation.account.id,
          conversationId: conversation.id,
          providerMessageId: `${conversation.providerId}-m${i}`,
          senderProviderId: isSender ? conversation.account.providerAccountId : conversation.person.providerId,
          isSender,
          text: isSender ? pick(random, OUTBOUND) : pick(random, INBOUND),
          sentAt,
          parentMessageId: previousId !== null && random() < 0.3 ? previousId : null,
          attachments:
            random() < 0.05
              ? [{ type: 'file', id: `att-${id}`, url: `https://files.example.com/${id}/proposal.pdf`, fileName: 'proposal.pdf', mimeType: 'application/pdf' }]
              : [],
        });
        previousId = id;
        lastMessageAt.set(conversation.id, sentAt);
      }
    }
    await upsertConversations(
      tx,
      conversations.map((c) => ({
        id: c.id,
        accountGroupId: group.id,
        accountId: c.account.id,
        providerId: c.providerId,
        name: c.person.name,
        participantProviderId: c.person.providerId,
        unreadCount: Math.floor(random() * 3),
        lastMessageAt: lastMessageAt.get(c.id) ?? null,
      })),
    );
    for (let i = 0; i < messages.length; i += 1000) await insertMessages(tx, messages.slice(i, i + 1000));
    const { secret } = await createApiKey(tx, { name: 'demo', permissions: MESSAGING_PERMISSIONS, accountGroupIds: [group.id] });
    return { accountGroupId: group.id, apiKey: secret, messages: messages.length, conversations: conversations.length, prospects };
  });
}
