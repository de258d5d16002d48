// Business events for captured changes: the journey's sink appends them to the event log's outbox in
// the capture transaction, so every change it applies is on the log (consumers, webhooks, SSE) exactly
// when it commits, and a rolled-back capture leaves no event behind.
import type { EventType, JsonObject, NewEvent } from '../../events/index.ts';
import type { CapturedChange } from '../../sync/index.ts';

/** The canonical id of the order a change belongs to, for events about an order (credit holds). */
export type OrderIdOf = (orderNumber: string) => Promise<string | undefined>;

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function typeFor(change: CapturedChange): EventType | undefined {
  const first = change.previous === undefined;
  const status = str(change.fields.status);
  const statusChanged = change.changed.includes('status');
  switch (change.entity.kind) {
    case 'customer':
      return 'customer:changed';
    case 'item':
      return 'item:changed';
    case 'order':
      if (statusChanged && status === 'CANCELLED') return 'order:cancelled';
      return first ? 'order:created' : 'order:changed';
    case 'shipment':
      if (first) return 'shipment:created';
      if (statusChanged && status === 'DELIVERED') return 'shipment:delivered';
      if (statusChanged && status === 'PARTIALLY_DELIVERED') return 'shipment:delivered-short';
      if (statusChanged && (status === 'EXCEPTION' || status === 'DAMAGED')) return 'shipment:exception';
      return 'shipment:tracking-updated';
    case 'invoice':
      if (first) return 'invoice:issued';
      if (statusChanged && status === 'PAID') return 'invoice:paid';
      if (statusChanged && status === 'DISPUTED') return 'invoice:disputed';
      return undefined;
    case 'return':
      if (first) return 'return:authorized';
      if (statusChanged && status === 'RECEIVED') return 'return:received';
      return undefined;
    case 'case':
      if (first) return 'case:opened';
      if (statusChanged && (status === 'closed' || status === 'solved')) return 'case:closed';
      return 'case:updated';
    default:
      return undefined;
  }
}

/**
 * The events one captured change stands for (none for a repeat, an echo-only change, or a change of a
 * kind the log has no type for). Credit holds are events of their order, found by `orderIdOf`.
 */
export async function changeEvents(change: CapturedChange, orderIdOf: OrderIdOf): Promise<NewEvent[]> {
  if (change.changed.length === 0) return [];
  const data: JsonObject = {
    system: change.system,
    externalId: change.externalId,
    changed: [...change.changed],
    fields: { ...change.fields },
    sourceUpdatedAt: change.updatedAt,
  };
  const base = {
    tenantId: change.tenantId,
    time: new Date().toISOString(),
    source: `/systems/${change.system}`,
    data,
  };
  if (change.entity.kind === 'credit') {
    const orderNumber = str(change.fields.orderNumber);
    const status = str(change.fields.status);
    if (orderNumber === undefined || !change.changed.includes('status')) return [];
    const type: EventType | undefined =
      status === 'ACTIVE' ? 'order:credit-held' : status === 'RELEASED' ? 'order:credit-released' : undefined;
    const orderId = await orderIdOf(orderNumber);
    if (type === undefined || orderId === undefined) return [];
    return [{ ...base, type, entity: { kind: 'order', id: orderId } }];
  }
  const type = typeFor(change);
  if (type === undefined) return [];
  return [{ ...base, type, entity: { kind: change.entity.kind, id: change.entity.id } }];
}
