import type { Command } from 'commander';
import { PERMISSIONS } from '../domain/permissions.js';
import { type AdminOptions, commaList, withAdmin } from './adminAction.js';
import { printJson, printLines, printTable } from './output.js';

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('API keys: create (the secret is shown once), list, revoke');

  keys
    .command('create')
    .description('Create an API key for one or more account groups and print its secret once')
    .requiredOption('--group <ids>', 'account group id(s), comma-separated or repeated', commaList)
    .requiredOption('--permissions <list>', `comma-separated: ${PERMISSIONS.join(', ')}`, commaList)
    .option('--name <name>', 'a label to recognise the key by')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON (includes the secret)')
    .action((options: AdminOptions & { group: string[]; permissions: string[]; name?: string }) =>
      withAdmin(options, async (client) => {
        const key = await client.run('keys.create', {
          accountGroupIds: options.group,
          permissions: options.permissions,
          ...(options.name !== undefined ? { name: options.name } : {}),
        });
        if (options.json) return printJson(key);
        printLines(
          `Created API key ${key.id}${key.name ? ` (${key.name})` : ''}`,
          `  permissions:    ${key.permissions.join(', ')}`,
          `  account groups: ${key.accountGroupIds.join(', ')}`,
          '',
          'Secret (shown only now; store it, only its hash is kept):',
          key.secret,
        );
      }),
    );

  keys
    .command('list')
    .description('List API keys (never their secrets)')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((options: AdminOptions) =>
      withAdmin(options, async (client) => {
        const list = await client.run('keys.list', {});
        if (options.json) return printJson(list);
        if (list.length === 0) return printLines('No API keys yet. Create one with `sonarly keys create --group ID --permissions messages:read`.');
        printTable(
          ['ID', 'NAME', 'PREFIX', 'PERMISSIONS', 'GROUPS', 'CREATED', 'STATUS'],
          list.map((key) => [
            key.id,
            key.name,
            key.displayPrefix + '…',
            key.permissions.join(','),
            key.accountGroupIds.join(','),
            key.createdAt,
            key.revokedAt ? `revoked ${key.revokedAt}` : 'active',
          ]),
        );
      }),
    );

  keys
    .command('revoke')
    .description('Revoke an API key: its next request is refused')
    .argument('<id>', 'key id (from `sonarly keys list`)')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((id: string, options: AdminOptions) =>
      withAdmin(options, async (client) => {
        const revoked = await client.run('keys.revoke', { id });
        if (options.json) printJson(revoked);
        else if (revoked.alreadyRevoked) printLines(`API key ${revoked.id} was already revoked at ${revoked.revokedAt}.`);
        else printLines(`Revoked API key ${revoked.id}.`);
      }),
    );
}
