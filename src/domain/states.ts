// The state vocabularies of the canonical model (order, shipment, invoice, credit, return, case) and
// their allowed transitions. Each vocabulary is an `as const` list plus a derived union; docs/states.md
// explains what every state means. Staying in the same state is always allowed (a repeated update).
import { Type, type TUnion, type TLiteral } from '@sinclair/typebox';
import { IllegalTransitionError } from './errors.ts';

export const ORDER_STATES = [
  'draft',
  'submitted',
  'confirmed',
  'on_hold',
  'partially_shipped',
  'shipped',
  'delivered',
  'closed',
  'cancelled',
] as const;
export type OrderState = (typeof ORDER_STATES)[number];

export const SHIPMENT_STATES = [
  'pending',
  'ready',
  'shipped',
  'in_transit',
  'out_for_delivery',
  'delivered',
  'exception',
  'returned_to_sender',
  'lost',
  'cancelled',
] as const;
export type ShipmentState = (typeof SHIPMENT_STATES)[number];

export const INVOICE_STATES = [
  'draft',
  'posted',
  'partially_paid',
  'paid',
  'overdue',
  'disputed',
  'written_off',
  'cancelled',
] as const;
export type InvoiceState = (typeof INVOICE_STATES)[number];

export const CREDIT_STATES = ['good', 'watch', 'on_hold', 'blocked'] as const;
export type CreditState = (typeof CREDIT_STATES)[number];

export const RETURN_STATES = [
  'requested',
  'approved',
  'rejected',
  'received',
  'inspected',
  'refunded',
  'replaced',
  'cancelled',
] as const;
export type ReturnState = (typeof RETURN_STATES)[number];

export const CASE_STATES = [
  'new',
  'open',
  'pending_customer',
  'pending_internal',
  'resolved',
  'closed',
] as const;
export type CaseState = (typeof CASE_STATES)[number];

type Transitions<S extends string> = { readonly [K in S]: readonly S[] };

export const ORDER_TRANSITIONS: Transitions<OrderState> = {
  draft: ['submitted', 'cancelled'],
  submitted: ['confirmed', 'on_hold', 'cancelled'],
  confirmed: ['on_hold', 'partially_shipped', 'shipped', 'cancelled'],
  on_hold: ['submitted', 'confirmed', 'cancelled'],
  partially_shipped: ['shipped', 'on_hold'],
  shipped: ['delivered', 'closed'],
  delivered: ['closed'],
  closed: [],
  cancelled: [],
};

export const SHIPMENT_TRANSITIONS: Transitions<ShipmentState> = {
  pending: ['ready', 'shipped', 'cancelled'],
  ready: ['shipped', 'cancelled'],
  shipped: ['in_transit', 'out_for_delivery', 'delivered', 'exception'],
  in_transit: ['out_for_delivery', 'delivered', 'exception'],
  out_for_delivery: ['in_transit', 'delivered', 'exception'],
  exception: ['in_transit', 'out_for_delivery', 'delivered', 'returned_to_sender', 'lost'],
  delivered: [],
  returned_to_sender: [],
  lost: [],
  cancelled: [],
};

export const INVOICE_TRANSITIONS: Transitions<InvoiceState> = {
  draft: ['posted', 'cancelled'],
  posted: ['partially_paid', 'paid', 'overdue', 'disputed', 'cancelled'],
  partially_paid: ['paid', 'overdue', 'disputed'],
  overdue: ['partially_paid', 'paid', 'disputed', 'written_off'],
  disputed: ['posted', 'partially_paid', 'paid', 'overdue', 'written_off', 'cancelled'],
  paid: [],
  written_off: [],
  cancelled: [],
};

export const CREDIT_TRANSITIONS: Transitions<CreditState> = {
  good: ['watch', 'on_hold', 'blocked'],
  watch: ['good', 'on_hold', 'blocked'],
  on_hold: ['good', 'watch', 'blocked'],
  blocked: ['on_hold', 'watch', 'good'],
};

export const RETURN_TRANSITIONS: Transitions<ReturnState> = {
  requested: ['approved', 'rejected', 'cancelled'],
  approved: ['received', 'cancelled'],
  received: ['inspected', 'refunded', 'replaced'],
  inspected: ['refunded', 'replaced', 'rejected'],
  rejected: [],
  refunded: [],
  replaced: [],
  cancelled: [],
};

export const CASE_TRANSITIONS: Transitions<CaseState> = {
  new: ['open', 'pending_customer', 'pending_internal', 'resolved', 'closed'],
  open: ['pending_customer', 'pending_internal', 'resolved', 'closed'],
  pending_customer: ['open', 'pending_internal', 'resolved', 'closed'],
  pending_internal: ['open', 'pending_customer', 'resolved', 'closed'],
  resolved: ['open', 'closed'],
  closed: [],
};

export const STATE_MACHINES = {
  order: { states: ORDER_STATES, transitions: ORDER_TRANSITIONS },
  shipment: { states: SHIPMENT_STATES, transitions: SHIPMENT_TRANSITIONS },
  invoice: { states: INVOICE_STATES, transitions: INVOICE_TRANSITIONS },
  credit: { states: CREDIT_STATES, transitions: CREDIT_TRANSITIONS },
  return: { states: RETURN_STATES, transitions: RETURN_TRANSITIONS },
  case: { states: CASE_STATES, transitions: CASE_TRANSITIONS },
} as const;
export type StateMachineName = keyof typeof STATE_MACHINES;

/** The states `machine` may move to from `from` (not counting staying put). */
export function allowedTransitions(machine: StateMachineName, from: string): readonly string[] {
  const transitions = STATE_MACHINES[machine].transitions as Readonly<Record<string, readonly string[]>>;
  return transitions[from] ?? [];
}

export function canTransition(machine: StateMachineName, from: string, to: string): boolean {
  if (!(STATE_MACHINES[machine].states as readonly string[]).includes(to)) return false;
  return from === to || allowedTransitions(machine, from).includes(to);
}

/** Throws ILLEGAL_TRANSITION unless `machine` may go from `from` to `to`. */
export function assertTransition(machine: StateMachineName, from: string, to: string): void {
  if (!canTransition(machine, from, to)) {
    throw new IllegalTransitionError(machine, from, to, allowedTransitions(machine, from));
  }
}

/** A TypeBox union of string literals for a state list (renders as a JSON Schema `anyOf` of consts). */
export function stateSchema<S extends string>(
  states: readonly S[],
  description: string,
): TUnion<TLiteral<S>[]> {
  return Type.Union(
    states.map((s) => Type.Literal(s)),
    { description },
  );
}
