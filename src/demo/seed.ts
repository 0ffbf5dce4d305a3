import { defaultConnectorRegistry } from '../connectors/registry.js';
import { sandboxNetworkOf } from '../connectors/sandbox/connector.js';
import { createAccountGroup } from '../domain/accountGroups.js';
import { createApiKey } from '../domain/apiKeys.js';
import { MESSAGING_PERMISSIONS } from '../domain/permissions.js';
import { insertProspect } from '../domain/prospects.js';
import { pick, seededRandom } from '../random.js';
import type { Db } from '../storage/db.js';
import { connectAccount } from '../sync/accounts.js';
import { backfillAccount } from '../sync/backfill.js';
import { loadSyncAccount } from '../sync/state.js';

const COMPANIES = ['Northwind', 'Globex', 'Initech', 'Umbrella Labs', 'Hooli', 'Vandelay', 'Stark Analytics', 'Wayne Logistics'];
const TITLES = ['VP Sales', 'Head of Growth', 'CTO', 'Founder', 'RevOps Lead', 'Account Executive', 'Marketing Director'];

export interface DemoWorkspace {
  accountGroupId: string;
  apiKey: string;
  messages: number;
  conversations: number;
  prospects: number;
}

/** Two sandbox accounts: their simulated LinkedIn networks, with prospects who keep replying while the server runs. */
const DEMO_ACCOUNTS = [
  { accountType: 'linkedin', providerAccountId: 'ACoAADemoAvery0001', name: 'Avery Stone', seed: 42 },
  { accountType: 'sales_navigator', providerAccountId: 'ACwAADemoJordan002', name: 'Jordan Lee', seed: 43 },
] as const;

/**
 * A demo workspace: one account group with two connected sandbox accounts, their history copied
 * by the sync engine exactly as for a real account (a few hundred conversations, a few thousand
 * messages, with threads, attachments and tied sent times), prospects for the people in them
 * (a few recorded twice, so their lookup answers `ambiguous`), and an API key. Afterwards the
 * worker polls the accounts every few seconds: each account's prospects send a new reply every
 * ~10 s, and answer most replies the scheduler sends, so `GET /messages` keeps changing while
 * the server runs.
 */
export async function seedDemoWorkspace(db: Db, now: Date = new Date(), seed = 42): Promise<DemoWorkspace> {
  const clock = { now: () => now };
  const random = seededRandom(seed);
  const group = await createAccountGroup(db, 'Demo workspace');
  const connectors = defaultConnectorRegistry(db, clock);
  let prospects = 0;
  let messages = 0;
  let conversations = 0;
  for (const demo of DEMO_ACCOUNTS) {
    const connected = await connectAccount(db, clock, {
      accountGroupId: group.id,
      connector: 'sandbox',
      accountType: demo.accountType,
      providerAccountId: demo.providerAccountId,
      name: demo.name,
      pollIntervalMs: 3_000,
      network: {
        seed: demo.seed,
        conversations: 150,
        messagesPerConversation: { min: 4, max: 25 },
        historyDays: 90,
        historyEndsAt: now.toISOString(),
        replyEveryMs: 10_000,
        replyingShare: 0.2,
        replyToSendsRate: 0.7,
        replyDelayMs: { min: 5_000, max: 30_000 },
        pageSize: 100,
      },
    });
    const account = (await loadSyncAccount(db, connected.id))!;
    const network = sandboxNetworkOf(account);
    await db.transaction(async (tx) => {
      for (let index = 0; index < network.size; index++) {
        const person = network.person(index);
        const base = { accountGroupId: group.id, providerId: person.providerId, publicIdentifier: person.publicIdentifier, linkedinUrl: person.linkedinUrl, name: person.name, companyName: pick(random, COMPANIES), title: pick(random, TITLES) };
        await insertProspect(tx, { ...base, externalId: `demo-${demo.seed}-${index}` });
        prospects++;
        // A few people were imported twice (two CRM records): their lookup answers `ambiguous`.
        if (index % 50 === 7) {
          await insertProspect(tx, { ...base, externalId: `demo-${demo.seed}-${index}-dup`, companyName: pick(random, COMPANIES) });
          prospects++;
        }
      }
    });
    const outcome = await backfillAccount({ db, clock, connectors }, account.id, { batchSize: 5_000 });
    messages += outcome.messages;
    conversations += outcome.conversations;
  }
  const { secret } = await createApiKey(db, { name: 'demo', permissions: MESSAGING_PERMISSIONS, accountGroupIds: [group.id] });
  return { accountGroupId: group.id, apiKey: secret, messages, conversations, prospects };
}
