import { describe, expect, it } from 'vitest';
import { safeLowerBound, wallClock, zoneOffsetMs } from '../../src/connectors/request-tracker/index.ts';

describe('RT time zone arithmetic', () => {
  it('writes a UTC instant as the wall clock of the zone', () => {
    const at = Date.parse('2026-11-27T16:28:59Z');
    expect(wallClock(at, 'UTC')).toBe('2026-11-27 16:28:59');
    expect(wallClock(at, 'America/Chicago')).toBe('2026-11-27 10:28:59');
    expect(zoneOffsetMs(at, 'America/Chicago')).toBe(-6 * 3_600_000);
    expect(zoneOffsetMs(Date.parse('2026-07-01T12:00:00Z'), 'America/Chicago')).toBe(-5 * 3_600_000);
  });

  it('moves a lower bound back before the repeated hour when clocks go back', () => {
    // Chicago, 1 Nov 2026: 02:00 CDT becomes 01:00 CST at 07:00Z; 01:30 happens at 06:30Z and 07:30Z.
    const firstHalfPast = Date.parse('2026-11-01T06:30:00Z');
    expect(wallClock(firstHalfPast, 'America/Chicago')).toBe('2026-11-01 01:30:00');
    expect(safeLowerBound(firstHalfPast, 'America/Chicago')).toBe('2026-11-01 00:30:00');
    // The second 01:30: whichever instant RT picks is not after it.
    expect(safeLowerBound(Date.parse('2026-11-01T07:30:00Z'), 'America/Chicago')).toBe('2026-11-01 01:30:00');
    // Away from a change, and in UTC, the bound is the wall clock itself.
    expect(safeLowerBound(Date.parse('2026-11-27T16:28:59Z'), 'America/Chicago')).toBe('2026-11-27 10:28:59');
    expect(safeLowerBound(Date.parse('2026-11-01T06:30:00Z'), 'UTC')).toBe('2026-11-01 06:30:00');
  });
});
