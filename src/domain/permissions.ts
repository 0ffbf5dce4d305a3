/** Sonarly's permission vocabulary (reference notes 2.2), read/write pairs plus one execute. */
export const PERMISSIONS = [
  'messages:read',
  'messages:write',
  'prospecting:read',
  'prospecting:write',
  'prospects:read',
  'signals:read',
  'signals:write',
  'templates:read',
  'templates:write',
  'audiences:read',
  'audiences:write',
  'campaigns:read',
  'campaigns:write',
  'campaigns:execute',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const MESSAGING_PERMISSIONS: Permission[] = ['messages:read', 'messages:write', 'prospects:read'];

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}
