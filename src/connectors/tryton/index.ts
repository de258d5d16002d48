// Tryton 6.0 connector: JSON-RPC client, capture streams, commands, mapping to canonical.
export {
  TrytonConnector,
  trytonConnectorFactory,
  TrytonConfigSchema,
  ComplaintCreateArgs,
  SaleNoteArgs,
  TRYTON_COMMANDS,
} from './tryton-connector.ts';
export type { TrytonConfig, ComplaintCreate, SaleNote } from './tryton-connector.ts';
export { TrytonRpc, TrytonUserError, trytonError } from './tryton-rpc.ts';
export type { TrytonRpcOptions, CallOptions } from './tryton-rpc.ts';
export { decimal, date, datetime, decode } from './tryton-codec.ts';
export type { TrytonDecimal, TrytonDate, TrytonDateTime } from './tryton-codec.ts';
export { TRYTON_STREAMS } from './tryton-streams.ts';
export type { TrytonStreamSpec } from './tryton-streams.ts';
export {
  mapTrytonRecord,
  mapSale,
  mapSaleLine,
  mapShipment,
  mapInvoice,
  mapParty,
  mapComplaint,
  orderState,
  invoiceState,
  trytonRef,
  TRYTON_ORDER_STATES,
  TRYTON_ORDER_SHIPMENT_STATES,
  TRYTON_SHIPMENT_STATES,
  TRYTON_INVOICE_STATES,
  TRYTON_RETURN_STATES,
} from './tryton-mapping.ts';
export { TRYTON_RATE_DEFAULTS } from './tryton-connector.ts';
