// Several worker processes on one PostgreSQL database: leases, recovery of a killed worker's runs, and
// fencing of a paused worker whose lease expired. PostgreSQL only: SQLite is the single-process mode.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompiledQuery } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.ts';
import { defineWorkflow, WorkflowRuntime, type WorkflowTables } from '../../src/workflow/index.ts';
import { pgAvailable } from '../support/services.ts';
import { freshDatabase, until, type TestDatabase } from './support.ts';

const workerFile = path.join(import.meta.dirname, 'fixtures', 'queue-worker.ts');
const runTs = path.join(import.meta.dirname, '..', '..', 'bin', 'run-ts.js');

function startWorker(args: string[]) {
  const child = spawn(process.execPath, [runTs, workerFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, exited, out: () => stdout, err: () => stderr };
}

const fulfil = defineWorkflow({
  name: 'fulfil',
  version: 1,
  run: async (_ctx, input: { order: string }) => input.order,
});

describe.skipIf(!pgAvailable)('worker processes on PostgreSQL', () => {
  let db: TestDatabase;
  let store: Store;
  let dir: string;
  const workers: ReturnType<typeof startWorker>[] = [];
  beforeEach(async () => {
    db = await freshDatabase('postgres');
    store = await db.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-wf-workers-'));
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.child.kill('SIGCONT');
      w.child.kill('SIGKILL');
      await w.exited;
    }
    await store.close();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function enqueue(n: number): Promise<string[]> {
    const producer = new WorkflowRuntime({ store, executorId: 'producer' }).register(fulfil);
    const ids: string[] = [];
    for (let i = 0; i < n; i++)
      ids.push((await producer.enqueue(fulfil, { order: `SO-${i}` }, { queue: 'fulfil' })).runId);
    return ids;
  }

  const statuses = async () =>
    store.db<WorkflowTables>().selectFrom('wf_runs').select(['run_id', 'status']).execute();
  const completions = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('COMPLETED '))
      .map((l) => l.slice(10));

  it('two workers, one SIGKILLed mid-run: every run completes exactly once', async () => {
    const effects = path.join(dir, 'effects.log');
    const ids = await enqueue(40);
    const a = startWorker([JSON.stringify(db.config), 'worker-a', effects, '1500', '15']);
    const b = startWorker([JSON.stringify(db.config), 'worker-b', effects, '1500', '15']);
    workers.push(a, b);
    await until(
      () => fs.existsSync(effects) && fs.readFileSync(effects, 'utf8').includes('worker-a pack'),
      30_000,
    );
    a.child.kill('SIGKILL');
    await a.exited;
    await until(async () => (await statuses()).every((r) => r.status === 'completed'), 60_000);
    b.child.kill('SIGTERM');
    await b.exited;

    const done = [...completions(a.out()), ...completions(b.out())].sort();
    expect(done).toEqual([...ids].sort());
    const lines = fs.readFileSync(effects, 'utf8').split('\n').filter(Boolean);
    const byKey = new Map<string, string[]>();
    for (const line of lines) {
      const [executor, , key] = line.split(' ') as [string, string, string];
      byKey.set(key, [...(byKey.get(key) ?? []), executor]);
    }
    // Every step of every run took effect; a step ran twice only when worker A died inside it, and then
    // both times under the same idempotency key.
    expect(byKey.size).toBe(ids.length * 3);
    for (const executors of byKey.values()) {
      expect(executors.length).toBeLessThanOrEqual(2);
      if (executors.length === 2) expect(executors).toEqual(['worker-a', 'worker-b']);
    }
    const recovered = await store
      .db<WorkflowTables>()
      .selectFrom('wf_runs')
      .select('run_id')
      .where('recovery_count', '>', 0)
      .execute();
    expect(recovered.length).toBeGreaterThan(0);
  }, 90_000);

  it('a paused worker whose lease expired writes nothing when it wakes up', async () => {
    // A worker paused inside a commit keeps its row locks (and blocks the takeover) until PostgreSQL ends
    // its idle transaction: the setting production runs with too (see docs/workflows.md).
    const url = new URL(db.config.dialect === 'postgres' ? db.config.postgres.url : '');
    await store
      .db()
      .executeQuery(
        CompiledQuery.raw(
          `ALTER DATABASE "${url.pathname.slice(1)}" SET idle_in_transaction_session_timeout = '2s'`,
          [],
        ),
      );
    const effects = path.join(dir, 'effects.log');
    const ids = await enqueue(6);
    const a = startWorker([JSON.stringify(db.config), 'worker-a', effects, '1000', '300']);
    workers.push(a);
    await until(() => a.out().includes('READY'), 30_000);
    await until(
      () => fs.existsSync(effects) && fs.readFileSync(effects, 'utf8').includes('worker-a pick'),
      30_000,
    );
    a.child.kill('SIGSTOP');
    const b = startWorker([JSON.stringify(db.config), 'worker-b', effects, '1000', '1']);
    workers.push(b);
    await until(async () => (await statuses()).every((r) => r.status === 'completed'), 60_000);
    const journalBefore = await store
      .db<WorkflowTables>()
      .selectFrom('wf_steps')
      .selectAll()
      .orderBy('run_id')
      .orderBy('step_id')
      .execute();
    const runsBefore = await store
      .db<WorkflowTables>()
      .selectFrom('wf_runs')
      .selectAll()
      .orderBy('run_id')
      .execute();
    a.child.kill('SIGCONT');
    await until(() => a.out().includes('LEASE_LOST'), 30_000);
    // Give the woken worker time to try every write it had pending.
    await new Promise((r) => setTimeout(r, 1000));
    const journalAfter = await store
      .db<WorkflowTables>()
      .selectFrom('wf_steps')
      .selectAll()
      .orderBy('run_id')
      .orderBy('step_id')
      .execute();
    const runsAfter = await store
      .db<WorkflowTables>()
      .selectFrom('wf_runs')
      .selectAll()
      .orderBy('run_id')
      .execute();
    expect(journalAfter).toEqual(journalBefore);
    expect(runsAfter).toEqual(runsBefore);
    expect(completions(a.out())).toEqual([]);
    expect(completions(b.out()).sort()).toEqual([...ids].sort());
  }, 90_000);

  it('recovery skips runs another worker holds locked instead of queueing behind them', async () => {
    const stuck = defineWorkflow({
      name: 'stuck',
      version: 1,
      run: async (ctx) => {
        await ctx.step('one', async () => 1);
        await ctx.step('hang', () => new Promise(() => undefined));
      },
    });
    const dead = new WorkflowRuntime({ store, executorId: 'dead' }).register(stuck);
    for (const id of ['r-1', 'r-2', 'r-3']) await dead.start(stuck, undefined, { runId: id });
    await until(
      async () =>
        (await store.db<WorkflowTables>().selectFrom('wf_steps').select('run_id').execute()).length === 3,
    );
    await dead.shutdown({ drainMs: 0 });
    await store.db<WorkflowTables>().updateTable('wf_runs').set({ lease_expires_at: 0 }).execute();
    const healthy = new WorkflowRuntime({ store, executorId: 'healthy' }).register(stuck);
    const resumed: string[] = [];
    healthy.events.on('run:resumed', (e) => resumed.push(e.runId));
    const takenOver: string[] = [];
    healthy.events.on('lease:taken-over', (e) => takenOver.push(`${e.runId} from ${e.previousOwner}`));
    // Another worker (its own connection pool) is in the middle of claiming r-2: its row is locked.
    const otherWorker = await db.open();
    try {
      await otherWorker.transaction(async (tx) => {
        await tx
          .db()
          .executeQuery(CompiledQuery.raw(`SELECT run_id FROM wf_runs WHERE run_id = 'r-2' FOR UPDATE`, []));
        expect(await healthy.recoverNow()).toBe(2);
      });
    } finally {
      await otherWorker.close();
    }
    expect(resumed.sort()).toEqual(['r-1', 'r-3']);
    expect(await healthy.recoverNow()).toBe(1);
    expect(takenOver.sort()).toEqual(['r-1 from dead', 'r-2 from dead', 'r-3 from dead']);
    const epochs = await store
      .db<WorkflowTables>()
      .selectFrom('wf_runs')
      .select(['run_id', 'owner', 'lease_epoch', 'recovery_count'])
      .orderBy('run_id')
      .execute();
    expect(epochs.map((r) => [r.owner, Number(r.lease_epoch), Number(r.recovery_count)])).toEqual([
      ['healthy', 2, 1],
      ['healthy', 2, 1],
      ['healthy', 2, 1],
    ]);
    await healthy.shutdown({ drainMs: 0 });
  });
});
