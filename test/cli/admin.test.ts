import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../../src/domain/permissions.js';
import { CliEnv } from './cliHarness.js';

const ID = /^[0-9a-f]{24}$/;
let cli: CliEnv;

beforeAll(async () => {
  cli = await CliEnv.create();
});

afterAll(() => cli?.close());

// Each CLI run is a fresh process opening the database: seconds each on a busy machine.
describe('sonarly groups / keys / accounts', { timeout: 600_000 }, () => {
  let groupId: string;

  it('creates and lists account groups, as text and as JSON', async () => {
    const created = await cli.run(['groups', 'create', 'Acme', '--json']);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const group = JSON.parse(created.stdout) as { id: string; name: string; createdAt: string };
    expect(group).toEqual({ id: expect.stringMatching(ID), name: 'Acme', createdAt: expect.stringMatching(/Z$/) });
    groupId = group.id;

    const text = await cli.run(['groups', 'create', 'Globex']);
    expect(text.stdout).toMatch(/^Created account group [0-9a-f]{24} \(Globex\)\.\n$/);

    const list = await cli.run(['groups', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((g) => g.name)).toEqual(['Acme', 'Globex']);
    const table = (await cli.run(['groups', 'list'])).stdout.split('\n');
    expect(table[0]).toMatch(/^ID +NAME +CREATED$/);
    expect(table[1]).toMatch(new RegExp(`^${groupId} +Acme +\\d{4}-`));
  });

  it('refuses unknown permissions and unknown groups, listing what is wrong', async () => {
    const badPermission = await cli.run(['keys', 'create', '--group', groupId, '--permissions', 'messages:read,messages:delete,foo']);
    expect(badPermission.code).toBe(2);
    expect(badPermission.stderr).toContain('sonarly: Unknown permissions: messages:delete, foo.');
    expect(badPermission.stderr).toContain(PERMISSIONS.join(', '));

    const badGroup = await cli.run(['keys', 'create', '--group', `${groupId},nope,0123456789abcdef01234567`, '--permissions', 'messages:read']);
    expect(badGroup.code).toBe(2);
    expect(badGroup.stderr).toContain('sonarly: Unknown account groups: nope, 0123456789abcdef01234567.');
    expect(badGroup.stdout).toBe('');
  });

  it('shows a key secret once, never lists it, and revokes keys', async () => {
    const created = await cli.run(['keys', 'create', '--group', groupId, '--permissions', 'messages:read,prospects:read', '--name', 'ci', '--json']);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; secret: string; permissions: string[]; accountGroupIds: string[]; name: string };
    expect(key).toMatchObject({ id: expect.stringMatching(ID), name: 'ci', permissions: ['messages:read', 'prospects:read'], accountGroupIds: [groupId] });
    expect(key.secret).toMatch(/^sk_live_[0-9A-Za-z]{49}$/);

    const text = await cli.run(['keys', 'create', '--group', groupId, '--permissions', 'messages:read']);
    const secret = text.stdout.trim().split('\n').at(-1)!;
    expect(text.stdout).toContain('Secret (shown only now');
    expect(secret).toMatch(/^sk_live_/);

    const listed = await cli.run(['keys', 'list', '--json']);
    const keys = JSON.parse(listed.stdout) as Record<string, unknown>[];
    expect(keys.map((k) => k.id)).toContain(key.id);
    expect(keys.every((k) => !('secret' in k))).toBe(true);
    expect(listed.stdout).not.toContain(key.secret.slice(12));
    expect(listed.stdout).not.toContain(secret.slice(12));

    const revoked = await cli.run(['keys', 'revoke', key.id]);
    expect(revoked.stdout).toBe(`Revoked API key ${key.id}.\n`);
    const again = await cli.run(['keys', 'revoke', key.id, '--json']);
    expect(JSON.parse(again.stdout)).toEqual({ id: key.id, revokedAt: expect.stringMatching(/Z$/), alreadyRevoked: true });
    const unknown = await cli.run(['keys', 'revoke', '0123456789abcdef01234567']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No API key with id 0123456789abcdef01234567.');

    const table = (await cli.run(['keys', 'list'])).stdout;
    expect(table).toMatch(new RegExp(`${key.id} +ci +sk_live_.{4}… +messages:read,prospects:read +${groupId} +\\S+ +revoked `));
  });

  it('records connected accounts once per group and validates type and group', async () => {
    const added = await cli.run(['accounts', 'add', '--group', groupId, '--type', 'sales_navigator', '--provider-account-id', 'ACwAAJordan', '--name', 'Jordan', '--json']);
    expect(added.code).toBe(0);
    const account = JSON.parse(added.stdout) as { id: string };
    expect(account).toMatchObject({ id: expect.stringMatching(ID), accountGroupId: groupId, accountType: 'sales_navigator', providerAccountId: 'ACwAAJordan', name: 'Jordan', status: 'connected' });

    const repeated = await cli.run(['accounts', 'add', '--group', groupId, '--type', 'sales_navigator', '--provider-account-id', 'ACwAAJordan']);
    expect(repeated.stdout).toBe(`Connected account ${account.id}: sales_navigator ACwAAJordan in account group ${groupId}.\n`);

    const badType = await cli.run(['accounts', 'add', '--group', groupId, '--type', 'facebook', '--provider-account-id', 'x']);
    expect(badType.code).not.toBe(0);
    expect(badType.stderr).toMatch(/'facebook' is invalid.*linkedin, sales_navigator, recruiter/s);

    const badGroup = await cli.run(['accounts', 'add', '--group', 'nope', '--type', 'linkedin', '--provider-account-id', 'x']);
    expect(badGroup).toMatchObject({ code: 2, stdout: '' });
    expect(badGroup.stderr).toContain('Unknown account group: nope.');

    const list = await cli.run(['accounts', 'list', '--group', groupId]);
    expect(list.stdout.split('\n')[1]).toMatch(new RegExp(`^${account.id} +${groupId} +sales_navigator +ACwAAJordan +Jordan +connected$`));
  });

  it('reports the schema version with migrate', async () => {
    const status = JSON.parse((await cli.run(['migrate', '--json'])).stdout) as { databaseVersion: number; codeVersion: number };
    expect(status.databaseVersion).toBe(status.codeVersion);
    expect(status.codeVersion).toBeGreaterThan(0);
  });
});
