// Acts on a real Request Tracker as an agent or a customer e-mail would, and reads back what
// Crossdock wrote: custom fields and the text of internal comments.
import { HttpClient } from '../../../src/connectors/http/index.ts';

export class RtFixture {
  readonly http: HttpClient;

  constructor(readonly env: Record<string, string>) {
    this.http = new HttpClient({
      system: 'rt-fixture',
      baseUrl: env.RT_REST2_URL!,
      headers: { authorization: `token ${env.RT_TOKEN}` },
      circuit: false,
      timeoutMs: 30_000,
    });
  }

  /** Creates a ticket in General with `subject`; returns its id. */
  async ticket(subject: string, requestor = `customer-${Date.now()}@example.test`): Promise<string> {
    const r = await this.http.request({
      method: 'POST',
      path: 'ticket',
      json: {
        Queue: 'General',
        Subject: subject,
        Requestor: requestor,
        Content: 'Hello',
        ContentType: 'text/plain',
      },
    });
    return String(r.json<{ id: string }>().id);
  }

  /** The ticket's custom fields by name (first value each). */
  async customFields(ticket: string): Promise<Record<string, string>> {
    const r = await this.http.request({ method: 'GET', path: `ticket/${ticket}`, idempotent: true });
    const out: Record<string, string> = {};
    for (const cf of r.json<{ CustomFields?: { name: string; values: string[] }[] }>().CustomFields ?? []) {
      if (cf.values[0] !== undefined) out[cf.name] = cf.values[0];
    }
    return out;
  }

  /** Texts of the ticket's internal comments, oldest first. */
  async comments(ticket: string): Promise<string[]> {
    return (await this.commentEntries(ticket)).map((c) => c.text);
  }

  /** The ticket's internal comments, oldest first, with RT's time of each (whole seconds, in ms). */
  async commentEntries(ticket: string): Promise<{ text: string; at: number }[]> {
    const txs = await this.http.request({
      method: 'POST',
      path: 'transactions',
      json: [
        { field: 'ObjectId', operator: '=', value: Number(ticket) },
        { field: 'ObjectType', operator: '=', value: 'RT::Ticket' },
        { field: 'Type', operator: '=', value: 'Comment' },
      ],
      query: { fields: 'Created', orderby: 'id', order: 'ASC', per_page: 100 },
      idempotent: true,
    });
    const comments = txs.json<{ items: { id: string; Created: string }[] }>().items;
    const ids = comments.map((t) => Number(t.id));
    if (ids.length === 0) return [];
    const atts = await this.http.request({
      method: 'POST',
      path: 'attachments',
      json: [
        { field: 'TransactionId', operator: 'IN', value: ids },
        { field: 'ContentType', operator: '=', value: 'text/plain' },
      ],
      query: { fields: 'TransactionId,Content', per_page: 100 },
      idempotent: true,
    });
    const items = atts.json<{ items: { TransactionId: { id: string } | string; Content?: string }[] }>()
      .items;
    const byTx = new Map<number, string>();
    for (const a of items) {
      const tx = Number(typeof a.TransactionId === 'object' ? a.TransactionId.id : a.TransactionId);
      byTx.set(tx, `${byTx.get(tx) ?? ''}${a.Content ?? ''}`);
    }
    return comments.map((t) => ({ text: byTx.get(Number(t.id)) ?? '', at: Date.parse(t.Created) }));
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
