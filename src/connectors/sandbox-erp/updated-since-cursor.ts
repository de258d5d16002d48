// The cursor both sandbox connectors keep for "changed since" lists paged by (updated_at, id). The
// sandbox systems stamp records to the second, so a record written later in a second we already
// paged past can sort before our position: when a read catches up, the next one starts an overlap
// (default 2 s) before the newest timestamp seen, and the engine drops the repeats.
import type { Cursor, ReadRequest, ReadResult, StreamDescription } from '../connector.ts';
import { ConnectorCursorInvalidError, ConnectorUnknownStreamError } from '../errors.ts';
import type { HttpClient } from '../http/index.ts';
import { toSourceRecord, type SandboxRecord } from './sandbox-webhooks.ts';

export interface UpdatedSinceCursor {
  readonly v: 1;
  /** `updated_since` to send (the system's own timestamp text), or null for the beginning. */
  readonly since: string | null;
  /** `after_id` to send with it, or null to read `since` inclusively. */
  readonly afterId: string | number | null;
  /** Newest `updated_at` seen so far (ISO 8601), or null. */
  readonly high: string | null;
}

export interface PagedAnswer<T> {
  readonly data: T[];
  readonly paging: { readonly has_more: boolean };
}

export function readUpdatedSinceCursor(
  system: string,
  stream: string,
  cursor: Cursor | undefined,
): UpdatedSinceCursor {
  if (cursor === undefined || cursor === null) return { v: 1, since: null, afterId: null, high: null };
  const c = cursor as Partial<Record<string, unknown>>;
  const stamp = (v: unknown) => v === null || (typeof v === 'string' && !Number.isNaN(Date.parse(v)));
  const id = (v: unknown) =>
    v === null || typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  if (
    typeof cursor !== 'object' ||
    Array.isArray(cursor) ||
    c.v !== 1 ||
    !stamp(c.since) ||
    !stamp(c.high) ||
    !id(c.afterId)
  ) {
    throw new ConnectorCursorInvalidError(system, stream, JSON.stringify(cursor));
  }
  return {
    v: 1,
    since: c.since as string | null,
    afterId: c.afterId as string | number | null,
    high: c.high as string | null,
  };
}

/** Query parameters for the next page from `cursor`. */
export function cursorQuery(
  cursor: UpdatedSinceCursor,
  limit: number,
): Record<string, string | number | undefined> {
  return {
    updated_since: cursor.since ?? undefined,
    after_id: cursor.since === null || cursor.afterId === null ? undefined : cursor.afterId,
    limit,
  };
}

/** The cursor after a page: the last record's position, or an overlap before the newest seen when caught up. */
export function nextCursor<T extends { id: string | number; updated_at: string }>(
  cursor: UpdatedSinceCursor,
  page: PagedAnswer<T>,
  overlapMs: number,
): UpdatedSinceCursor {
  const last = page.data.at(-1);
  let high = cursor.high;
  for (const r of page.data)
    if (high === null || Date.parse(r.updated_at) > Date.parse(high)) high = r.updated_at;
  if (page.paging.has_more && last !== undefined)
    return { v: 1, since: last.updated_at, afterId: last.id, high };
  if (high === null) return { v: 1, since: null, afterId: null, high: null };
  const from = new Date(Date.parse(high) - overlapMs).toISOString();
  return { v: 1, since: from, afterId: null, high };
}

/** `2026-11-27T16:20:01Z` → `2026-11-27T16:20:01.000Z`, the form SourceRecord.updatedAt takes. */
export function isoMillis(stamp: string): string {
  return new Date(Date.parse(stamp)).toISOString();
}

/** One "changed since" list of a sandbox system: stream name, canonical kind, list path. */
export interface UpdatedSinceStream {
  readonly name: string;
  readonly entity: string;
  readonly path: string;
}

/** The stream descriptions of a sandbox system whose lists page by (updated_at, id). */
export function updatedSinceStreams(
  streams: readonly UpdatedSinceStream[],
  overlapMs: number,
): StreamDescription[] {
  return streams.map((s) => ({
    name: s.name,
    entity: s.entity,
    key: 'id',
    cursorField: 'updated_at',
    overlapMs,
    description: `GET ${s.path} by (updated_at, id)`,
  }));
}

/** Reads one page of a sandbox system's "changed since" list and the cursor after it. */
export async function readUpdatedSincePage<T extends SandboxRecord>(
  http: Pick<HttpClient, 'request'>,
  system: string,
  streams: readonly UpdatedSinceStream[],
  request: ReadRequest,
  options: { readonly pageSize: number; readonly overlapMs: number },
): Promise<ReadResult<T>> {
  const spec = streams.find((s) => s.name === request.stream);
  if (spec === undefined) throw new ConnectorUnknownStreamError(system, request.stream);
  const cursor =
    request.cursor === undefined && request.since !== undefined
      ? { v: 1 as const, since: new Date(Date.parse(request.since)).toISOString(), afterId: null, high: null }
      : readUpdatedSinceCursor(system, request.stream, request.cursor);
  const limit = Math.max(1, Math.min(1000, request.limit ?? options.pageSize));
  const response = await http.request({
    method: 'GET',
    path: spec.path,
    query: cursorQuery(cursor, limit),
    priority: request.priority ?? 'low',
    operation: `GET ${spec.path}`,
    ...(request.signal === undefined ? {} : { signal: request.signal }),
  });
  const page = response.json<PagedAnswer<T>>();
  return {
    records: page.data.map((r) => toSourceRecord(spec.name, r)),
    cursor: { ...nextCursor(cursor, page, options.overlapMs) },
    hasMore: page.paging.has_more,
  };
}
