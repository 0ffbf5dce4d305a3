/** Timestamps leave the database already in the API's format: ISO 8601, UTC, milliseconds. */
export const isoTimestamp = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
