// Request Tracker records (as captured) to canonical drafts: tickets to cases, transactions to case
// milestones. The requestor becomes the case's customer by e-mail; the `ERP Order` custom field links
// the order by its number. The status table is reproduced in docs/connectors.md.
import type { CasePriority, CaseState } from '../../domain/index.ts';
import type { SourceRecord } from '../connector.ts';
import type { CanonicalDraft, Lookup } from '../canonical-draft.ts';

const SYSTEM = 'request-tracker';

/** RT status (default lifecycle) -> canonical case state. */
export const RT_CASE_STATES: Readonly<Record<string, CaseState>> = {
  new: 'new',
  open: 'open',
  stalled: 'pending_customer',
  resolved: 'resolved',
  rejected: 'closed',
  deleted: 'closed',
};

/** RT priority (0-99) -> canonical priority: 80+ urgent, 50-79 high, otherwise normal. */
export function casePriority(priority: unknown): CasePriority {
  const n = Number(priority);
  if (n >= 80) return 'urgent';
  if (n >= 50) return 'high';
  return 'normal';
}

/** Milestone name for each captured transaction type. */
export const RT_MILESTONES: Readonly<Record<string, string>> = {
  Create: 'opened',
  Correspond: 'customer_reply',
  Comment: 'internal_note',
  Status: 'status_change',
};

type Payload = Record<string, unknown>;

/** RT writes "not set" dates as the epoch. */
function rtDate(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) || ms <= 0 ? undefined : new Date(ms).toISOString();
}

function customFields(p: Payload): Record<string, string> {
  const out: Record<string, string> = {};
  for (const cf of (p.CustomFields ?? []) as { name?: string; values?: string[] }[]) {
    if (cf.name && cf.values?.[0] !== undefined) out[cf.name] = cf.values[0];
  }
  return out;
}

/** The first requestor's e-mail, lower-cased (RT keeps the case it was given). */
export function requestorEmail(p: Payload): string | undefined {
  const first = ((p.Requestor ?? []) as { EmailAddress?: string; id?: string }[])[0];
  const email = first?.EmailAddress ?? first?.id;
  return typeof email === 'string' && email.includes('@') ? email.toLowerCase() : undefined;
}

export function mapTicket(record: SourceRecord<Payload>): CanonicalDraft<'case'> {
  const p = record.payload;
  const cfs = customFields(p);
  const lookups: Record<string, Lookup> = {};
  const email = requestorEmail(p);
  if (email) lookups.customerId = { kind: 'customer', field: 'email', value: email };
  if (cfs['ERP Order']) lookups.orderId = { kind: 'order', field: 'number', value: cfs['ERP Order'] };
  const queue = (p.Queue as { Name?: string } | undefined)?.Name;
  const resolvedAt = rtDate(p.Resolved);
  return {
    kind: 'case',
    ref: { system: SYSTEM, id: `ticket/${record.externalId}` },
    fields: {
      number: record.externalId,
      subject:
        typeof p.Subject === 'string' && p.Subject.length > 0 ? p.Subject : `Ticket ${record.externalId}`,
      status: RT_CASE_STATES[String(p.Status)] ?? 'open',
      priority: casePriority(p.Priority),
      ...(queue ? { queue } : {}),
      openedAt: rtDate(p.Created) ?? record.updatedAt,
      ...(resolvedAt ? { resolvedAt } : {}),
      attributes: { customFields: cfs, ...(email ? { requestorEmail: email } : {}) },
    },
    links: {},
    lookups,
    related: {},
    sourceUpdatedAt: record.updatedAt,
  };
}

/**
 * A transaction as a milestone reached at its time. RT has no due time per transaction, so `dueAt`
 * is the time it happened and `breached` is false: SLA targets and breaches come from the policy part.
 */
export function mapTransaction(record: SourceRecord<Payload>): CanonicalDraft<'caseMilestone'> {
  const p = record.payload;
  const at = rtDate(p.Created) ?? record.updatedAt;
  const type = String(p.Type);
  const author = (p.Creator as { EmailAddress?: string; Name?: string } | undefined) ?? {};
  return {
    kind: 'caseMilestone',
    ref: { system: SYSTEM, id: `transaction/${record.externalId}` },
    fields: {
      name: type === 'Status' ? `status_${String(p.NewValue)}` : (RT_MILESTONES[type] ?? type.toLowerCase()),
      dueAt: at,
      achievedAt: at,
      breached: false,
      attributes: {
        type,
        ...(typeof p.Content === 'string' ? { text: p.Content } : {}),
        ...(author.Name ? { author: author.Name } : {}),
        ...(type === 'Status' ? { from: p.OldValue, to: p.NewValue } : {}),
      },
    },
    links: { caseId: { system: SYSTEM, id: `ticket/${String(p.ObjectId)}` } },
    lookups: {},
    related: {},
    sourceUpdatedAt: record.updatedAt,
  };
}

export function mapRtRecord(record: SourceRecord<Payload>): CanonicalDraft {
  if (record.stream === 'ticket') return mapTicket(record);
  if (record.stream === 'transaction') return mapTransaction(record);
  throw new RangeError(`no Request Tracker mapping for stream ${record.stream}`);
}
