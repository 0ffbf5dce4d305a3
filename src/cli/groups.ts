import type { Command } from 'commander';
import { type AdminOptions, withAdmin } from './adminAction.js';
import { printJson, printLines, printTable } from './output.js';

export function registerGroupsCommands(program: Command): void {
  const groups = program.command('groups').description('Account groups: the tenants that API keys, accounts and data belong to');

  groups
    .command('create')
    .description('Create an account group and print its id')
    .argument('<name>', 'display name')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((name: string, options: AdminOptions) =>
      withAdmin(options, async (client) => {
        const group = await client.run('groups.create', { name });
        if (options.json) printJson(group);
        else printLines(`Created account group ${group.id} (${group.name}).`);
      }),
    );

  groups
    .command('list')
    .description('List account groups')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((options: AdminOptions) =>
      withAdmin(options, async (client) => {
        const list = await client.run('groups.list', {});
        if (options.json) printJson(list);
        else if (list.length === 0) printLines('No account groups yet. Create one with `sonarly groups create NAME`.');
        else printTable(['ID', 'NAME', 'CREATED'], list.map((group) => [group.id, group.name, group.createdAt]));
      }),
    );
}
