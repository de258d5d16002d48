// Named fault settings for the demo and chaos tests, so "a flaky helpdesk" means the same thing
// everywhere. Pass one as `startSandbox({ faults: { all: FAULT_PRESETS.flaky } })` or PUT it to
// `/_sandbox/faults`.
import type { FaultConfig } from './faults.ts';

export const FAULT_PRESETS = {
  /** No faults. */
  calm: {},
  /** What a healthy production peer looks like: some latency, rare errors and webhook repeats. */
  realistic: {
    latency: { fixedMs: 15, jitterMs: 30 },
    errorRate: 0.01,
    webhooks: { duplicateRate: 0.02, reorderRate: 0.02 },
  },
  /** A struggling peer: slow, 5 % errors, some writes applied but never answered, messy webhooks. */
  flaky: {
    latency: { fixedMs: 50, jitterMs: 150 },
    errorRate: 0.05,
    appliedButTimedOut: { rate: 0.02, mode: 'destroy' },
    webhooks: { duplicateRate: 0.1, reorderRate: 0.1 },
  },
  /** A peer in trouble: a 429 storm now, a 10 s outage after 30 s, and frequent lost answers. */
  hostile: {
    latency: { fixedMs: 50, jitterMs: 250 },
    errorRate: 0.1,
    rateLimitStorms: [{ durationMs: 5000, retryAfterSeconds: 2, rate: 0.8 }],
    outages: [{ startInMs: 30_000, durationMs: 10_000, mode: 'refuse' }],
    appliedButTimedOut: { rate: 0.05, mode: 'destroy' },
    webhooks: { duplicateRate: 0.2, reorderRate: 0.2 },
  },
} as const satisfies Record<string, FaultConfig>;

export type FaultPreset = keyof typeof FAULT_PRESETS;
