// What a connector's mapping produces from one source record: the canonical entity's own fields, and
// its references to other entities expressed the only way a connector knows them (the other system's
// ids, or a value to look up such as an e-mail). The sync part resolves those to canonical ids, fills
// the envelope (id, tenant, version, timestamps) and stores the entity.
import type { EntityKind, EntityOf, ExternalRef } from '../domain/index.ts';

type Envelope = 'id' | 'tenantId' | 'externalRefs' | 'version' | 'createdAt' | 'updatedAt' | 'lastChangedBy';

/** "The entity of `kind` whose `field` equals `value`", e.g. the customer with this e-mail. */
export interface Lookup {
  readonly kind: EntityKind;
  /** A canonical field (`email`, `number`) of that kind. */
  readonly field: string;
  readonly value: string;
}

export interface CanonicalDraft<K extends EntityKind = EntityKind> {
  readonly kind: K;
  /** Where the record lives: `{ system: 'tryton', id: 'sale.sale,42' }`. */
  readonly ref: ExternalRef;
  /** The entity's fields known from this record (envelope and id-valued fields excluded). */
  readonly fields: Partial<Omit<EntityOf<K>, Envelope>>;
  /** Id-valued fields given as the same system's refs, e.g. `{ customerId: { system: 'tryton', id: 'party.party,3' } }`. */
  readonly links: Readonly<Record<string, ExternalRef>>;
  /** Id-valued fields to resolve by value, e.g. `{ customerId: { kind: 'customer', field: 'email', value } }`. */
  readonly lookups: Readonly<Record<string, Lookup>>;
  /** Entities this one points to that own the link (a sale's shipments and invoices). */
  readonly related: Readonly<Record<string, readonly ExternalRef[]>>;
  /** When the source system last changed the record (ISO 8601 UTC). */
  readonly sourceUpdatedAt: string;
}

/** A line of an order, captured on its own (Tryton `sale.line`); sync merges it into its order. */
export interface OrderLineDraft {
  readonly kind: 'orderLine';
  readonly ref: ExternalRef;
  readonly order: ExternalRef;
  readonly fields: {
    readonly lineNumber?: number;
    readonly sku?: string;
    readonly description?: string;
    readonly quantity: string;
    readonly unitPrice?: { readonly amount: string; readonly currency: string };
    readonly lineTotal?: { readonly amount: string; readonly currency: string };
  };
  readonly sourceUpdatedAt: string;
}
