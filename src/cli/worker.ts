import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../config.js';
import { openRuntime } from '../runtime.js';
import { startWorker, workerSettings } from '../scheduler/startWorker.js';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run only the outbound scheduler worker (any number of them against one PostgreSQL)')
    .option('--data-dir <dir>', 'embedded database directory (only when no server uses it)')
    .action(async (options: { dataDir?: string }) => {
      const config = loadConfig(process.env, { dataDir: options.dataDir });
      const settings = workerSettings();
      const logger = pino({ level: config.logLevel });
      const runtime = await openRuntime(config, 'server');
      const worker = startWorker(runtime, settings, (level, message, fields) => logger[level](fields ?? {}, message));
      logger.info({ workerId: worker.id, ...settings }, 'worker started');
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        logger.info('stopping: finishing jobs in flight');
        await worker.stop();
        await runtime.close();
        process.exit(0);
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
