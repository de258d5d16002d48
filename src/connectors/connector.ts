// The contract between Crossdock's engine and one outside system (ERP, helpdesk, carrier, ...).
// A connector describes the system, checks a connection, lists its streams, reads changes since a
// cursor, verifies and parses inbound webhooks, and writes commands carrying an idempotency key.
// It never stores anything: cursors, the effect ledger and canonical records belong to the engine.
//
// Glossary
// - stream: one kind of record the system exposes for capture (Tryton `sale.sale`, RT `ticket`).
// - cursor: an opaque, JSON-serialisable position in a stream, produced by `read` and stored by the
//   engine; `undefined` means "from the beginning". Only the connector that made it reads it.
// - overlap: a read may return records already returned before, within the stream's documented
//   `overlapMs` (systems whose timestamps are not commit times need it). The engine drops repeats
//   by `sourceRecordKey` = (stream, externalId, updatedAt).
// - command: a write to the system. Every command carries an idempotency key from the effect
//   ledger; systems that cannot take one get a marker derived from it written into the record, and
//   the connector's `findEffect` finds that marker before a retry.
// - outcome: applied / not applied / ambiguous. Ambiguous means "sent, no answer": look the effect
//   up before retrying.
import type { TSchema } from '@sinclair/typebox';
import type { CrossdockError } from '../errors/index.ts';
import type { Logger, MetricsRegistry } from '../telemetry/index.ts';
import type { Priority, RateBudget } from './http/rate-budget.ts';

/** Any value that survives `JSON.parse(JSON.stringify(v))` unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** An opaque, serialisable stream position. The engine stores it; only the connector reads it. */
export type Cursor = JsonValue;

export const SYSTEM_KINDS = ['erp', 'helpdesk', 'carrier', 'warehouse', 'storefront', 'other'] as const;
export type SystemKind = (typeof SYSTEM_KINDS)[number];

/** How a connector makes retried writes safe. */
export const IDEMPOTENCY_MODES = {
  /** The system deduplicates by a key we send (e.g. an `Idempotency-Key` header). */
  native: 'native',
  /** The system has no keys: a marker derived from the key is written into the record, and
   * `findEffect` looks for it before a retry (check-before-retry). */
  marker: 'marker',
  /** Applying it twice has the effect of applying it once (setting fields to given values), so a
   * retry is always safe; `replayed` says whether the system already had those values. */
  natural: 'natural',
} as const;
export type IdempotencyMode = (typeof IDEMPOTENCY_MODES)[keyof typeof IDEMPOTENCY_MODES];

export interface SecretDescription {
  /** Key under which the secret is passed to `create`, e.g. `password`, `token`. */
  readonly name: string;
  readonly description: string;
  /** Whether the connector cannot work without it (default true). */
  readonly required?: boolean;
}

export interface StreamDescription {
  /** Stream name, unique within the connector, e.g. `sale.sale`, `ticket`. */
  readonly name: string;
  /** Canonical entity kind its records map to, e.g. `order`, `shipment`, `case` (see src/domain). */
  readonly entity: string;
  /** Field of the system payload holding the record's key (what `externalId` is made of). */
  readonly key: string;
  /** Field of the system payload the cursor follows, e.g. `write_date`, `LastUpdated`. */
  readonly cursorField: string;
  /** Window, in ms, within which a read may return records already returned (0 = never). */
  readonly overlapMs: number;
  readonly description?: string;
}

export interface CommandDescription {
  /** Command type, e.g. `complaint.create`, `sale.note.add`, `case.comment`. */
  readonly type: string;
  readonly description: string;
  /** JSON Schema (TypeBox) of `Command.args`. */
  readonly argsSchema: TSchema;
  /** How a retry of this command is made safe. */
  readonly idempotency: IdempotencyMode;
}

