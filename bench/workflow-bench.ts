// Workflow throughput: a 3-step workflow (each step returns a small result that is journaled) run in a
// closed loop at concurrency 10, 50 and 200 on Crossdock/SQLite (synchronous=FULL), Crossdock/PostgreSQL
// (synchronous_commit=on) and DBOS Transact 5 on the same PostgreSQL server, in one process, one after
// another. `npm run bench:workflow -- --json` prints one JSON object; `--seconds N` sets each row's
// measuring time (default 3, plus 0.5 s warm-up), so the whole run stays around a minute.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { openStore, storeMigrations, type Store, type StoreConfig } from '../src/store/index.ts';
import { defineWorkflow, WorkflowRuntime, workflowMigrations } from '../src/workflow/index.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const secondsArg = args.indexOf('--seconds');
const seconds = secondsArg >= 0 ? Number(args[secondsArg + 1]) : 3;
const concurrencies = [10, 50, 200];
const PG_ADMIN_URL = process.env.CROSSDOCK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const log = (msg: string) => {
  if (!json) console.log(msg);
  else process.stderr.write(`${msg}\n`);
};

interface Row {
  engine: 'sqlite' | 'postgres' | 'dbos';
  concurrency: number;
  workflows: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Closed loop: `concurrency` callers each start a workflow, await it, and start the next. */
async function measure(
  engine: Row['engine'],
  concurrency: number,
  runOne: () => Promise<unknown>,
): Promise<Row> {
  const loop = async (until: number, latencies: number[] | undefined) => {
    const worker = async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await runOne();
        latencies?.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  await loop(performance.now() + 500, undefined);
  const latencies: number[] = [];
  const started = performance.now();
  await loop(started + seconds * 1000, latencies);
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const row: Row = {
    engine,
    concurrency,
    workflows: latencies.length,
    perSec: Math.round(latencies.length / elapsed),
    p50Ms: Number(percentile(latencies, 50).toFixed(2)),
    p99Ms: Number(percentile(latencies, 99).toFixed(2)),
  };
  log(
    `${engine.padEnd(8)} c=${String(concurrency).padEnd(4)} ${row.perSec} workflows/s  p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms`,
  );
  return row;
}

const threeSteps = defineWorkflow({
  name: 'bench-three-steps',
  version: 1,
  run: async (ctx, input: { n: number }) => {
    const a = await ctx.step('reserve', async () => ({ step: 1, n: input.n }));
    const b = await ctx.step('ship', async () => ({ step: 2, n: a.n }));
    const c = await ctx.step('notify', async () => ({ step: 3, n: b.n }));
    return c.n;
  },
});

async function benchCrossdock(engine: 'sqlite' | 'postgres', config: StoreConfig): Promise<Row[]> {
  const store: Store = await openStore(config);
  await store.migrate([...storeMigrations, ...workflowMigrations]);
  const runtime = new WorkflowRuntime({ store }).register(threeSteps);
  const rows: Row[] = [];
  try {
    for (const c of concurrencies) {
      rows.push(await measure(engine, c, async () => (await runtime.start(threeSteps, { n: 1 })).result()));
    }
  } finally {
    await runtime.shutdown();
    await store.close();
  }
  return rows;
}

async function withFreshPgDatabase<T>(name: string, fn: (url: string) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

async function benchDbos(url: string): Promise<Row[]> {
  const { DBOS } = await import('@dbos-inc/dbos-sdk');
  const workflow = DBOS.registerWorkflow(
    async (n: number) => {
      const a = await DBOS.runStep(async () => ({ step: 1, n }), { name: 'reserve' });
      const b = await DBOS.runStep(async () => ({ step: 2, n: a.n }), { name: 'ship' });
      const c = await DBOS.runStep(async () => ({ step: 3, n: b.n }), { name: 'notify' });
      return c.n;
    },
    { name: 'bench-three-steps' },
  );
  DBOS.setConfig({
    name: 'crossdock-bench',
    systemDatabaseUrl: url,
    logLevel: 'error',
    applicationVersion: '1',
  });
  await DBOS.launch();
  const rows: Row[] = [];
  try {
    for (const c of concurrencies) {
      rows.push(
        // Each engine names runs its own default way: ULIDs here, random UUIDs in DBOS.
        await measure('dbos', c, async () => {
          const handle = await DBOS.startWorkflow(workflow)(1);
          return handle.getResult();
        }),
      );
    }
  } finally {
    await DBOS.shutdown();
  }
  return rows;
}

async function pgSetting(url: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return String(((await c.query(`SHOW ${name}`)).rows[0] as Record<string, unknown>)[name]);
  } finally {
    await c.end();
  }
}

const rows: Row[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-wf-bench-'));
try {
  log(
    `machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`,
  );
  rows.push(
    ...(await benchCrossdock('sqlite', { dialect: 'sqlite', sqlite: { path: path.join(dir, 'bench.db') } })),
  );
  await withFreshPgDatabase(`cd_bench_wf_${process.pid}`, async (url) => {
    log(
      `postgres synchronous_commit=${await pgSetting(url, 'synchronous_commit')}, fsync=${await pgSetting(url, 'fsync')}`,
    );
    rows.push(...(await benchCrossdock('postgres', { dialect: 'postgres', postgres: { url } })));
  });
  await withFreshPgDatabase(`cd_bench_dbos_${process.pid}`, async (url) => {
    rows.push(...(await benchDbos(url)));
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

const best = (engine: Row['engine']) => {
  const r = rows.filter((x) => x.engine === engine).sort((a, b) => b.perSec - a.perSec)[0]!;
  return { perSec: r.perSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, concurrency: r.concurrency };
};
const ratios = concurrencies.map((c) => {
  const p = rows.find((r) => r.engine === 'postgres' && r.concurrency === c)!;
  const d = rows.find((r) => r.engine === 'dbos' && r.concurrency === c)!;
  return { concurrency: c, ratio: Number((p.perSec / d.perSec).toFixed(2)) };
});
const result = {
  sqlite: best('sqlite'),
  postgres: best('postgres'),
  dbos: best('dbos'),
  // PostgreSQL over DBOS at the same concurrency: the figure at the concurrency where DBOS does best.
  ratioVsDbos: ratios.find((r) => r.concurrency === best('dbos').concurrency)!.ratio,
  ratiosByConcurrency: ratios,
  seconds,
  runs: rows,
};
console.log(JSON.stringify(result, null, json ? 0 : 2));
process.exit(0);
