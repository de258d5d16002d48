import { describe, expect, it } from 'vitest';
import { TicketUpdateCoalescer, type TicketChange } from '../../src/connectors/request-tracker/index.ts';

describe('TicketUpdateCoalescer', () => {
  it('sends updates of one ticket issued together as one request carrying every field', async () => {
    const sent: [string, TicketChange][] = [];
    const c = new TicketUpdateCoalescer((ticket, change) => {
      sent.push([ticket, change]);
      return Promise.resolve(sent.length);
    });
    const results = await Promise.all([
      c.update('1', { status: 'open' }),
      c.update('1', { customFields: { 'ERP Order': 'SO-1' } }),
      c.update('2', { status: 'resolved' }),
      c.update('1', { customFields: { 'ERP Customer': 'C-1', 'ERP Order': 'SO-2' } }),
    ]);
    expect(sent).toEqual([
      ['1', { status: 'open', customFields: { 'ERP Order': 'SO-2', 'ERP Customer': 'C-1' } }],
      ['2', { status: 'resolved' }],
    ]);
    expect(results).toEqual([1, 1, 2, 1]);
  });

  it('holds updates arriving while a request for the ticket is in flight, then sends them together', async () => {
    const sent: TicketChange[] = [];
    let release!: () => void;
    const c = new TicketUpdateCoalescer((_ticket, change) => {
      sent.push(change);
      return sent.length === 1
        ? new Promise<string>((r) => (release = () => r('first')))
        : Promise.resolve('second');
    });
    const first = c.update('1', { status: 'open' });
    await new Promise((r) => setImmediate(r));
    const second = c.update('1', { status: 'stalled' });
    const third = c.update('1', { customFields: { 'ERP Order': 'SO-3' } });
    expect(sent).toHaveLength(1);
    release();
    expect(await Promise.all([first, second, third])).toEqual(['first', 'second', 'second']);
    expect(sent[1]).toEqual({ status: 'stalled', customFields: { 'ERP Order': 'SO-3' } });
    expect(c.sent).toBe(2);
  });

  it('rejects every caller of a failed request, and keeps going for later ones', async () => {
    let fail = true;
    const c = new TicketUpdateCoalescer(() =>
      fail ? Promise.reject(new Error('RT down')) : Promise.resolve('ok'),
    );
    const a = c.update('1', { status: 'open' });
    const b = c.update('1', { status: 'resolved' });
    await expect(a).rejects.toThrow('RT down');
    await expect(b).rejects.toThrow('RT down');
    fail = false;
    await expect(c.update('1', { status: 'open' })).resolves.toBe('ok');
  });
});
