/**
 * A sync process for test/sync/killed.test.ts: backfills one account in a PostgreSQL schema until
 * it is killed. Not a test file itself.
 */
import { systemClock } from '../../src/clock.js';
import { defaultConnectorRegistry } from '../../src/connectors/registry.js';
import { openPostgres } from '../../src/storage/postgres.js';
import { backfillAccount } from '../../src/sync/backfill.js';

const db = openPostgres({ connectionString: process.env.CHILD_DATABASE_URL!, schema: process.env.CHILD_SCHEMA!, poolSize: 2 });
const connectors = defaultConnectorRegistry(db, systemClock);
await backfillAccount({ db, clock: systemClock, connectors }, process.env.CHILD_ACCOUNT_ID!, { batchSize: 50, owner: 'child-process' });
await db.close();
