// Store throughput on both dialects with durable settings (SQLite WAL + synchronous=FULL, PostgreSQL
// synchronous_commit=on): entity upserts, entity lookups, and appendDurable single-row appends, each
// from many concurrent callers for a fixed time.
//
//   npm run bench:store -- [--json] [--seconds 5] [--concurrency 64] [--append-concurrency 256]
//                          [--dialect sqlite|postgres|both]
//
// PostgreSQL: a fresh database is created on CROSSDOCK_TEST_PG_URL (default the local server) and
// dropped afterwards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { newId, type Order } from '../src/domain/index.ts';
import {
  createEntityStore,
  openStore,
  storeMigrations,
  type Store,
  type StoreConfig,
} from '../src/store/index.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    'append-concurrency': { type: 'string', default: '256' },
    dialect: { type: 'string', default: 'both' },
  },
});
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
const appendConcurrency = Number(args['append-concurrency']);
const PG_ADMIN_URL = process.env.CROSSDOCK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface DialectResult {
  upsertsPerSec: number;
  lookupsPerSec: number;
  appendsPerSec: number;
  concurrency: { upserts: number; lookups: number; appends: number };
  durable: string;
  /** Callers per group commit during the append run (average). */
  appendCallersPerCommit: number;
}

function order(tenantId: string, ref: string): Order {
  const now = new Date().toISOString();
  const unit = { amount: '0.125', currency: 'USD' };
  return {
    id: newId('order'),
    tenantId,
    externalRefs: [{ system: 'tryton', id: ref }],
    version: 0,
    createdAt: now,
    updatedAt: now,
    lastChangedBy: 'tryton',
    number: `SO-${ref}`,
    customerId: newId('customer'),
    status: 'submitted',
    currency: 'USD',
    lines: [
      {
        id: newId('orderLine'),
        lineNumber: 1,
        sku: 'BOLT-10',
        quantity: '100',
        unitPrice: unit,
        lineTotal: { amount: '12.500', currency: 'USD' },
      },
    ],
    total: { amount: '12.50', currency: 'USD' },
    orderedAt: now,
  };
}

/** Runs `op` from `workers` concurrent loops for `seconds`; returns operations per second. */
async function timed(workers: number, op: (worker: number, i: number) => Promise<void>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let count = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; performance.now() < deadline; i++) {
        await op(worker, i);
        count++;
      }
    }),
  );
  return Math.round(count / ((performance.now() - start) / 1000));
}

async function benchStore(store: Store): Promise<DialectResult> {
  await store.migrate([
    ...storeMigrations,
    {
      id: '0999_bench_log',
      description: 'append target for the store bench',
      sqlite:
        'create table bench_log (seq integer primary key, tenant_id text not null, type text not null, body text not null)',
      postgres:
        'create table bench_log (seq bigint primary key, tenant_id text not null, type text not null, body text not null)',
    },
  ]);
  const entities = createEntityStore(store);
  const tenant = 'bench';

  // Upserts: each worker creates an order, then updates it (status and number), alternating.
  const latest = new Map<number, Order>();
  const created: Order[] = [];
  const upsertsPerSec = await timed(concurrency, async (worker, i) => {
    const previous = latest.get(worker);
    if (previous === undefined || i % 2 === 0) {
      const stored = await entities.upsert('order', order(tenant, `${worker}-${i}`), { changedBy: 'tryton' });
      latest.set(worker, stored);
      created.push(stored);
    } else {
      latest.set(
        worker,
        await entities.upsert('order', { ...previous, status: 'confirmed' }, { changedBy: 'crossdock' }),
      );
    }
  });

  // Lookups: half by canonical id, half by external reference, over the orders just written.
  const lookupsPerSec = await timed(concurrency, async (worker, i) => {
    const target = created[(worker * 7919 + i * 104729) % created.length]!;
    const found =
      i % 2 === 0
        ? await entities.get(tenant, target.id)
        : await entities.findByExternalRef(tenant, 'order', target.externalRefs[0]!);
    if (found === undefined) throw new Error(`lookup missed ${target.id}`);
  });

  // Appends: one row per call, as the event log appends events.
  const before = store.stats();
  let seq = 0;
  const body = JSON.stringify({
    specversion: '1.0',
    type: 'order.changed',
    source: 'tryton',
    data: { status: 'confirmed' },
  });
  const appendsPerSec = await timed(appendConcurrency, async () => {
    await store.appendDurable('bench_log', [{ seq: seq++, tenant_id: tenant, type: 'order.changed', body }]);
  });
  const after = store.stats();
  const appendCommits = Math.max(1, after.durableCommits - before.durableCommits);

  return {
    upsertsPerSec,
    lookupsPerSec,
    appendsPerSec,
    concurrency: { upserts: concurrency, lookups: concurrency, appends: appendConcurrency },
    durable: store.dialect === 'sqlite' ? 'WAL, synchronous=FULL' : 'synchronous_commit=on',
    appendCallersPerCommit: Math.round((after.durableCallers - before.durableCallers) / appendCommits),
  };
}

async function runSqlite(): Promise<DialectResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-bench-'));
  const config: StoreConfig = { dialect: 'sqlite', sqlite: { path: path.join(dir, 'bench.db') } };
  const store = await openStore(config);
  try {
    return await benchStore(store);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runPostgres(): Promise<DialectResult> {
  const name = `cd_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    const store = await openStore({ dialect: 'postgres', postgres: { url: url.toString() } });
    try {
      return await benchStore(store);
    } finally {
      await store.close();
    }
  } finally {
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

const result: { sqlite?: DialectResult; postgres?: DialectResult } = {};
if (args.dialect === 'both' || args.dialect === 'sqlite') result.sqlite = await runSqlite();
if (args.dialect === 'both' || args.dialect === 'postgres') result.postgres = await runPostgres();

if (args.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`store bench: ${seconds}s per workload, node ${process.version}, ${os.cpus().length} cores`);
  for (const [dialect, r] of Object.entries(result)) {
    console.log(
      `${dialect.padEnd(9)} upserts/s ${String(r.upsertsPerSec).padStart(7)} (c=${r.concurrency.upserts})  lookups/s ${String(r.lookupsPerSec).padStart(7)} (c=${r.concurrency.lookups})  appends/s ${String(r.appendsPerSec).padStart(7)} (c=${r.concurrency.appends}, ${r.appendCallersPerCommit} callers/commit)  [${r.durable}]`,
    );
  }
}
