// Query parsing for the sandbox's "changed since" list endpoints, shared so every system pages the
// same way: `updated_since` (ISO 8601, inclusive), `after_id` (tie-break among records that share
// that timestamp) and `limit`.
import { parseStamp } from './clock.ts';
import type { Page, PageQuery, RecordId } from './record-table.ts';
import { SandboxHttpError } from './sandbox-server.ts';

export interface PagingQuerystring {
  updated_since?: string;
  after_id?: string;
  limit?: string;
}

export function parsePageQuery(query: PagingQuerystring, numericIds = false): PageQuery {
  let sinceMs: number | undefined;
  if (query.updated_since !== undefined && query.updated_since !== '') {
    sinceMs = parseStamp(query.updated_since);
    if (sinceMs === undefined)
      throw new SandboxHttpError(400, 'INVALID_PARAMETER', 'updated_since is not a date');
  }
  let afterId: RecordId | undefined;
  if (query.after_id !== undefined && query.after_id !== '') {
    if (sinceMs === undefined) {
      throw new SandboxHttpError(400, 'INVALID_PARAMETER', 'after_id needs updated_since');
    }
    afterId = numericIds ? Number(query.after_id) : query.after_id;
    if (numericIds && !Number.isInteger(afterId)) {
      throw new SandboxHttpError(400, 'INVALID_PARAMETER', 'after_id must be an integer');
    }
  }
  let limit: number | undefined;
  if (query.limit !== undefined) {
    limit = Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new SandboxHttpError(400, 'INVALID_PARAMETER', 'limit must be an integer from 1 to 1000');
    }
  }
  return {
    ...(sinceMs === undefined ? {} : { sinceMs }),
    ...(afterId === undefined ? {} : { afterId }),
    ...(limit === undefined ? {} : { limit }),
  };
}

/** `{ data, paging: { has_more, next: { updated_since, after_id } } }`. */
export function pageBody<T>(page: Page<T>): {
  data: T[];
  paging: { has_more: boolean; next: { updated_since: string; after_id: RecordId } | null };
} {
  return {
    data: page.data,
    paging: {
      has_more: page.hasMore,
      next: page.next === null ? null : { updated_since: page.next.updatedAt, after_id: page.next.id },
    },
  };
}
