// The order-visibility journey: ERP order, credit, shipment and invoice state on every helpdesk case
// that names the order, as custom fields and milestone comments.
export { OrderVisibilityJourney } from './order-visibility-journey.ts';
export type {
  OrderVisibilityOptions,
  OrderVisibilityStats,
  RetryOptions,
} from './order-visibility-journey.ts';
export {
  DEFAULT_ORDER_NUMBER_PATTERN,
  orderNumberRegExp,
  orderNumbersIn,
  sandboxErpMappers,
  sandboxHelpdeskMappers,
} from './mappers.ts';
export {
  ERP_PROFILES,
  HELPDESK_PROFILES,
  requestTrackerMappers,
  trytonErpMappers,
} from './system-profiles.ts';
export type {
  ErpConnectorType,
  ErpProfile,
  HelpdeskConnectorType,
  HelpdeskProfile,
} from './system-profiles.ts';
export {
  creditStateOf,
  invoiceStateOf,
  orderMilestones,
  orderSummary,
  shipmentStateOf,
  PART_KINDS,
} from './order-summary.ts';
export type {
  CreditState,
  InvoiceState,
  Milestone,
  OrderParts,
  OrderSummary,
  PartKind,
  ShipmentState,
} from './order-summary.ts';
export { journeysMigrations } from './migrations.ts';
export type { JourneysDb } from './migrations.ts';
