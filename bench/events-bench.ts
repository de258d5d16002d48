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
// - postgres_nats (cluster mode): the same producers append on PostgreSQL in this process, which
//   also runs the JetStream relay; `processes` (2) child processes consume the 16 partitions of one
//   group (partition leases in PostgreSQL) and count. perSec is appended and applied by the children;
//   p50Ms / p99Ms are append-to-handler latencies (across processes, wall clock) paced at
//   `--nats-rate` events/s (default 2,500: half the 5,000/s target). Each run lasts `--nats-seconds`
//   (default 10).
// `npm run bench:events -- --json` prints
// `{"sqlite": {"perSec", "p50Ms", "p99Ms"}, "postgres": {...}, "postgres_nats": {..., "processes"}}`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fork, type ChildProcess } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore, storeMigrations, type Store, type StoreConfig } from '../src/store/index.ts';
import {
  EventDispatcher,
  EventLog,
  NatsRelay,
  eventsMigrations,
  type NewEvent,
} from '../src/events/index.ts';

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
  args.indexOf('--dialects') >= 0
    ? args[args.indexOf('--dialects') + 1]!.split(',')
    : ['sqlite', 'postgres', 'postgres_nats'];
const natsRate = num('--nats-rate', 2500);
/**
 * Length of each postgres_nats run, in s (default 10): three processes warm up and settle their
 * partition steps more slowly than one, and 3 s measured mostly that.
 */
const natsSeconds = num('--nats-seconds', 10);
/** Prints appended / published / applied every 500 ms of the postgres_nats throughput run. */
const progress = args.includes('--progress');
const NATS_URL = process.env.CROSSDOCK_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
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

interface ClusterResult {
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Consumer processes (child processes), besides this one (producers and the relay). */
  processes: number;
  partitions: number;
  events: number;
  pacedRate: number;
  pacedEvents: number;
  /** CPU of this process (producers, relay) per event in the throughput run, in µs. */
  relayCpuUsPerEvent: number;
  /** CPU of the consumer processes together per event in the throughput run, in µs. */
  consumersCpuUsPerEvent: number;
}

interface ChildState {
  readonly child: ChildProcess;
  applied: number;
  owned: number;
  cpuUs: number;
}

