import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startCarrier, type SandboxCarrier } from '../../src/sandbox/carrier/carrier-server.ts';
import { startStorefront, type SandboxStorefront } from '../../src/sandbox/storefront/storefront-server.ts';
import { generateWebhookSecret } from '../../src/sandbox/webhook-dispatcher.ts';
import { call } from './http-call.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

const ADDRESS = { line1: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' };
const CARRIER = { 'x-carrier-key': 'sandbox-carrier-key' };
const SHOP = { 'x-shop-token': 'sandbox-storefront-key' };

let carrier: SandboxCarrier | undefined;
let storefront: SandboxStorefront | undefined;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await carrier?.stop();
  await storefront?.stop();
  await receiver?.close();
  carrier = storefront = receiver = undefined;
});

describe('sandbox carrier', () => {
  it('tracks a shipment through a delay to a partial delivery and reports it by signed webhook', async () => {
    receiver = await startWebhookReceiver();
    const secret = generateWebhookSecret();
    carrier = await startCarrier({ webhooks: [{ url: receiver.url, secret }] });
    const label = await call(`${carrier.url}/v1/shipments`, {
      method: 'POST',
      headers: CARRIER,
      body: { reference: 'SH-200001', ship_to: ADDRESS, pieces: 3 },
    });
    expect(label.body).toMatchObject({ id: '1ZSBX0000000001', status: 'LABEL_CREATED' });
    const tracking = label.body.id as string;
    const scan = (body: Record<string, unknown>) =>
      call(`${carrier!.url}/v1/tracking/${tracking}/events`, { method: 'POST', headers: CARRIER, body });
    await scan({ code: 'PICKED_UP' });
    const delayed = await scan({ code: 'DELAYED', reason: 'Weather', delay_days: 2 });
    expect(delayed.body.estimated_delivery > label.body.estimated_delivery).toBe(true);
    expect((await scan({ code: 'PARTIALLY_DELIVERED', delivered_pieces: 3 })).status).toBe(422);
    const partial = await scan({ code: 'PARTIALLY_DELIVERED', delivered_pieces: 2 });
    expect(partial.body).toMatchObject({ status: 'PARTIALLY_DELIVERED', delivered_pieces: 2 });
    expect(partial.body.events.map((e: { code: string }) => e.code)).toEqual([
      'LABEL_CREATED',
      'PICKED_UP',
      'DELAYED',
      'PARTIALLY_DELIVERED',
    ]);
    const hooks = await receiver.waitFor(4);
    const last = new Webhook(secret).verify(hooks[3]!.body, hooks[3]!.headers as Record<string, string>) as {
      type: string;
      data: { event: { code: string } };
    };
    expect(last).toMatchObject({
      type: 'tracking.updated',
      data: { event: { code: 'PARTIALLY_DELIVERED' } },
    });
    const byRef = await call(`${carrier.url}/v1/tracking?reference=SH-200001`, { headers: CARRIER });
    expect(byRef.body.data).toHaveLength(1);
  });

  it('accepts only damage after delivery', async () => {
    carrier = await startCarrier();
    const label = carrier.register({ reference: 'SH-1', ship_to: ADDRESS, pieces: 1 });
    carrier.scan(label.id, { code: 'DELIVERED' });
    const late = await call(`${carrier.url}/v1/tracking/${label.id}/events`, {
      method: 'POST',
      headers: CARRIER,
      body: { code: 'IN_TRANSIT' },
    });
    expect(late.status).toBe(409);
    const damaged = await call(`${carrier.url}/v1/tracking/${label.id}/events`, {
      method: 'POST',
      headers: CARRIER,
      body: { code: 'DAMAGED', reason: 'Crushed carton' },
    });
    expect(damaged.body).toMatchObject({ status: 'DAMAGED', exception_reason: 'Crushed carton' });
  });
});

describe('sandbox storefront', () => {
  it('records changes after submission with a revision, and refuses them once fulfilled', async () => {
    storefront = await startStorefront();
    const placed = await call(`${storefront.url}/api/orders`, {
      method: 'POST',
      headers: SHOP,
      body: {
        cart_id: 'cart-1',
        customer: { email: 'a@b.example', name: 'A' },
        lines: [{ sku: 'S1', qty: 2 }],
        ship_to: ADDRESS,
      },
    });
    expect(placed.body).toMatchObject({ id: 'WEB-5001', status: 'submitted', revision: 1 });
    await call(`${storefront.url}/api/orders/WEB-5001/accept`, {
      method: 'POST',
      headers: SHOP,
      body: { erp_order: 'SO-100001' },
    });
    const changed = await call(`${storefront.url}/api/orders/WEB-5001`, {
      method: 'PATCH',
      headers: SHOP,
      body: { lines: [{ sku: 'S1', qty: 5 }] },
    });
    expect(changed.body).toMatchObject({
      revision: 2,
      status: 'accepted',
      erp_order: 'SO-100001',
      lines: [{ qty: 5 }],
    });
    expect(changed.body.changes).toEqual([{ revision: 2, at: expect.any(String), fields: ['lines'] }]);
    await call(`${storefront.url}/api/orders/WEB-5001/fulfillments`, {
      method: 'POST',
      headers: SHOP,
      body: { tracking_number: '1ZSBX0000000001' },
    });
    const refused = await call(`${storefront.url}/api/orders/WEB-5001`, {
      method: 'PATCH',
      headers: SHOP,
      body: { ship_to: ADDRESS },
    });
    expect(refused.status).toBe(409);
    const byCart = await call(`${storefront.url}/api/orders?cart_id=cart-1`, { headers: SHOP });
    expect(byCart.body.data.map((o: { id: string }) => o.id)).toEqual(['WEB-5001']);
  });
});
