// A small real HTTP server standing in for a helpdesk that has no idempotency keys: it stores comments
// per ticket and lets a client search them by text (how Crossdock finds the `[crossdock:<key>]` marker a
// write carries). Fault switches make it apply a write and then drop the connection without answering
// (an ambiguous outcome), or drop it before applying. Plus a minimal marker-mode connector for it.
// Used instead of the sandbox helpdesk, which was not committed when these tests were written.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import {
  ConnectorTimeoutError,
  ConnectorUnavailableError,
  DELIVERY,
  effectMarker,
  type Command,
  type Connector,
  type EffectLookup,
  type WriteOutcome,
} from '../../../src/connectors/index.ts';

export interface StoredComment {
  readonly id: number;
  readonly ticket: string;
  readonly body: string;
}

export interface CommentDesk {
  readonly url: string;
  comments(ticket?: string): Promise<StoredComment[]>;
  close(): Promise<void>;
}

/** Starts the server on a loopback port. Faults are set over HTTP so a child process can share them. */
export async function startCommentDesk(): Promise<CommentDesk> {
  const comments: StoredComment[] = [];
  const faults = { dropAfterApply: 0, dropBeforeApply: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const post = /^\/tickets\/([^/]+)\/comments$/.exec(url.pathname);
      if (req.method === 'POST' && url.pathname === '/_faults') {
        Object.assign(faults, JSON.parse(body) as Partial<typeof faults>);
        res.writeHead(204).end();
      } else if (req.method === 'POST' && post !== null) {
        if (faults.dropBeforeApply > 0) {
          faults.dropBeforeApply--;
          req.socket.destroy();
          return;
        }
        const comment = {
          id: comments.length + 1,
          ticket: post[1]!,
          body: (JSON.parse(body) as { body: string }).body,
        };
        comments.push(comment);
        if (faults.dropAfterApply > 0) {
          faults.dropAfterApply--;
          req.socket.destroy();
          return;
        }
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(comment));
      } else if (req.method === 'GET' && url.pathname === '/comments') {
        const ticket = url.searchParams.get('ticket');
        const contains = url.searchParams.get('contains') ?? '';
        const found = comments.filter(
          (c) => (ticket === null || c.ticket === ticket) && c.body.includes(contains),
        );
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(found));
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    comments: (ticket) =>
      Promise.resolve(comments.filter((c) => ticket === undefined || c.ticket === ticket)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function setFaults(url: string, faults: { dropAfterApply?: number; dropBeforeApply?: number }) {
  await fetch(`${url}/_faults`, { method: 'POST', body: JSON.stringify(faults) });
}

interface CommentArgs {
  readonly ticket: string;
  readonly text: string;
}

/** Marker-mode connector for the comment desk: every comment ends with `[crossdock:<key>]`. */
export function commentDeskConnector(url: string): Pick<Connector, 'describe' | 'write' | 'findEffect'> {
  const system = 'comment-desk';
  return {
    describe: () => ({
      system,
      kind: 'helpdesk',
      displayName: 'Comment desk (test server)',
      configSchema: Type.Object({}),
      secrets: [],
      commands: [
        {
          type: 'case.comment',
          description: 'Adds a comment to a ticket',
          argsSchema: Type.Object({ ticket: Type.String(), text: Type.String() }),
          idempotency: 'marker',
        },
      ],
      webhooks: false,
    }),
    async write(command: Command): Promise<WriteOutcome> {
      const args = command.args as CommentArgs;
      try {
        const res = await fetch(`${url}/tickets/${args.ticket}/comments`, {
          method: 'POST',
          body: JSON.stringify({ body: `${args.text}\n\n[${effectMarker(command.idempotencyKey)}]` }),
        });
        const created = (await res.json()) as { id: number };
        return { status: 'applied', effect: { externalId: String(created.id) }, replayed: false };
      } catch (cause) {
        // The request went out and no answer came back: the comment may exist.
        return {
          status: 'ambiguous',
          error: new ConnectorTimeoutError({ system, operation: 'POST comments', timeoutMs: 0 }, { cause }),
        };
      }
    },
    async findEffect(command: Command): Promise<EffectLookup> {
      const args = command.args as CommentArgs;
      const q = new URLSearchParams({
        ticket: args.ticket,
        contains: `[${effectMarker(command.idempotencyKey)}]`,
      });
      const res = await fetch(`${url}/comments?${q.toString()}`).catch((cause: unknown) => {
        throw new ConnectorUnavailableError({ system, reason: 'search failed' }, DELIVERY.notSent, { cause });
      });
      const found = (await res.json()) as StoredComment[];
      return found[0] === undefined
        ? { found: false }
        : { found: true, effect: { externalId: String(found[0].id) } };
    },
  };
}
