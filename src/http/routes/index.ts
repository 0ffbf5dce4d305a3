import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { AccountListSuccessResponse, registerListAccounts } from './v1/accounts.list.js';
import { MessageListSuccessResponse, registerListMessages } from './v1/messages.list.js';
import { ProviderIdProspectLookupSuccessResponse, registerLookupProspectsByProviderId } from './v1/prospects.byProviderId.js';
import { registerCancelScheduledResponse } from './v1/responses.cancel.js';
import { registerScheduleResponse } from './v1/responses.create.js';
import { registerGetScheduledResponse } from './v1/responses.get.js';
import { registerListScheduledResponses } from './v1/responses.list.js';
import { ScheduledMessageResponseListSuccessResponse, ScheduledMessageResponseSuccessResponse } from './v1/responses.schema.js';
import { WebhookAcceptedSuccessResponse, registerReceiveWebhook } from './v1/webhooks.receive.js';

/** Every public route, and the named response schemas they reference. */
export const ROUTE_SCHEMAS = [
  AccountListSuccessResponse,
  MessageListSuccessResponse,
  ProviderIdProspectLookupSuccessResponse,
  ScheduledMessageResponseSuccessResponse,
  ScheduledMessageResponseListSuccessResponse,
  WebhookAcceptedSuccessResponse,
];

export function registerRoutes(app: FastifyInstance, services: Services): void {
  registerListAccounts(app, services);
  registerListMessages(app, services);
  registerLookupProspectsByProviderId(app, services);
  registerScheduleResponse(app, services);
  registerListScheduledResponses(app, services);
  registerGetScheduledResponse(app, services);
  registerCancelScheduledResponse(app, services);
  registerReceiveWebhook(app, services);
}
