// An in-test model of how a system pages its changes, NOT a real system: it stands for the paging
// semantics capture must survive. Records carry a millisecond timestamp and an id; many share a
// timestamp. A version becomes visible only after a commit lag (its timestamp is not its commit time),
// records are updated while a scan is under way, and webhooks deliver any committed version, old
// ones included, any number of times.
//
// `keyset` mode pages by (timestamp, id) and, at the end of each scan, rewinds by `overlapMs` from the
// earlier of the scan's start time and the last timestamp seen (rewinding from the last timestamp alone can
// lose versions whose commit lagged behind a long scan). `offset` mode pages by position, the naive
// way, and exists to show the property test catches what that loses.
import type { Cursor, ReadRequest, ReadResult, SourceRecord } from '../../../src/connectors/index.ts';

export interface ModelPayload {
  readonly id: string;
  readonly version: number;
  readonly name: string;
}

interface Version {
  readonly ts: number;
  readonly visibleAt: number;
  readonly payload: ModelPayload;
}

type KeysetCursor =
  | { readonly mode: 'scan'; readonly ts: number; readonly id: string; readonly scanStart: number }
  | { readonly mode: 'rewind'; readonly from: number };

const BASE = Date.parse('2026-11-27T10:00:00.000Z');

export function iso(ts: number): string {
  return new Date(BASE + ts).toISOString();
}

export class KeysetPagedSource {
  /** Model time in ms; only `tick` and updates move it. */
  clock = 0;
  readonly #versions = new Map<string, Version[]>();

  constructor(
    readonly stream: string,
    readonly overlapMs: number,
    readonly mode: 'keyset' | 'offset' = 'keyset',
  ) {}

  ids(): string[] {
    return [...this.#versions.keys()].sort();
  }

  tick(ms: number): void {
    this.clock += ms;
  }

  /** Creates or updates a record: its new version is stamped now and committed `lagMs` later. */
  write(id: string, lagMs: number): void {
    const list = this.#versions.get(id) ?? [];
    const last = list.at(-1);
    // Two versions of one record never share a timestamp (connectors keep full precision for this).
    if (last !== undefined && last.ts >= this.clock) this.clock = last.ts + 1;
    const version = list.length + 1;
    list.push({
      ts: this.clock,
      visibleAt: this.clock + lagMs,
      payload: { id, version, name: `${id}-v${version}` },
    });
    this.#versions.set(id, list);
  }

  /** Seeds a record at an explicit timestamp, already committed (builds same-timestamp runs). */
  seed(id: string, ts: number): void {
    this.#versions.set(id, [{ ts, visibleAt: ts, payload: { id, version: 1, name: `${id}-v1` } }]);
    this.clock = Math.max(this.clock, ts);
  }

  /** Committed versions of `id`, oldest first (what a webhook may deliver). */
  committed(id: string): SourceRecord<ModelPayload>[] {
    return (this.#versions.get(id) ?? [])
      .filter((v) => v.visibleAt <= this.clock)
      .map((v) => this.#record(v));
  }

  /** The newest version of every record, all commits done: what capture must converge to. */
  latest(): Map<string, ModelPayload> {
    return new Map([...this.#versions].map(([id, list]) => [id, list.at(-1)!.payload]));
  }

  /** Commits everything still lagging. */
  settle(): void {
    let max = this.clock;
    for (const list of this.#versions.values()) for (const v of list) max = Math.max(max, v.visibleAt);
    this.clock = max + 1;
  }

  read(request: ReadRequest): Promise<ReadResult<ModelPayload>> {
    const limit = request.limit ?? 3;
    // What a reader sees now: each record's newest committed version, ordered by (timestamp, id).
    const rows: Version[] = [];
    for (const list of this.#versions.values()) {
      const visible = list.filter((v) => v.visibleAt <= this.clock).at(-1);
      if (visible !== undefined) rows.push(visible);
    }
    rows.sort(
      (a, b) => a.ts - b.ts || (a.payload.id < b.payload.id ? -1 : a.payload.id > b.payload.id ? 1 : 0),
    );
    return Promise.resolve(
      this.mode === 'keyset'
        ? this.#keyset(rows, request.cursor, limit)
        : this.#offset(rows, request.cursor, limit),
    );
  }

  #keyset(rows: Version[], raw: Cursor | undefined, limit: number): ReadResult<ModelPayload> {
    const cursor = raw as KeysetCursor | undefined;
    let after: { ts: number; id: string } | undefined;
    let scanStart: number;
    if (cursor === undefined || cursor.mode === 'rewind') {
      scanStart = this.clock;
      const from = cursor?.from;
      rows = from === undefined ? rows : rows.filter((r) => r.ts >= from);
    } else {
      scanStart = cursor.scanStart;
      after = { ts: cursor.ts, id: cursor.id };
    }
    const page = rows
      .filter((r) => after === undefined || r.ts > after.ts || (r.ts === after.ts && r.payload.id > after.id))
      .slice(0, limit + 1);
    const hasMore = page.length > limit;
    const records = page.slice(0, limit);
    const last = records.at(-1);
    let next: KeysetCursor;
    if (hasMore) {
      next = { mode: 'scan', ts: last!.ts, id: last!.payload.id, scanStart };
    } else {
      const end = last?.ts ?? after?.ts ?? scanStart;
      next = { mode: 'rewind', from: Math.min(end, scanStart) - this.overlapMs };
    }
    return { records: records.map((v) => this.#record(v)), cursor: next, hasMore };
  }

  #offset(rows: Version[], raw: Cursor | undefined, limit: number): ReadResult<ModelPayload> {
    const offset = (raw as { offset: number } | undefined)?.offset ?? 0;
    const records = rows.slice(offset, offset + limit);
    const hasMore = offset + limit < rows.length;
    return {
      records: records.map((v) => this.#record(v)),
      cursor: { offset: offset + records.length },
      hasMore,
    };
  }

  #record(v: Version): SourceRecord<ModelPayload> {
    return { stream: this.stream, externalId: v.payload.id, updatedAt: iso(v.ts), payload: v.payload };
  }
}
