import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output: () => string;
  /** Resolves when a printed line matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `sonarly serve` from the sources, as an operator would run the built CLI. */
export async function startServe(env: Record<string, string>, args: string[] = []): Promise<ServeProcess> {
  const started = startCli(['serve', '--port', '0', '--host', '127.0.0.1', ...args], env);
  const line = await started.waitFor(/listening on http:\/\/\S+/);
  return { ...started, url: /listening on (http:\/\/\S+)/.exec(line)![1]! };
}

/** Runs any `sonarly` command from the sources; `url` is empty until the caller learns it. */
export function startCli(args: string[], env: Record<string, string>): ServeProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      const line = output.split('\n').find((l) => waiter.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const waitFor = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const line = output.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) return resolve(line);
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${output}`)), timeoutMs);
      waiters.push({ pattern, resolve: (found) => (clearTimeout(timer), resolve(found)) });
      void exited.then((code) => reject(new Error(`process exited (${code}) before printing ${pattern}; output:\n${output}`)));
    });

  return { url: '', child, output: () => output, waitFor, exited, kill: (signal = 'SIGTERM') => child.kill(signal) };
}
