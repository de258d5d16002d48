import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SingletonLocks } from '../../src/workflow/index.ts';
import { freshPgDatabase, pgAvailable } from '../support/services.ts';
import { until } from './support.ts';

describe.skipIf(!pgAvailable)('singleton locks on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof freshPgDatabase>>;
  beforeEach(async () => {
    db = await freshPgDatabase('cd_wf_lock');
  });
  afterEach(async () => {
    await db.drop();
  });

  it('one holder at a time across connections; a dropped connection loses the lock', async () => {
    const nodeA = new SingletonLocks({ postgresUrl: db.url });
    const nodeB = new SingletonLocks({ postgresUrl: db.url });
    const lease = await nodeA.tryAcquire('carrier-poller');
    expect(lease).not.toBeNull();
    expect(await nodeB.tryAcquire('carrier-poller')).toBeNull();
    expect(await nodeA.tryAcquire('carrier-poller')).toBeNull();
    await lease!.release();
    const leaseB = await nodeB.tryAcquire('carrier-poller');
    expect(leaseB).not.toBeNull();
    // Cut B's connection from the server side, as a network partition or a DBA would.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crossdock-singleton:carrier-poller'",
    );
    await admin.end();
    await until(() => leaseB!.signal.aborted);
    const again = await nodeA.tryAcquire('carrier-poller');
    expect(again).not.toBeNull();
    await again!.release();
  });
});

describe('singleton locks in one process (SQLite mode)', () => {
  it('hands a lock to one holder until it is released', async () => {
    const locks = new SingletonLocks();
    const lease = await locks.tryAcquire('scheduler');
    expect(await locks.tryAcquire('scheduler')).toBeNull();
    await lease!.release();
    expect(await locks.tryAcquire('scheduler')).not.toBeNull();
  });
});
