import type { Command } from 'commander';
import { type AdminOptions, withAdmin } from './adminAction.js';
import { printJson, printLines } from './output.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('Apply pending database migrations and report the schema version')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((options: AdminOptions) =>
      // Opening the database applies pending migrations; a running server applied them when it started.
      withAdmin(options, async (client) => {
        const status = await client.run('migrate.status', {});
        if (options.json) printJson(status);
        else printLines(`Database schema is at version ${status.databaseVersion} (this build knows ${status.codeVersion}).`);
      }),
    );
}
