// The contract every connector passes, against its real system (or the sandbox standing in for it).
// A connector's test file calls `runConnectorContract(name, factory)`; the factory gives a connected
// connector plus the few system-side actions the suite cannot do through the connector itself
// (produce a change in a stream, look at what a write left in the system).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceRecordKey } from '../../src/connectors/connector.ts';
import type {
  Command,
  Connector,
  Cursor,
  ReadResult,
  SourceRecord,
  StreamDescription,
} from '../../src/connectors/connector.ts';
import { ConnectorUnknownCommandError, ConnectorUnknownStreamError } from '../../src/connectors/errors.ts';

export interface ContractSubject {
  /** A connector configured to reach the system. */
  readonly connector: Connector;
  /** A connector of the same kind whose `check()` must fail (wrong secret or unreachable address). */
  readonly broken: Connector;
  /** Secret values the two connectors were given: none may appear in what `check()` returns. */
  readonly secrets: readonly string[];
  /** Streams to exercise (default: all listed by `streams()` that `produce` supports). */
  readonly streams?: readonly string[];
  /** Makes the system create or change records of `stream` right now; returns their external ids. */
  produce(stream: string): Promise<readonly string[]>;
  /** A command the connector accepts, with a fresh idempotency key each call. */
  command(): Promise<Command> | Command;
  /** Reads the system directly and says whether the effect carries the command's key or marker. */
  effectCarriesKey(externalId: string, command: Command): Promise<boolean>;
  /** Optional: makes the next write of `command` end ambiguous (timeout) while the system applies it
   * (`applied: true`) or not; the suite then checks `findEffect` tells which. */
  ambiguousWrite?(command: Command, applied: boolean): Promise<void>;
  close(): Promise<void>;
}

