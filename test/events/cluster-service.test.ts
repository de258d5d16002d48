// Cluster mode through the service itself: two `startService` instances on one PostgreSQL database
// and NATS, a subscriber registered with the same API as embedded mode, every event applied once
// and in entity order; NATS killed and started again mid-run (a server of the test's own), with
// `/ready` reporting it down meanwhile; and the config error for NATS on SQLite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../../src/app/service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { ConfigInvalidError } from '../../src/errors/index.ts';
import type { LoggedEvent } from '../../src/events/index.ts';
import { silentLogger } from '../../src/telemetry/index.ts';
import { NATS_URL, freshPgDatabase, natsAvailable, pgAvailable } from '../support/services.ts';
import { startOwnNatsServer, natsServerInstalled, type OwnNatsServer } from './support/nats-server.ts';
import { until } from './support/harness.ts';

interface Applied {
  readonly node: string;
  readonly generation: number;
  readonly id: string;
  readonly key: string;
  readonly seq: number;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function clusterConfig(pgUrl: string, natsUrl: string, stream: string, extra: Record<string, unknown> = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-cluster-svc-'));
  dirs.push(dataDir);
  return loadConfig({
    env: {},
    overrides: {
      dataDir,
      'server.port': 0,
      'store.dialect': 'postgres',
      'store.postgresUrl': pgUrl,
      'store.postgresPoolSize': 4,
      'events.partitions': 4,
      'events.nats.url': natsUrl,
      'events.nats.stream': stream,
      'events.nats.subjectPrefix': `cdsvc.${stream.toLowerCase()}`,
      ...extra,
    },
  });
}

/** Checks that every appended event was applied exactly once and each entity's in sequence order. */
function expectOnceInOrder(applied: readonly Applied[], appended: number, entities: number): void {
  expect(new Set(applied.map((a) => a.id)).size).toBe(applied.length);
  expect(applied).toHaveLength(appended);
  const byEntity = new Map<string, number[]>();
  for (const a of applied) byEntity.set(a.key, [...(byEntity.get(a.key) ?? []), a.seq]);
  expect(byEntity.size).toBe(entities);
  for (const seqs of byEntity.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1));
}

const services: RunningService[] = [];
afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop();
});

async function startNode(
  name: string,
  config: ReturnType<typeof loadConfig>,
  applied: Applied[],
): Promise<RunningService> {
  const svc = await startService({ loaded: config, logger: silentLogger() });
  services.push(svc);
  await svc.events.subscribe('orders-sync', (e: LoggedEvent, ctx) => {
    applied.push({
      node: name,
      generation: ctx.generation,
      id: e.id,
      key: `${e.entity.kind}/${e.entity.id}`,
      seq: e.entitySeq,
    });
  });
  return svc;
}

async function appendRounds(svc: RunningService, rounds: number, entities: number): Promise<number> {
  for (let r = 0; r < rounds; r++) {
    await svc.events.log.append(
      Array.from({ length: entities }, (_, e) => ({
        type: 'order:changed' as const,
        tenantId: 'default',
        entity: { id: `SO-${e}` },
        data: { r },
      })),
    );
  }
  return rounds * entities;
}

const owned = (svc: RunningService) => svc.events.cluster?.group('orders-sync')?.owned() ?? [];

