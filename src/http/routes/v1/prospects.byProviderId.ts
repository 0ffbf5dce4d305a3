import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { lookupProspectsByProviderId } from '../../../domain/prospects.js';
import { errorResponses, ref, success, successEnvelope } from '../../envelope.js';
import { Id } from '../../params.js';
import { requireGroupAccess } from '../../plugins/auth.js';
import type { Services } from '../../services.js';

const NullableString = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

const ProspectMatch = Type.Object(
  {
    prospectId: Id('Sonarly prospect ID.'),
    personId: Type.Union([Id('The LinkedIn member record the prospect points at.'), Type.Null()]),
    publicIdentifier: NullableString('LinkedIn public slug.'),
    linkedinUrl: NullableString('LinkedIn profile URL.'),
    name: NullableString('Full name.'),
    companyName: NullableString('Company name Sonarly has stored.'),
    title: NullableString('Job title Sonarly has stored.'),
  },
  { additionalProperties: false },
);

export const ProviderIdProspectLookupSuccessResponse = successEnvelope(
  'ProviderIdProspectLookupSuccessResponse',
  Type.Object(
    {
      providerId: Type.String(),
      resolution: Type.Union([Type.Literal('none'), Type.Literal('unique'), Type.Literal('ambiguous')], {
        description: '`none`: no prospect in this group; `unique`: exactly one; `ambiguous`: several, all listed, none chosen.',
      }),
      matches: Type.Array(ProspectMatch),
    },
    { additionalProperties: false },
  ),
  'The provider-id lookup result, with company and title Sonarly has stored.',
);

const Params = Type.Object({
  accountGroupId: Id('Account group ID that scopes the request.'),
  providerId: Type.String({
    minLength: 1,
    maxLength: 256,
    description: 'The external (LinkedIn) provider ID, e.g. `items[].participantProviderId` of a message.',
  }),
});

export function registerLookupProspectsByProviderId(app: FastifyInstance, services: Services): void {
  app.get<{ Params: { accountGroupId: string; providerId: string } }>(
    '/v1/accounts/:accountGroupId/prospects/by-provider-id/:providerId',
    {
      config: { permission: 'prospects:read', validationStatus: 422 },
      preHandler: requireGroupAccess,
      schema: {
        operationId: 'lookupProspectsByProviderId',
        tags: ['Prospects'],
        summary: 'Lookup prospects by provider ID',
        description:
          'Maps a LinkedIn provider ID (for example a message participant) to the prospect records of this account group. Only this group is searched, and duplicates are reported as `ambiguous` rather than guessed between. Needs `prospects:read`. Validation failures answer 422, as Sonarly documents for this route.',
        security: [{ bearerAuth: [] }],
        params: Params,
        response: { 200: ref(ProviderIdProspectLookupSuccessResponse), ...errorResponses([401, 403, 422, 429, 500]) },
      },
    },
    async (request) => {
      const result = await lookupProspectsByProviderId(services.db, request.params.accountGroupId, request.params.providerId);
      return success(request.id, result);
    },
  );
}
