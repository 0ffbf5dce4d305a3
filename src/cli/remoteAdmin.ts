import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { AdminCommandName, AdminInput, AdminOutput } from '../domain/admin/commands.js';
import { ApiError, type ErrorCode } from '../domain/errors.js';
import { readLines } from '../domain/imports/lines.js';
import type { ImportEvent, ImportOptions } from '../domain/imports/run.js';
import { ADMIN_TOKEN_HEADER, IMPORT_CONTENT_TYPE, type ImportStreamEvent, commandPath, importPath } from '../http/admin/routes.js';
import type { AdminClient, ImportSource } from './adminClient.js';
import { CliError } from './errors.js';

interface Envelope {
  success: boolean;
  data: unknown;
  error: { code: string; message: string; details: string } | null;
}

/** Sends admin commands to the `sonarly serve` that holds the embedded data directory. */
export class RemoteAdminClient implements AdminClient {
  readonly via = 'server';

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly pid: number,
    private readonly dataDir: string,
  ) {}

  private request(path: string, contentType: string, signal?: AbortSignal): { request: http.ClientRequest; response: Promise<http.IncomingMessage> } {
    const request = http.request(new URL(path, this.url), {
      method: 'POST',
      // One connection per command, closed after it: no idle socket keeps the command (or a
      // stopping server) waiting.
      agent: false,
      headers: { [ADMIN_TOKEN_HEADER]: this.token, 'content-type': contentType, accept: 'application/json, application/x-ndjson' },
      ...(signal ? { signal } : {}),
    });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      request.on('response', resolve);
      request.on('error', (error) => reject(this.unreachable(error)));
    });
    return { request, response };
  }

  private unreachable(error: Error): Error {
    if (error.name === 'AbortError') return error;
    return new CliError(
      `The sonarly server (pid ${this.pid}) that holds ${this.dataDir} did not answer at ${this.url}: ${error.message}.\n` +
        '  If it is shutting down, run the command again in a moment.',
    );
  }

  async run<N extends AdminCommandName>(name: N, input: AdminInput<N>): Promise<AdminOutput<N>> {
    const { request, response } = this.request(commandPath(name), 'application/json');
    request.end(JSON.stringify(input));
    const envelope = await readEnvelope(await response);
    if (!envelope.success) throw fromEnvelope(envelope);
    return envelope.data as AdminOutput<N>;
  }

  async *import(options: ImportOptions, source: ImportSource, signal: AbortSignal): AsyncIterable<ImportEvent> {
    const query = new URLSearchParams({ format: options.format, ...(options.accountGroupId ? { accountGroupId: options.accountGroupId } : {}) });
    const { request, response: pending } = this.request(`${importPath(options.kind)}?${query}`, IMPORT_CONTENT_TYPE, signal);
    // The upload streams while the reports stream back; backpressure bounds memory on both ends.
    const upload = pipeline(source.open(), request).catch(() => {});
    try {
      const response = await pending;
      if (response.statusCode !== 200) throw fromEnvelope(await readEnvelope(response));
      let finished = false;
      for await (const line of readLines(response, 1024 * 1024)) {
        if ('problem' in line || line.text === '') continue;
        const event = JSON.parse(line.text) as ImportStreamEvent;
        if (event.type === 'error') throw new ApiError(event.code as ErrorCode, event.message, event.details);
        yield event;
        if (event.type === 'summary') finished = true;
      }
      if (!finished && !signal.aborted) {
        throw new CliError('The server closed the import before it finished. Records reported so far were stored; run the import again to continue (stored records are skipped).');
      }
    } finally {
      request.destroy();
      await upload;
    }
  }

  async close(): Promise<void> {}
}

function fromEnvelope(envelope: Envelope): ApiError {
  const error = envelope.error ?? { code: 'INTERNAL_ERROR', message: 'The server answered without an error description.', details: '' };
  return new ApiError(error.code as ErrorCode, error.message, error.details);
}

async function readEnvelope(response: http.IncomingMessage): Promise<Envelope> {
  const text = await readAll(response);
  try {
    return JSON.parse(text) as Envelope;
  } catch {
    throw new CliError(`The server answered ${response.statusCode} with something else than the admin envelope: ${text.slice(0, 200)}`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}
