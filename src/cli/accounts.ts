import { type Command, Option } from 'commander';
import { ACCOUNT_TYPES } from '../domain/connectedAccounts.js';
import { type AdminOptions, withAdmin } from './adminAction.js';
import { printJson, printLines, printTable } from './output.js';

export function registerAccountsCommands(program: Command): void {
  const accounts = program.command('accounts').description('Connected LinkedIn accounts');

  accounts
    .command('add')
    .description('Record a connected LinkedIn account in an account group (adding it again changes nothing)')
    .requiredOption('--group <id>', 'account group id')
    .addOption(new Option('--type <type>', 'account type').choices([...ACCOUNT_TYPES]).makeOptionMandatory())
    .requiredOption('--provider-account-id <id>', "the account's LinkedIn provider id (e.g. ACoAA…)")
    .option('--name <name>', 'display name')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((options: AdminOptions & { group: string; type: string; providerAccountId: string; name?: string }) =>
      withAdmin(options, async (client) => {
        const account = await client.run('accounts.add', {
          accountGroupId: options.group,
          accountType: options.type,
          providerAccountId: options.providerAccountId,
          ...(options.name !== undefined ? { name: options.name } : {}),
        });
        if (options.json) printJson(account);
        else printLines(`Connected account ${account.id}: ${account.accountType} ${account.providerAccountId} in account group ${account.accountGroupId}.`);
      }),
    );

  accounts
    .command('list')
    .description('List connected accounts')
    .option('--group <id>', 'only this account group')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((options: AdminOptions & { group?: string }) =>
      withAdmin(options, async (client) => {
        const list = await client.run('accounts.list', options.group ? { accountGroupId: options.group } : {});
        if (options.json) return printJson(list);
        if (list.length === 0) return printLines('No connected accounts. Record one with `sonarly accounts add`.');
        printTable(
          ['ID', 'GROUP', 'TYPE', 'PROVIDER ACCOUNT ID', 'NAME', 'STATUS'],
          list.map((account) => [account.id, account.accountGroupId, account.accountType, account.providerAccountId, account.name, account.status]),
        );
      }),
    );
}
