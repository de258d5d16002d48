// Request Tracker records, as captured from a real RT 5 (payloads recorded from the peer), mapped to
// canonical cases and milestones that the domain schemas accept.
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { CASE_STATES, CaseMilestoneSchema, CaseSchema } from '../../src/domain/index.ts';
import { mapRtRecord, RT_CASE_STATES } from '../../src/connectors/request-tracker/index.ts';

const ticket = {
  id: '2',
  Subject: 'Where is my order?',
  Status: 'stalled',
  Priority: '60',
  Queue: { id: '1', Name: 'General', type: 'queue' },
  Requestor: [
    {
      id: 'Jane.Doe@Example.test',
      EmailAddress: 'Jane.Doe@Example.test',
      Name: 'Jane.Doe@Example.test',
      type: 'user',
    },
  ],
  Created: '2026-11-27T16:29:18Z',
  LastUpdated: '2026-11-27T16:29:53Z',
  Resolved: '1970-01-01T00:00:00Z',
  CustomFields: [
    { name: 'ERP Customer', id: '3', values: [] },
    { name: 'ERP Order', id: '2', values: ['SO-000042'] },
  ],
};

describe('Request Tracker mapping', () => {
  it('maps a ticket to a case: status, priority, requestor as customer by e-mail, ERP Order as order by number', () => {
    const d = mapRtRecord({
      stream: 'ticket',
      externalId: '2',
      updatedAt: '2026-11-27T16:29:53.000Z',
      payload: ticket,
    });
    expect(d).toMatchObject({
      kind: 'case',
      ref: { system: 'request-tracker', id: 'ticket/2' },
      fields: {
        number: '2',
        status: 'pending_customer',
        priority: 'high',
        queue: 'General',
        openedAt: '2026-11-27T16:29:18.000Z',
      },
      lookups: {
        customerId: { kind: 'customer', field: 'email', value: 'jane.doe@example.test' },
        orderId: { kind: 'order', field: 'number', value: 'SO-000042' },
      },
    });
    expect((d.fields as { resolvedAt?: string }).resolvedAt).toBeUndefined(); // RT's epoch means "not set"
    expect([...Value.Errors(Type.Partial(CaseSchema), d.fields)]).toEqual([]);
  });

  it('maps every RT status to a canonical case state', () => {
    for (const s of Object.values(RT_CASE_STATES)) expect(CASE_STATES).toContain(s);
  });

  it('maps correspondence and status changes to milestones of their case', () => {
    const reply = mapRtRecord({
      stream: 'transaction',
      externalId: '60',
      updatedAt: '2026-11-27T16:30:00.000Z',
      payload: {
        id: '60',
        Type: 'Correspond',
        ObjectId: '2',
        Created: '2026-11-27T16:30:00Z',
        Creator: { Name: 'root' },
        Content: 'On its way',
      },
    });
    expect(reply).toMatchObject({
      kind: 'caseMilestone',
      fields: {
        name: 'customer_reply',
        achievedAt: '2026-11-27T16:30:00.000Z',
        breached: false,
        attributes: { text: 'On its way', author: 'root' },
      },
      links: { caseId: { system: 'request-tracker', id: 'ticket/2' } },
    });
    expect([...Value.Errors(Type.Partial(CaseMilestoneSchema), reply.fields)]).toEqual([]);
    const status = mapRtRecord({
      stream: 'transaction',
      externalId: '61',
      updatedAt: '2026-11-27T16:31:00.000Z',
      payload: {
        id: '61',
        Type: 'Status',
        ObjectId: '2',
        Created: '2026-11-27T16:31:00Z',
        OldValue: 'open',
        NewValue: 'resolved',
      },
    });
    expect(status.fields).toMatchObject({
      name: 'status_resolved',
      attributes: { from: 'open', to: 'resolved' },
    });
  });
});
