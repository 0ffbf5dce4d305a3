import { createHash } from 'node:crypto';
import { newId } from '../../ids.js';
import type { Queryable } from '../../storage/db.js';
import { accountGroupsExist } from '../accountGroups.js';
import { FieldReader } from './fields.js';
import type { BatchOutcome, RecordImporter, Rejection } from './importer.js';

export const PROSPECT_FIELDS = ['accountGroupId', 'providerId', 'externalId', 'publicIdentifier', 'linkedinUrl', 'name', 'companyName', 'title'] as const;

export interface ProspectImportRow {
  line: number;
  accountGroupId: string;
  providerId: string;
  externalId: string;
  publicIdentifier: string | null;
  linkedinUrl: string | null;
  name: string | null;
  companyName: string | null;
  title: string | null;
}

/**
 * Without an externalId, one is derived from the record's content, so a re-run of the same file
 * inserts nothing, while two different records for the same person stay two prospects.
 */
export function derivedExternalId(row: Omit<ProspectImportRow, 'line' | 'externalId' | 'accountGroupId'>): string {
  const content = JSON.stringify([row.providerId, row.publicIdentifier, row.linkedinUrl, row.name, row.companyName, row.title]);
  return 'derived:' + createHash('sha256').update(content).digest('hex').slice(0, 32);
}

export class ProspectImporter implements RecordImporter<ProspectImportRow> {
  readonly columns;
  private readonly knownGroups = new Map<string, boolean>();

  constructor(private readonly accountGroupId: string | undefined) {
    this.columns = { known: PROSPECT_FIELDS, required: accountGroupId ? ['providerId'] : ['accountGroupId', 'providerId'] };
  }

  parse(fields: Record<string, unknown>, line: number): ProspectImportRow {
    const reader = new FieldReader(fields);
    reader.onlyFields(PROSPECT_FIELDS);
    const recordGroup = reader.string('accountGroupId', { maxLength: 64 });
    let accountGroupId = recordGroup ?? this.accountGroupId ?? '';
    if (this.accountGroupId && recordGroup && recordGroup !== this.accountGroupId) {
      accountGroupId = reader.fail(`accountGroupId ${recordGroup} differs from --group ${this.accountGroupId}`, '');
    } else if (!accountGroupId) {
      reader.fail('accountGroupId is required (or pass --group)', '');
    }
    const row = {
      providerId: reader.string('providerId', { required: true }),
      publicIdentifier: reader.string('publicIdentifier'),
      linkedinUrl: reader.url('linkedinUrl'),
      name: reader.string('name'),
      companyName: reader.string('companyName'),
      title: reader.string('title'),
    };
    const externalId = reader.string('externalId');
    reader.done();
    return { line, accountGroupId, externalId: externalId ?? derivedExternalId(row), ...row };
  }

  async store(tx: Queryable, rows: ProspectImportRow[]): Promise<BatchOutcome> {
    const unchecked = [...new Set(rows.map((row) => row.accountGroupId))].filter((id) => !this.knownGroups.has(id));
    if (unchecked.length > 0) {
      const missing = new Set(await accountGroupsExist(tx, unchecked));
      for (const id of unchecked) this.knownGroups.set(id, !missing.has(id));
    }
    const rejected: Rejection[] = [];
    const accepted = rows.filter((row) => {
      if (this.knownGroups.get(row.accountGroupId)) return true;
      rejected.push({ line: row.line, reason: `unknown account group ${row.accountGroupId}` });
      return false;
    });
    if (accepted.length === 0) return { imported: 0, duplicates: 0, rejected };

    const personIds = await upsertPersons(tx, accepted);
    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO prospects (id, account_group_id, person_id, provider_id, public_identifier, linkedin_url, name, company_name, title, external_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
       ON CONFLICT (account_group_id, external_id) DO NOTHING
       RETURNING id`,
      [
        accepted.map(() => newId()),
        accepted.map((r) => r.accountGroupId),
        accepted.map((r) => personIds.get(personKey(r)) ?? null),
        accepted.map((r) => r.providerId),
        accepted.map((r) => r.publicIdentifier),
        accepted.map((r) => r.linkedinUrl),
        accepted.map((r) => r.name),
        accepted.map((r) => r.companyName),
        accepted.map((r) => r.title),
        accepted.map((r) => r.externalId),
      ],
    );
    return { imported: inserted.length, duplicates: accepted.length - inserted.length, rejected };
  }
}

const personKey = (row: { accountGroupId: string; providerId: string }) => `${row.accountGroupId}\u0000${row.providerId}`;

/**
 * The persons behind a batch of prospects, as `upsertPerson` does one at a time. Rows for the same
 * person are merged first: one statement may not update a row twice.
 */
async function upsertPersons(tx: Queryable, rows: ProspectImportRow[]): Promise<Map<string, string>> {
  const persons = new Map<string, ProspectImportRow>();
  for (const row of rows) {
    const seen = persons.get(personKey(row));
    persons.set(
      personKey(row),
      seen
        ? { ...seen, publicIdentifier: row.publicIdentifier ?? seen.publicIdentifier, linkedinUrl: row.linkedinUrl ?? seen.linkedinUrl, name: row.name ?? seen.name }
        : row,
    );
  }
  const list = [...persons.values()];
  const result = await tx.query<{ id: string; account_group_id: string; provider_id: string }>(
    `INSERT INTO persons (id, account_group_id, provider_id, public_identifier, linkedin_url, name)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
     ON CONFLICT (account_group_id, provider_id) DO UPDATE SET
       public_identifier = COALESCE(EXCLUDED.public_identifier, persons.public_identifier),
       linkedin_url = COALESCE(EXCLUDED.linkedin_url, persons.linkedin_url),
       name = COALESCE(EXCLUDED.name, persons.name)
     RETURNING id, account_group_id, provider_id`,
    [
      list.map(() => newId()),
      list.map((r) => r.accountGroupId),
      list.map((r) => r.providerId),
      list.map((r) => r.publicIdentifier),
      list.map((r) => r.linkedinUrl),
      list.map((r) => r.name),
    ],
  );
  return new Map(result.map((row) => [personKey({ accountGroupId: row.account_group_id, providerId: row.provider_id }), row.id]));
}
