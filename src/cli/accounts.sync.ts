import { setTimeout as delay } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { CONNECTOR_KINDS } from '../connectors/registry.js';
import { ACCOUNT_TYPES } from '../domain/connectedAccounts.js';
import type { SyncStepResult } from '../sync/adminCommands.js';
import { type AdminOptions, withAdmin } from './adminAction.js';
import { CliError } from './errors.js';
import { printJson, printLines, printTable } from './output.js';

interface ConnectOptions extends AdminOptions {
  group: string;
  connector: string;
  type?: string;
  name?: string;
  providerAccountId?: string;
  pollIntervalMs?: string;
  seed?: string;
  conversations?: string;
  messages?: string;
  replyEveryMs?: string;
  faults?: string;
  dsn?: string;
  apiKey?: string;
  unipileAccountId?: string;
}

const integer = (name: string, raw: string | undefined): number | undefined => {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new CliError(`${name} must be a whole number; got '${raw}'.`);
  return value;
};

function sandboxNetwork(options: ConnectOptions): Record<string, unknown> {
  const network: Record<string, unknown> = {};
  const seed = integer('--seed', options.seed);
  const conversations = integer('--conversations', options.conversations);
  const replyEveryMs = integer('--reply-every-ms', options.replyEveryMs);
  if (seed !== undefined) network.seed = seed;
  if (conversations !== undefined) network.conversations = conversations;
  if (replyEveryMs !== undefined) network.replyEveryMs = replyEveryMs;
  if (options.messages !== undefined) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(options.messages);
    if (!match) throw new CliError(`--messages takes MIN-MAX messages per conversation (e.g. 5-40); got '${options.messages}'.`);
    network.messagesPerConversation = { min: Number(match[1]), max: Number(match[2] ?? match[1]) };
  }
  return network;
}

const formatNumber = (n: number) => n.toLocaleString('en-US');

/**
 * `sonarly accounts connect|sync|status|disconnect`: the sync side of connected accounts, added
 * to the `accounts` command (`accounts add|list` live in accounts.ts).
 */
