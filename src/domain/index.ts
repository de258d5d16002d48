export { newId, isCanonicalId, idPattern, ID_PREFIXES } from './ids.ts';
export type { CanonicalId, IdKind } from './ids.ts';
export {
  money,
  addMoney,
  subtractMoney,
  multiplyMoney,
  compareMoney,
  sumMoney,
  MoneySchema,
  DecimalSchema,
  DECIMAL_PATTERN,
} from './money.ts';
export type { Money, Decimal } from './money.ts';
export {
  ExternalRefSchema,
  TimestampSchema,
  DateSchema,
  AttributesSchema,
  entitySchema,
  idSchema,
} from './common.ts';
export type { ExternalRef, EntityEnvelope } from './common.ts';
export { CustomerSchema, AddressSchema, AddressValueSchema } from './customer.ts';
export type { Customer, Address, AddressValue } from './customer.ts';
export { ItemSchema, PriceSchema, InventoryPositionSchema } from './item.ts';
export type { Item, Price, InventoryPosition } from './item.ts';
export { OrderSchema, OrderLineSchema } from './order.ts';
export type { Order, OrderLine } from './order.ts';
export { ShipmentSchema, ShipmentLineSchema, TrackingEventSchema, TRACKING_CODES } from './shipment.ts';
export type { Shipment, ShipmentLine, TrackingEvent, TrackingCode } from './shipment.ts';
export { InvoiceSchema } from './invoice.ts';
export type { Invoice } from './invoice.ts';
export { CreditStatusSchema, CreditHoldSchema } from './credit.ts';
export type { CreditStatus, CreditHold } from './credit.ts';
export { ReturnAuthorizationSchema, ReplacementSchema, REPLACEMENT_STATUSES } from './returns.ts';
export type { ReturnAuthorization, Replacement, ReplacementStatus } from './returns.ts';
export { CaseSchema, CaseMilestoneSchema, CASE_PRIORITIES } from './case.ts';
export type { Case, CaseMilestone, CasePriority } from './case.ts';
export {
  ORDER_STATES,
  SHIPMENT_STATES,
  INVOICE_STATES,
  CREDIT_STATES,
  RETURN_STATES,
  CASE_STATES,
  ORDER_TRANSITIONS,
  SHIPMENT_TRANSITIONS,
  INVOICE_TRANSITIONS,
  CREDIT_TRANSITIONS,
  RETURN_TRANSITIONS,
  CASE_TRANSITIONS,
  STATE_MACHINES,
  allowedTransitions,
  canTransition,
  assertTransition,
} from './states.ts';
export type {
  OrderState,
  ShipmentState,
  InvoiceState,
  CreditState,
  ReturnState,
  CaseState,
  StateMachineName,
} from './states.ts';
export {
  ENTITY_KINDS,
  ENTITY_KIND_NAMES,
  isEntityKind,
  kindOfId,
  validateEntity,
  assertValidEntity,
  assertStatusChange,
  entityJsonSchema,
} from './entity-kinds.ts';
export type { EntityKind, EntityOf, AnyEntity, SchemaIssue } from './entity-kinds.ts';
export { incompatibilities, toJsonSchema } from './schema-compat.ts';
export {
  IllegalTransitionError,
  IllegalTransitionDef,
  MoneyInvalidError,
  MoneyInvalidDef,
} from './errors.ts';
