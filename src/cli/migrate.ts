import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { migrationStatus } from '../storage/migrate.js';
import { openRuntime } from '../runtime.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('Apply pending database migrations and report the schema version')
    .option('--data-dir <dir>', 'embedded database directory')
    .option('--json', 'print JSON')
    .action(async (options: { dataDir?: string; json?: boolean }) => {
      const runtime = await openRuntime(loadConfig(process.env, { dataDir: options.dataDir }), 'cli');
      try {
        const status = await migrationStatus(runtime.db);
        if (options.json) process.stdout.write(JSON.stringify(status) + '\n');
        else process.stdout.write(`Database schema is at version ${status.databaseVersion} (this build knows ${status.codeVersion}).\n`);
      } finally {
        await runtime.close();
      }
    });
}
