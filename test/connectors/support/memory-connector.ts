// A FAKE connector over an in-memory "system", for proving the contract suite itself: it is the
// smallest connector that honours the contract, and shows a connector author what each part means.
import { Type } from '@sinclair/typebox';
import {
  effectMarker,
  type Command,
  type Connector,
  type Cursor,
} from '../../../src/connectors/connector.ts';
import {
  ConnectorCursorInvalidError,
  ConnectorTimeoutError,
  ConnectorUnknownCommandError,
  ConnectorUnknownStreamError,
} from '../../../src/connectors/errors.ts';

export interface MemoryItem {
  id: string;
  name: string;
  updatedAt: string;
}

export interface MemoryNote {
  id: string;
  text: string;
  marker: string;
}

export class MemorySystem {
  readonly items = new Map<string, MemoryItem>();
  readonly notes: MemoryNote[] = [];
  private last = 0;
  private seq = 0;
  /** Set to make the next write time out, after applying it or not. */
  nextWriteAmbiguous: { applied: boolean } | undefined;

  now(): string {
    this.last = Math.max(Date.now(), this.last + 1);
    return new Date(this.last).toISOString();
  }

  upsert(id?: string): string {
    const key = id ?? String(++this.seq);
    this.items.set(key, { id: key, name: `item ${key}`, updatedAt: this.now() });
    return key;
  }
}

const isCursor = (c: Cursor): c is { after: string; id: string } =>
  typeof c === 'object' &&
  c !== null &&
  !Array.isArray(c) &&
  typeof c.after === 'string' &&
  typeof c.id === 'string';

export function memoryConnector(system: MemorySystem, options: { reachable?: boolean } = {}): Connector {
  const reachable = options.reachable ?? true;
  const describe = () => ({
    system: 'memory',
    kind: 'other' as const,
    displayName: 'In-memory fake',
    configSchema: Type.Object({}),
    secrets: [],
    commands: [
      {
        type: 'note.add',
        description: 'Adds a note',
        argsSchema: Type.Object({ text: Type.String() }),
        idempotency: 'marker' as const,
      },
    ],
    webhooks: false,
  });
  return {
    describe,
    check: () =>
      Promise.resolve(
        reachable
          ? { ok: true, items: [{ name: 'reachable', ok: true, message: 'in memory' }], details: {} }
          : { ok: false, items: [{ name: 'reachable', ok: false, message: 'switched off' }], details: {} },
      ),
    streams: () =>
      Promise.resolve([{ name: 'item', entity: 'item', key: 'id', cursorField: 'updatedAt', overlapMs: 0 }]),
    read: (request) => {
      if (request.stream !== 'item')
        return Promise.reject(new ConnectorUnknownStreamError('memory', request.stream));
      const cursor = request.cursor ?? { after: '', id: '' };
      if (!isCursor(cursor))
        return Promise.reject(new ConnectorCursorInvalidError('memory', 'item', 'not an object'));
      const after = (i: MemoryItem) =>
        i.updatedAt > cursor.after || (i.updatedAt === cursor.after && i.id.localeCompare(cursor.id) > 0);
      const sorted = [...system.items.values()]
        .filter(after)
        .sort((a, b) => a.updatedAt.localeCompare(b.updatedAt) || a.id.localeCompare(b.id));
      const limit = request.limit ?? 100;
      const page = sorted.slice(0, limit);
      const last = page.at(-1);
      return Promise.resolve({
        records: page.map((i) => ({
          stream: 'item',
          externalId: i.id,
          updatedAt: i.updatedAt,
          payload: { ...i },
        })),
        cursor: last ? { after: last.updatedAt, id: last.id } : cursor,
        hasMore: sorted.length > limit,
      });
    },
    write: (command: Command) => {
      if (command.type !== 'note.add') {
        return Promise.reject(new ConnectorUnknownCommandError('memory', command.type));
      }
      const ambiguous = system.nextWriteAmbiguous;
      system.nextWriteAmbiguous = undefined;
      const apply = () => {
        const id = `n${system.notes.length + 1}`;
        system.notes.push({
          id,
          text: (command.args as { text: string }).text,
          marker: effectMarker(command.idempotencyKey),
        });
        return id;
      };
      if (ambiguous) {
        if (ambiguous.applied) apply();
        return Promise.resolve({
          status: 'ambiguous' as const,
          error: new ConnectorTimeoutError({ system: 'memory', operation: 'note.add', timeoutMs: 1 }),
        });
      }
      return Promise.resolve({
        status: 'applied' as const,
        effect: { externalId: apply() },
        replayed: false,
      });
    },
    findEffect: (command: Command) => {
      const note = system.notes.find((n) => n.marker === effectMarker(command.idempotencyKey));
      return Promise.resolve(
        note ? { found: true as const, effect: { externalId: note.id } } : { found: false as const },
      );
    },
    close: () => Promise.resolve(),
  };
}
