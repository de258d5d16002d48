// The one typed map of business event types. Every event the log accepts is named here, with the
// entity kind it belongs to, its CloudEvents `type` and the schema version of its `data`; logs,
// metrics, subscriptions and webhook filters key off these names rather than ad-hoc strings.

export const CLOUDEVENTS_TYPE_PREFIX = 'dev.crossdock.';

interface EventTypeInfo {
  /** Entity kind the event is about; the entity key is (tenant, kind, id). */
  readonly entity: string;
  /** Schema version of `data`; bump it when the shape of `data` changes incompatibly. */
  readonly schemaVersion: number;
  /** One line for docs/events.md. */
  readonly description: string;
}

export const EVENT_TYPES = {
  'customer:changed': {
    entity: 'customer',
    schemaVersion: 1,
    description: 'A customer was created or changed.',
  },
  'item:changed': {
    entity: 'item',
    schemaVersion: 1,
    description: 'An item (product) was created or changed.',
  },
  'order:created': { entity: 'order', schemaVersion: 1, description: 'A sales order was created.' },
  'order:changed': {
    entity: 'order',
    schemaVersion: 1,
    description: 'A sales order or one of its lines changed.',
  },
  'order:cancelled': { entity: 'order', schemaVersion: 1, description: 'A sales order was cancelled.' },
  'order:credit-held': { entity: 'order', schemaVersion: 1, description: 'An order went on credit hold.' },
  'order:credit-released': {
    entity: 'order',
    schemaVersion: 1,
    description: 'An order was released from credit hold.',
  },
  'shipment:created': {
    entity: 'shipment',
    schemaVersion: 1,
    description: 'A shipment was created for an order.',
  },
  'shipment:tracking-updated': {
    entity: 'shipment',
    schemaVersion: 1,
    description: 'A carrier tracking event was recorded on a shipment.',
  },
  'shipment:delivered': {
    entity: 'shipment',
    schemaVersion: 1,
    description: 'A shipment was delivered in full.',
  },
  'shipment:delivered-short': {
    entity: 'shipment',
    schemaVersion: 1,
    description: 'A shipment was delivered with fewer units than shipped.',
  },
  'shipment:exception': {
    entity: 'shipment',
    schemaVersion: 1,
    description: 'The carrier reported an exception (damage, loss, failed delivery).',
  },
  'invoice:issued': { entity: 'invoice', schemaVersion: 1, description: 'An invoice was issued.' },
  'invoice:disputed': { entity: 'invoice', schemaVersion: 1, description: 'A customer disputed an invoice.' },
  'invoice:paid': { entity: 'invoice', schemaVersion: 1, description: 'An invoice was paid in full.' },
  'return:authorized': {
    entity: 'return',
    schemaVersion: 1,
    description: 'A return authorization was issued.',
  },
  'return:received': { entity: 'return', schemaVersion: 1, description: 'Returned goods were received.' },
  'replacement:created': {
    entity: 'replacement',
    schemaVersion: 1,
    description: 'A replacement order was created for a short or damaged delivery.',
  },
  'case:opened': { entity: 'case', schemaVersion: 1, description: 'A customer service case was opened.' },
  'case:updated': {
    entity: 'case',
    schemaVersion: 1,
    description: 'A case changed (status, owner, fields).',
  },
  'case:milestone-reached': {
    entity: 'case',
    schemaVersion: 1,
    description: 'A case reached or breached an SLA milestone.',
  },
  'case:closed': { entity: 'case', schemaVersion: 1, description: 'A case was resolved and closed.' },
  'inventory:changed': {
    entity: 'inventory',
    schemaVersion: 1,
    description: 'An inventory position (item at a location) changed.',
  },
} as const satisfies Record<string, EventTypeInfo>;

export type EventType = keyof typeof EVENT_TYPES;

export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENT_TYPES, value);
}

/** `order:credit-held` -> `dev.crossdock.order.credit-held`. */
export function cloudEventsType(type: EventType): string {
  return CLOUDEVENTS_TYPE_PREFIX + type.replace(':', '.');
}

/** The inverse of `cloudEventsType`, or undefined for a type outside the map. */
export function eventTypeFromCloudEvents(ceType: string): EventType | undefined {
  if (!ceType.startsWith(CLOUDEVENTS_TYPE_PREFIX)) return undefined;
  const rest = ceType.slice(CLOUDEVENTS_TYPE_PREFIX.length);
  const dot = rest.indexOf('.');
  if (dot < 0) return undefined;
  const name = `${rest.slice(0, dot)}:${rest.slice(dot + 1)}`;
  return isEventType(name) ? name : undefined;
}
