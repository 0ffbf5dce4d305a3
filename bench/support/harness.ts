/**
 * What the benchmark runners share: the database they run on, the server processes they start
 * (stopped when the runner exits, however it exits), wrk as the load generator, and medians.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export const log = (line: string) => process.stderr.write(line + '\n');

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Creates the database named by `url` when it does not exist yet. */
export async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rows.length === 0) {
      log(`creating database ${name}`);
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    }
  } finally {
    await client.end();
  }
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGTERM');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

export interface Server {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  port: number;
  /** Path that answers 2xx once the server is ready; default: any answer on `/`. */
  readyPath?: string;
}

/** Starts a server process on `port` and resolves once it answers HTTP; fails if it exits first. */
export async function startServer({ name, command, args, env, port, readyPath }: StartOptions): Promise<Server> {
  const child = spawn(command, args, { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`))));
  exited.catch(() => {});
  const ready = (async () => {
    for (let i = 0; i < 600; i++) {
      try {
        const response = await fetch(url + (readyPath ?? '/'));
        if (readyPath === undefined || response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${name} did not start listening on ${url}`);
  })();
  await Promise.race([ready, exited]);
  return {
    name,
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await done;
      children.delete(child);
    },
  };
}

/** `sonarly serve` from the sources, on PostgreSQL at `databaseUrl`, without worker or demo. */
export function startSonarly(name: string, port: number, env: Record<string, string>): Promise<Server> {
  return startServer({ name, command: process.execPath, args: ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--no-demo', '--no-worker'], env, port, readyPath: '/readyz' });
}

export interface WrkResult {
  rate: number;
  requests: number;
}

/**
 * One wrk run (1 thread, `connections` connections) with the key in Authorization. Any non-2xx
 * answer or socket error fails the run: a refusing or broken server must not post a fast rate.
 */
export async function wrk(url: string, key: string, seconds: number, connections: number): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-H', `Authorization: Bearer ${key}`, url];
  const { stdout } = await run('wrk', args, { maxBuffer: 1 << 20 });
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(stdout);
  if (!rate || errors) throw new Error(`wrk ${url}:\n${stdout}`);
  return { rate: Number(rate[1]), requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0) };
}
