// The event envelope: CloudEvents 1.0 attributes plus Crossdock's extensions (tenant, correlation,
// causation, W3C traceparent, entity key, per-entity sequence, data schema version). `LoggedEvent`
// is the in-process form; `toCloudEvent` renders the structured-mode JSON sent to outside consumers.
import { cloudEventsType, type EventType } from './event-types.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** The key every per-entity ordering guarantee is about. */
export interface EntityKey {
  readonly tenantId: string;
  /** Entity kind (`order`, `shipment`, `case`, ...), a plain string: the log knows no domain model. */
  readonly kind: string;
  readonly id: string;
}

/** What a producer hands to the log; the log adds id (if absent), time, sequence and position. */
export interface NewEvent<T extends EventType = EventType> {
  readonly type: T;
  readonly tenantId: string;
  /** The entity the event is about; `kind` defaults to the kind the type map gives for `type`. */
  readonly entity: { readonly kind?: string; readonly id: string };
  readonly data: JsonObject;
  /** Event id (default: a new ULID). Producers that retry pass the same id. */
  readonly id?: string;
  /** CloudEvents `source` URI reference (default `/crossdock`). */
  readonly source?: string;
  /** When the change happened, ISO 8601 (default: now). */
  readonly time?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  /** W3C Trace Context `traceparent` of the change that caused the event. */
  readonly traceparent?: string;
}

/** An event as stored in the log. */
export interface LoggedEvent {
  /** Global position in the log; increases in commit order, never reused. */
  readonly position: number;
  readonly id: string;
  readonly type: EventType;
  readonly source: string;
  readonly subject: string;
  readonly time: string;
  readonly tenantId: string;
  readonly entity: EntityKey;
  /** 1, 2, 3, ... per entity, without gaps, in the order the changes committed. */
  readonly entitySeq: number;
  readonly schemaVersion: number;
  readonly data: JsonObject;
  readonly correlationId: string | undefined;
  readonly causationId: string | undefined;
  readonly traceparent: string | undefined;
  /** When the log recorded the event, ms since the epoch (retention and delivery latency use it). */
  readonly recordedAt: number;
}

/** CloudEvents 1.0 structured-mode JSON (extension attribute names are lowercase per the spec). */
export interface CloudEvent {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly subject: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: JsonObject;
  readonly tenantid: string;
  readonly entitykind: string;
  readonly entityid: string;
  readonly entityseq: number;
  readonly dataversion: number;
  /** Position in the Crossdock log (named after the CloudEvents `sequence` extension's intent). */
  readonly sequence: string;
  readonly correlationid?: string;
  readonly causationid?: string;
  readonly traceparent?: string;
}

export function entitySubject(kind: string, id: string): string {
  return `${kind}/${id}`;
}

export function entityKeyString(key: EntityKey): string {
  return `${key.tenantId}\u0000${key.kind}\u0000${key.id}`;
}

export function toCloudEvent(event: LoggedEvent): CloudEvent {
  return {
    specversion: '1.0',
    id: event.id,
    source: event.source,
    type: cloudEventsType(event.type),
    subject: event.subject,
    time: event.time,
    datacontenttype: 'application/json',
    data: event.data,
    tenantid: event.tenantId,
    entitykind: event.entity.kind,
    entityid: event.entity.id,
    entityseq: event.entitySeq,
    dataversion: event.schemaVersion,
    sequence: String(event.position),
    ...(event.correlationId === undefined ? {} : { correlationid: event.correlationId }),
    ...(event.causationId === undefined ? {} : { causationid: event.causationId }),
    ...(event.traceparent === undefined ? {} : { traceparent: event.traceparent }),
  };
}
