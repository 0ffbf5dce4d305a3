import type { Clock } from '../clock.js';
import type { Queryable } from '../storage/db.js';
import { MANUAL_CONNECTOR, ManualConnector } from './manual/connector.js';
import { SandboxConnector, sandboxFaultsFor } from './sandbox/connector.js';
import type { Connector, ConnectorAccount } from './types.js';
import { UnipileConnector } from './unipile/connector.js';

/** The kinds of connection `accounts connect --connector` accepts. */
export const CONNECTOR_KINDS = ['sandbox', 'unipile'] as const;
export type ConnectorKind = (typeof CONNECTOR_KINDS)[number];

export class UnknownConnectorError extends Error {
  override name = 'UnknownConnectorError';
}

/** Builds the connector an account is configured for. */
export interface ConnectorRegistry {
  forAccount(account: ConnectorAccount): Connector;
}

export function defaultConnectorRegistry(db: Queryable, clock: Clock): ConnectorRegistry {
  return {
    forAccount(account) {
      switch (account.connector) {
        case 'sandbox':
          return new SandboxConnector(db, account, clock, sandboxFaultsFor(account));
        case 'unipile':
          return new UnipileConnector(account, clock);
        case MANUAL_CONNECTOR:
          return new ManualConnector();
        default:
          throw new UnknownConnectorError(`No connector named '${account.connector}'.`);
      }
    },
  };
}
