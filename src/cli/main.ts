#!/usr/bin/env node
import { Command } from 'commander';
import { ConfigError } from '../config.js';
import { DataDirBusyError } from '../storage/dataDirLock.js';
import { DatabaseNewerThanCodeError } from '../storage/migrate.js';
import { registerAccountsCommands } from './accounts.js';
import { registerAccountSyncCommands } from './accounts.sync.js';
import { registerGroupsCommands } from './groups.js';
import { registerImportCommands } from './importCommand.js';
import { registerKeysCommands } from './keys.js';
import { registerMigrateCommand } from './migrate.js';
import { registerServeCommand } from './serve.js';
import { registerWorkerCommand } from './worker.js';

const program = new Command();
program.name('sonarly').description('Self-hosted Sonarly messaging API: server, worker and admin commands').showHelpAfterError();
registerServeCommand(program);
registerMigrateCommand(program);
registerWorkerCommand(program);
registerGroupsCommands(program);
registerKeysCommands(program);
registerAccountsCommands(program);
registerAccountSyncCommands(program);
registerImportCommands(program);

/** Errors an operator can act on are printed as one clear line; anything else with its stack. */
const EXPECTED_ERRORS = [ConfigError, DataDirBusyError, DatabaseNewerThanCodeError];

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (EXPECTED_ERRORS.some((type) => error instanceof type) || (error as { name?: string }).name === 'CliError') {
    process.stderr.write(`sonarly: ${(error as Error).message}\n`);
    process.exit(2);
  }
  throw error;
}
