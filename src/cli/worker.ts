import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../config.js';
import { registerDatabaseCollectors } from '../observability/dbCollectors.js';
import { REDACTED_PATHS } from '../observability/logger.js';
import { startMetricsServer } from '../observability/metricsServer.js';
import { installGracefulShutdown } from '../observability/shutdown.js';
import { openRuntime } from '../runtime.js';
import { startWorker } from '../scheduler/startWorker.js';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run only the outbound scheduler worker (any number of them against one PostgreSQL)')
    .option('--data-dir <dir>', 'embedded database directory (only when no server uses it)')
    .action(async (options: { dataDir?: string }) => {
      const config = loadConfig(process.env, { dataDir: options.dataDir });
      const settings = config.worker;
      const logger = pino({ level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } });
      const runtime = await openRuntime(config, 'server');
      const worker = startWorker(runtime, settings, (level, message, fields) => logger[level](fields ?? {}, message));
      registerDatabaseCollectors(runtime.db);
      const metrics = config.workerMetricsPort === undefined ? null : await startMetricsServer(config.host, config.workerMetricsPort);
      logger.info({ workerId: worker.id, ...settings, ...(metrics ? { metrics: `${metrics.url}/metrics` } : {}) }, 'worker started');
      // Stop claiming jobs and let sends in flight finish (bounded by SHUTDOWN_TIMEOUT_MS), then
      // close the metrics port and the database.
      installGracefulShutdown({
        timeoutMs: config.shutdownTimeoutMs,
        log: (level, message, fields) => logger[level](fields ?? {}, message),
        steps: [
          { name: 'stop worker', run: () => worker.stop() },
          { name: 'close metrics port', run: async () => metrics?.close() },
          { name: 'close database', run: () => runtime.close() },
        ],
      });
    });
}
