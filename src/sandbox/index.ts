// The sandbox systems (ERP, helpdesk, carrier, storefront), their fault injection, the traffic
// generator and the oracle. For the demo, load and chaos tests only; never for production paths.
export { startSandbox, sandboxAuthHeaders, SANDBOX_SYSTEMS, DEFAULT_SANDBOX_PORTS } from './sandbox.ts';
export type { Sandbox, SandboxSystem, StartSandboxOptions, SandboxAuthHeader } from './sandbox.ts';
export { createOracle, mentionedOrders, shipmentStatusOf, invoiceStatusOf } from './oracle.ts';
export type {
  SandboxOracle,
  OrderTruth,
  CaseTruth,
  OrderShipmentStatus,
  OrderInvoiceStatus,
  OrderCreditState,
} from './oracle.ts';
export { runTraffic, startTraffic } from './traffic.ts';
export type {
  TrafficTargets,
  TrafficOptions,
  TrafficResult,
  TrafficOrder,
  TrafficCase,
  TrafficStep,
  ContinuousTraffic,
  DeliveryOutcome,
  CaseKind,
} from './traffic.ts';
export { FaultInjector, validateFaults } from './faults.ts';
export { FAULT_PRESETS } from './fault-presets.ts';
export type { FaultPreset } from './fault-presets.ts';
export type {
  FaultConfig,
  FaultStats,
  FailNextFault,
  LatencyFault,
  OutageWindow,
  RateLimitStorm,
  AppliedButTimedOutFault,
  WebhookFaults,
} from './faults.ts';
export { SandboxClock } from './clock.ts';
export { Rng } from './rng.ts';
export { SandboxClient } from './sandbox-client.ts';
export type { SandboxClientOptions, RequestOptions, ClientResponse } from './sandbox-client.ts';
export { WebhookDispatcher, generateWebhookSecret } from './webhook-dispatcher.ts';
export type { WebhookSubscription, WebhookSubscriptionSpec, WebhookDelivery } from './webhook-dispatcher.ts';
export { SandboxErp, startErp } from './erp/erp-server.ts';
export type { ErpServerOptions } from './erp/erp-server.ts';
export { SandboxHelpdesk, startHelpdesk } from './helpdesk/helpdesk-server.ts';
export type { HelpdeskServerOptions, HelpdeskRateLimit } from './helpdesk/helpdesk-server.ts';
export { SandboxCarrier, startCarrier, TRACKING_CODES } from './carrier/carrier-server.ts';
export type {
  CarrierServerOptions,
  CarrierShipment,
  TrackingEvent,
  TrackingCode,
} from './carrier/carrier-server.ts';
export { SandboxStorefront, startStorefront } from './storefront/storefront-server.ts';
export type { StorefrontServerOptions, WebOrder } from './storefront/storefront-server.ts';
export { ORDER_STATUS, SHIPMENT_STATUSES } from './erp/erp-types.ts';
export type {
  Customer,
  Item,
  SalesOrder,
  OrderLine,
  CreditHold,
  Shipment,
  Invoice,
  ReturnAuthorization,
} from './erp/erp-types.ts';
export type { Case, Comment, AuditEntry, CustomFieldDefinition } from './helpdesk/helpdesk-types.ts';
export { SandboxFaultsInvalidError, SandboxRequestFailedError } from './errors.ts';
