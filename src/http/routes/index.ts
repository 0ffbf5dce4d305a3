import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { AccountListSuccessResponse, registerListAccounts } from './v1/accounts.list.js';
import { MessageListSuccessResponse, registerListMessages } from './v1/messages.list.js';
import { ProviderIdProspectLookupSuccessResponse, registerLookupProspectsByProviderId } from './v1/prospects.byProviderId.js';

/** Every public route, and the named response schemas they reference. */
export const ROUTE_SCHEMAS = [AccountListSuccessResponse, MessageListSuccessResponse, ProviderIdProspectLookupSuccessResponse];

export function registerRoutes(app: FastifyInstance, services: Services): void {
  registerListAccounts(app, services);
  registerListMessages(app, services);
  registerLookupProspectsByProviderId(app, services);
}