async function runCluster(pgUrl: string): Promise<ClusterResult> {
  const processes = 2;
  const partitions = 16;
  const store: Store = await openStore({ dialect: 'postgres', postgres: { url: pgUrl, poolSize: 10 } });
  await store.migrate([...storeMigrations, ...eventsMigrations]);
  const log = new EventLog({ store });
  const relayNode = new EventDispatcher({ log, owner: 'bench-relay', pollIntervalMs: 5000 });
  await log.start();
  const nc = await connect({ servers: NATS_URL });
  const stream = `CD_BENCH_${process.pid}`;
  const prefix = `cdbench.${process.pid}`;
  const relay = new NatsRelay({ dispatcher: relayNode, nats: nc, stream, subjectPrefix: prefix, partitions });
  await relay.start();
  const children: ChildState[] = [];
  try {
    for (let i = 0; i < processes; i++) {
      const child = fork(
        'bin/run-ts.js',
        ['bench/events-cluster-node.ts', pgUrl, NATS_URL, stream, prefix, String(partitions), `node-${i}`],
        { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
      );
      const state: ChildState = { child, applied: 0, owned: 0, cpuUs: 0 };
      child.on('message', (m: { applied?: number; owned?: number; cpuUs?: number }) => {
        if (m.applied !== undefined) state.applied = m.applied;
        if (m.owned !== undefined) state.owned = m.owned;
        if (m.cpuUs !== undefined) state.cpuUs = m.cpuUs;
      });
      children.push(state);
    }
    const applied = () => children.reduce((n, c) => n + c.applied, 0);
    const waitFor = async (check: () => boolean, what: string, ms = 60_000) => {
      const deadline = performance.now() + ms;
      while (!check()) {
        if (performance.now() > deadline) throw new Error(`postgres_nats: ${what} not reached in time`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    // Both processes hold their fair share before anything is measured.
    await waitFor(() => children.every((c) => c.owned === partitions / processes), 'partition split');

    const stamped = (n: number, paced: boolean) =>
      makeBatch(n).map((e) => ({
        ...e,
        data: { ...e.data, t: performance.timeOrigin + performance.now(), paced },
      }));
    const closedLoop = async (until: number) => {
      let appended = 0;
      await Promise.all(
        Array.from({ length: producers }, async () => {
          while (performance.now() < until) {
            await log.append(stamped(batch, false));
            appended += batch;
          }
        }),
      );
      return appended;
    };
    counter = 0;
    const warm = await closedLoop(performance.now() + 500);
    await waitFor(() => applied() >= warm, 'warm-up delivery', 120_000);
    const base = applied();
    const childrenCpu = () => children.reduce((n, c) => n + c.cpuUs, 0);
    const childCpu0 = childrenCpu();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const jsmProgress = await jetstreamManager(nc);
    const ticker = progress
      ? setInterval(() => {
          void Promise.all([
            jsmProgress.streams.info(stream),
            sql<{
              n: string;
            }>`select xact_commit as n from pg_stat_database where datname = current_database()`.execute(
              store.db(),
            ),
          ]).then(([i, x]) =>
            say(
              `t=${Math.round(performance.now() - t0)} appended=${counter} published=${i.state.messages} applied=${applied()} pgCommits=${x.rows[0]?.n}`,
            ),
          );
        }, 500)
      : undefined;
    const appended = await closedLoop(t0 + natsSeconds * 1000);
    await waitFor(() => applied() - base >= appended, 'throughput delivery', 300_000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    // The children report every 100 ms: wait for a report taken after the run.
    await new Promise((r) => setTimeout(r, 250));
    const childCpu = childrenCpu() - childCpu0;
    if (ticker !== undefined) clearInterval(ticker);

    // Latency at a paced rate, measured in the consumer processes.
    const size = 50;
    const interval = (size / natsRate) * 1000;
    const pacedStart = performance.now();
    const before = applied();
    let pacedEvents = 0;
    const inflight: Promise<unknown>[] = [];
    for (let k = 0; ; k++) {
      const due = pacedStart + k * interval;
      if (due >= pacedStart + natsSeconds * 1000) break;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inflight.push(log.append(stamped(size, true)));
      pacedEvents += size;
    }
    await Promise.all(inflight);
    await waitFor(() => applied() - before >= pacedEvents, 'paced delivery', 300_000);
    const latencies: number[] = [];
    for (const c of children) {
      const got = new Promise<number[]>((resolve) => {
        const on = (m: { latencies?: number[] }) => {
          if (m.latencies !== undefined) {
            c.child.off('message', on);
            resolve(m.latencies);
          }
        };
        c.child.on('message', on);
      });
      c.child.send({ cmd: 'latencies' });
      latencies.push(...(await got));
    }
    latencies.sort((a, b) => a - b);
    const ms = (v: number) => Math.round(v * 10) / 10;
    return {
      perSec: Math.round(appended / elapsed),
      p50Ms: ms(percentile(latencies, 50)),
      p99Ms: ms(percentile(latencies, 99)),
      processes,
      partitions,
      events: appended,
      pacedRate: natsRate,
      pacedEvents,
      relayCpuUsPerEvent: Math.round(((cpu.user + cpu.system) / appended) * 10) / 10,
      consumersCpuUsPerEvent: Math.round((childCpu / appended) * 10) / 10,
    };
  } finally {
    for (const c of children) {
      if (c.child.exitCode !== null) continue;
      const exited = new Promise((r) => c.child.once('exit', r));
      c.child.send({ cmd: 'stop' });
      const timer = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await relay.stop();
    await relayNode.stop();
    await log.stop();
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
    await nc.close();
    await store.close();
  }
}

const out: Record<string, Result | ClusterResult> = {};
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
async function withPgDatabase(suffix: string, run: (url: string) => Promise<void>): Promise<void> {
  const name = `cd_bench_events_${suffix}_${process.pid}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
    await admin.query(`create database "${name}"`);
  } catch (error) {
    say(`${suffix} skipped: ${(error as Error).message}`);
    await admin.end().catch(() => undefined);
    return;
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    await run(url.toString());
  } finally {
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end().catch(() => undefined);
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
if (dialectsArg.includes('postgres_nats')) {
  await withPgDatabase('nats', async (url) => {
    say('postgres_nats ...');
    try {
      out.postgres_nats = await runCluster(url);
      say(`postgres_nats: ${JSON.stringify(out.postgres_nats)}`);
    } catch (error) {
      say(`postgres_nats failed: ${(error as Error).message}`);
    }
  });
}
console.log(json ? JSON.stringify(out) : JSON.stringify(out, null, 2));
