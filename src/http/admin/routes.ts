import { createHash, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import { type AdminCommandName, runAdminCommand } from '../../domain/admin/commands.js';
import { ApiError } from '../../domain/errors.js';
import { IMPORT_FORMATS, IMPORT_KINDS, type ImportEvent, type ImportKind, prepareImport } from '../../domain/imports/run.js';
import type { ImportFormat } from '../../domain/imports/records.js';
import { SYNC_COMMAND_BODIES } from '../../sync/adminCommands.js';
import { success } from '../envelope.js';
import type { Services } from '../services.js';

/**
 * The internal admin endpoint: while `sonarly serve` holds the embedded data directory, CLI admin
 * commands run here instead of opening the database (PGlite admits one process). Served by the
 * admin listener (`server.ts`), with the token the server keeps in the 0600 `owner.json` of its
 * data directory; hidden from any OpenAPI document.
 */
export const ADMIN_TOKEN_HEADER = 'x-sonarly-admin-token';
export const ADMIN_PREFIX = '/internal/admin';
export const IMPORT_CONTENT_TYPE = 'application/octet-stream';

const Text = (maxLength = 512) => Type.String({ minLength: 1, maxLength });
const Empty = Type.Object({}, { additionalProperties: false });

/** Body schemas of the commands; the domain functions check meaning (known groups, permissions). */
const COMMAND_BODIES: Record<AdminCommandName, TSchema> = {
  'groups.create': Type.Object({ name: Text(200) }, { additionalProperties: false }),
  'groups.list': Empty,
  'keys.create': Type.Object(
    { accountGroupIds: Type.Array(Text(64), { maxItems: 1000 }), permissions: Type.Array(Text(64), { maxItems: 100 }), name: Type.Optional(Type.String({ maxLength: 200 })) },
    { additionalProperties: false },
  ),
  'keys.list': Empty,
  'keys.revoke': Type.Object({ id: Text(64) }, { additionalProperties: false }),
  'accounts.add': Type.Object(
    { accountGroupId: Text(64), accountType: Text(64), providerAccountId: Text(), name: Type.Optional(Type.String({ maxLength: 200 })) },
    { additionalProperties: false },
  ),
  'accounts.list': Type.Object({ accountGroupId: Type.Optional(Text(64)) }, { additionalProperties: false }),
  'migrate.status': Empty,
  ...SYNC_COMMAND_BODIES,
};

export const commandPath = (name: AdminCommandName) => `${ADMIN_PREFIX}/${name.replace('.', '/')}`;
export const importPath = (kind: ImportKind) => `${ADMIN_PREFIX}/import/${kind}`;

const digest = (value: string) => createHash('sha256').update(value).digest();

export function registerAdminRoutes(app: FastifyInstance, services: Services, adminToken: string, stopping?: AbortSignal): void {
  const expected = digest(adminToken);
  void app.register(async (admin) => {
    admin.addHook('onRequest', async (request: FastifyRequest) => {
      const presented = request.headers[ADMIN_TOKEN_HEADER];
      // Digests have equal lengths, so the comparison takes the same time whatever was sent.
      if (typeof presented !== 'string' || !timingSafeEqual(digest(presented), expected)) {
        throw new ApiError('UNAUTHORIZED', 'Missing or wrong admin token.', `Send the token from the data directory's owner.json in ${ADMIN_TOKEN_HEADER}.`);
      }
    });

    // The import body is the file itself, read as a stream: never buffered, so no body limit applies.
    admin.addContentTypeParser(IMPORT_CONTENT_TYPE, (_request, payload, done) => done(null, payload));

    for (const name of Object.keys(COMMAND_BODIES) as AdminCommandName[]) {
      admin.post(commandPath(name), { schema: { hide: true, body: COMMAND_BODIES[name] } }, async (request) =>
        success(request.id, await runAdminCommand(services.db, name, request.body as never)),
      );
    }

    for (const kind of IMPORT_KINDS) {
      admin.post(
        importPath(kind),
        {
          schema: {
            hide: true,
            querystring: Type.Object(
              { format: Type.Union(IMPORT_FORMATS.map((format) => Type.Literal(format))), accountGroupId: Type.Optional(Text(64)) },
              { additionalProperties: false },
            ),
          },
        },
        async (request, reply) => {
          if (!(request.body instanceof Readable)) {
            throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `Send the file as the request body with Content-Type: ${IMPORT_CONTENT_TYPE}.`);
          }
          const query = request.query as { format: ImportFormat; accountGroupId?: string };
          const run = await prepareImport(services.db, { kind, format: query.format, ...(query.accountGroupId ? { accountGroupId: query.accountGroupId } : {}) });
          // A server shutting down stops the import after its batch; the client hears a summary
          // marked interrupted. A client hanging up ends the body stream, which stops it as well.
          const events = run(request.body, stopping);
          // Progress goes back while the file still comes in; a failure after the first byte can
          // only be reported in the stream itself, as its last line.
          async function* lines(): AsyncGenerator<string> {
            try {
              for await (const event of events) yield JSON.stringify(event) + '\n';
            } catch (error) {
              const known = error instanceof ApiError;
              // The client going away (Ctrl-C) is not a server failure.
              if ((error as NodeJS.ErrnoException).code === 'ECONNRESET') {
                request.log.info('import stopped: the client disconnected');
                return;
              }
              if (!known) request.log.error({ err: error }, 'import failed');
              const failure = known
                ? { type: 'error', code: error.code, message: error.message, details: error.details }
                : { type: 'error', code: 'INTERNAL_ERROR', message: 'The import failed on the server; see its log for this traceId. Lines already reported were stored; re-running the import skips them.', details: '' };
              yield JSON.stringify({ ...failure, traceId: request.id }) + '\n';
            }
          }
          // The import may stop before the end of the body (shutdown): the connection ends with the answer.
          return reply.type('application/x-ndjson; charset=utf-8').header('connection', 'close').send(Readable.from(lines()));
        },
      );
    }
  });
}

export type ImportStreamEvent = ImportEvent | { type: 'error'; code: string; message: string; details: string; traceId: string };
