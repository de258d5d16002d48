// Records of the sandbox ERP, in its own (on-premises, document-number) vocabulary. The field
// names are the ERP's, not Crossdock's canonical model: mapping between them is a connector's job.
import type { VersionedRecord } from '../record-table.ts';

export interface Address {
  line1: string;
  city: string;
  postal_code: string;
  country: string;
}

export interface Customer extends VersionedRecord<string> {
  name: string;
  email: string;
  phone: string;
  currency: string;
  payment_terms: string;
  credit_limit: number;
  /** `OK`, or `HOLD` when credit control has blocked the account. */
  credit_status: 'OK' | 'HOLD';
  ship_to: Address;
}

export interface Item extends VersionedRecord<string> {
  sku: string;
  description: string;
  uom: string;
  list_price: number;
  on_hand: number;
}

export interface PriceEntry extends VersionedRecord<string> {
  item_id: string;
  /** Null for the list price that applies to every customer. */
  customer_id: string | null;
  unit_price: number;
  currency: string;
}

export const ORDER_STATUS = {
  '20': 'CREDIT_HOLD',
  '30': 'RELEASED',
  '40': 'PARTIALLY_SHIPPED',
  '50': 'SHIPPED',
  '60': 'INVOICED',
  '80': 'CLOSED',
  '99': 'CANCELLED',
} as const;
export type OrderStatusCode = keyof typeof ORDER_STATUS;
export type OrderStatus = (typeof ORDER_STATUS)[OrderStatusCode];

export interface OrderLine {
  line_no: number;
  item_id: string;
  description: string;
  qty_ordered: number;
  qty_shipped: number;
  qty_invoiced: number;
  unit_price: number;
}

export interface SalesOrder extends VersionedRecord<string> {
  customer_id: string;
  customer_po: string | null;
  /** The order's number in the system it came from (e.g. the storefront's `WEB-5001`). */
  external_ref: string | null;
  order_date: string;
  ship_to: Address;
  status_code: OrderStatusCode;
  status: OrderStatus;
  /** `CR` while a credit hold is active. */
  hold_code: 'CR' | null;
  currency: string;
  total_amount: number;
  lines: OrderLine[];
  cancel_reason: string | null;
}

export interface CreditHold extends VersionedRecord<string> {
  order_id: string;
  customer_id: string;
  reason: 'CREDIT_LIMIT' | 'ACCOUNT_HOLD' | 'MANUAL';
  amount: number;
  status: 'ACTIVE' | 'RELEASED' | 'CANCELLED';
  placed_at: string;
  released_at: string | null;
  released_by: string | null;
  note: string | null;
}

export const SHIPMENT_STATUSES = [
  'SHIPPED',
  'IN_TRANSIT',
  'DELAYED',
  'OUT_FOR_DELIVERY',
  'DELIVERED',
  'PARTIALLY_DELIVERED',
  'EXCEPTION',
  'DAMAGED',
  'RETURNED',
] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];

export interface Shipment extends VersionedRecord<string> {
  order_id: string;
  lines: { line_no: number; item_id: string; qty: number }[];
  carrier: string;
  tracking_number: string | null;
  status: ShipmentStatus;
  shipped_at: string;
  delivered_at: string | null;
  /** Units the consignee signed for (partial deliveries). */
  delivered_qty: number | null;
  exception_reason: string | null;
}

export interface Invoice extends VersionedRecord<string> {
  order_id: string;
  customer_id: string;
  shipment_id: string | null;
  lines: { line_no: number; item_id: string; qty: number; unit_price: number; amount: number }[];
  currency: string;
  amount: number;
  amount_paid: number;
  status: 'OPEN' | 'PARTIALLY_PAID' | 'PAID' | 'DISPUTED' | 'VOID';
  invoice_date: string;
  due_date: string;
  dispute_reason: string | null;
}

export interface ReturnAuthorization extends VersionedRecord<string> {
  order_id: string;
  customer_id: string;
  lines: { line_no: number; item_id: string; qty: number }[];
  reason: string;
  status: 'REQUESTED' | 'AUTHORIZED' | 'RECEIVED' | 'CREDITED' | 'REJECTED';
}
