// What a mapping produces: a source record turned into a canonical change (entity kind, fields, links).
// Built-in connectors map in code; configurable custom fields map with JSONata (jsonata-mapper.ts).
// Every mapper has a version, recorded with the raw payload it mapped, so a mapping can be re-run.
import type { JsonValue, SourceRecord } from '../connectors/index.ts';

/** A reference from the mapped record to another entity, by that entity's external id. */
export interface MappedLink {
  /** Name of the relation, read from the mapped entity, e.g. `order`, `customer`, `invoice`. */
  readonly relation: string;
  /** Canonical kind of the target, e.g. `order`. */
  readonly kind: string;
  readonly externalId: string;
  /** System that id belongs to (default: the system the record came from). */
  readonly system?: string;
}

export interface MappedRecord {
  /** Canonical entity kind, e.g. `order`, `shipment`, `case`. */
  readonly kind: string;
  /** Canonical fields (flat names; nested objects are compared as whole values). */
  readonly fields: Readonly<Record<string, JsonValue>>;
  readonly links?: readonly MappedLink[];
}

export interface MappingContext {
  readonly tenantId: string;
  readonly system: string;
}

export interface RecordMapper {
  /** Changes whenever the mapping's output for the same payload may change, e.g. `tryton-order@3`. */
  readonly version: string;
  map(record: SourceRecord, context: MappingContext): MappedRecord | Promise<MappedRecord>;
}
