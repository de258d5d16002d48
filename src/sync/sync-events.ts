// The sync engine's one typed event map. Logs, metrics and in-process subscribers key off these names;
// the durable business events (`order:changed`, ...) go to the event log through the change sink.
import type { JsonValue } from '../connectors/index.ts';

export interface SyncEventMap {
  /** A source record version changed canonical state. */
  'sync:record-applied': {
    tenantId: string;
    system: string;
    stream: string;
    externalId: string;
    updatedAt: string;
    entity: { kind: string; id: string };
  };
  /** A record version seen before (overlap window, webhook retry) was dropped. */
  'sync:record-duplicate': {
    tenantId: string;
    system: string;
    stream: string;
    externalId: string;
    updatedAt: string;
  };
  /** An older version arrived after a newer one; kept raw, not applied. */
  'sync:record-stale': {
    tenantId: string;
    system: string;
    stream: string;
    externalId: string;
    updatedAt: string;
    appliedUpdatedAt: string;
  };
  /** Same update time as a captured version, other content: not applied, dead-lettered. */
  'sync:record-collision': {
    tenantId: string;
    system: string;
    stream: string;
    externalId: string;
    updatedAt: string;
  };
  'sync:mapping-failed': {
    tenantId: string;
    system: string;
    stream: string;
    externalId: string;
    reason: string;
  };
  /** A system changed a field it does not own: recorded, not propagated. */
  'sync:ownership-violated': {
    tenantId: string;
    system: string;
    owner: string;
    entity: { kind: string; id: string };
    field: string;
    value: JsonValue;
  };
  /** A read-back equal to what Crossdock last wrote into that system. */
  'sync:echo-suppressed': { tenantId: string; system: string; entityKey: string; field: string };
  /** An effect's outcome was recorded in the ledger. */
  'sync:effect-recorded': {
    tenantId: string;
    system: string;
    businessKey: string;
    status: string;
    attempts: number;
    replayed: boolean;
  };
  'sync:dead-lettered': { tenantId: string; code: string; entityKey: string };
}

export type SyncEventName = keyof SyncEventMap;
export type SyncListener<E extends SyncEventName> = (payload: SyncEventMap[E]) => void;

/** A small typed emitter; a listener that throws never breaks the engine (the error is swallowed). */
export class SyncEvents {
  readonly #listeners = new Map<SyncEventName, Set<(payload: never) => void>>();

  on<E extends SyncEventName>(event: E, listener: SyncListener<E>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<E extends SyncEventName>(event: E, payload: SyncEventMap[E]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as SyncListener<E>)(payload);
      } catch {
        // A subscriber's bug must not undo or interrupt a committed sync step.
      }
    }
  }
}
