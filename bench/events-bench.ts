// Event log throughput and latency, appended and dispatched, on the embedded store (SQLite,
// synchronous=FULL) and on PostgreSQL (synchronous_commit=on), in one process.
// - perSec: closed loop, `--producers` callers (default 8) each appending batches of `--batch` events
//   (default 100, over 1,000 entities) through `EventLog.append` (the store's group commit) for
//   `--seconds` (default 3, after 0.5 s warm-up); counted when one in-process consumer has applied them.
// - p50Ms / p99Ms: append-to-handler latency (from the `append` call to the handler running) of each
//   event, with batches of `--batch` paced at `--rate` events/s (default 10,000: half the 20,000/s
//   target); lowRateP50Ms / lowRateP99Ms: the same at 1,000 events/s in batches of 10.
// - cpuUsPerEvent: process CPU per event in the throughput run (the machine is shared; CPU per event
//   does not depend on what else runs, wall-clock rates do).
// `npm run bench:events -- --json` prints `{"sqlite": {"perSec", "p50Ms", "p99Ms"}, "postgres": {...}}`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { openStore, storeMigrations, type Store, type StoreConfig } from '../src/store/index.ts';
import { EventDispatcher, EventLog, eventsMigrations, type NewEvent } from '../src/events/index.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const num = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const seconds = num('--seconds', 3);
const producers = num('--producers', 8);
const batch = num('--batch', 100);
const pacedRate = num('--rate', 10_000);
const dialectsArg =
  args.indexOf('--dialects') >= 0 ? args[args.indexOf('--dialects') + 1]!.split(',') : ['sqlite', 'postgres'];
const PG_ADMIN_URL = process.env.CROSSDOCK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ENTITIES = 1000;

const say = (msg: string) => (json ? process.stderr.write(`${msg}\n`) : console.log(msg));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

let counter = 0;
function makeBatch(n: number): NewEvent[] {
  return Array.from({ length: n }, () => {
    const i = counter++;
    return {
      type: 'order:changed' as const,
      tenantId: 'bench',
      entity: { id: `SO-${i % ENTITIES}` },
      data: { line: i, status: 'picked', qty: 3 },
    };
  });
}

interface Result {
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Events appended and dispatched in the throughput run. */
  events: number;
  /** Process CPU (user + system) per event in the throughput run, in µs: independent of other load. */
  cpuUsPerEvent: number;
  /** Rate of the latency run, events/s. */
  pacedRate: number;
  pacedEvents: number;
  /** Latency at a low rate (1,000 events/s, batches of 10): the cost of waking, not of queueing. */
  lowRateP50Ms: number;
  lowRateP99Ms: number;
}

async function runOn(config: StoreConfig): Promise<Result> {
  const store: Store = await openStore(config);
  await store.migrate([...storeMigrations, ...eventsMigrations]);
  const log = new EventLog({ store });
  const dispatcher = new EventDispatcher({ log, pollIntervalMs: 5000 });
  await log.start();

  // Append time of each event, by the `line` number carried in its data; the handler measures from it.
  const startedAt = new Map<number, number>();
  let handled = 0;
  let latencies: number[] | undefined;
  await dispatcher.subscribe(
    'bench',
    (e) => {
      handled++;
      if (latencies !== undefined) {
        const line = e.data.line as number;
        const t0 = startedAt.get(line);
        if (t0 !== undefined) {
          latencies.push(performance.now() - t0);
          startedAt.delete(line);
        }
      }
    },
    { batchSize: 1000 },
  );

  // Throughput: closed loop.
  const closedLoop = async (until: number) => {
    let appended = 0;
    await Promise.all(
      Array.from({ length: producers }, async () => {
        while (performance.now() < until) {
          await log.append(makeBatch(batch));
          appended += batch;
        }
      }),
    );
    return appended;
  };
  await closedLoop(performance.now() + 500);
  while (handled < counter) await new Promise((r) => setTimeout(r, 5));
  const base = handled;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const appended = await closedLoop(t0 + seconds * 1000);
  while (handled - base < appended) await new Promise((r) => setTimeout(r, 1));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const perSec = appended / elapsed;

  // Latency at a paced rate: one batch of `size` events every size/rate seconds.
  const paced = async (rate: number, size: number) => {
    latencies = [];
    const interval = (size / rate) * 1000;
    const pacedStart = performance.now();
    const pacedUntil = pacedStart + seconds * 1000;
    const inflight: Promise<unknown>[] = [];
    let count = 0;
    for (let k = 0; ; k++) {
      const due = pacedStart + k * interval;
      if (due >= pacedUntil) break;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const events = makeBatch(size);
      const now = performance.now();
      for (const e of events) startedAt.set(e.data.line as number, now);
      inflight.push(log.append(events));
      count += size;
    }
    await Promise.all(inflight);
    while (startedAt.size > 0) await new Promise((r) => setTimeout(r, 5));
    const sorted = latencies.sort((a, b) => a - b);
    return { count, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  };
  const target = await paced(pacedRate, batch);
  const low = await paced(1000, 10);

  await dispatcher.stop();
  await log.stop();
  await store.close();
  const ms = (v: number) => Math.round(v * 10) / 10;
  return {
    perSec: Math.round(perSec),
    p50Ms: ms(target.p50),
    p99Ms: ms(target.p99),
    events: appended,
    cpuUsPerEvent: Math.round(((cpu.user + cpu.system) / appended) * 10) / 10,
    pacedRate,
    pacedEvents: target.count,
    lowRateP50Ms: ms(low.p50),
    lowRateP99Ms: ms(low.p99),
  };
}

const out: Record<string, Result> = {};
if (dialectsArg.includes('sqlite')) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-bench-events-'));
  try {
    say('sqlite ...');
    out.sqlite = await runOn({ dialect: 'sqlite', sqlite: { path: path.join(dir, 'events.db') } });
    say(`sqlite: ${JSON.stringify(out.sqlite)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
if (dialectsArg.includes('postgres')) {
  const name = `cd_bench_events_${process.pid}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  let reachable = true;
  try {
    await admin.connect();
    await admin.query(`create database "${name}"`);
  } catch (error) {
    reachable = false;
    say(`postgres skipped: ${(error as Error).message}`);
  }
  if (reachable) {
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    try {
      say('postgres ...');
      counter = 0;
      out.postgres = await runOn({ dialect: 'postgres', postgres: { url: url.toString() } });
      say(`postgres: ${JSON.stringify(out.postgres)}`);
    } finally {
      await admin.query(`drop database if exists "${name}" with (force)`);
    }
  }
  await admin.end().catch(() => undefined);
}
console.log(json ? JSON.stringify(out) : JSON.stringify(out, null, 2));
