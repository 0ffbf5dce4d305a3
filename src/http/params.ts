import { Type } from 'typebox';
import { ID_PATTERN } from '../ids.js';

export const Id = (description: string) => Type.String({ pattern: ID_PATTERN, description, examples: ['507f1f77bcf86cd799439011'] });

export const AccountGroupParams = Type.Object({
  accountGroupId: Id('Account group ID that scopes the request.'),
});

export const Timestamp = (description: string) =>
  Type.String({ description: `${description} ISO 8601, UTC, milliseconds.`, examples: ['2026-04-28T15:30:00.000Z'] });
