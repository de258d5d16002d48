// The order-visibility journey end to end between the real Tryton 6.0 and Request Tracker 5 (started
// by scripts/test-peers.sh on fresh databases): a confirmed sale shows on the RT tickets that name it,
// shipping and invoicing add milestones, a ticket created later is linked in one poll cycle, a party
// nobody wrote again is captured; `crossdock start` killed with SIGKILL and restarted, and RT stopped
// for a while, lose nothing and write no comment twice. All steps share one Crossdock store (SQLite in
// a temporary folder), first in-process, then as the real `crossdock start` in a child process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateStore, openConfiguredStore } from '../../src/app/store-setup.ts';
import { loadConfig } from '../../src/config/index.ts';
import { buildOrderVisibility } from '../../src/journeys/index.ts';
import type { SyncDb } from '../../src/sync/tables.ts';
import { silentLogger } from '../../src/telemetry/index.ts';
import { ROOT, runCli, startCli, type RunningCli } from '../support/cli.ts';
import { rtEnv, trytonEnv } from './support/peers-env.ts';
import { RtFixture } from './support/rt-fixture.ts';
import { TrytonFixture } from './support/tryton-fixture.ts';

const PEERS_DIR = process.env.PEERS_DIR ?? path.resolve(ROOT, '../shared/peers');
const POLL_MS = 500;

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 90_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > until) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** How many of the ticket's comments contain `text`. */
const mentions = (comments: readonly string[], text: string) =>
  comments.filter((c) => c.includes(text)).length;

