import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { listAccountGroups } from '../domain/accountGroups.js';
import { authenticateKey } from '../domain/apiKeys.js';
import { seedDemoWorkspace } from '../demo/seed.js';
import { startAdminServer } from '../http/admin/server.js';
import { buildApp } from '../http/app.js';
import { openRateLimitStore } from '../http/rateLimit/store.js';
import { Lifecycle } from '../observability/health.js';
import { loggerOptions } from '../observability/logger.js';
import { installGracefulShutdown } from '../observability/shutdown.js';
import { demoReplyTarget } from '../demo/replyTarget.js';
import { openRuntime } from '../runtime.js';
import { startWorker } from '../scheduler/startWorker.js';

const DEMO_KEY_FILE = 'demo-api-key';

/**
 * On an empty embedded database, creates the demo workspace and keeps its key in the data
 * directory so every later `npm start` can print it again (the database keeps only its hash).
 */
async function demoKey(runtime: Awaited<ReturnType<typeof openRuntime>>, dataDir: string, embedded: boolean, wanted: boolean) {
  const file = path.join(dataDir, DEMO_KEY_FILE);
  if (wanted && (await listAccountGroups(runtime.db)).length === 0) {
    const demo = await seedDemoWorkspace(runtime.db);
    if (embedded) await writeFile(file, demo.apiKey + '\n', { mode: 0o600 });
    return { key: demo.apiKey, accountGroupId: demo.accountGroupId, created: demo };
  }
  if (!embedded) return null;
  const key = (await readFile(file, 'utf8').catch(() => '')).trim();
  const authenticated = key ? await authenticateKey(runtime.db, key) : null;
  if (!authenticated) return null;
  return { key, accountGroupId: [...authenticated.accountGroupIds][0]!, created: null };
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Run the API (and, unless --no-worker, the outbound scheduler worker)')
    .option('--port <port>', 'port to listen on (env PORT, default 8080)')
    .option('--host <host>', 'address to listen on (env HOST, default 127.0.0.1)')
    .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR, default ./.sonarly)')
    .option('--no-demo', 'do not create the demo workspace on an empty embedded database')
    .option('--demo', 'create the demo workspace on an empty database, also on PostgreSQL')
    .option('--no-worker', 'serve the API only; run `sonarly worker` processes separately')
    .action(async (options: { port?: string; host?: string; dataDir?: string; demo?: boolean; worker: boolean }) => {
      const config = loadConfig(process.env, { port: options.port, host: options.host, dataDir: options.dataDir });
      const settings = options.worker ? config.worker : null;
      const embedded = !config.databaseUrl;
      const runtime = await openRuntime(config, 'server');
      const rateLimits = openRateLimitStore(config);
      const lifecycle = new Lifecycle();
      const app = await buildApp(runtime.services, {
        logger: loggerOptions(config.logLevel),
        http: config.http,
        rateLimiter: rateLimits.limiter,
        lifecycle,
      });
      await rateLimits.connect((level, message, fields) => app.log[level](fields ?? {}, message));
      const demo = await demoKey(runtime, config.dataDir, embedded, options.demo ?? embedded);
      await app.listen({ port: config.port, host: config.host });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      const url = `http://${config.host}:${port}`;
      // CLI admin commands on this embedded data directory come through this loopback listener.
      const admin = runtime.lock?.owner.adminToken ? await startAdminServer(runtime.services, { adminToken: runtime.lock.owner.adminToken, logger: loggerOptions(config.logLevel) }) : null;
      await runtime.lock?.publish(url, admin?.url);
      const worker = settings ? startWorker(runtime, settings, (level, message, fields) => app.log[level](fields ?? {}, message)) : null;

      const lines = [``, `Sonarly messaging API listening on ${url}`, `  database: ${embedded ? `embedded (PGlite) in ${config.dataDir}` : 'PostgreSQL (DATABASE_URL)'}`];
      if (demo?.created) lines.push(`  demo workspace created: ${demo.created.conversations} conversations, ${demo.created.messages} messages, ${demo.created.prospects} prospects`);
      if (demo) {
        lines.push(`  API key (messages:read, messages:write, prospects:read): ${demo.key}`, ``, `Try it:`);
        lines.push(`  curl -s -H "Authorization: Bearer ${demo.key}" "${url}/v1/accounts/${demo.accountGroupId}/messages?limit=5"`);
        const prospectId = await demoReplyTarget(runtime.db, demo.accountGroupId);
        if (prospectId && worker) {
          lines.push(``, `Queue a reply; the worker sends it within seconds and it then leads GET …/messages (isSender: true):`);
          lines.push(
            `  curl -s -X POST -H "Authorization: Bearer ${demo.key}" -H "Content-Type: application/json" -H "Idempotency-Key: demo-$RANDOM" -d '{"prospectId":"${prospectId}","message":"Thanks! Does Tuesday work?"}' "${url}/v1/accounts/${demo.accountGroupId}/messages/responses"`,
          );
        }
      }
      lines.push(`  OpenAPI document: ${url}/v1/openapi.json`, `  API reference: ${url}/docs`, `  rate limits: ${rateLimits.description}`, ``);
      process.stdout.write(lines.join('\n') + '\n');

      // Fail readiness first so load balancers move traffic away, stop taking new jobs and let
      // sends in flight finish, then stop the listener (requests in flight complete), then close
      // Redis and the database.
      installGracefulShutdown({
        timeoutMs: config.shutdownTimeoutMs,
        log: (level, message, fields) => app.log[level](fields ?? {}, message),
        steps: [
          {
            name: 'fail readiness',
            run: async () => {
              lifecycle.draining = true;
              if (config.shutdownDrainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainDelayMs));
            },
          },
          { name: 'stop worker', run: async () => void (await worker?.stop()) },
          { name: 'close HTTP listener', run: () => app.close() },
          { name: 'close admin listener', run: async () => void (await admin?.close()) },
          { name: 'close rate-limit store', run: () => rateLimits.close() },
          { name: 'close database', run: () => runtime.close() },
        ],
      });
    });
}