export interface ConnectorDescription {
  /** System type name, also the `/hooks/{system}` path segment, e.g. `tryton`, `request-tracker`. */
  readonly system: string;
  readonly kind: SystemKind;
  /** Human name, e.g. `Tryton 6.0 (JSON-RPC)`. */
  readonly displayName: string;
  /** JSON Schema (TypeBox) of the non-secret configuration passed to `create`. */
  readonly configSchema: TSchema;
  /** Secrets the connector needs; passed separately from config so they are never logged. */
  readonly secrets: readonly SecretDescription[];
  /** Commands `write` accepts. */
  readonly commands: readonly CommandDescription[];
  /** Whether the connector accepts inbound webhooks (then `webhooks` is set on the instance). */
  readonly webhooks: boolean;
}

export interface CheckItem {
  /** What was checked, e.g. `reachable`, `login`, `company`, `timezone`, `custom-fields`. */
  readonly name: string;
  readonly ok: boolean;
  /** Human explanation; on failure, what to fix. */
  readonly message: string;
}

export interface CheckResult {
  /** True only if every item is ok. */
  readonly ok: boolean;
  readonly items: readonly CheckItem[];
  /** Facts learned on the way, e.g. server version, user id, time zone. Never secrets. */
  readonly details: Readonly<Record<string, JsonValue>>;
}

/** One record as the system gave it, before mapping to canonical. */
export interface SourceRecord<P = unknown> {
  /** Name of the stream it was read from. */
  readonly stream: string;
  /** The system's id of the record, as a string (e.g. `"42"`). */
  readonly externalId: string;
  /** When the system last changed it: ISO 8601 in UTC with milliseconds or microseconds, e.g.
   * `2026-11-27T14:43:20.000Z` (connectors keep the system's full precision, so two changes within
   * one millisecond stay distinct). */
  readonly updatedAt: string;
  /** The system's payload (decoded, e.g. Tryton Decimals as strings; see each connector's doc). */
  readonly payload: P;
  /** True when the record was deleted in the system (payload then holds what is known). */
  readonly deleted?: boolean;
}

export interface ReadRequest {
  readonly stream: string;
  /** Cursor from a previous read's result; `undefined` reads from the beginning. */
  readonly cursor?: Cursor;
  /** Upper bound on records returned (connector default applies if unset). */
  readonly limit?: number;
  /**
   * Without a cursor: read only records changed at or after this instant (ISO 8601), e.g. for an
   * initial load of recent history. Ignored when `cursor` is set.
   */
  readonly since?: string;
  /** Rate-budget priority of the reads (default `low`: capture can wait for writes). */
  readonly priority?: Priority;
  readonly signal?: AbortSignal;
}

export interface ReadResult<P = unknown> {
  /** Records in the order to apply them (by updated time, then id). */
  readonly records: readonly SourceRecord<P>[];
  /** Cursor to store and pass to the next read. Always set, even if no record was returned. */
  readonly cursor: Cursor;
  /** True when more records are ready now: read again at once rather than waiting for the next poll. */
  readonly hasMore: boolean;
}

/** An inbound webhook request as the HTTP layer received it; the body is kept raw for signatures. */
export interface InboundWebhook {
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly rawBody: Buffer;
  readonly receivedAt: Date;
}

export interface WebhookParseResult<P = unknown> {
  /** Records carried by the webhook (may be empty for notification-only webhooks). */
  readonly records: readonly SourceRecord<P>[];
  /** Streams to read now because the webhook only says "something changed". */
  readonly pollStreams: readonly string[];
}

export interface WebhookHandler<P = unknown> {
  /** Throws `WebhookSignatureInvalidError` unless the request is authentic. */
  verify(request: InboundWebhook): void | Promise<void>;
  /** Reads a verified request; throws `WebhookPayloadInvalidError` if it cannot. */
  parse(request: InboundWebhook): WebhookParseResult<P> | Promise<WebhookParseResult<P>>;
}

