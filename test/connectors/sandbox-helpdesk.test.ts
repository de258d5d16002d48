import { ulid } from 'ulid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { effectMarker, type Command } from '../../src/connectors/connector.ts';
import {
  SANDBOX_HELPDESK_COMMANDS,
  SandboxHelpdeskConnector,
} from '../../src/connectors/sandbox-helpdesk/index.ts';
import { startHelpdesk, type SandboxHelpdesk } from '../../src/sandbox/helpdesk/helpdesk-server.ts';
import { silentLogger } from '../../src/telemetry/index.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../sandbox/webhook-receiver.ts';
import { runConnectorContract } from './contract.ts';

const KEY = 'sandbox-helpdesk-key';
const REQUESTER = { name: 'Ann', email: 'ann@acme.example' };

function newCase(helpdesk: SandboxHelpdesk): number {
  return helpdesk.state.createCase({
    subject: `Where is SO-${ulid()}?`,
    description: 'Hello',
    requester: REQUESTER,
  }).id;
}

function connect(helpdesk: SandboxHelpdesk, apiKey = KEY, webhookSecret?: string) {
  return new SandboxHelpdeskConnector(
    { url: helpdesk.url },
    { apiKey, ...(webhookSecret === undefined ? {} : { webhookSecret }) },
    { logger: silentLogger() },
  );
}

runConnectorContract('sandbox-helpdesk', async () => {
  const helpdesk = await startHelpdesk();
  const connector = connect(helpdesk);
  const broken = connect(helpdesk, 'wrong-key');
  return {
    connector,
    broken,
    secrets: [KEY, 'wrong-key'],
    produce: (stream) => {
      const id = newCase(helpdesk);
      if (stream === 'case') return Promise.resolve([String(id)]);
      return Promise.resolve([
        String(helpdesk.state.addComment(id, { body: 'from the customer', author: REQUESTER.email }).id),
      ]);
    },
    command: (): Command => ({
      type: SANDBOX_HELPDESK_COMMANDS.caseComment,
      idempotencyKey: ulid(),
      args: { case_id: newCase(helpdesk), body: 'Order SO-100001 is SHIPPED' },
    }),
    effectCarriesKey: (externalId, command) =>
      Promise.resolve(
        helpdesk.state.comments
          .get(Number(externalId))
          ?.body.includes(effectMarker(command.idempotencyKey)) ?? false,
      ),
    ambiguousWrite: (_command, applied) => {
      helpdesk.faults.set(
        applied
          ? { appliedButTimedOut: { rate: 1, count: 1, mode: 'destroy' } }
          : { failNext: { count: 1, mode: 'reset', writesOnly: true } },
      );
      return Promise.resolve();
    },
    close: async () => {
      await connector.close();
      await broken.close();
      await helpdesk.stop();
    },
  };
});

describe('sandbox helpdesk connector', () => {
  let helpdesk: SandboxHelpdesk;
  let connector: SandboxHelpdeskConnector;
  let receiver: WebhookReceiver | undefined;
  beforeEach(async () => {
    helpdesk = await startHelpdesk();
    connector = connect(helpdesk);
  });
  afterEach(async () => {
    await connector.close();
    await receiver?.close();
    receiver = undefined;
    await helpdesk.stop();
  });

  it('posts a comment once however often the same command is written', async () => {
    const caseId = newCase(helpdesk);
    const command = {
      type: SANDBOX_HELPDESK_COMMANDS.caseComment,
      idempotencyKey: ulid(),
      args: { case_id: caseId, body: 'SHIPPED' },
    };
    const first = await connector.write(command);
    const second = await connector.write(command);
    expect(first).toMatchObject({ status: 'applied', replayed: false });
    expect(second).toMatchObject({ status: 'applied', replayed: true });
    expect(helpdesk.state.audit().filter((e) => e.action === 'comment.created')).toHaveLength(1);
    expect(helpdesk.state.commentsOf(caseId)[0]).toMatchObject({ public: false, author: 'crossdock' });
  });

  it('sets custom fields naturally idempotently and says when they were already set', async () => {
    const caseId = newCase(helpdesk);
    const update = {
      type: SANDBOX_HELPDESK_COMMANDS.caseUpdate,
      idempotencyKey: ulid(),
      args: { case_id: caseId, custom_fields: { erp_order: 'SO-100001', erp_order_status: 'SHIPPED' } },
    };
    expect(await connector.write(update)).toMatchObject({ status: 'applied', replayed: false });
    expect(await connector.write(update)).toMatchObject({ status: 'applied', replayed: true });
    expect(await connector.findEffect(update)).toMatchObject({ found: true });
    expect(helpdesk.state.getCase(caseId).custom_fields).toEqual({
      erp_order: 'SO-100001',
      erp_order_status: 'SHIPPED',
    });
    const unknownField = await connector.write({
      ...update,
      args: { case_id: caseId, custom_fields: { colour: 'red' } },
    });
    expect(unknownField.status).toBe('not-applied');
  });

  it('opens a case with a marker and finds it again', async () => {
    const command = {
      type: SANDBOX_HELPDESK_COMMANDS.caseCreate,
      idempotencyKey: ulid(),
      args: { subject: 'Replacement for SO-100001', description: 'Damaged', requester: REQUESTER },
    };
    const outcome = await connector.write(command);
    expect(outcome.status).toBe('applied');
    expect(await connector.findEffect(command)).toMatchObject({ found: true });
    expect((await connector.write(command)).status).toBe('applied');
    expect(helpdesk.state.cases.size).toBe(1);
  });

  it('waits out the helpdesk rate limit (429 with Retry-After) instead of failing a read', async () => {
    await helpdesk.stop();
    helpdesk = await startHelpdesk({ rateLimit: { perSecond: 2, burst: 1 } });
    await connector.close();
    connector = connect(helpdesk);
    newCase(helpdesk);
    const first = await connector.read({ stream: 'case' });
    const second = await connector.read({ stream: 'case', cursor: first.cursor });
    expect(second.records.map((r) => r.externalId)).toEqual(['1001']);
  });

  it('verifies and parses comment webhooks', async () => {
    receiver = await startWebhookReceiver();
    const sub = helpdesk.webhooks.subscribe({ url: receiver.url, events: ['comment.created'] });
    const withSecret = connect(helpdesk, KEY, sub.secret);
    try {
      const caseId = newCase(helpdesk);
      helpdesk.state.addComment(caseId, { body: 'Any news?', author: REQUESTER.email });
      const [hook] = await receiver.waitFor(1);
      const inbound = {
        headers: hook!.headers as Record<string, string>,
        rawBody: Buffer.from(hook!.body),
        receivedAt: new Date(),
      };
      await withSecret.webhooks.verify(inbound);
      const parsed = await withSecret.webhooks.parse(inbound);
      expect(parsed.records).toMatchObject([
        { stream: 'comment', payload: { case_id: caseId, body: 'Any news?' } },
      ]);
    } finally {
      await withSecret.close();
    }
  });
});
