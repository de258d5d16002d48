import { afterEach, describe, expect, it } from 'vitest';
import { SandboxClock } from '../../src/sandbox/clock.ts';
import { startHelpdesk, type SandboxHelpdesk } from '../../src/sandbox/helpdesk/helpdesk-server.ts';
import { call } from './http-call.ts';

const AUTH = { authorization: 'Bearer sandbox-helpdesk-key' };
const REQUESTER = { name: 'Ann Buyer', email: 'ann@acme.example' };

let helpdesk: SandboxHelpdesk | undefined;
afterEach(async () => {
  await helpdesk?.stop();
  helpdesk = undefined;
});

function openCase(h: SandboxHelpdesk, subject: string, custom_fields?: Record<string, unknown>) {
  return call(`${h.url}/api/v2/cases`, {
    method: 'POST',
    headers: AUTH,
    body: {
      subject,
      description: `About ${subject}`,
      requester: REQUESTER,
      ...(custom_fields ? { custom_fields } : {}),
    },
  });
}

describe('sandbox helpdesk', () => {
  it('creates cases, sets custom fields and finds cases by custom field and by text', async () => {
    helpdesk = await startHelpdesk();
    const a = await openCase(helpdesk, 'Where is my order SO-100001?');
    const b = await openCase(helpdesk, 'Invoice question', { erp_order: 'SO-100002' });
    expect([a.status, a.body.id, a.body.status]).toEqual([201, 1001, 'new']);
    const updated = await call(`${helpdesk.url}/api/v2/cases/${a.body.id}`, {
      method: 'PATCH',
      headers: AUTH,
      body: { custom_fields: { erp_order: 'SO-100001', erp_order_status: 'SHIPPED' }, status: 'open' },
    });
    expect(updated.body).toMatchObject({
      status: 'open',
      version: 2,
      custom_fields: { erp_order_status: 'SHIPPED' },
    });
    const byField = await call(`${helpdesk.url}/api/v2/cases?custom_fields[erp_order]=SO-100002`, {
      headers: AUTH,
    });
    expect(byField.body.data.map((c: { id: number }) => c.id)).toEqual([b.body.id]);
    const byText = await call(`${helpdesk.url}/api/v2/cases?q=SO-100001`, { headers: AUTH });
    expect(byText.body.data.map((c: { id: number }) => c.id)).toEqual([a.body.id]);
    const unknown = await call(`${helpdesk.url}/api/v2/cases/${a.body.id}`, {
      method: 'PATCH',
      headers: AUTH,
      body: { custom_fields: { favourite_colour: 'blue' } },
    });
    expect(unknown.status).toBe(422);
    const defined = await call(`${helpdesk.url}/api/v2/custom-fields`, {
      method: 'POST',
      headers: AUTH,
      body: { key: 'rma_number', type: 'text', title: 'RMA' },
    });
    expect(defined.status).toBe(201);
  });

  it('pages cases updated since a timestamp by (updated_at, id) with numeric ids sharing a second', async () => {
    const clock = new SandboxClock({ frozenAt: Date.parse('2026-02-01T08:00:00Z') });
    helpdesk = await startHelpdesk({ clock });
    for (let i = 0; i < 4; i++) await openCase(helpdesk, `case ${i}`);
    clock.advance(5000);
    await call(`${helpdesk.url}/api/v2/cases/1001`, {
      method: 'PATCH',
      headers: AUTH,
      body: { priority: 'high' },
    });
    const seen: number[] = [];
    let query = 'updated_since=2026-02-01T08:00:00Z&limit=3';
    for (;;) {
      const page = await call(`${helpdesk.url}/api/v2/cases?${query}`, { headers: AUTH });
      seen.push(...page.body.data.map((c: { id: number }) => c.id));
      if (!page.body.paging.has_more) break;
      query = `updated_since=${page.body.paging.next.updated_since}&after_id=${page.body.paging.next.after_id}&limit=3`;
    }
    // 1001 moved to the end when it was updated later.
    expect(seen).toEqual([1002, 1003, 1004, 1001]);
    const since = await call(`${helpdesk.url}/api/v2/cases?updated_since=2026-02-01T08:00:05Z`, {
      headers: AUTH,
    });
    expect(since.body.data.map((c: { id: number }) => c.id)).toEqual([1001]);
  });

  it('keeps internal and public comments, finds them by marker, and audits every write', async () => {
    helpdesk = await startHelpdesk();
    const c = await openCase(helpdesk, 'Damaged goods');
    const post = (body: string, isPublic: boolean) =>
      call(`${helpdesk!.url}/api/v2/cases/${c.body.id}/comments`, {
        method: 'POST',
        headers: { ...AUTH, 'idempotency-key': 'same-key' },
        body: { body, public: isPublic, author: 'crossdock' },
      });
    await post('Order SO-100001 is SHIPPED [cd:abc123]', false);
    // No idempotency keys here: the same request again makes a second comment.
    await post('Order SO-100001 is SHIPPED [cd:abc123]', false);
    await post('We are sending a replacement.', true);
    const found = await call(
      `${helpdesk.url}/api/v2/search/comments?q=${encodeURIComponent('[cd:abc123]')}`,
      {
        headers: AUTH,
      },
    );
    expect(found.body.count).toBe(2);
    const comments = await call(`${helpdesk.url}/api/v2/cases/${c.body.id}/comments`, { headers: AUTH });
    expect(comments.body.data.map((m: { public: boolean }) => m.public)).toEqual([false, false, true]);
    const kase = await call(`${helpdesk.url}/api/v2/cases/${c.body.id}`, { headers: AUTH });
    expect(kase.body).toMatchObject({ comment_count: 3, status: 'open' });
    const audit = helpdesk.state.audit();
    expect(audit.filter((e) => e.action === 'comment.created')).toHaveLength(3);
    expect(audit.filter((e) => e.action === 'case.created')).toHaveLength(1);
    const overHttp = await call(`${helpdesk.url}/_sandbox/audit`, { headers: AUTH });
    expect(overHttp.body.data).toHaveLength(4);
  });

  it('answers 429 with Retry-After once a key exceeds its rate limit', async () => {
    helpdesk = await startHelpdesk({ rateLimit: { perSecond: 0.2, burst: 3 } });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const res = await call(`${helpdesk.url}/api/v2/cases`, { headers: AUTH });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });
});
