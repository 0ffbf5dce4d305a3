import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * PGlite admits one process per data directory; a second one opening it would corrupt it. The
 * process that opens the directory holds `owner.json` (created exclusively). A server also writes
 * its address and an admin token there, so CLI commands run while it serves can be routed
 * through it instead of opening the database themselves.
 */
export interface DataDirOwner {
  pid: number;
  kind: 'server' | 'cli';
  /** Set for a server: where its API listens. */
  url?: string;
  /** Set for a server: its loopback listener for CLI admin commands (src/http/admin). */
  adminUrl?: string;
  adminToken?: string;
}

const OWNER_FILE = 'owner.json';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function readOwner(dataDir: string): Promise<DataDirOwner | null> {
  try {
    const owner = JSON.parse(await readFile(path.join(dataDir, OWNER_FILE), 'utf8')) as DataDirOwner;
    return isAlive(owner.pid) && owner.pid !== process.pid ? owner : null;
  } catch {
    return null;
  }
}

export class DataDirBusyError extends Error {
  constructor(readonly owner: DataDirOwner, dataDir: string) {
    super(
      owner.kind === 'server'
        ? `A sonarly server (pid ${owner.pid}) is already using ${dataDir}${owner.url ? ` at ${owner.url}` : ''}. Stop it first, or pick another --data-dir.`
        : `Another sonarly command (pid ${owner.pid}) is using ${dataDir}. Wait for it to finish and try again.`,
    );
    this.name = 'DataDirBusyError';
  }
}

export interface DataDirLock {
  owner: DataDirOwner;
  /** Records the server's addresses once it listens. */
  publish(url: string, adminUrl?: string): Promise<void>;
  release(): Promise<void>;
}

export async function acquireDataDir(dataDir: string, kind: DataDirOwner['kind']): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, OWNER_FILE);
  const owner: DataDirOwner = { pid: process.pid, kind, ...(kind === 'server' ? { adminToken: randomBytes(24).toString('hex') } : {}) };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(JSON.stringify(owner));
      await handle.close();
      return {
        owner,
        async publish(url, adminUrl) {
          owner.url = url;
          if (adminUrl) owner.adminUrl = adminUrl;
          await writeFile(file, JSON.stringify(owner), { mode: 0o600 });
        },
        async release() {
          await rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const current = await readOwner(dataDir);
      if (current) throw new DataDirBusyError(current, dataDir);
      // The previous owner died without cleaning up: the file is stale.
      await rm(file, { force: true });
    }
  }
  throw new Error(`Could not take ownership of ${dataDir}.`);
}
