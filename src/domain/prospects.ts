import { newId } from '../ids.js';
import type { Queryable } from '../storage/db.js';

export interface ProspectMatch {
  prospectId: string;
  personId: string | null;
  publicIdentifier: string | null;
  linkedinUrl: string | null;
  name: string | null;
  companyName: string | null;
  title: string | null;
}

export type Resolution = 'none' | 'unique' | 'ambiguous';

export interface ProviderIdLookup {
  providerId: string;
  resolution: Resolution;
  matches: ProspectMatch[];
}

/**
 * Every prospect of the group with that provider id. Several matches are reported as `ambiguous`
 * with all of them listed: choosing one would be a guess (reference notes 3.4).
 */
export async function lookupProspectsByProviderId(db: Queryable, accountGroupId: string, providerId: string): Promise<ProviderIdLookup> {
  const matches = await db.query<ProspectMatch>(
    `SELECT id AS "prospectId", person_id AS "personId", public_identifier AS "publicIdentifier",
            linkedin_url AS "linkedinUrl", name, company_name AS "companyName", title
     FROM prospects WHERE account_group_id = $1 AND provider_id = $2 ORDER BY created_at, id`,
    [accountGroupId, providerId],
  );
  const resolution: Resolution = matches.length === 0 ? 'none' : matches.length === 1 ? 'unique' : 'ambiguous';
  return { providerId, resolution, matches };
}

export interface ProspectInput {
  accountGroupId: string;
  providerId: string;
  externalId?: string | null;
  publicIdentifier?: string | null;
  linkedinUrl?: string | null;
  name?: string | null;
  companyName?: string | null;
  title?: string | null;
}

/**
 * Ensures the person for a provider id exists in the group and returns its id. Persons are the
 * LinkedIn members seen in conversations; prospects are the sales records that point at them.
 */
export async function upsertPerson(
  db: Queryable,
  input: { accountGroupId: string; providerId: string; publicIdentifier?: string | null; linkedinUrl?: string | null; name?: string | null },
): Promise<string> {
  const [row] = await db.query<{ id: string }>(
    `INSERT INTO persons (id, account_group_id, provider_id, public_identifier, linkedin_url, name)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (account_group_id, provider_id) DO UPDATE SET
       public_identifier = COALESCE(EXCLUDED.public_identifier, persons.public_identifier),
       linkedin_url = COALESCE(EXCLUDED.linkedin_url, persons.linkedin_url),
       name = COALESCE(EXCLUDED.name, persons.name)
     RETURNING id`,
    [newId(), input.accountGroupId, input.providerId, input.publicIdentifier ?? null, input.linkedinUrl ?? null, input.name ?? null],
  );
  return row!.id;
}

/** Inserts a prospect; with an `externalId` already imported into the group, does nothing. Returns whether it inserted. */
export async function insertProspect(db: Queryable, input: ProspectInput): Promise<boolean> {
  const personId = await upsertPerson(db, input);
  const rows = await db.query(
    `INSERT INTO prospects (id, account_group_id, person_id, provider_id, public_identifier, linkedin_url, name, company_name, title, external_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (account_group_id, external_id) DO NOTHING RETURNING id`,
    [
      newId(),
      input.accountGroupId,
      personId,
      input.providerId,
      input.publicIdentifier ?? null,
      input.linkedinUrl ?? null,
      input.name ?? null,
      input.companyName ?? null,
      input.title ?? null,
      input.externalId ?? null,
    ],
  );
  return rows.length > 0;
}