/** Reads a stream from `cursor` until `hasMore` is false; returns all records and the last cursor. */
export async function readAll(
  connector: Connector,
  stream: string,
  cursor: Cursor | undefined,
  limit?: number,
): Promise<{ records: SourceRecord[]; cursor: Cursor; pages: number }> {
  const records: SourceRecord[] = [];
  let current = cursor;
  for (let pages = 1; ; pages++) {
    const result: ReadResult = await connector.read({
      stream,
      ...(current === undefined ? {} : { cursor: current }),
      ...(limit === undefined ? {} : { limit }),
    });
    records.push(...result.records);
    // The engine stores cursors as JSON: pass on exactly what survives that.
    current = JSON.parse(JSON.stringify(result.cursor)) as Cursor;
    if (!result.hasMore) return { records, cursor: current, pages };
    if (pages > 1000) throw new Error(`${stream}: more than 1000 pages, the cursor does not advance`);
  }
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?Z$/;

export function runConnectorContract(name: string, factory: () => Promise<ContractSubject>): void {
  describe(`connector contract: ${name}`, () => {
    let subject: ContractSubject;
    let streams: readonly StreamDescription[];
    let exercised: StreamDescription[];

    beforeAll(async () => {
      subject = await factory();
      streams = await subject.connector.streams();
      exercised = streams.filter((s) => subject.streams === undefined || subject.streams.includes(s.name));
    });
    afterAll(async () => {
      await subject?.close();
    });

    it('describes itself: system, config schema, secrets and commands', () => {
      const d = subject.connector.describe();
      expect(d.system).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(d.displayName.length).toBeGreaterThan(0);
      expect(d.configSchema.type).toBe('object');
      for (const secret of d.secrets) expect(secret.name.length).toBeGreaterThan(0);
      expect(d.commands.length).toBeGreaterThan(0);
      for (const c of d.commands) {
        expect(c.argsSchema.type).toBe('object');
        expect(['native', 'marker', 'natural']).toContain(c.idempotency);
        // A connector without native keys must be able to check before a retry.
        if (c.idempotency === 'marker') expect(typeof subject.connector.findEffect).toBe('function');
      }
      expect(d.webhooks).toBe(subject.connector.webhooks !== undefined);
    });

    it('checks a good connection as ok', async () => {
      const result = await subject.connector.check();
      expect(result.items.filter((i) => !i.ok)).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result.items.length).toBeGreaterThan(0);
    });

    it('checks a broken connection as failed, saying what failed, without throwing', async () => {
      const result = await subject.broken.check();
      expect(result.ok).toBe(false);
      const failed = result.items.filter((i) => !i.ok);
      expect(failed.length).toBeGreaterThan(0);
      for (const item of failed) expect(item.message.length).toBeGreaterThan(0);
      // Never a secret in what a check returns (it is shown to operators and logged).
      const good = JSON.stringify(await subject.connector.check());
      for (const secret of subject.secrets) {
        expect(JSON.stringify(result)).not.toContain(secret);
        expect(good).not.toContain(secret);
      }
    });

    it('lists its streams with entity kind, key, cursor field and overlap', () => {
      expect(streams.length).toBeGreaterThan(0);
      expect(new Set(streams.map((s) => s.name)).size).toBe(streams.length);
      for (const s of streams) {
        expect(s.entity.length).toBeGreaterThan(0);
        expect(s.key.length).toBeGreaterThan(0);
        expect(s.cursorField.length).toBeGreaterThan(0);
        expect(s.overlapMs).toBeGreaterThanOrEqual(0);
      }
      expect(exercised.length).toBeGreaterThan(0);
    });

    it('reads from the default cursor, then only new records (repeats only within the overlap)', async () => {
      for (const stream of exercised) {
        const produced = await subject.produce(stream.name);
        expect(produced.length, `${stream.name}: produce() made nothing`).toBeGreaterThan(0);
        const first = await readAll(subject.connector, stream.name, undefined);
        const ids = new Set(first.records.map((r) => r.externalId));
        for (const id of produced) expect(ids, `${stream.name}: first read lacks ${id}`).toContain(id);
        for (const r of first.records) {
          expect(r.stream).toBe(stream.name);
          expect(typeof r.externalId).toBe('string');
          expect(r.updatedAt).toMatch(ISO_UTC);
        }
        const seen = new Set(first.records.map(sourceRecordKey));
        const newest = Math.max(...first.records.map((r) => Date.parse(r.updatedAt)));

        // Nothing changed: a second read returns nothing new; anything it repeats is within the overlap.
        const again = await readAll(subject.connector, stream.name, first.cursor);
        for (const r of again.records) {
          expect(seen.has(sourceRecordKey(r)), `${stream.name}: ${r.externalId}@${r.updatedAt} is new`).toBe(
            true,
          );
          expect(Date.parse(r.updatedAt)).toBeGreaterThanOrEqual(newest - stream.overlapMs);
        }

        // New changes are found from the stored cursor, once deduplicated.
        const more = await subject.produce(stream.name);
        const next = await readAll(subject.connector, stream.name, again.cursor);
        const fresh = next.records.filter((r) => !seen.has(sourceRecordKey(r)));
        const freshIds = new Set(fresh.map((r) => r.externalId));
        for (const id of more) expect(freshIds, `${stream.name}: change to ${id} not read`).toContain(id);
        for (const r of next.records) {
          if (seen.has(sourceRecordKey(r))) {
            expect(Date.parse(r.updatedAt)).toBeGreaterThanOrEqual(newest - stream.overlapMs);
          }
        }
      }
    });

    it('pages with a small limit without losing or endlessly repeating records', async () => {
      const stream = exercised[0]!;
      await subject.produce(stream.name);
      await subject.produce(stream.name);
      const whole = await readAll(subject.connector, stream.name, undefined);
      const paged = await readAll(subject.connector, stream.name, undefined, 2);
      const key = (r: SourceRecord) => `${r.externalId}@${r.updatedAt}`;
      expect(new Set(paged.records.map(key))).toEqual(new Set(whole.records.map(key)));
      expect(paged.pages).toBeGreaterThan(1);
    });

    it('rejects an unknown stream with a typed error', async () => {
      await expect(subject.connector.read({ stream: 'no-such-stream' })).rejects.toBeInstanceOf(
        ConnectorUnknownStreamError,
      );
    });

    it('writes a command carrying its idempotency key, and finds its effect again', async () => {
      const command = await subject.command();
      const outcome = await subject.connector.write(command);
      if (outcome.status !== 'applied') throw outcome.error;
      expect(outcome.effect.externalId.length).toBeGreaterThan(0);
      expect(await subject.effectCarriesKey(outcome.effect.externalId, command)).toBe(true);
      const description = subject.connector.describe().commands.find((c) => c.type === command.type)!;
      if (description.idempotency === 'marker') {
        const found = await subject.connector.findEffect!(command);
        expect(found).toEqual({
          found: true,
          effect: expect.objectContaining({ externalId: outcome.effect.externalId }),
        });
        const other = await subject.command();
        expect(await subject.connector.findEffect!(other)).toEqual({ found: false });
      } else {
        const again = await subject.connector.write(command);
        expect(again).toMatchObject({
          status: 'applied',
          replayed: true,
          effect: { externalId: outcome.effect.externalId },
        });
      }
    });

    it('rejects an unknown command type with a typed error', async () => {
      const command = await subject.command();
      await expect(subject.connector.write({ ...command, type: 'no.such.command' })).rejects.toBeInstanceOf(
        ConnectorUnknownCommandError,
      );
    });

    it('lets an ambiguous write be checked before it is retried', async (context) => {
      if (subject.ambiguousWrite === undefined)
        return context.skip('the subject cannot make a write ambiguous');
      for (const applied of [true, false]) {
        const command = await subject.command();
        await subject.ambiguousWrite(command, applied);
        const outcome = await subject.connector.write(command);
        expect(outcome.status).toBe('ambiguous');
        const description = subject.connector.describe().commands.find((c) => c.type === command.type)!;
        if (description.idempotency === 'marker') {
          const lookup = await subject.connector.findEffect!(command);
          expect(lookup.found).toBe(applied);
          if (!lookup.found) {
            const retried = await subject.connector.write(command);
            expect(retried.status).toBe('applied');
          }
        } else {
          const retried = await subject.connector.write(command);
          expect(retried).toMatchObject({ status: 'applied', replayed: applied });
        }
      }
    });
  });
}
