// A loopback HTTP proxy in front of a real peer that can lose the answer to one chosen request: it
// forwards the request and drops the connection before answering (the write happened, the client
// cannot know), or drops it without forwarding (it did not happen). Both look the same to the client:
// an ambiguous write, which is what the connector contract's check-before-retry is about.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultyProxy {
  readonly url: string;
  /** The next request whose body matches `pattern` loses its answer, after being forwarded or not. */
  loseNext(pattern: RegExp, forward: boolean): void;
  close(): Promise<void>;
}

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  let fault: { pattern: RegExp; forward: boolean } | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const armed = fault !== undefined && fault.pattern.test(body.toString('utf8')) ? fault : undefined;
        if (armed) fault = undefined;
        if (armed && !armed.forward) return req.socket.destroy();
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(
            ([k, v]) => typeof v === 'string' && k !== 'host' && k !== 'content-length',
          ),
        ) as Record<string, string>;
        const upstream = await fetch(new URL(req.url ?? '/', target), {
          method: req.method ?? 'GET',
          headers,
          ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
        });
        const answer = Buffer.from(await upstream.arrayBuffer());
        if (armed) return req.socket.destroy();
        res.writeHead(upstream.status, {
          'content-type': upstream.headers.get('content-type') ?? 'application/json',
        });
        res.end(answer);
      })().catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = new URL(target);
  return {
    url: `http://127.0.0.1:${port}${base.pathname}`,
    loseNext(pattern, forward) {
      fault = { pattern, forward };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
