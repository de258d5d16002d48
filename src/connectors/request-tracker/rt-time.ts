// Request Tracker reads dates in TicketSQL in the requesting user's time zone, while REST 2.0 answers
// in UTC. These helpers write a UTC instant as the wall-clock time of an IANA zone, and recognise the
// hour a daylight-saving change makes ambiguous.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws RangeError for a zone name Intl does not know. */
export function assertTimeZone(timeZone: string): void {
  formatter(timeZone);
}

/** `YYYY-MM-DD HH:MM:SS` of instant `ms` on the wall clock of `timeZone`. */
export function wallClock(ms: number, timeZone: string): string {
  const parts = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

/** Offset of `timeZone` from UTC at instant `ms`, in ms (Chicago in winter: -6 h). */
export function zoneOffsetMs(ms: number, timeZone: string): number {
  const wall = wallClock(Math.floor(ms / 1000) * 1000, timeZone);
  return Date.parse(`${wall.replace(' ', 'T')}Z`) - Math.floor(ms / 1000) * 1000;
}

/**
 * The wall-clock time to put in a `>=` TicketSQL bound so that no change at or after `ms` is missed.
 * In the hour clocks go back, a wall-clock time names two instants and RT may take the later one;
 * when `ms` is the earlier of the two, the bound moves back by the change, so the window only grows.
 */
export function safeLowerBound(ms: number, timeZone: string): string {
  const wall = wallClock(ms, timeZone);
  const change = zoneOffsetMs(ms - 3 * 3_600_000, timeZone) - zoneOffsetMs(ms + 3 * 3_600_000, timeZone);
  if (change > 0 && wallClock(ms + change, timeZone) === wall) return wallClock(ms - change, timeZone);
  return wall;
}

/** RT's `2026-11-27T16:28:59Z` as ISO with milliseconds (`…:59.000Z`). */
export function rtInstant(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new RangeError(`not an RT date: ${value}`);
  return new Date(ms).toISOString();
}
