// The effect ledger against a real HTTP target without idempotency keys (the comment desk test server):
// applied effects are never resent, ambiguous ones are looked up by their marker before a retry, and a
// process killed at each named crash point and restarted leaves exactly one comment per business key.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from '../../src/connectors/index.ts';
import { CRASH_POINTS, EffectLedger, effectIdempotencyKey } from '../../src/sync/index.ts';
import {
  commentDeskConnector,
  setFaults,
  startCommentDesk,
  type CommentDesk,
} from './support/comment-desk.ts';
import { dialects, freshTenant, type Opened } from './support/harness.ts';
import type { SyncDb } from '../../src/sync/tables.ts';

const child = path.join(import.meta.dirname, 'fixtures', 'effect-crash-child.ts');

function runChild(
  args: string[],
  crashPoint?: string,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    if (crashPoint === undefined) delete env.CROSSDOCK_CRASH_POINT;
    else env.CROSSDOCK_CRASH_POINT = crashPoint;
    const proc = spawn(process.execPath, ['bin/run-ts.js', child, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

function countByKey(bodies: readonly string[], keys: readonly string[]): Record<string, number> {
  return Object.fromEntries(
    keys.map((k) => [k, bodies.filter((b) => b.startsWith(`milestone ${k}\n`)).length]),
  );
}

describe('effect ledger crash points (SQLite, child process, comment desk over HTTP)', () => {
  let desk: CommentDesk;
  beforeAll(async () => {
    desk = await startCommentDesk();
  });
  afterAll(async () => {
    await desk.close();
  });

  it.each(CRASH_POINTS.filter((p) => p !== 'after-effect-before-desired-ack'))(
    'killed at %s on the second effect, restarted: exactly one comment per business key',
    async (point) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-'));
      const ticket = `T-${point}`;
      const keys = ['case-1:ack:v1', 'case-1:shipped:v1', 'case-1:delivered:v1'];
      const args = ['effects', path.join(dir, 'crash.db'), desk.url, ticket, ...keys];
      try {
        const crashed = await runChild(args, `${point}@2`);
        expect(crashed.signal, crashed.out).toBe('SIGKILL');
        const finished = await runChild(args);
        expect(finished.code, finished.out).toBe(0);
        expect(finished.out).toBe(keys.map((k) => `${k} applied\n`).join(''));
        const bodies = (await desk.comments(ticket)).map((c) => c.body);
        expect(countByKey(bodies, keys)).toEqual(Object.fromEntries(keys.map((k) => [k, 1])));
        expect(bodies).toHaveLength(keys.length);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    // Two child processes each load TypeScript through tsx; generous under a loaded CI machine.
    120_000,
  );

  it.each(['before-remote-write', 'after-remote-write-before-ledger', 'after-effect-before-desired-ack'])(
    'a burst of ten desired changes killed at %s, restarted: one helpdesk comment, for the last version',
    async (point) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-'));
      const ticket = `D-${point}`;
      const db = path.join(dir, 'crash.db');
      try {
        const crashed = await runChild(['desired', db, desk.url, ticket, '10'], point);
        expect(crashed.signal, crashed.out).toBe('SIGKILL');
        const finished = await runChild(['desired', db, desk.url, ticket, '0']);
        expect(finished.code, finished.out).toBe(0);
        expect(finished.out).toBe('written v10\n');
        const bodies = (await desk.comments(ticket)).map((c) => c.body.split('\n')[0]);
        expect(bodies).toEqual(['order status "step-10" (v10)']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});

describe.each(dialects)('effect ledger on $dialect', ({ open }) => {
  let opened: Opened;
  let desk: CommentDesk;
  beforeAll(async () => {
    opened = await open();
    desk = await startCommentDesk();
  });
  afterAll(async () => {
    await desk.close();
    await opened.cleanup();
  });

  it('returns an applied effect from the ledger without sending it again', async () => {
    const tenant = freshTenant();
    const ledger = new EffectLedger({ store: opened.store });
    const connector = commentDeskConnector(desk.url);
    const request = { type: 'case.comment', args: { ticket: `${tenant}-a`, text: 'milestone k\n' } };
    const first = await ledger.perform(tenant, 'comment-desk', connector, 'k', request);
    const second = await ledger.perform(tenant, 'comment-desk', connector, 'k', request);
    expect(first).toMatchObject({ status: 'applied', sent: true });
    expect(second).toMatchObject({
      status: 'applied',
      sent: false,
      effect: first.status === 'applied' ? first.effect : {},
    });
    expect(await desk.comments(`${tenant}-a`)).toHaveLength(1);
    expect(second.record).toMatchObject({
      attempts: 1,
      idempotencyKey: effectIdempotencyKey(tenant, 'comment-desk', 'k'),
    });
  });

  it('records an ambiguous write (applied, answer lost) and finds it by marker instead of resending', async () => {
    const tenant = freshTenant();
    const ledger = new EffectLedger({ store: opened.store });
    const connector = commentDeskConnector(desk.url);
    const request = { type: 'case.comment', args: { ticket: `${tenant}-b`, text: 'milestone k\n' } };
    await setFaults(desk.url, { dropAfterApply: 1 });
    const first = await ledger.perform(tenant, 'comment-desk', connector, 'k', request);
    expect(first.status).toBe('ambiguous');
    expect((await ledger.list(tenant, { status: 'ambiguous' })).map((e) => e.businessKey)).toEqual(['k']);
    const retry = await ledger.perform(tenant, 'comment-desk', connector, 'k', request);
    expect(retry).toMatchObject({ status: 'applied', sent: false });
    expect(await desk.comments(`${tenant}-b`)).toHaveLength(1);
    expect(retry.record.externalId).toBe(String((await desk.comments(`${tenant}-b`))[0]!.id));
  });

  it('resends an ambiguous write the target never applied, once', async () => {
    const tenant = freshTenant();
    const ledger = new EffectLedger({ store: opened.store });
    const connector = commentDeskConnector(desk.url);
    const request = { type: 'case.comment', args: { ticket: `${tenant}-c`, text: 'milestone k\n' } };
    await setFaults(desk.url, { dropBeforeApply: 1 });
    expect((await ledger.perform(tenant, 'comment-desk', connector, 'k', request)).status).toBe('ambiguous');
    expect(await desk.comments(`${tenant}-c`)).toHaveLength(0);
    const retry = await ledger.perform(tenant, 'comment-desk', connector, 'k', request);
    expect(retry).toMatchObject({ status: 'applied', sent: true, record: { attempts: 2 } });
    expect(await desk.comments(`${tenant}-c`)).toHaveLength(1);
  });

  it('refuses to resend an unverifiable effect of a connector without findEffect or native keys', async () => {
    const tenant = freshTenant();
    const ledger = new EffectLedger({ store: opened.store });
    const { describe: describeDesk, write } = commentDeskConnector(desk.url);
    const blind = { describe: describeDesk, write };
    const request = { type: 'case.comment', args: { ticket: `${tenant}-d`, text: 'milestone k\n' } };
    await setFaults(desk.url, { dropAfterApply: 1 });
    expect((await ledger.perform(tenant, 'comment-desk', blind, 'k', request)).status).toBe('ambiguous');
    await expect(ledger.perform(tenant, 'comment-desk', blind, 'k', request)).rejects.toMatchObject({
      code: 'SYNC_EFFECT_UNVERIFIABLE',
    });
    expect(await desk.comments(`${tenant}-d`)).toHaveLength(1);
  });

  // Exclusive or not: an attempt of this very process in flight is never taken for a dead one's.
  it.each([false, true])(
    'keeps a second caller from sending an effect while the first attempt is in flight (exclusive: %s)',
    async (exclusive) => {
      const tenant = freshTenant();
      const ledger = new EffectLedger({ store: opened.store, exclusive });
      const direct = commentDeskConnector(desk.url);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const inWrite = new Promise<void>((resolve) => (entered = resolve));
      const slow = {
        ...direct,
        write: async (command: Command) => {
          entered();
          await gate;
          return direct.write(command);
        },
      };
      const request = { type: 'case.comment', args: { ticket: `${tenant}-f`, text: 'milestone k\n' } };
      const first = ledger.perform(tenant, 'comment-desk', slow, 'k', request);
      await inWrite;
      await expect(ledger.perform(tenant, 'comment-desk', direct, 'k', request)).rejects.toMatchObject({
        code: 'SYNC_EFFECT_IN_FLIGHT',
        retryable: true,
      });
      release();
      expect(await first).toMatchObject({ status: 'applied', sent: true });
      expect(await ledger.perform(tenant, 'comment-desk', direct, 'k', request)).toMatchObject({
        sent: false,
      });
      expect(await desk.comments(`${tenant}-f`)).toHaveLength(1);
    },
  );

  it("takes over a gone process's unfinished attempt at once when it sends alone, and waits when shared", async () => {
    const tenant = freshTenant();
    const connector = commentDeskConnector(desk.url);
    const request = { type: 'case.comment', args: { ticket: `${tenant}-p`, text: 'milestone k\n' } };
    // A previous process recorded an attempt and died before recording its outcome.
    await new EffectLedger({ store: opened.store }).perform(tenant, 'comment-desk', connector, 'k', request);
    await opened.store
      .db<SyncDb>()
      .updateTable('sync_effects')
      .set({ status: 'pending', attempt_owner: 'gone-process', updated_at: new Date().toISOString() })
      .where('tenant_id', '=', tenant)
      .execute();
    await expect(
      new EffectLedger({ store: opened.store }).perform(tenant, 'comment-desk', connector, 'k', request),
    ).rejects.toMatchObject({ code: 'SYNC_EFFECT_IN_FLIGHT' });
    const alone = new EffectLedger({ store: opened.store, exclusive: true });
    // Looked up by its marker (it was sent), not sent again.
    expect(await alone.perform(tenant, 'comment-desk', connector, 'k', request)).toMatchObject({
      status: 'applied',
      sent: false,
    });
    expect(await desk.comments(`${tenant}-p`)).toHaveLength(1);
  });

  it('keeps the same business key of two tenants apart', async () => {
    const [a, b] = [freshTenant(), freshTenant()];
    const ledger = new EffectLedger({ store: opened.store });
    const connector = commentDeskConnector(desk.url);
    const request = { type: 'case.comment', args: { ticket: `${a}-g`, text: 'milestone k\n' } };
    expect(await ledger.perform(a, 'comment-desk', connector, 'k', request)).toMatchObject({ sent: true });
    expect(await ledger.perform(b, 'comment-desk', connector, 'k', request)).toMatchObject({ sent: true });
    expect(effectIdempotencyKey(a, 'comment-desk', 'k')).not.toBe(
      effectIdempotencyKey(b, 'comment-desk', 'k'),
    );
    expect((await ledger.list(b)).map((e) => e.tenantId)).toEqual([b]);
    expect(await desk.comments(`${a}-g`)).toHaveLength(2);
  });

  it('rejects a business key reused for another command type', async () => {
    const tenant = freshTenant();
    const ledger = new EffectLedger({ store: opened.store });
    const connector = commentDeskConnector(desk.url);
    await ledger.perform(tenant, 'comment-desk', connector, 'k', {
      type: 'case.comment',
      args: { ticket: `${tenant}-e`, text: 'x' },
    });
    await expect(
      ledger.perform(tenant, 'comment-desk', connector, 'k', { type: 'case.close', args: {} }),
    ).rejects.toMatchObject({ code: 'SYNC_EFFECT_CONFLICT' });
  });
});
