import { MANUAL_CONNECTOR } from '../../connectors/manual/connector.js';
import { type AccountGroup, accountGroupsExist, createAccountGroup, listAccountGroups } from '../accountGroups.js';
import { type ApiKeyRecord, createApiKey, listApiKeys, revokeApiKey } from '../apiKeys.js';
import { ACCOUNT_TYPES, type AccountType, type ConnectedAccount, addConnectedAccount, listConnectedAccounts } from '../connectedAccounts.js';
import { ApiError, validationError } from '../errors.js';
import { PERMISSIONS, type Permission, isPermission } from '../permissions.js';
import { type MigrationStatus, migrationStatus } from '../../storage/migrate.js';
import type { Db } from '../../storage/db.js';
import { syncAdminCommands } from '../../sync/adminCommands.js';

/**
 * The operator commands of `sonarly`. The CLI runs them on the database it opened, or sends them
 * to the running server, which runs these same functions: the output is the same either way.
 * Inputs are plain JSON and every result is plain JSON.
 */

async function requireGroups(db: Db, ids: readonly string[]): Promise<void> {
  const missing = await accountGroupsExist(db, ids);
  if (missing.length > 0) {
    throw validationError(
      `Unknown account group${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}.`,
      'List the groups with `sonarly groups list`; create one with `sonarly groups create NAME`.',
    );
  }
}

export interface CreatedKey extends ApiKeyRecord {
  /** Shown once: only its hash is stored. */
  secret: string;
}

export interface RevokedKey {
  id: string;
  revokedAt: string;
  /** True when the key had been revoked before this command. */
  alreadyRevoked: boolean;
}

export const adminCommands = {
  'groups.create': async (db: Db, input: { name: string }): Promise<AccountGroup> => {
    const name = input.name.trim();
    if (name === '') throw validationError('The group name must not be empty.');
    return createAccountGroup(db, name);
  },

  'groups.list': (db: Db, _input: Record<string, never>): Promise<AccountGroup[]> => listAccountGroups(db),

  'keys.create': async (db: Db, input: { accountGroupIds: string[]; permissions: string[]; name?: string }): Promise<CreatedKey> => {
    const unknown = input.permissions.filter((permission) => !isPermission(permission));
    if (unknown.length > 0) {
      throw validationError(`Unknown permission${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}.`, `The permissions are: ${PERMISSIONS.join(', ')}.`);
    }
    if (input.permissions.length === 0) throw validationError('Give at least one permission.', `The permissions are: ${PERMISSIONS.join(', ')}.`);
    if (input.accountGroupIds.length === 0) throw validationError('Give at least one account group.');
    const accountGroupIds = [...new Set(input.accountGroupIds)];
    await requireGroups(db, accountGroupIds);
    const { key, secret } = await createApiKey(db, {
      permissions: [...new Set(input.permissions)] as Permission[],
      accountGroupIds,
      ...(input.name !== undefined ? { name: input.name } : {}),
    });
    return { ...key, secret };
  },

  'keys.list': (db: Db, _input: Record<string, never>): Promise<ApiKeyRecord[]> => listApiKeys(db),

  'keys.revoke': async (db: Db, input: { id: string }): Promise<RevokedKey> => {
    const revoked = await revokeApiKey(db, input.id);
    const key = (await listApiKeys(db)).find((candidate) => candidate.id === input.id);
    if (!key?.revokedAt) throw new ApiError('NOT_FOUND', `No API key with id ${input.id}.`, 'List the keys with `sonarly keys list`.');
    return { id: key.id, revokedAt: key.revokedAt, alreadyRevoked: !revoked };
  },

  'accounts.add': async (
    db: Db,
    input: { accountGroupId: string; accountType: string; providerAccountId: string; name?: string },
  ): Promise<ConnectedAccount> => {
    if (!(ACCOUNT_TYPES as readonly string[]).includes(input.accountType)) {
      throw validationError(`Unknown account type '${input.accountType}'.`, `The types are: ${ACCOUNT_TYPES.join(', ')}.`);
    }
    const providerAccountId = input.providerAccountId.trim();
    if (providerAccountId === '') throw validationError('The provider account id must not be empty.');
    await requireGroups(db, [input.accountGroupId]);
    return addConnectedAccount(db, {
      accountGroupId: input.accountGroupId,
      accountType: input.accountType as AccountType,
      providerAccountId,
      // History comes from imports; sending needs `accounts connect`.
      connector: MANUAL_CONNECTOR,
      ...(input.name !== undefined ? { name: input.name } : {}),
    });
  },

  'accounts.list': async (db: Db, input: { accountGroupId?: string }): Promise<ConnectedAccount[]> => {
    if (input.accountGroupId) await requireGroups(db, [input.accountGroupId]);
    return listConnectedAccounts(db, input.accountGroupId);
  },

  'migrate.status': (db: Db, _input: Record<string, never>): Promise<MigrationStatus> => migrationStatus(db),

  // accounts connect|sync|status|disconnect: src/sync/adminCommands.ts
  ...syncAdminCommands,
};

export type AdminCommands = typeof adminCommands;
export type AdminCommandName = keyof AdminCommands;
export type AdminInput<N extends AdminCommandName> = Parameters<AdminCommands[N]>[1];
export type AdminOutput<N extends AdminCommandName> = Awaited<ReturnType<AdminCommands[N]>>;

export function runAdminCommand<N extends AdminCommandName>(db: Db, name: N, input: AdminInput<N>): Promise<AdminOutput<N>> {
  const command = adminCommands[name] as (db: Db, input: AdminInput<N>) => Promise<AdminOutput<N>>;
  return command(db, input);
}
