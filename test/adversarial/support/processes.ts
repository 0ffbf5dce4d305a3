import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

/**
 * `sonarly` commands run as real child processes (as in test/scheduler/crash.test.ts), to be
 * killed with SIGKILL at any moment.
 */
const CLI = path.resolve('src/cli/main.ts');

export interface CliProcess {
  child: ChildProcess;
  /** Resolves when the process says it is working (server listening, worker started) or, with no marker, at once. */
  ready: Promise<void>;
  exit: Promise<number | null>;
  output(): string;
  /** The URL a server printed. */
  url(): string | null;
}

export function startCli(args: string[], env: Record<string, string>, readyMarker: RegExp | null): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', RATE_LIMIT_ENABLED: 'false', SHUTDOWN_DRAIN_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let settledReady = readyMarker === null;
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    if (readyMarker === null) return resolve();
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!settledReady && readyMarker.test(output)) {
        settledReady = true;
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      if (!settledReady) reject(new Error(`sonarly ${args[0]} exited early (${code}): ${output.slice(-2000)}`));
    });
  });
  if (readyMarker === null) {
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  }
  return {
    child,
    ready,
    exit,
    output: () => output,
    url: () => /listening on (http:\/\/[\d.:]+)/.exec(output)?.[1] ?? null,
  };
}

export async function kill(process: CliProcess): Promise<void> {
  if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGKILL');
  await process.exit;
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
