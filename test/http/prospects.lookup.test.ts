import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProspectMatch } from '../../src/domain/prospects.js';
import { Harness } from '../helpers/harness.js';

type Match = ProspectMatch;

interface Lookup {
  providerId: string;
  resolution: 'none' | 'unique' | 'ambiguous';
  matches: Match[];
}

let h: Harness;
let groupId: string;
let otherGroupId: string;
let key: string;

const lookup = (providerId: string, group = groupId, apiKey = key) =>
  h.get<Lookup>(`/v1/accounts/${group}/prospects/by-provider-id/${encodeURIComponent(providerId)}`, apiKey);

async function prospectIds(group: string, providerId: string): Promise<string[]> {
  const rows = await h.db.query<{ id: string }>('SELECT id FROM prospects WHERE account_group_id = $1 AND provider_id = $2 ORDER BY created_at, id', [group, providerId]);
  return rows.map((row) => row.id);
}

beforeAll(async () => {
  h = await Harness.create();
  groupId = await h.group('Acme');
  otherGroupId = await h.group('Other');
  key = await h.key(['prospects:read'], [groupId]);
  await h.prospect({
    accountGroupId: groupId,
    providerId: 'ACoUNIQUE',
    publicIdentifier: 'avery-stone',
    linkedinUrl: 'https://www.linkedin.com/in/avery-stone',
    name: 'Avery Stone',
    companyName: 'Stone & Co',
    title: 'VP Sales',
  });
  // The same LinkedIn member imported twice into the group: two prospect records.
  await h.prospect({ accountGroupId: groupId, providerId: 'ACoDUPLICATE', name: 'Blair Quinn', companyName: 'Quinn Ltd', title: 'CEO' });
  await h.prospect({ accountGroupId: groupId, providerId: 'ACoDUPLICATE', name: 'Blair Quinn', companyName: 'Quinn Holdings', title: 'Founder' });
  await h.prospect({ accountGroupId: groupId, providerId: 'ACoDUPLICATE', name: null, companyName: null, title: null });
  // Another tenant knows the unique member, and is the only one to know a third.
  await h.prospect({ accountGroupId: otherGroupId, providerId: 'ACoUNIQUE', name: 'Avery Stone (other tenant)', companyName: 'Elsewhere' });
  await h.prospect({ accountGroupId: otherGroupId, providerId: 'ACoFOREIGNONLY', name: 'Casey Foreign' });
  await h.prospect({ accountGroupId: groupId, providerId: 'ACo/with space+plus', name: 'Odd Id' });
});

afterAll(() => h?.close());