describe.skipIf(!trytonEnv || !rtEnv)('order visibility between Tryton and Request Tracker', () => {
  const tryton = new TrytonFixture(trytonEnv ?? {});
  const rt = new RtFixture(rtEnv ?? {});
  let dir: string;
  let configFile: string;
  let service: RunningCli | undefined;

  const saleNumber = async (sale: number) =>
    (await tryton.rpc.model<{ number: string }[]>('sale.sale', 'read', [[sale], ['number']]))[0]!.number;

  /** A sale quoted and confirmed (Tryton creates its shipment and draft invoice). */
  async function confirmedSale() {
    const { sale, party } = await tryton.sale();
    const created = await tryton.confirm(sale);
    return { sale, party, number: await saleNumber(sale), ...created };
  }

  async function startService(): Promise<RunningCli> {
    const proc = startCli(['start', '--config', configFile, '--port', '0']);
    await proc.waitFor(/crossdock started/, 60_000);
    return proc;
  }

  async function kill(proc: RunningCli | undefined, signal: NodeJS.Signals = 'SIGTERM') {
    if (proc === undefined || proc.child.exitCode !== null) return;
    proc.child.kill(signal);
    await proc.exited;
  }

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crossdock-tryton-rt-'));
    configFile = path.join(dir, 'crossdock.yaml');
    // The example a user starts from, pointed at the test peers and polled faster.
    const example = fs.readFileSync(path.join(ROOT, 'examples/tryton-rt.yaml'), 'utf8');
    const config = example
      .replace('${env:TRYTON_RPC_URL}', trytonEnv!.TRYTON_RPC_URL!)
      .replace('${env:TRYTON_USER}', trytonEnv!.TRYTON_USER ?? 'admin')
      .replace('${env:TRYTON_PASSWORD}', trytonEnv!.TRYTON_PASSWORD ?? 'admin')
      .replace('${env:RT_REST2_URL}', rtEnv!.RT_REST2_URL!)
      .replace('${env:RT_TOKEN}', rtEnv!.RT_TOKEN!)
      .replace('${env:RT_TIMEZONE}', rtEnv!.RT_TIMEZONE ?? 'UTC')
      .replace('./data/tryton-rt', dir)
      .replaceAll('pollIntervalMs: 2000', `pollIntervalMs: ${POLL_MS}`);
    expect(config).not.toContain('${env:');
    fs.writeFileSync(configFile, config, { mode: 0o600 });
  });

  afterAll(async () => {
    await kill(service);
    await tryton.close();
    await rt.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('in-process, one poll at a time', () => {
    it('captures a party created and never written again, and links a later ticket within one poll', async () => {
      const loaded = loadConfig({ file: configFile });
      const store = await openConfiguredStore(loaded.config, { logger: silentLogger() });
      await migrateStore(store);
      const setup = buildOrderVisibility({ config: loaded.config, store, logger: silentLogger() })!;
      try {
        const { party } = await tryton.party();
        const sale = await confirmedSale();
        await setup.journey.pollOnce();
        const captured = await store
          .db<SyncDb>()
          .selectFrom('sync_record_state')
          .select(['external_id', 'entity_kind'])
          .where('system', '=', 'tryton')
          .where('stream', '=', 'party.party')
          .where('external_id', '=', String(party))
          .executeTakeFirst();
        expect(captured).toEqual({ external_id: String(party), entity_kind: 'customer' });

        // The sale is known; a ticket naming it arrives: one poll cycle links and enriches it.
        const ticket = await rt.ticket(`Damaged delivery for ${sale.number}`);
        await setup.journey.pollOnce();
        expect(await setup.journey.idle(60_000)).toBe(true);
        const fields = await rt.customFields(ticket);
        expect(fields['ERP Order']).toBe(sale.number);
        expect(fields['ERP Customer']).toMatch(/^C-\d+$/);
        const comments = await rt.comments(ticket);
        expect(comments).toHaveLength(1);
        expect(comments[0]).toContain(`Crossdock linked this case to ERP order ${sale.number}`);
        expect(comments[0]).toContain(`Order ${sale.number} is confirmed.`);
        expect(comments[0]).toMatch(/\[crossdock:[^\]]+\]/);
      } finally {
        await setup.close();
        await store.close();
      }
    });
  });

  describe('crossdock start', () => {
    it('puts the sale on the ticket naming it, then adds shipping and invoice milestones', async () => {
      service = await startService();
      const sale = await confirmedSale();
      const ticket = await rt.ticket(`Where is my order ${sale.number}?`);
      await eventually('ERP Order on the ticket', async () =>
        (await rt.customFields(ticket))['ERP Order'] === sale.number ? true : undefined,
      );
      await eventually('the milestone naming the sale', async () =>
        mentions(await rt.comments(ticket), `Order ${sale.number} is confirmed.`) === 1 ? true : undefined,
      );

      await tryton.ship(sale.shipments[0]!);
      await eventually('the shipped milestone', async () =>
        mentions(await rt.comments(ticket), `Order ${sale.number} is shipped`) === 1 ? true : undefined,
      );
      await tryton.post(sale.invoices[0]!);
      const comments = await eventually('the invoiced milestone', async () => {
        const all = await rt.comments(ticket);
        return mentions(all, `Order ${sale.number} was invoiced: INV-`) === 1 ? all : undefined;
      });
      expect(comments).toHaveLength(3);
      expect(mentions(comments, '[crossdock:')).toBe(3);
    });

    it('loses nothing and writes no comment twice when killed with SIGKILL mid-run and restarted', async () => {
      service ??= await startService();
      const sales = [];
      for (let i = 0; i < 4; i++) sales.push(await confirmedSale());
      const tickets: string[] = [];
      for (const s of sales) tickets.push(await rt.ticket(`Order ${s.number}: when will it ship?`));
      for (const s of sales) {
        await tryton.ship(s.shipments[0]!);
        await tryton.post(s.invoices[0]!);
      }
      // Killed once the first comment is out, while the others are still being written.
      await eventually('a first comment', async () =>
        (await rt.comments(tickets[0]!)).length > 0 ? true : undefined,
      );
      await kill(service, 'SIGKILL');
      service = await startService();

      const milestones = (n: string) => [
        `Order ${n} is confirmed.`,
        `Order ${n} is shipped`,
        `Order ${n} was invoiced`,
      ];
      for (const [i, ticket] of tickets.entries()) {
        const number = sales[i]!.number;
        await eventually(`every milestone on ticket ${ticket}`, async () => {
          const all = await rt.comments(ticket);
          return milestones(number).every((m) => mentions(all, m) >= 1) ? true : undefined;
        });
      }
      // Settle a few poll cycles, then: each milestone told exactly once, every field set.
      await new Promise((r) => setTimeout(r, 6 * POLL_MS));
      for (const [i, ticket] of tickets.entries()) {
        const number = sales[i]!.number;
        const all = await rt.comments(ticket);
        for (const m of milestones(number)) expect(mentions(all, m), `${m} on ticket ${ticket}`).toBe(1);
        expect((await rt.customFields(ticket))['ERP Order']).toBe(number);
      }
    });

    it('holds back writes while RT is stopped and delivers them once it returns', async () => {
      service ??= await startService();
      const sale = await confirmedSale();
      const ticket = await rt.ticket(`Invoice question about ${sale.number}`);
      await eventually('the ticket linked', async () =>
        mentions(await rt.comments(ticket), `Order ${sale.number} is confirmed.`) === 1 ? true : undefined,
      );
      const rtUp = (command: 'start' | 'stop') => {
        const r = spawnSync('bash', [path.join(PEERS_DIR, 'rt-up.sh'), command], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`rt-up.sh ${command} failed: ${r.stderr}`);
      };
      rtUp('stop');
      try {
        await tryton.ship(sale.shipments[0]!);
        await tryton.post(sale.invoices[0]!);
        // Long enough for several failed polls and write attempts.
        await new Promise((r) => setTimeout(r, 8_000));
      } finally {
        rtUp('start');
      }
      const comments = await eventually('the held-back milestones', async () => {
        const all = await rt.comments(ticket);
        return mentions(all, `Order ${sale.number} is shipped`) === 1 &&
          mentions(all, `Order ${sale.number} was invoiced`) === 1
          ? all
          : undefined;
      });
      expect(comments).toHaveLength(3);
      expect(service.output()).toMatch(/failed/);
    });

    it('backfills RT tickets from a date with progress, through the same capture path', async () => {
      await kill(service);
      service = undefined;
      const r = await runCli([
        'sync',
        'backfill',
        '--system',
        'rt',
        '--since',
        '2000-01-01',
        '--config',
        configFile,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/backfill rt ticket: \d+ records read, \d+ applied, \d+ pages.* - done/);
      const result = JSON.parse(r.stdout) as {
        system: string;
        records: number;
        streams: { stream: string }[];
      };
      expect(result.system).toBe('rt');
      expect(result.streams.map((s) => s.stream)).toEqual(['ticket']);
      // Every ticket this file created is read again (already captured, so nothing new is applied).
      expect(result.records).toBeGreaterThanOrEqual(7);
    });
  });
});
