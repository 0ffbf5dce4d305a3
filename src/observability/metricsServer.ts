import { type Server, createServer } from 'node:http';
import { randomId } from '../ids.js';
import { registry } from './metrics.js';

/**
 * /metrics and /healthz for a process without the API (`sonarly worker`), so Prometheus can
 * scrape its send counters and an orchestrator can probe it. Plain node:http: nothing else is
 * served, and the answers match the API's (/healthz in the envelope).
 */
export async function startMetricsServer(host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const traceId = randomId();
    response.setHeader('X-Trace-Id', traceId);
    if (request.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
      return;
    }
    const ok = request.method === 'GET' && path === '/healthz';
    const body = ok
      ? { success: true, data: { status: 'ok' }, error: null, traceId }
      : { success: false, data: null, error: { code: 'NOT_FOUND', message: `No route ${request.method} ${path}.`, details: 'This port serves GET /metrics and GET /healthz.' }, traceId };
    response.writeHead(ok ? 200 : 404, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host}:${actualPort}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
