import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import type { ImportFormat } from '../domain/imports/records.js';
import { IMPORT_FORMATS, type ImportCounts, type ImportKind } from '../domain/imports/run.js';
import { type AdminOptions, withAdmin } from './adminAction.js';
import type { ImportSource } from './adminClient.js';
import { CliError, EXIT } from './errors.js';
import { printJson } from './output.js';
import { createProgress } from './progress.js';

interface ImportCommandOptions extends AdminOptions {
  group?: string;
  format?: ImportFormat;
}

const EXTENSIONS: Record<string, ImportFormat> = { '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv' };

function formatOf(file: string, given: ImportFormat | undefined): ImportFormat {
  if (given) return given;
  const format = EXTENSIONS[path.extname(file).toLowerCase()];
  if (!format) throw new CliError(`Cannot tell the format of ${file} from its name; pass --format jsonl or --format csv.`);
  return format;
}

async function openSource(file: string): Promise<ImportSource> {
  if (file === '-') return { open: () => process.stdin, size: null };
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`Cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}.`);
  });
  if (!info.isFile()) throw new CliError(`${file} is not a file.`);
  return { open: () => createReadStream(file, { highWaterMark: 64 * 1024 }), size: info.size };
}

async function runImport(kind: ImportKind, file: string, options: ImportCommandOptions): Promise<void> {
  const format = formatOf(file, options.format);
  const source = await openSource(file);
  await withAdmin(options, async (client, signal) => {
    const progress = createProgress(source.size, !options.json && process.stdout.isTTY === true);
    let counts: ImportCounts = { read: 0, imported: 0, duplicates: 0, rejected: 0, bytes: 0 };
    let interrupted = false;
    try {
      for await (const event of client.import({ kind, format, ...(options.group ? { accountGroupId: options.group } : {}) }, source, signal)) {
        if (event.type === 'rejected') {
          if (options.json) printJson(event);
          else progress.log(`line ${event.line}: ${event.reason}`);
        } else {
          const { type: _type, ...rest } = event;
          counts = { read: rest.read, imported: rest.imported, duplicates: rest.duplicates, rejected: rest.rejected, bytes: rest.bytes };
          progress.update(counts);
          if (event.type === 'summary') interrupted = event.interrupted;
        }
      }
    } catch (error) {
      // Ctrl-C on an import through the server cuts the connection; the server keeps what it stored.
      if (!signal.aborted) throw error;
      interrupted = true;
    } finally {
      progress.stop();
    }
    if (options.json) printJson({ type: 'summary', interrupted, ...counts });
    else {
      process.stdout.write(
        `${interrupted ? 'Interrupted after' : 'Read'} ${counts.read} record${counts.read === 1 ? '' : 's'}: ` +
          `${counts.imported} imported, ${counts.duplicates} skipped as duplicates, ${counts.rejected} rejected.\n`,
      );
      if (interrupted) process.stdout.write('Records stored so far are kept; run the same import again to continue.\n');
    }
    if (interrupted) process.exitCode = EXIT.INTERRUPTED;
    else if (counts.rejected > 0) process.exitCode = EXIT.REJECTED_RECORDS;
  });
}

export function registerImportCommands(program: Command): void {
  const imports = program
    .command('import')
    .description('Import prospects or message history from JSONL or CSV (see docs/import-formats.md); re-running an import adds nothing twice');

  for (const kind of ['prospects', 'messages'] as const) {
    imports
      .command(kind)
      .description(`Import ${kind} from FILE (JSONL or CSV with a header row; "-" reads stdin)`)
      .argument('<file>', 'the file; .jsonl/.ndjson or .csv, or "-" with --format')
      .option('--group <id>', kind === 'prospects' ? 'account group for records without accountGroupId' : 'only resolve accounts in this account group')
      .addOption(new Option('--format <format>', 'file format (default: from the extension)').choices([...IMPORT_FORMATS]))
      .option('--data-dir <dir>', 'embedded database directory (env SONARLY_DATA_DIR)')
      .option('--json', 'print each rejected record and the summary as JSON lines')
      .action((file: string, options: ImportCommandOptions) => runImport(kind, file, options));
  }
}
