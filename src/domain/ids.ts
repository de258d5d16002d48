// Canonical ids: `<prefix>_<ULID>`, e.g. `ord_01JD3X...`. ULIDs from a monotonic factory sort by creation
// time even within one millisecond, so ids double as a stable creation order in indexes and pages.
// The prefix names the kind, so an id read in a log says what it is.
import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** A canonical id of one entity kind (branded so an order id is not passed where a case id is due). */
export type CanonicalId<P extends string = string> = `${P}_${string}` & { readonly __canonicalId?: P };

export const ID_PREFIXES = {
  customer: 'cus',
  address: 'adr',
  item: 'itm',
  price: 'prc',
  order: 'ord',
  orderLine: 'orl',
  shipment: 'shp',
  shipmentLine: 'shl',
  trackingEvent: 'trk',
  invoice: 'inv',
  creditStatus: 'crs',
  creditHold: 'crh',
  returnAuthorization: 'rma',
  replacement: 'rpl',
  case: 'cas',
  caseMilestone: 'csm',
  inventoryPosition: 'ivp',
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

/** A new id for `kind`; ids made later in this process sort after earlier ones. */
export function newId<K extends IdKind>(kind: K): CanonicalId<(typeof ID_PREFIXES)[K]> {
  return `${ID_PREFIXES[kind]}_${nextUlid()}` as CanonicalId<(typeof ID_PREFIXES)[K]>;
}

const ID_PATTERN = /^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$/;

/** True for any well-formed canonical id (`abc_` + 26 Crockford base-32 characters). */
export function isCanonicalId(value: string, kind?: IdKind): boolean {
  if (!ID_PATTERN.test(value)) return false;
  return kind === undefined || value.startsWith(`${ID_PREFIXES[kind]}_`);
}

/** JSON Schema pattern of a canonical id (of one kind when given). */
export function idPattern(kind?: IdKind): string {
  return `^${kind === undefined ? '[a-z]{3}' : ID_PREFIXES[kind]}_[0-9A-HJKMNP-TV-Z]{26}$`;
}