describe.skipIf(!pgAvailable || !natsAvailable)('crossdock start in cluster mode', () => {
  it('delivers a subscriber through partitions of two instances: each event once, in entity order', async () => {
    const db = await freshPgDatabase('cd_cluster_svc');
    const stream = `CD_TEST_SVC_${process.pid}_${Date.now().toString(36)}`;
    try {
      const applied: Applied[] = [];
      const config = clusterConfig(db.url, NATS_URL, stream);
      const a = await startNode('a', config, applied);
      const b = await startNode('b', config, applied);
      await until(() => owned(a).length === 2 && owned(b).length === 2, 20_000);
      expect([...owned(a), ...owned(b)].sort()).toEqual([0, 1, 2, 3]);

      let appended = await appendRounds(a, 5, 12);
      appended += await appendRounds(b, 5, 12);
      await until(() => applied.length >= appended, 30_000);
      await a.events.dispatcher.idle();
      await b.events.dispatcher.idle();
      expectOnceInOrder(applied, appended, 12);
      await expect(a.events.admin.replay('orders', { fromPosition: 0 })).rejects.toThrow(/not found/);
      expect(new Set(applied.map((x) => x.node))).toEqual(new Set(['a', 'b']));

      // The partitions are the consumers `orders-sync#<p>`, listed like any other consumer.
      const consumers = (await a.events.admin.consumers()).map((c) => c.name);
      for (let p = 0; p < 4; p++) expect(consumers).toContain(`orders-sync#${p}`);

      // A replay by the subscriber's name replays every partition, each only its own entities.
      const started = await a.events.admin.replay('orders-sync', { fromPosition: 0 });
      expect(started.generation).toBe(1);
      await until(() => applied.length >= 2 * appended, 30_000);
      await a.events.dispatcher.idle();
      await b.events.dispatcher.idle();
      const replayed = applied.filter((x) => x.generation > 0);
      expectOnceInOrder(replayed, appended, 12);
      expect(applied).toHaveLength(2 * appended);

      const ready = await a.app.inject({ method: 'GET', url: '/ready' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json<{ checks: { name: string; ok: boolean }[] }>().checks).toContainEqual({
        name: 'nats',
        ok: true,
      });
      // Acknowledgements reach JetStream just after the outcome commits: lag drops to 0 then.
      const scrape = async () => (await b.app.inject({ method: 'GET', url: '/metrics' })).body;
      await until(async () => {
        const text = await scrape();
        return owned(b).every((p) =>
          text.includes(`crossdock_events_partition_lag_messages{group="orders-sync",partition="${p}"} 0`),
        );
      }, 10_000);
      const metrics = await scrape();
      const owner = b.events.dispatcher.owner;
      for (const p of owned(b)) {
        expect(metrics).toContain(
          `crossdock_events_partition_owned{group="orders-sync",partition="${p}",owner="${owner}"} 1`,
        );
        expect(metrics).toContain(
          `crossdock_events_partition_lag_messages{group="orders-sync",partition="${p}"} 0`,
        );
        expect(metrics).toMatch(
          new RegExp(
            `crossdock_events_partition_redeliveries_total\\{group="orders-sync",partition="${p}"\\} \\d+`,
          ),
        );
      }
    } finally {
      for (const s of services.splice(0).reverse()) await s.stop();
      const nc = await connect({ servers: NATS_URL });
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
      await nc.close();
      await db.drop();
    }
  }, 90_000);
});

describe.skipIf(!pgAvailable)('crossdock start in cluster mode without NATS', () => {
  it('refuses to start with an error naming the unreachable NATS', async () => {
    const db = await freshPgDatabase('cd_cluster_nonats');
    try {
      // Port 1 on loopback: nothing listens there, the connection is refused.
      const config = clusterConfig(db.url, 'nats://127.0.0.1:1', 'CD_TEST_NONATS');
      await expect(startService({ loaded: config, logger: silentLogger() })).rejects.toMatchObject({
        code: 'EVENTS_NATS_UNAVAILABLE',
        message: expect.stringContaining('nats://127.0.0.1:1') as unknown,
      });
    } finally {
      await db.drop();
    }
  });
});

describe.skipIf(!pgAvailable || !natsServerInstalled)('NATS restarted during a run', () => {
  let nats: OwnNatsServer | undefined;
  afterAll(async () => {
    await nats?.dispose();
  });

  it('resumes delivery after NATS is killed and started again: nothing lost, nothing applied twice', async () => {
    nats = await startOwnNatsServer();
    const db = await freshPgDatabase('cd_cluster_restart');
    try {
      const applied: Applied[] = [];
      const config = clusterConfig(db.url, nats.url, `CD_TEST_RESTART_${process.pid}`, {
        'events.nats.ackWaitMs': 2000,
      });
      const a = await startNode('a', config, applied);
      const b = await startNode('b', config, applied);
      await until(() => owned(a).length === 2 && owned(b).length === 2, 20_000);

      // A producer appends a round every 20 ms through the whole run, so the relay and the partition
      // consumers are mid-stream when NATS dies.
      let appended = 0;
      let producing = true;
      const producer = (async () => {
        for (let i = 0; producing; i++) {
          appended += await appendRounds(i % 2 === 0 ? a : b, 1, 10);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await until(() => applied.length >= 50, 30_000);
      await nats.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1500));
      const ready = await a.app.inject({ method: 'GET', url: '/ready' });
      expect(ready.statusCode).toBe(503);
      const nat = ready
        .json<{ checks: { name: string; ok: boolean }[] }>()
        .checks.find((c) => c.name === 'nats');
      expect(nat?.ok).toBe(false);
      // Events committed while NATS is down wait in the log; nothing is applied without NATS.
      const appliedWhileDown = applied.length;
      expect(appliedWhileDown).toBeLessThan(appended);

      await nats.start();
      await new Promise((r) => setTimeout(r, 1000));
      producing = false;
      await producer;
      await until(() => applied.length >= appended, 60_000);
      await until(
        async () => (await a.app.inject({ method: 'GET', url: '/ready' })).statusCode === 200,
        20_000,
      );
      await a.events.dispatcher.idle();
      await b.events.dispatcher.idle();
      expectOnceInOrder(applied, appended, 10);
    } finally {
      for (const s of services.splice(0).reverse()) await s.stop();
      await db.drop();
    }
  }, 120_000);
});

describe('cluster mode configuration', () => {
  it('refuses NATS with the SQLite store, naming the key', () => {
    let error: unknown;
    try {
      loadConfig({ env: {}, overrides: { 'events.nats.url': 'nats://ops:hunter2@127.0.0.1:4222' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigInvalidError);
    const issue = (error as ConfigInvalidError).issues[0]!;
    expect(issue.key).toBe('events.nats.url');
    expect(issue.expected).toContain('store.dialect postgres');
    expect(issue.value).not.toContain('hunter2');
  });

  it('takes the NATS token as a secret', () => {
    const loaded = loadConfig({
      env: { NATS_TOKEN: 's3cret-token-value' },
      overrides: {
        'store.dialect': 'postgres',
        'store.postgresUrl': 'postgres://x@127.0.0.1/x',
        'events.nats.url': 'nats://127.0.0.1:4222',
        'events.nats.token': '${env:NATS_TOKEN}',
      },
    });
    expect(loaded.config.events.partitions).toBe(16);
    expect(loaded.config.events.nats?.stream).toBe('CROSSDOCK_EVENTS');
    expect(loaded.secrets.has('s3cret-token-value')).toBe(true);
  });
});
