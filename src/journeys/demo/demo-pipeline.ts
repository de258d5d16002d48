// `crossdock start --demo` (`npm start`): the sandbox systems on their fixed ports (7401-7404),
// continuous generated traffic, the embedded order-visibility pipeline, and a live one-line summary
// on stderr refreshed every second (orders, shipments, cases updated, lag, failures).
import type { Writable } from 'node:stream';
import { startSandbox, startTraffic, DEFAULT_SANDBOX_PORTS, type Sandbox } from '../../sandbox/index.ts';
import type { Store } from '../../store/index.ts';
import { silentLogger, type Logger, type MetricsRegistry } from '../../telemetry/index.ts';
import type { OrderVisibilityStats } from '../order-visibility/order-visibility-journey.ts';
import { startEmbeddedPipeline } from './embedded-pipeline.ts';
import { checkCases } from './run-demo.ts';

export interface DemoPipelineOptions {
  /** Sandbox ports (default 7401-7404; 0 for free ports). */
  readonly ports?: Partial<Record<'erp' | 'helpdesk' | 'carrier' | 'storefront', number>> | 0;
  /** New orders a second (default 1). */
  readonly ordersPerSecond?: number;
  readonly seed?: number;
  /** Tenant the demo's records belong to (default `demo`). */
  readonly tenantId?: string;
  /** Store migrated with `journeysMigrations` (default: a temp SQLite store of its own). */
  readonly store?: Store;
  /** Where the live summary goes (default process.stderr); null for none. */
  readonly status?: Writable | null;
  /** Summary refresh, in ms (default 1000). */
  readonly statusIntervalMs?: number;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
}

export interface DemoSummary {
  readonly orders: number;
  readonly shipments: number;
  readonly casesUpdated: number;
  readonly casesExpected: number;
  readonly lagMs: number;
  readonly failures: number;
}

export interface DemoPipeline {
  readonly sandbox: Sandbox;
  summary(): DemoSummary;
  stats(): OrderVisibilityStats;
  stop(): Promise<void>;
}

export async function startDemoPipeline(options: DemoPipelineOptions = {}): Promise<DemoPipeline> {
  const logger = options.logger ?? silentLogger();
  const sandbox = await startSandbox({
    ports: options.ports ?? DEFAULT_SANDBOX_PORTS,
    seed: options.seed ?? 1,
  });
  const pipeline = await startEmbeddedPipeline({
    sandbox,
    logger,
    ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
  const traffic = startTraffic(sandbox, {
    ordersPerSecond: options.ordersPerSecond ?? 1,
    seed: options.seed ?? 1,
  });
  const summary = (): DemoSummary => {
    const check = checkCases(sandbox);
    const st = pipeline.journey.stats();
    return {
      orders: sandbox.erp.state.orders.all().length,
      shipments: sandbox.erp.state.shipments.all().length,
      casesUpdated: check.casesUpdated,
      casesExpected: check.casesExpected,
      lagMs: st.lagMs,
      failures: st.writeFailures + st.pollErrors,
    };
  };
  const out = options.status === undefined ? process.stderr : options.status;
  const tty = out !== null && (out as { isTTY?: boolean }).isTTY === true;
  const timer =
    out === null
      ? undefined
      : setInterval(() => {
          const s = summary();
          const text =
            `crossdock demo · orders ${s.orders} · shipments ${s.shipments} · cases updated ${s.casesUpdated}/${s.casesExpected}` +
            ` · lag ${(s.lagMs / 1000).toFixed(1)}s · failures ${s.failures}`;
          out.write(tty ? `\r\x1b[2K${text}` : `${text}\n`);
        }, options.statusIntervalMs ?? 1000);
  return {
    sandbox,
    summary,
    stats: () => pipeline.journey.stats(),
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      if (tty) out?.write('\n');
      await traffic.stop();
      await pipeline.stop();
      await sandbox.stop();
    },
  };
}
