// `crossdock demo`: a bounded scenario. Starts the sandbox systems on free ports (with faults, or
// without), an embedded pipeline on its own temp store, drives N order lifecycles with the traffic
// generator, waits until every case naming an order shows that order's final state (or a timeout),
// and reports counts read from the sandbox helpdesk's own state through the oracle, never from
// Crossdock's counters. Progress goes to stderr; the result is one JSON object.
import type { Writable } from 'node:stream';
import {
  runTraffic,
  startSandbox,
  type FaultConfig,
  type Sandbox,
  type SandboxSystem,
} from '../../sandbox/index.ts';
import { silentLogger, type Logger } from '../../telemetry/index.ts';
import { startEmbeddedPipeline } from './embedded-pipeline.ts';

export interface DemoOptions {
  /** Order lifecycles to run (default 100). */
  readonly orders?: number;
  /** Turn on the fault scenario (see DEMO_FAULTS) (default false). */
  readonly faults?: boolean;
  /** Seed of the traffic and fault decisions (default 1). */
  readonly seed?: number;
  /** Order lifecycles in flight at once in each traffic generator (default 8). */
  readonly concurrency?: number;
  /**
   * Traffic generators run side by side, each with its own seed and its share of the orders (default:
   * one per 100 orders, at most 5). One generator runs its steps one at a time, so it, not Crossdock,
   * would bound the throughput.
   */
  readonly shards?: number;
  /** How long to wait for convergence after the traffic ends, in ms (default 180000). */
  readonly convergeTimeoutMs?: number;
  /** Where progress lines go (default process.stderr); `null` for none. */
  readonly progress?: Writable | null;
  readonly logger?: Logger;
}

export interface DemoResult {
  readonly orders: number;
  /** Cases that name an existing ERP order. */
  readonly casesExpected: number;
  /** Of those, cases whose fields show their order's final state. */
  readonly casesUpdated: number;
  /** casesExpected − casesUpdated when the run ended. */
  readonly lost: number;
  /** Milestone comments written more than once (same marker or same text on one case). */
  readonly duplicates: number;
  /** Propagation latency from ERP change to case field write, in ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Orders per second, from the first order to the last case converged. */
  readonly perSec: number;
}

/**
 * The fault scenario: 429 storms on the helpdesk, ERP latency and an outage window, duplicate and
 * reordered webhooks, and writes applied but answered by a dropped connection, on both systems.
 */
export const DEMO_FAULTS: Partial<Record<SandboxSystem | 'all', FaultConfig>> = {
  erp: {
    latency: { fixedMs: 5, jitterMs: 20 },
    outages: [
      { startInMs: 8000, durationMs: 5000, mode: '503' },
      { startInMs: 60_000, durationMs: 5000, mode: 'refuse' },
    ],
    appliedButTimedOut: { rate: 0.02, mode: 'destroy', count: 20 },
    webhooks: { duplicateRate: 0.1, reorderRate: 0.1 },
  },
  helpdesk: {
    // Storms recur through a long run: 5 s of mostly 429s, early on and then every 40 s or so.
    rateLimitStorms: [5000, 20_000, 45_000, 85_000, 125_000, 165_000, 205_000, 245_000, 285_000].map(
      (startInMs) => ({
        startInMs,
        durationMs: 5000,
        rate: 0.8,
        retryAfterSeconds: 1,
      }),
    ),
    appliedButTimedOut: { rate: 0.05, mode: 'destroy', count: 30 },
    webhooks: { duplicateRate: 0.1, reorderRate: 0.05 },
  },
};

