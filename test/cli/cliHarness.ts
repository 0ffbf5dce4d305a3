import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.js';
import { type Runtime, openRuntime } from '../../src/runtime.js';
import { backend, createTestDb, testDatabaseUrl } from '../helpers/testDb.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RSS_REPORTER = fileURLToPath(new URL('./reportRss.mjs', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the process, in KiB (when asked for). */
  maxRssKb?: number;
}

/**
 * The `sonarly` CLI run as a real subprocess against this test file's database: a fresh embedded
 * data directory, or (PostgreSQL project) a fresh schema reached through DATABASE_URL.
 */
export class CliEnv {
  private constructor(
    readonly dataDir: string,
    readonly env: NodeJS.ProcessEnv,
    private readonly cleanup: () => Promise<void>,
  ) {}

  static async create(): Promise<CliEnv> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'sonarly-cli-'));
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', SONARLY_DATA_DIR: dataDir };
    delete env.DATABASE_URL;
    delete env.PORT;
    if (backend === 'pglite') return new CliEnv(dataDir, env, () => rm(dataDir, { recursive: true, force: true }));
    const testDb = await createTestDb({ poolSize: 1 });
    await testDb.db.close();
    const url = new URL(testDatabaseUrl());
    url.searchParams.set('options', `-c search_path=${testDb.schema}`);
    env.DATABASE_URL = url.toString();
    return new CliEnv(dataDir, env, async () => {
      await testDb.close().catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    });
  }

  get embedded(): boolean {
    return backend === 'pglite';
  }

  spawn(args: string[], options: { env?: NodeJS.ProcessEnv; nodeOptions?: string[] } = {}): ChildProcess {
    return spawn(process.execPath, [...(options.nodeOptions ?? []), '--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...this.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  async run(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string; measureRss?: boolean; nodeOptions?: string[] } = {}): Promise<CliResult> {
    const rssFile = options.measureRss ? path.join(this.dataDir, `rss-${process.hrtime.bigint()}`) : undefined;
    const child = this.spawn(args, {
      env: { ...options.env, ...(rssFile ? { SONARLY_TEST_RSS_FILE: rssFile } : {}) },
      nodeOptions: [...(options.nodeOptions ?? []), ...(rssFile ? ['--import', RSS_REPORTER] : [])],
    });
    child.stdin!.end(options.stdin ?? '');
    const result = await collect(child);
    if (rssFile) result.maxRssKb = Number(await readFile(rssFile, 'utf8'));
    return result;
  }

  /** Opens the database in this process to check what the CLI stored (no CLI may be running). */
  async openRuntime(): Promise<Runtime> {
    return openRuntime(loadConfig(this.env), 'cli');
  }

  close(): Promise<void> {
    return this.cleanup();
  }
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Resolves with the first match of `pattern` in the stream's output so far (event-driven, no polling). */
export function waitForOutput(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpMatchArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = seen.match(pattern);
      if (match) {
        stream.off('data', onData);
        resolve(match);
      }
    };
    stream.on('data', onData);
    stream.on('end', () => reject(new Error(`stream ended without ${pattern}; output was:\n${seen}`)));
  });
}

export interface RunningServer {
  url: string;
  process: ChildProcess;
  stop(): Promise<CliResult>;
}

/** `sonarly serve --port 0` on the env's database; resolves once it listens. */
export async function startServer(cli: CliEnv): Promise<RunningServer> {
  const child = cli.spawn(['serve', '--port', '0', '--no-demo']);
  const exited = collect(child);
  const [, url] = await waitForOutput(child.stdout!, /listening on (http:\/\/\S+)/);
  return {
    url: url!,
    process: child,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export function jsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}