describe('GET /v1/accounts/{accountGroupId}/prospects/by-provider-id/{providerId}', () => {
  it('resolves a unique prospect with exactly the documented match fields', async () => {
    const response = await lookup('ACoUNIQUE');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ success: true, error: null });
    expect(response.body.traceId).toMatch(/^[0-9a-f]{24}$/);
    const [prospectId] = await prospectIds(groupId, 'ACoUNIQUE');
    const [person] = await h.db.query<{ person_id: string }>('SELECT person_id FROM prospects WHERE id = $1', [prospectId]);
    expect(response.body.data).toEqual({
      providerId: 'ACoUNIQUE',
      resolution: 'unique',
      matches: [
        {
          prospectId,
          personId: person!.person_id,
          publicIdentifier: 'avery-stone',
          linkedinUrl: 'https://www.linkedin.com/in/avery-stone',
          name: 'Avery Stone',
          companyName: 'Stone & Co',
          title: 'VP Sales',
        },
      ],
    });
    expect(Object.keys(response.body.data.matches[0]!).sort()).toEqual(
      ['prospectId', 'personId', 'publicIdentifier', 'linkedinUrl', 'name', 'companyName', 'title'].sort(),
    );
    expect(response.body.data.matches[0]!.personId).toMatch(/^[0-9a-f]{24}$/);
  });

  it('answers none with an empty list when no prospect has the provider id', async () => {
    const response = await lookup('ACoNOBODY');
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ providerId: 'ACoNOBODY', resolution: 'none', matches: [] });
  });

  it('never guesses between duplicates: ambiguous, with every one of them listed', async () => {
    const response = await lookup('ACoDUPLICATE');
    expect(response.status).toBe(200);
    expect(response.body.data.resolution).toBe('ambiguous');
    expect(response.body.data.matches.map((m) => m.prospectId).sort()).toEqual((await prospectIds(groupId, 'ACoDUPLICATE')).sort());
    expect(response.body.data.matches).toHaveLength(3);
    expect(response.body.data.matches.map((m) => m.companyName)).toEqual(expect.arrayContaining(['Quinn Ltd', 'Quinn Holdings', null]));
    // All three are the same LinkedIn member.
    expect(new Set(response.body.data.matches.map((m) => m.personId)).size).toBe(1);
    for (const match of response.body.data.matches) {
      expect(Object.keys(match).sort()).toEqual(['companyName', 'linkedinUrl', 'name', 'personId', 'prospectId', 'publicIdentifier', 'title']);
    }
  });

  it('lists ambiguous matches in the same order on every call', async () => {
    const first = await lookup('ACoDUPLICATE');
    const second = await lookup('ACoDUPLICATE');
    expect(second.body.data.matches).toEqual(first.body.data.matches);
  });

  it('searches only the requested group', async () => {
    const unique = await lookup('ACoUNIQUE');
    const [otherProspect] = await prospectIds(otherGroupId, 'ACoUNIQUE');
    expect(unique.body.data.resolution).toBe('unique');
    expect(unique.body.data.matches.map((m) => m.prospectId)).not.toContain(otherProspect);
    expect(JSON.stringify(unique.body)).not.toContain('other tenant');

    const foreignOnly = await lookup('ACoFOREIGNONLY');
    expect(foreignOnly.body.data).toEqual({ providerId: 'ACoFOREIGNONLY', resolution: 'none', matches: [] });

    // The other group, with a key for it, sees its own record.
    const otherKey = await h.key(['prospects:read'], [otherGroupId]);
    const other = await lookup('ACoUNIQUE', otherGroupId, otherKey);
    expect(other.body.data.matches.map((m) => m.prospectId)).toEqual([otherProspect]);
    expect(other.body.data.matches[0]!.name).toBe('Avery Stone (other tenant)');
  });

  it('matches the provider id exactly, as a value, not as a pattern or SQL', async () => {
    for (const providerId of ['ACoUNIQU', 'ACoUNIQUE ', 'acounique', 'ACo%', "ACoUNIQUE' OR '1'='1", 'ACo_NIQUE']) {
      const response = await lookup(providerId);
      expect(response.status, providerId).toBe(200);
      expect(response.body.data).toEqual({ providerId, resolution: 'none', matches: [] });
    }
  });

  it('decodes a percent-encoded provider id', async () => {
    const response = await lookup('ACo/with space+plus');
    expect(response.status).toBe(200);
    expect(response.body.data.providerId).toBe('ACo/with space+plus');
    expect(response.body.data.matches.map((m) => m.name)).toEqual(['Odd Id']);
  });

  it('accepts a provider id of 256 characters', async () => {
    const response = await lookup('A'.repeat(256));
    expect(response.status).toBe(200);
    expect(response.body.data.resolution).toBe('none');
  });

  describe('answers 422 VALIDATION_ERROR (this route documents 422, not 400)', () => {
    it.each([
      ['a non-hex accountGroupId', 'not-an-id', 'ACoUNIQUE', "'accountGroupId'"],
      ['an upper-case hex accountGroupId', '507F1F77BCF86CD799439011', 'ACoUNIQUE', "'accountGroupId'"],
      ['a 25-character accountGroupId', '507f1f77bcf86cd7994390111', 'ACoUNIQUE', "'accountGroupId'"],
      ['a providerId over 256 characters', undefined, 'A'.repeat(257), "'providerId'"],
    ])('%s', async (_name, group, providerId, parameter) => {
      const response = await lookup(providerId, group ?? groupId);
      expect(response.status).toBe(422);
      expect(response.body).toMatchObject({ success: false, data: null });
      expect(response.body.error?.code).toBe('VALIDATION_ERROR');
      expect(response.body.error?.message).toContain(parameter);
      expect(Object.keys(response.body).sort()).toEqual(['data', 'error', 'success', 'traceId']);
    });

    it('an empty providerId', async () => {
      const response = await h.get(`/v1/accounts/${groupId}/prospects/by-provider-id/`, key);
      expect(response.status).toBe(422);
      expect(response.body.error?.code).toBe('VALIDATION_ERROR');
      expect(response.body.error?.message).toContain("'providerId'");
    });

    it('but checks the key and its permission first', async () => {
      expect((await lookup('ACoUNIQUE', 'not-an-id', '')).status).toBe(401);
      const withoutPermission = await h.key(['messages:read'], [groupId]);
      const response = await lookup('ACoUNIQUE', 'not-an-id', withoutPermission);
      expect(response.status).toBe(403);
      expect(response.body.error?.code).toBe('FORBIDDEN');
    });
  });

  it('is documented with 422 and without 400', async () => {
    const document = (await h.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json();
    const responses = document.paths['/v1/accounts/{accountGroupId}/prospects/by-provider-id/{providerId}'].get.responses;
    expect(Object.keys(responses)).toContain('422');
    expect(Object.keys(responses)).not.toContain('400');
  });
});
