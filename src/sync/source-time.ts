// Source update times in one comparable form. Connectors keep each system's precision (ms or µs) and
// may send an offset; comparing such strings as text is wrong ('.000Z' sorts after '.000500Z'), so
// the engine stores every `updatedAt` as UTC with exactly six fractional digits.
import { SyncTimestampInvalidError } from './errors.ts';

const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/;

/** `2026-11-27T14:43:20.5+01:00` -> `2026-11-27T13:43:20.500000Z`; throws SYNC_TIMESTAMP_INVALID. */
export function normalizeSourceTime(value: string): string {
  const m = ISO.exec(value);
  if (m === null) throw new SyncTimestampInvalidError(value);
  const [, date, time, fraction = '', zone] = m;
  // Digits beyond microseconds are dropped: no connector delivers them and SQL timestamps stop there.
  const micros = fraction.padEnd(6, '0').slice(0, 6);
  const offset = zone === 'Z' ? 'Z' : `${zone!.slice(0, 3)}:${zone!.slice(-2)}`;
  const seconds = Date.parse(`${date}T${time}${offset}`);
  if (Number.isNaN(seconds)) throw new SyncTimestampInvalidError(value);
  return `${new Date(seconds).toISOString().slice(0, 19)}.${micros}Z`;
}
