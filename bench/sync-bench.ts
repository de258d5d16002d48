// Capture and effect-ledger throughput of the sync engine, on the embedded store (SQLite,
// synchronous=FULL) and on PostgreSQL (synchronous_commit=on), in one process.
// - capture: `--webhooks` concurrent callers (default 8) each ingesting batches of `--batch` records
//   (default 50) of distinct records (new versions, code mapper, links to an order), for `--seconds`
//   (default 3); counted as applied source records per second. A second phase re-sends the same
//   batches (all duplicates) to measure the no-op path.
// - ledger: `--writers` concurrent callers (default 8) performing distinct effects against an
//   in-process target that answers at once; effects per second (each is 3 durable commits).
// `node bin/run-ts.js bench/sync-bench.ts --json` prints `{"sqlite": {...}, "postgres": {...}}`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Type } from '@sinclair/typebox';
import type { SourceRecord } from '../src/connectors/index.ts';
import { openStore, storeMigrations, type Store, type StoreConfig } from '../src/store/index.ts';
import { CaptureEngine, EffectLedger, MapperRegistry, syncMigrations } from '../src/sync/index.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const num = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const seconds = num('--seconds', 3);
const webhooks = num('--webhooks', 8);
const batch = num('--batch', 50);
const writers = num('--writers', 8);
const dialectsArg =
  args.indexOf('--dialects') >= 0 ? args[args.indexOf('--dialects') + 1]!.split(',') : ['sqlite', 'postgres'];
const PG_ADMIN_URL = process.env.CROSSDOCK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const say = (msg: string) => (json ? process.stderr.write(`${msg}\n`) : console.log(msg));

async function withStore<T>(dialect: string, fn: (store: Store) => Promise<T>): Promise<T> {
  let config: StoreConfig;
  let cleanup: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-bench-'));
    config = { dialect: 'sqlite', sqlite: { path: path.join(dir, 'sync.db') } };
    cleanup = () => Promise.resolve(fs.rmSync(dir, { recursive: true, force: true }));
  } else {
    const name = `cd_bench_sync_${process.pid}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}"`);
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    config = { dialect: 'postgres', postgres: { url: url.toString() } };
    cleanup = async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    };
  }
  const store = await openStore(config);
  try {
    await store.migrate([...storeMigrations, ...syncMigrations]);
    return await fn(store);
  } finally {
    await store.close();
    await cleanup();
  }
}

async function closedLoop(callers: number, fn: (caller: number, i: number) => Promise<number>) {
  let count = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async (_, c) => {
      for (let i = 0; performance.now() < end; i++) count += await fn(c, i);
    }),
  );
  return count / ((performance.now() - start) / 1000);
}

async function bench(dialect: string) {
  return withStore(dialect, async (store) => {
    const capture = new CaptureEngine({
      store,
      mappers: new MapperRegistry().register('erp', 'shipment', {
        version: 'bench@1',
        map: (r) => {
          const p = r.payload as { order: string; state: string };
          return {
            kind: 'shipment',
            fields: { state: p.state },
            links: [{ relation: 'order', kind: 'order', externalId: p.order }],
          };
        },
      }),
    });
    const sent: SourceRecord[][] = [];
    const make = (c: number, i: number): SourceRecord[] =>
      Array.from({ length: batch }, (_, k) => ({
        stream: 'shipment',
        externalId: `SH-${c}-${i}-${k}`,
        updatedAt: new Date(Date.UTC(2026, 10, 27) + i).toISOString(),
        payload: { order: `SO-${(i * batch + k) % 1000}`, state: 'packed' },
      }));
    const capturePerSec = await closedLoop(webhooks, async (c, i) => {
      const records = make(c, i);
      sent.push(records);
      return (await capture.ingest('bench', 'erp', records)).applied;
    });
    let next = 0;
    const duplicatePerSec = await closedLoop(webhooks, async () => {
      const records = sent[next++ % sent.length]!;
      return (await capture.ingest('bench', 'erp', records)).duplicates;
    });
    const ledger = new EffectLedger({ store });
    const target = {
      describe: () => ({
        system: 'bench',
        kind: 'helpdesk' as const,
        displayName: 'bench target',
        configSchema: Type.Object({}),
        secrets: [],
        commands: [
          { type: 'note', description: '', argsSchema: Type.Object({}), idempotency: 'native' as const },
        ],
        webhooks: false,
      }),
      write: () =>
        Promise.resolve({ status: 'applied' as const, effect: { externalId: '1' }, replayed: false }),
    };
    const effectsPerSec = await closedLoop(writers, async (c, i) => {
      await ledger.perform('bench', 'bench', target, `k-${c}-${i}`, { type: 'note', args: { i } });
      return 1;
    });
    return {
      capturePerSec: Math.round(capturePerSec),
      duplicatePerSec: Math.round(duplicatePerSec),
      effectsPerSec: Math.round(effectsPerSec),
    };
  });
}

const results: Record<string, unknown> = {};
for (const d of dialectsArg) {
  say(
    `sync bench on ${d}: ${webhooks} webhook callers x ${batch} records, ${writers} effect writers, ${seconds}s each`,
  );
  results[d] = await bench(d);
  say(`  ${JSON.stringify(results[d])}`);
}
if (json) console.log(JSON.stringify(results));
