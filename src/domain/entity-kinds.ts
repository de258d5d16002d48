// The registry of canonical entity kinds: each kind's JSON Schema, its schema version (bumped on any
// incompatible change; test/domain/schema-versions.test.ts holds us to it), its id prefix and, for the
// six kinds with a lifecycle, the state vocabulary its `status` field follows.
import type { Static, TObject } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValidationFailedError } from '../errors/index.ts';
import { CaseMilestoneSchema, CaseSchema } from './case.ts';
import { CreditHoldSchema, CreditStatusSchema } from './credit.ts';
import { AddressSchema, CustomerSchema } from './customer.ts';
import { ID_PREFIXES } from './ids.ts';
import { InvoiceSchema } from './invoice.ts';
import { InventoryPositionSchema, ItemSchema, PriceSchema } from './item.ts';
import { OrderSchema } from './order.ts';
import { ReplacementSchema, ReturnAuthorizationSchema } from './returns.ts';
import { ShipmentSchema, TrackingEventSchema } from './shipment.ts';
import { toJsonSchema } from './schema-compat.ts';
import { assertTransition, type StateMachineName } from './states.ts';

interface KindDefinition<S extends TObject> {
  readonly schema: S;
  /** Bump when the schema changes incompatibly (a field removed or renamed, a type narrowed, a field made required). */
  readonly schemaVersion: number;
  /** Vocabulary of the `status` field, for kinds with a lifecycle. */
  readonly stateMachine?: StateMachineName;
}

function kind<S extends TObject>(definition: KindDefinition<S>): KindDefinition<S> {
  return definition;
}

export const ENTITY_KINDS = {
  customer: kind({ schema: CustomerSchema, schemaVersion: 1 }),
  address: kind({ schema: AddressSchema, schemaVersion: 1 }),
  item: kind({ schema: ItemSchema, schemaVersion: 1 }),
  price: kind({ schema: PriceSchema, schemaVersion: 1 }),
  order: kind({ schema: OrderSchema, schemaVersion: 1, stateMachine: 'order' }),
  shipment: kind({ schema: ShipmentSchema, schemaVersion: 1, stateMachine: 'shipment' }),
  trackingEvent: kind({ schema: TrackingEventSchema, schemaVersion: 1 }),
  invoice: kind({ schema: InvoiceSchema, schemaVersion: 1, stateMachine: 'invoice' }),
  creditStatus: kind({ schema: CreditStatusSchema, schemaVersion: 1, stateMachine: 'credit' }),
  creditHold: kind({ schema: CreditHoldSchema, schemaVersion: 1 }),
  returnAuthorization: kind({ schema: ReturnAuthorizationSchema, schemaVersion: 1, stateMachine: 'return' }),
  replacement: kind({ schema: ReplacementSchema, schemaVersion: 1 }),
  case: kind({ schema: CaseSchema, schemaVersion: 1, stateMachine: 'case' }),
  caseMilestone: kind({ schema: CaseMilestoneSchema, schemaVersion: 1 }),
  inventoryPosition: kind({ schema: InventoryPositionSchema, schemaVersion: 1 }),
} as const;

export type EntityKind = keyof typeof ENTITY_KINDS;
export const ENTITY_KIND_NAMES = Object.keys(ENTITY_KINDS) as EntityKind[];

/** The TypeScript type of each entity kind. */
export type EntityOf<K extends EntityKind> = Static<(typeof ENTITY_KINDS)[K]['schema']>;

/** Any canonical entity. */
export type AnyEntity = EntityOf<EntityKind>;

export function isEntityKind(value: string): value is EntityKind {
  return Object.hasOwn(ENTITY_KINDS, value);
}

/** The kind an id belongs to, from its prefix (`ord_...` is an order); undefined for unknown prefixes. */
export function kindOfId(id: string): EntityKind | undefined {
  const prefix = id.slice(0, id.indexOf('_'));
  for (const name of ENTITY_KIND_NAMES) if (ID_PREFIXES[name] === prefix) return name;
  return undefined;
}

const checkers = new Map<EntityKind, TypeCheck<TObject>>();
function checker(kind: EntityKind): TypeCheck<TObject> {
  let check = checkers.get(kind);
  if (check === undefined) checkers.set(kind, (check = TypeCompiler.Compile(ENTITY_KINDS[kind].schema)));
  return check;
}

export interface SchemaIssue {
  /** JSON pointer to the offending field. */
  readonly pointer: string;
  readonly message: string;
}

/** Problems of `value` against the schema of `kind` (empty when valid). */
export function validateEntity(kind: EntityKind, value: unknown): SchemaIssue[] {
  const check = checker(kind);
  if (check.Check(value)) return [];
  return [...check.Errors(value)].slice(0, 20).map((e) => ({ pointer: e.path || '/', message: e.message }));
}

/** Throws VALIDATION_FAILED unless `value` is a valid `kind` entity. */
export function assertValidEntity<K extends EntityKind>(
  kind: K,
  value: unknown,
): asserts value is EntityOf<K> {
  const issues = validateEntity(kind, value);
  if (issues.length > 0) throw new ValidationFailedError(`invalid ${kind}`, issues);
}

/** Throws ILLEGAL_TRANSITION when a lifecycle kind's status moves in a way its vocabulary forbids. */
export function assertStatusChange(kind: EntityKind, from: string | undefined, to: string | undefined): void {
  const machine: StateMachineName | undefined = (ENTITY_KINDS[kind] as KindDefinition<TObject>).stateMachine;
  if (machine === undefined || from === undefined || to === undefined) return;
  assertTransition(machine, from, to);
}

/**
 * The published JSON Schema of a kind, with its identity and version: `$id` is
 * `urn:crossdock:entity:<kind>:v<schemaVersion>` and `x-schema-version` the version (for OpenAPI and
 * outbound consumers).
 */
export function entityJsonSchema(kind: EntityKind): Record<string, unknown> {
  const { schema, schemaVersion } = ENTITY_KINDS[kind];
  return {
    $id: `urn:crossdock:entity:${kind}:v${schemaVersion}`,
    'x-schema-version': schemaVersion,
    ...toJsonSchema(schema),
  };
}