export interface Command<A = unknown> {
  /** One of the connector's `describe().commands[].type`. */
  readonly type: string;
  /** From the effect ledger: the same business effect always has the same key. */
  readonly idempotencyKey: string;
  readonly args: A;
  readonly signal?: AbortSignal;
}

/** The effect a command had (or found by `findEffect`). */
export interface Effect {
  /** Id of the record created or changed in the system, e.g. the complaint's id. */
  readonly externalId: string;
  /** Stream that record belongs to, when it is one of the connector's streams. */
  readonly stream?: string;
  /** The system's answer, trimmed to what a caller needs (numbers, states). */
  readonly result?: Readonly<Record<string, JsonValue>>;
}

export const WRITE_STATUSES = {
  applied: 'applied',
  notApplied: 'not-applied',
  ambiguous: 'ambiguous',
} as const;
export type WriteStatus = (typeof WRITE_STATUSES)[keyof typeof WRITE_STATUSES];

export type WriteOutcome =
  /** The system applied the command; `replayed` when it had already been applied earlier. */
  | { readonly status: 'applied'; readonly effect: Effect; readonly replayed: boolean }
  /** Definitely not applied; `error.retryable` says whether trying again can succeed. */
  | { readonly status: 'not-applied'; readonly error: CrossdockError }
  /** Sent but not answered (timeout, reset): look it up with `findEffect` / the key before retrying. */
  | { readonly status: 'ambiguous'; readonly error: CrossdockError };

export type EffectLookup = { readonly found: true; readonly effect: Effect } | { readonly found: false };

export interface Connector<P = unknown> {
  describe(): ConnectorDescription;
  /** Verifies reachability, credentials and the settings the connector relies on. Never throws for
   * a failed check: each failed item says what to fix. */
  check(options?: { readonly signal?: AbortSignal }): Promise<CheckResult>;
  streams(): Promise<readonly StreamDescription[]>;
  /** Changes since `cursor`; throws `ConnectorUnknownStreamError`, `ConnectorCursorInvalidError` or
   * a transport error (retryable ones are retried by the engine). */
  read(request: ReadRequest): Promise<ReadResult<P>>;
  /** Set when `describe().webhooks` is true. */
  readonly webhooks?: WebhookHandler<P>;
  /** Applies a command; never throws for failures of the system, returns the outcome instead
   * (throws only `ConnectorUnknownCommandError` for a command it does not know). */
  write(command: Command): Promise<WriteOutcome>;
  /** Marker-mode commands: finds the effect of an earlier attempt of `command` (same type and
   * idempotency key) so an ambiguous write is retried only if it did not happen. */
  findEffect?(command: Command): Promise<EffectLookup>;
  /** Releases connections and sessions. */
  close(): Promise<void>;
}

/** What every connector factory is given besides its config. */
export interface ConnectorDeps {
  readonly logger: Logger;
  /** Registry to register `crossdock_connector_*` metrics on (optional: none when absent). */
  readonly metrics?: MetricsRegistry;
  /** Shared rate budget for this target system (see src/connectors/http); default in-process. */
  readonly rateBudget?: RateBudget;
}

/** Builds connector instances of one system type; the composition root picks which ones exist. */
export interface ConnectorFactory<C = unknown, P = unknown> {
  describe(): ConnectorDescription;
  /** `config` matches `describe().configSchema`; `secrets` holds `describe().secrets` by name. */
  create(config: C, secrets: Readonly<Record<string, string>>, deps: ConnectorDeps): Connector<P>;
}

/** The marker written into records of systems without idempotency keys. Stable and greppable. */
export function effectMarker(idempotencyKey: string): string {
  return `crossdock:${idempotencyKey}`;
}

/** Key under which the engine deduplicates records returned again within a stream's overlap. */
export function sourceRecordKey(record: Pick<SourceRecord, 'stream' | 'externalId' | 'updatedAt'>): string {
  return `${record.stream}\u0000${record.externalId}\u0000${record.updatedAt}`;
}
