// The sandbox systems' business clock. Timestamps are truncated to a resolution (one second by
// default, like most on-premises ERPs and helpdesks), so records written close together share an
// `updated_at` and a client's paging must break ties by id. Tests can freeze and advance it.

export interface SandboxClockOptions {
  /** Resolution of stored timestamps, in ms (default 1000). */
  readonly resolutionMs?: number;
  /** Start frozen at this instant (epoch ms); unset means follow the wall clock. */
  readonly frozenAt?: number;
}

export class SandboxClock {
  readonly resolutionMs: number;
  private frozenAt: number | undefined;
  private offsetMs = 0;

  constructor(options: SandboxClockOptions = {}) {
    this.resolutionMs = options.resolutionMs ?? 1000;
    this.frozenAt = options.frozenAt;
  }

  /** Current instant, in epoch ms, not truncated. */
  nowMs(): number {
    return (this.frozenAt ?? Date.now()) + this.offsetMs;
  }

  /** Current instant as a stored timestamp: truncated to the resolution, ISO 8601 UTC. */
  stamp(): string {
    const ms = Math.floor(this.nowMs() / this.resolutionMs) * this.resolutionMs;
    return formatStamp(ms, this.resolutionMs);
  }

  /** Freezes at `atMs` (epoch ms), or unfreezes with `undefined`. */
  freeze(atMs: number | undefined): void {
    this.frozenAt = atMs;
    this.offsetMs = 0;
  }

  /** Moves the clock forward (frozen or not) by `ms`. */
  advance(ms: number): void {
    this.offsetMs += ms;
  }

  describe(): { now: string; frozen: boolean; resolutionMs: number } {
    return { now: this.stamp(), frozen: this.frozenAt !== undefined, resolutionMs: this.resolutionMs };
  }
}

/** `2026-11-27T16:20:01Z` at one-second resolution, `2026-11-27T16:20:01.123Z` below. */
export function formatStamp(ms: number, resolutionMs: number): string {
  const iso = new Date(ms).toISOString();
  return resolutionMs >= 1000 && resolutionMs % 1000 === 0 ? iso.replace(/\.\d{3}Z$/, 'Z') : iso;
}

/** Parses a client-supplied timestamp; returns undefined when it is not a date. */
export function parseStamp(value: string): number | undefined {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