/** Per-case check against the oracle; exported for tests. */
export function checkCases(sandbox: Sandbox): {
  casesExpected: number;
  casesUpdated: number;
  duplicates: number;
  stale: number[];
} {
  const { oracle } = sandbox;
  let casesExpected = 0;
  let casesUpdated = 0;
  let duplicates = 0;
  const stale: number[] = [];
  for (const c of oracle.cases()) {
    const ours = c.comments.filter((m) => m.author === 'crossdock');
    const bodies = new Set(ours.map((m) => m.body.replace(/\s*\[crossdock:[^\]]+\]\s*$/, '')));
    const markers = new Set(ours.map((m) => /\[crossdock:[^\]]+\]/.exec(m.body)?.[0] ?? m.body));
    duplicates += ours.length - Math.min(bodies.size, markers.size);
    const orderId = c.mentionedOrders[0];
    const truth = orderId === undefined ? undefined : oracle.order(orderId);
    if (truth === undefined) continue;
    casesExpected++;
    const tracking = [...truth.shipments]
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((s) => s.trackingNumber)
      .filter((t): t is string => t !== null);
    const f = c.customFields;
    const ok =
      f.erp_order === truth.orderId &&
      f.erp_order_status === truth.status &&
      f.credit_state === truth.creditState.toLowerCase() &&
      f.shipment_status === truth.shipmentStatus.toLowerCase() &&
      f.invoice_status === truth.invoiceStatus.toLowerCase() &&
      (f.tracking_number ?? null) === (tracking.length === 0 ? null : tracking.join(', '));
    if (ok) casesUpdated++;
    else stale.push(c.caseId);
  }
  return { casesExpected, casesUpdated, duplicates, stale };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const orders = options.orders ?? 100;
  const seed = options.seed ?? 1;
  const out = options.progress === undefined ? process.stderr : options.progress;
  const logger = options.logger ?? silentLogger();
  const sandbox = await startSandbox({
    ports: 0,
    seed,
    ...(options.faults === true ? { faults: DEMO_FAULTS } : {}),
  });
  const pipeline = await startEmbeddedPipeline({ sandbox, logger });
  const started = Date.now();
  let phase = 'traffic';
  const line = () => {
    const st = pipeline.journey.stats();
    const check = checkCases(sandbox);
    const f = sandbox.helpdesk.faults.stats;
    return (
      `demo [${phase}] ${((Date.now() - started) / 1000).toFixed(0)}s · orders ${sandbox.oracle.orders().length}/${orders}` +
      ` · cases ${check.casesUpdated}/${check.casesExpected} current · field writes ${st.fieldWrites}` +
      ` · milestones ${st.milestonesWritten} · lag ${(st.lagMs / 1000).toFixed(1)}s · retried ${st.writeFailures}` +
      ` · dead ${st.deadLetters} · helpdesk 429s ${f.rateLimited}`
    );
  };
  const timer = out === null ? undefined : setInterval(() => out.write(`${line()}\n`), 1000);
  try {
    const traffic = await runTraffic(sandbox, { orders, seed, concurrency: options.concurrency ?? 16 });
    if (traffic.errors.length > 0) {
      out?.write(
        `demo: ${traffic.errors.length} lifecycles stopped on errors the generator could not retry\n`,
      );
    }
    phase = 'converging';
    const deadline = Date.now() + (options.convergeTimeoutMs ?? 180_000);
    let check = checkCases(sandbox);
    let finished = Date.now();
    for (;;) {
      check = checkCases(sandbox);
      const idle = await pipeline.journey.idle(0);
      finished = Date.now();
      if ((check.casesUpdated === check.casesExpected && idle) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // Let writes still in flight land, so duplicates written late are counted too.
    await pipeline.journey.idle(5000);
    check = checkCases(sandbox);
    if (check.stale.length > 0)
      out?.write(`demo: cases not current: ${check.stale.slice(0, 20).join(', ')}\n`);
    // What the fault injectors did (to everyone: Crossdock and the traffic generator), for the record.
    out?.write(
      `demo: faults erp ${JSON.stringify(sandbox.erp.faults.stats)} helpdesk ${JSON.stringify(sandbox.helpdesk.faults.stats)}\n`,
    );
    out?.write(`demo: journey ${JSON.stringify(pipeline.journey.stats())}\n`);
    const latencies = [...pipeline.journey.latencies()].sort((a, b) => a - b);
    return {
      orders,
      casesExpected: check.casesExpected,
      casesUpdated: check.casesUpdated,
      lost: check.casesExpected - check.casesUpdated,
      duplicates: check.duplicates,
      p50Ms: Math.round(percentile(latencies, 50)),
      p99Ms: Math.round(percentile(latencies, 99)),
      perSec: Math.round((orders / ((finished - started) / 1000)) * 100) / 100,
    };
  } finally {
    if (timer !== undefined) clearInterval(timer);
    if (out !== null) out.write(`${line()}\n`);
    await pipeline.stop();
    await sandbox.stop();
  }
}
