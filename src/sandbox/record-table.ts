// In-memory table of versioned records for the sandbox systems: every write stamps `updated_at`
// from the sandbox clock and bumps `version`, and lists page by the (updated_at, id) cursor that
// real systems' "changed since" endpoints offer. Records go in and out as copies, so a caller
// holding one cannot change the table behind its back.
import type { SandboxClock } from './clock.ts';

export type RecordId = string | number;

export interface VersionedRecord<Id extends RecordId = RecordId> {
  id: Id;
  created_at: string;
  updated_at: string;
  /** Row version, +1 on every write; lets a consumer spot stale or out-of-order notifications. */
  version: number;
}

export type RecordChange = 'created' | 'updated' | 'deleted';

export interface PageQuery {
  /** Only records with updated_at at or after this instant (epoch ms). */
  readonly sinceMs?: number;
  /** With `sinceMs`: among records whose updated_at equals `sinceMs`, only ids after this one. */
  readonly afterId?: RecordId;
  /** Page size (default 100). */
  readonly limit?: number;
}

export interface Page<T> {
  readonly data: T[];
  readonly hasMore: boolean;
  /** Cursor of the last record returned; pass it back to read the next page. */
  readonly next: { readonly updatedAt: string; readonly id: RecordId } | null;
}

interface Entry<T> {
  record: T;
  updatedMs: number;
}

export function compareIds(a: RecordId, b: RecordId): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = String(a);
  const sb = String(b);
  // Document numbers share a prefix and fixed width, so plain string order is numeric order.
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

export class RecordTable<T extends VersionedRecord<Id>, Id extends RecordId = T['id']> {
  private readonly rows = new Map<Id, Entry<T>>();

  constructor(
    readonly kind: string,
    private readonly clock: SandboxClock,
    private readonly onChange: (
      kind: string,
      record: VersionedRecord<Id>,
      change: RecordChange,
    ) => void = () => {},
  ) {}

  get size(): number {
    return this.rows.size;
  }

  insert(fields: Omit<T, keyof VersionedRecord>, id: Id): T {
    if (this.rows.has(id)) throw new RangeError(`${this.kind} ${String(id)} exists`);
    const stamp = this.clock.stamp();
    const record = { id, ...structuredClone(fields), created_at: stamp, updated_at: stamp, version: 1 } as T;
    this.rows.set(id, { record, updatedMs: Date.parse(stamp) });
    const copy = structuredClone(record);
    this.onChange(this.kind, copy, 'created');
    return structuredClone(record);
  }

  get(id: Id): T | undefined {
    const entry = this.rows.get(id);
    return entry === undefined ? undefined : structuredClone(entry.record);
  }

  has(id: Id): boolean {
    return this.rows.has(id);
  }

  /** Applies `mutate` to a copy and stores it with a new timestamp and version; undefined if absent. */
  update(id: Id, mutate: (draft: T) => void): T | undefined {
    const entry = this.rows.get(id);
    if (entry === undefined) return undefined;
    const draft = structuredClone(entry.record);
    mutate(draft);
    const stamp = this.clock.stamp();
    draft.id = id;
    draft.created_at = entry.record.created_at;
    draft.updated_at = stamp;
    draft.version = entry.record.version + 1;
    this.rows.set(id, { record: draft, updatedMs: Date.parse(stamp) });
    this.onChange(this.kind, structuredClone(draft), 'updated');
    return structuredClone(draft);
  }

  /** Every record, in id order. */
  all(filter?: (record: T) => boolean): T[] {
    const out: T[] = [];
    for (const { record } of this.rows.values()) if (filter === undefined || filter(record)) out.push(record);
    return out.sort((a, b) => compareIds(a.id, b.id)).map((r) => structuredClone(r));
  }

  /** A page in (updated_at, id) order, after the cursor. See `PageQuery` for the cursor rules. */
  page(query: PageQuery, filter?: (record: T) => boolean): Page<T> {
    const limit = Math.max(1, Math.min(query.limit ?? 100, 1000));
    const since = query.sinceMs;
    const after = query.afterId;
    const matching: Entry<T>[] = [];
    for (const entry of this.rows.values()) {
      if (since !== undefined) {
        if (entry.updatedMs < since) continue;
        if (entry.updatedMs === since && after !== undefined && compareIds(entry.record.id, after) <= 0)
          continue;
      }
      if (filter !== undefined && !filter(entry.record)) continue;
      matching.push(entry);
    }
    matching.sort((a, b) => a.updatedMs - b.updatedMs || compareIds(a.record.id, b.record.id));
    const data = matching.slice(0, limit).map((e) => structuredClone(e.record));
    const last = data[data.length - 1];
    return {
      data,
      hasMore: matching.length > limit,
      next: last === undefined ? null : { updatedAt: last.updated_at, id: last.id },
    };
  }
}
