// The polling loop on SQLite: catches a stream up page by page, picks up a change when kicked, backs
// off after a failing read and recovers, and stops only after the poll in flight has committed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureEngine, MapperRegistry, Poller, type PollJob } from '../../src/sync/index.ts';
import { createMetricsRegistry } from '../../src/telemetry/index.ts';
import { freshTenant, openSqlite, type Opened } from './support/harness.ts';
import { KeysetPagedSource, type ModelPayload } from './support/keyset-paged-source.ts';

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached');
}

describe('poller', () => {
  let opened: Opened;
  beforeAll(async () => {
    opened = await openSqlite();
  });
  afterAll(async () => {
    await opened.cleanup();
  });

  const capture = () =>
    new CaptureEngine({
      store: opened.store,
      mappers: new MapperRegistry().register('model', 'orders', {
        version: 'model@1',
        map: (r) => ({ kind: 'order', fields: { version: (r.payload as ModelPayload).version } }),
      }),
    });
  const versions = async (tenant: string) =>
    (
      await opened.store
        .db<{ sync_record_state: { tenant_id: string; external_id: string; fields: string } }>()
        .selectFrom('sync_record_state')
        .select(['external_id', 'fields'])
        .where('tenant_id', '=', tenant)
        .orderBy('external_id')
        .execute()
    ).map((r) => `${r.external_id}:${(JSON.parse(r.fields) as { version: number }).version}`);

  it('catches up page by page, then picks up a change when kicked', async () => {
    const tenant = freshTenant();
    const source = new KeysetPagedSource('orders', 0);
    for (let i = 0; i < 7; i++) source.seed(`r${i}`, 1);
    const job: PollJob = {
      tenantId: tenant,
      system: 'model',
      connector: source,
      stream: 'orders',
      intervalMs: 3_600_000,
    };
    const poller = new Poller({ capture: capture(), jobs: [job], limit: 2 });
    poller.start();
    await until(async () => (await versions(tenant)).length === 7);
    source.tick(5);
    source.write('r3', 0);
    poller.kick(tenant, 'model', 'orders');
    await until(async () => (await versions(tenant)).includes('r3:2'));
    await poller.stop();
    expect(await versions(tenant)).toEqual(['r0:1', 'r1:1', 'r2:1', 'r3:2', 'r4:1', 'r5:1', 'r6:1']);
  });

  it('counts a failed read, backs off and recovers from the stored cursor', async () => {
    const tenant = freshTenant();
    const metrics = createMetricsRegistry();
    const source = new KeysetPagedSource('orders', 0);
    source.seed('r0', 1);
    let fail = true;
    const flaky = {
      read: (req: Parameters<KeysetPagedSource['read']>[0]) => {
        if (fail) {
          fail = false;
          return Promise.reject(new Error('connection reset'));
        }
        return source.read(req);
      },
    };
    const poller = new Poller({
      capture: capture(),
      jobs: [{ tenantId: tenant, system: 'model', connector: flaky, stream: 'orders', intervalMs: 5 }],
      metrics,
    });
    poller.start();
    await until(async () => (await versions(tenant)).length === 1);
    await poller.stop();
    expect(await metrics.getSingleMetricAsString('crossdock_sync_poll_errors_total')).toContain(
      'crossdock_sync_poll_errors_total{system="model",stream="orders"} 1',
    );
  });
});