export function registerAccountSyncCommands(program: Command): void {
  const accounts = program.commands.find((command) => command.name() === 'accounts') ?? program.command('accounts').description('Connected LinkedIn accounts');

  accounts
    .command('connect')
    .description('Connect a LinkedIn account through a connector and queue the backfill of its whole history')
    .requiredOption('--group <id>', 'account group id')
    .addOption(new Option('--connector <kind>', 'how to reach LinkedIn').choices([...CONNECTOR_KINDS]).makeOptionMandatory())
    .addOption(new Option('--type <type>', 'account type (Unipile: read from Unipile)').choices([...ACCOUNT_TYPES]))
    .option('--name <name>', 'display name')
    .option('--provider-account-id <id>', "the account's LinkedIn provider id (sandbox: generated; Unipile: read from Unipile)")
    .option('--poll-interval-ms <ms>', 'how often polling catches what webhooks missed (default 5 min)')
    .option('--seed <n>', 'sandbox: seed of the simulated network')
    .option('--conversations <n>', 'sandbox: number of conversations')
    .option('--messages <min-max>', 'sandbox: messages per conversation, e.g. 5-40')
    .option('--reply-every-ms <ms>', 'sandbox: one new prospect reply per this many ms across the account (0: none)')
    .option('--faults <json>', 'sandbox: fault injection, e.g. {"errorRate":0.1,"latencyMs":50}')
    .option('--dsn <dsn>', 'Unipile: your DSN, e.g. api8.unipile.com:13851')
    .option('--api-key <key>', 'Unipile: API key (prefer the UNIPILE_API_KEY environment variable: it stays out of shell history)')
    .option('--unipile-account-id <id>', "Unipile: the connected account's Unipile id")
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((options: ConnectOptions) =>
      withAdmin(options, async (client) => {
        let faults: Record<string, unknown> | undefined;
        if (options.faults !== undefined) {
          try {
            faults = JSON.parse(options.faults) as Record<string, unknown>;
          } catch {
            throw new CliError('--faults must be a JSON object.');
          }
        }
        const apiKey = options.apiKey ?? process.env.UNIPILE_API_KEY;
        if (options.connector === 'unipile' && (!options.dsn || !apiKey || !options.unipileAccountId)) {
          throw new CliError('A Unipile account needs --dsn, --unipile-account-id and an API key (UNIPILE_API_KEY or --api-key).');
        }
        const pollIntervalMs = integer('--poll-interval-ms', options.pollIntervalMs);
        const account = await client.run('accounts.connect', {
          accountGroupId: options.group,
          connector: options.connector,
          ...(options.type !== undefined ? { accountType: options.type } : {}),
          ...(options.name !== undefined ? { name: options.name } : {}),
          ...(options.providerAccountId !== undefined ? { providerAccountId: options.providerAccountId } : {}),
          ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}),
          ...(options.connector === 'sandbox' ? { network: sandboxNetwork(options), ...(faults ? { faults } : {}) } : {}),
          ...(options.connector === 'unipile' ? { unipile: { dsn: options.dsn!, apiKey: apiKey!, accountId: options.unipileAccountId! } } : {}),
        });
        if (options.json) return printJson(account);
        printLines(
          `${account.reconnected ? 'Reconnected' : 'Connected'} account ${account.id}: ${account.accountType} ${account.providerAccountId} through ${account.connector}.`,
          `  Its backfill is queued for the worker (\`sonarly serve\` or \`sonarly worker\`); run \`sonarly accounts sync ${account.id}\` to run it now and watch.`,
          `  Webhooks: POST <your public URL>${account.webhookPath}`,
          `    secret (shown once; ${account.webhookSecretHeader}): ${account.webhookSecret}`,
        );
      }),
    );

  accounts
    .command('sync')
    .description("Run an account's backfill now, showing progress; resumes where it stopped")
    .argument('<accountId>', 'connected account id')
    .option('--restart', 'walk the whole history again, even if a backfill completed (stored messages are not duplicated)')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((accountId: string, options: AdminOptions & { restart?: boolean }) =>
      withAdmin(options, async (client, signal) => {
        const interactive = !options.json && process.stdout.isTTY === true;
        const started = Date.now();
        const bar = interactive
          ? new cliProgress.SingleBar({ format: ' {status} | {conversations} conversations | {messages} messages | {rate} messages/s', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
          : null;
        bar?.start(1, 0, { status: 'starting', conversations: 0, messages: 0, rate: 0 });
        let restart = options.restart ?? false;
        let last: SyncStepResult | null = null;
        let lastLine = 0;
        try {
          while (!signal.aborted) {
            last = await client.run('accounts.sync', { accountId, ...(restart ? { restart: true } : {}) });
            restart = false;
            const state = last.state;
            const seconds = Math.max((Date.now() - started) / 1000, 0.001);
            const status = last.status === 'busy' ? 'running in the worker' : last.status === 'retry' ? `LinkedIn failed, retrying: ${last.message}` : last.status;
            bar?.update(0, { status, conversations: formatNumber(state?.conversationsSynced ?? 0), messages: formatNumber(state?.messagesSynced ?? 0), rate: formatNumber(Math.round((state?.messagesSynced ?? 0) / seconds)) });
            if (!interactive && !options.json && Date.now() - lastLine > 5_000) {
              lastLine = Date.now();
              process.stdout.write(`${status}: ${formatNumber(state?.conversationsSynced ?? 0)} conversations, ${formatNumber(state?.messagesSynced ?? 0)} messages\n`);
            }
            if (last.status === 'completed' || last.status === 'not_connected' || last.status === 'disconnected') break;
            if (last.status === 'busy') await delay(1_000);
            if (last.status === 'retry') await delay(Math.min(last.retryAfterMs ?? 5_000, 60_000));
          }
        } finally {
          bar?.stop();
        }
        if (options.json) return printJson(last);
        const state = last?.state;
        switch (last?.status) {
          case 'completed':
            return printLines(`Backfill of ${accountId} complete: ${formatNumber(state?.conversationsSynced ?? 0)} conversations, ${formatNumber(state?.messagesSynced ?? 0)} messages. Polling and webhooks keep it current.`);
          case 'not_connected':
          case 'disconnected':
            throw new CliError(`Account ${accountId} is disconnected${last.message ? ` (${last.message})` : ''}. Reconnect it with \`sonarly accounts connect\`, then sync again.`);
          default:
            return printLines(`Stopped at ${formatNumber(state?.messagesSynced ?? 0)} messages; run the command again to continue.`);
        }
      }),
    );

  accounts
    .command('status')
    .description('Connected accounts with their sync progress')
    .option('--group <id>', 'only this account group')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((options: AdminOptions & { group?: string }) =>
      withAdmin(options, async (client) => {
        const list = await client.run('accounts.status', options.group ? { accountGroupId: options.group } : {});
        if (options.json) return printJson(list);
        if (list.length === 0) return printLines('No connected accounts. Connect one with `sonarly accounts connect`.');
        printTable(
          ['ID', 'CONNECTOR', 'STATUS', 'BACKFILL', 'CONVERSATIONS', 'MESSAGES', 'SYNCED UNTIL', 'LAST EVENT', 'LAST ERROR'],
          list.map((a) => [
            a.accountId,
            a.connector,
            a.status,
            a.backfillStatus ?? 'never',
            formatNumber(a.conversationsSynced),
            formatNumber(Number(a.messagesStored)),
            a.polledUntil ?? '-',
            a.lastEventAt ?? '-',
            a.lastError ?? '',
          ]),
        );
      }),
    );

  accounts
    .command('disconnect')
    .description('Disconnect an account: sync stops, its queued replies wait, its history stays')
    .argument('<accountId>', 'connected account id')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((accountId: string, options: AdminOptions) =>
      withAdmin(options, async (client) => {
        const result = await client.run('accounts.disconnect', { accountId });
        if (options.json) return printJson(result);
        printLines(`Account ${accountId} is disconnected${result.wasConnected ? '' : ' (it already was)'}. Reconnect it with \`sonarly accounts connect\`.`);
      }),
    );
}
