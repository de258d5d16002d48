// Desired state coalesces: ten quick changes make one write of the latest version; a change arriving
// while a write is in flight makes exactly one more write; propagating again writes nothing.
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command, Connector, JsonValue, WriteOutcome } from '../../src/connectors/index.ts';
import { EffectLedger, Propagator, setDesired } from '../../src/sync/index.ts';
import { dialects, freshTenant, type Opened } from './support/harness.ts';

/** Records the commands it is given (an in-test target, not a system); `during` runs inside a write. */
function recordingTarget(during?: () => Promise<void>) {
  const written: Record<string, JsonValue>[] = [];
  const connector: Pick<Connector, 'describe' | 'write'> = {
    describe: () => ({
      system: 'rt',
      kind: 'helpdesk',
      displayName: 'recording target',
      configSchema: Type.Object({}),
      secrets: [],
      commands: [
        { type: 'ticket.update', description: '', argsSchema: Type.Object({}), idempotency: 'native' },
      ],
      webhooks: false,
    }),
    async write(command: Command): Promise<WriteOutcome> {
      written.push(command.args as Record<string, JsonValue>);
      await during?.();
      return { status: 'applied', effect: { externalId: '42' }, replayed: false };
    },
  };
  return { written, connector };
}

describe.each(dialects)('desired state on $dialect', ({ open }) => {
  let opened: Opened;
  beforeAll(async () => {
    opened = await open();
  });
  afterAll(async () => {
    await opened.cleanup();
  });

  const target = { system: 'rt', recordKey: 'case:c1' };
  const propagator = (connector: Pick<Connector, 'describe' | 'write'>) =>
    new Propagator({
      store: opened.store,
      ledger: new EffectLedger({ store: opened.store }),
      connector: () => connector,
      buildCommand: (d) => ({ type: 'ticket.update', args: { ...d.fields, version: d.version } }),
    });

  it('turns a burst of ten order changes into one write of the merged latest state', async () => {
    const tenant = freshTenant();
    const { written, connector } = recordingTarget();
    for (let i = 1; i <= 10; i++) {
      await opened.store.durable((tx) =>
        setDesired(tx, tenant, target, i % 2 === 0 ? { orderStatus: `s${i}` } : { tracking: `t${i}` }),
      );
    }
    const p = propagator(connector);
    expect(await p.propagate(tenant, target)).toMatchObject({ status: 'written', version: 10 });
    expect(written).toEqual([{ orderStatus: 's10', tracking: 't9', version: 10 }]);
    expect(await p.propagate(tenant, target)).toEqual({ status: 'up-to-date', version: 10 });
    expect(await p.get(tenant, target)).toMatchObject({ version: 10, appliedVersion: 10 });
    expect(written).toHaveLength(1);
  });

  it('writes once more when a change lands while a write is in flight, and never moves the applied version back', async () => {
    const tenant = freshTenant();
    let bumped = false;
    const { written, connector } = recordingTarget(async () => {
      if (bumped) return;
      bumped = true;
      await opened.store.durable((tx) => setDesired(tx, tenant, target, { orderStatus: 'shipped' }));
    });
    await opened.store.durable((tx) => setDesired(tx, tenant, target, { orderStatus: 'processing' }));
    const p = propagator(connector);
    expect(await p.propagate(tenant, target)).toMatchObject({ status: 'written', version: 1 });
    expect(await p.get(tenant, target)).toMatchObject({ version: 2, appliedVersion: 1 });
    const drained = await p.drain(tenant);
    expect(drained.get('rt/case:c1')).toMatchObject({ status: 'written', version: 2 });
    expect(written.map((w) => w.orderStatus)).toEqual(['processing', 'shipped']);
    expect((await p.drain(tenant)).size).toBe(0);
  });
});
