/**
 * One graceful shutdown per process, on SIGTERM or SIGINT: the steps run in order (typically:
 * fail readiness, wait for the load balancer, stop taking work, finish work in flight, close
 * connections). If they have not finished within `timeoutMs` the process exits with status 1 and
 * says which step was still running, so an orchestrator's kill never meets a silent hang.
 */
export interface ShutdownStep {
  name: string;
  run(): Promise<void> | void;
}

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export function installGracefulShutdown(options: { steps: ShutdownStep[]; timeoutMs: number; log: Log; exit?: (code: number) => void }): () => Promise<void> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let started: Promise<void> | null = null;

  const shutdown = (signal = 'shutdown') => {
    if (started) return started;
    started = (async () => {
      let current = 'start';
      options.log('info', 'shutting down', { signal, timeoutMs: options.timeoutMs });
      const timer = setTimeout(() => {
        options.log('error', 'shutdown timed out; exiting anyway', { step: current, timeoutMs: options.timeoutMs });
        exit(1);
      }, options.timeoutMs);
      timer.unref();
      try {
        for (const step of options.steps) {
          current = step.name;
          await step.run();
        }
        clearTimeout(timer);
        options.log('info', 'shutdown complete');
        exit(0);
      } catch (error) {
        clearTimeout(timer);
        options.log('error', 'shutdown failed', { step: current, err: error instanceof Error ? error.message : String(error) });
        exit(1);
      }
    })();
    return started;
  };

  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  return () => shutdown();
}
